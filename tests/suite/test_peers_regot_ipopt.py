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
