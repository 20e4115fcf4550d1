"""The RegOT and IPOPT peers: same answers as our solvers on small instances (skipped when absent)."""
import numpy as np
import pytest

from xpsolve.problems import get_problem
from xpsolve.suite.peers import get_peer


def test_regot_ssns_matches_our_sns():
    pytest.importorskip("regot")
    p = get_problem("ot/random_assignment", "tiny", 0)
    peer = p.solve(get_peer("ot", "regot:ssns").method, options={"tol": 1e-11})
    ours = p.solve("sns", options={"tol": 1e-11})
    assert peer.status == 0 and peer.marginal_err <= 1e-9
    # the regularised plan is unique: both solvers return it
    np.testing.assert_allclose(peer.plan, ours.plan, atol=1e-8)
    assert peer.potentials[1][-1] == 0.0  # RegOT's gauge
    assert len(peer.regot_errs) == peer.nit + 1


def test_ipopt_peer_solves_hs28():
    pytest.importorskip("cyipopt")
    p = get_problem("constrained/hs28", "tiny", 0)
    res = p.solve(get_peer("minimize", "ipopt").method, options={"tol": 1e-10})
    m = p.metrics(res)
    assert res.status == 0 and m["kkt"] <= 1e-7 and abs(res.fun - p.f_opt) <= 1e-8
    assert "IPOPT status 0" in res.message


def test_kkt_trust_constr_peer_solves_the_toys():
    for name, metric, tol in (("bilevel/p2_lvhba_toy", "rel_err_xy", 2e-2),
                              ("bilevel/p3_lvhba_eqtoy", "lower_resid", 1e-8)):
        p = get_problem(name, "tiny", 0)
        res = p.solve(get_peer("bilevel", "scipy:kkt-trust-constr").method)
        assert res.status == 0 and p.metrics(res)[metric] <= tol, name


def test_linearsvc_peer_and_svm_key_metric():
    pytest.importorskip("sklearn")
    p = get_problem("bilevel/p8_svm_weights", "tiny", 0)
    res = p.solve(get_peer("bilevel", "sklearn:linearsvc").method)
    m = p.metrics(res)
    # the peer is the reference: zero gap, a feasible (w, b, xi), the tuned test accuracy
    assert p.success_metric == "test_acc_gap" and m["test_acc_gap"] == 0.0
    assert m["maxcv"] <= 1e-12 and 0.9 < m["test_accuracy"] <= 1.0
    assert p.success(res)


def test_peers_restricted_to_their_problems_are_skipped_elsewhere():
    from xpsolve.suite import Plan, expand

    plan = Plan(name="t", problems=["bilevel/p2_lvhba_toy", "bilevel/p8_svm_weights"],
                solvers=["sklearn:linearsvc", "scipy:kkt-trust-constr"], sizes=["tiny"],
                seeds=[0], backends=["numpy"])
    specs, skips = expand(plan)
    assert sorted((s.problem, s.solver) for s in specs) == [
        ("bilevel/p2_lvhba_toy", "scipy:kkt-trust-constr"),
        ("bilevel/p8_svm_weights", "sklearn:linearsvc")]
    assert any("applies only to" in s.reason for s in skips)
