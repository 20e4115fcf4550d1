"""LV-HBA correctness checks (closed-form toys, invariants, value-function gradients) and the
bilevel front door's contract."""
import math
import warnings

import numpy as np
import pytest

import xpsolve
from xpsolve import BilevelProblem, bilevel_minimize, check_oracles
from xpsolve.problems.bilevel import LVHBAEqToy, LVHBAToy, Quadratic
from xpsolve.solvers.bilevel._projections import polyhedral_dual_generic

BACKENDS = ["numpy", "array_api_strict", "torch"]


def _xp(name):
    if name == "numpy":
        import array_api_compat.numpy as xp
    elif name == "array_api_strict":
        xp = pytest.importorskip("array_api_strict")
    else:
        pytest.importorskip("torch")
        import array_api_compat.torch as xp
    return xp


def np_(a):
    return xpsolve.backends.to_numpy(a)


T1 = {"alpha": 0.01, "beta": 0.01, "eta": 0.01, "gamma1": 10.0, "gamma2": 10.0, "c0": 1.0,
      "p": 0.3, "r": 10.0}


def _toy_err(prob, res):
    return prob.metrics(res.x, res.y, res.multipliers)


# ---------------------------------------------------------------------------------------
# T1 / T2: coupled toy with closed form
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy_runs():
    prob = LVHBAToy(n=10)
    out = {}
    for K in (5000, 20000):
        out[K] = bilevel_minimize(prob, options={**T1, "maxiter": K})
    return prob, out


def test_t1_toy_thresholds(toy_runs):
    prob, runs = toy_runs
    m = _toy_err(prob, runs[5000])
    # thresholds at K = 5000 (observed: 1.6e-2, 1.4e-3, 3.5e-3 F-gap)
    assert m["rel_err_xy"] <= 5e-2
    assert m["lam_err"] <= 1e-2
    assert abs(runs[5000].fun / 10 - 0.05) <= 5e-3
    # a fixed budget (no tol_stat / tol_gap) is not a convergence proof: status 1
    assert not runs[5000].success and runs[5000].status == 1
    assert runs[5000].nit == 5000 and np.isfinite(runs[5000].residual)
    assert runs[5000].n_calls["upper_grad"] == 5000
    assert runs[5000].n_calls["lower_grad"] == 3 * 5000
    assert runs[5000].n_calls["lower_cons_vjp"] == 2 * 5000
    assert runs[5000].approximate_oracles == ()


def test_t1_bias_law(toy_runs):
    # error = O(1/c_K): ratio of final errors within 25 % of c_5000 / c_20000 = 4^-0.3 = 0.66
    prob, runs = toy_runs
    e5, e20 = (_toy_err(prob, runs[K])["rel_err_xy"] for K in (5000, 20000))
    expected = (5000 / 20000) ** 0.3
    assert abs(e20 / e5 - expected) <= 0.25 * expected


def test_t1_larger_c0():
    prob = LVHBAToy(n=10)
    res = bilevel_minimize(prob, options={**T1, "c0": 5.0, "maxiter": 5000})
    assert _toy_err(prob, res)["rel_err_xy"] <= 1e-2


def test_t1_equality_form():
    prob = LVHBAToy(n=10, form="eq")
    res = bilevel_minimize(prob, options={**T1, "maxiter": 5000})
    m = _toy_err(prob, res)
    assert m["rel_err_xy"] <= 5e-2 and m["lam_err"] <= 1e-2
    assert abs(res.fun / 10 - 0.05) <= 5e-3
    assert np.max(np.abs(np_(prob.lower_cons(res.x, res.y)))) <= 1e-10  # on the hyperplane
    assert m["maxcv"] <= 1e-10 and res.maxcv <= 1e-10


def test_t2_invariants_every_iteration():
    prob = LVHBAToy(n=10)
    seen = {"g": -np.inf, "z": [], "lam": []}

    def cb(intermediate_result):
        r = intermediate_result
        seen["g"] = max(seen["g"], float(np.asarray(prob.lower_cons(r.x, r.y))[0]))
        seen["z"].append(float(r.z[0]))
        seen["lam"].append(float(r.multipliers[0]))

    res = bilevel_minimize(prob, options={**T1, "maxiter": 5000}, callback=cb)
    assert seen["g"] <= 1e-10
    assert 0.0 <= min(seen["z"]) and max(seen["z"]) <= 10.0
    assert 0.0 <= min(seen["lam"]) and max(seen["lam"]) <= 10.0
    assert abs(res.ll_gap) <= 1e-2  # observed order 1e-3


# ---------------------------------------------------------------------------------------
# T4: no lower constraints (Moreau-envelope special case), T5: equality toy smoke test
# ---------------------------------------------------------------------------------------

def test_t4_unconstrained_lower_quadratic():
    prob = Quadratic(d=5, mu=0.2)
    res = bilevel_minimize(prob, options={"alpha": 0.05, "eta": 0.05, "gamma1": 10.0, "c0": 1.0,
                                          "p": 0.45, "maxiter": 20000})
    xs = np_(prob.solution()["x"])
    assert np.linalg.norm(np_(res.x) - xs) / np.linalg.norm(xs) <= 2e-2
    assert res.multipliers.shape == (0,) and res.maxcv == 0.0


def test_t5_equality_toy_smoke():
    prob = LVHBAEqToy(n=10, n_ll=9, n_ul=8, seed=0)
    x0, y0 = prob.x0(), prob.y0()
    res = bilevel_minimize(prob, x0, y0, options={"maxiter": 2000})
    m = prob.metrics(res.x, res.y)
    assert m["lower_resid"] <= 1e-10 and m["upper_resid"] <= 1e-10
    # F decreases from the projected start
    from xpsolve.solvers.bilevel._projections import Projector
    px, py = Projector(prob, prob.xp).initial(x0, y0)
    assert res.fun < float(prob.upper_value(px, py))


# ---------------------------------------------------------------------------------------
# backends
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_agree_on_toy(backend):
    xp = _xp(backend)
    ref = bilevel_minimize(LVHBAToy(n=5), options={**T1, "maxiter": 300})
    prob = LVHBAToy(n=5, xp=xp)
    res = bilevel_minimize(prob, options={**T1, "maxiter": 300})
    assert type(res.x) is type(prob.x0())
    assert res.backend == backend
    np.testing.assert_allclose(np_(res.x), ref.x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np_(res.multipliers), ref.multipliers, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_polyhedral_projection(backend):
    # svm-type polyhedron through the generic (FISTA) or Numba (Hildreth) dual
    xp = _xp(backend)
    rng = np.random.default_rng(0)
    n, d = 12, 3
    Ay = np.c_[-rng.standard_normal((n, d)), -np.ones((n, 1)), -np.eye(n)]
    prob = BilevelProblem.from_callables(
        lambda x, y: 0.5 * xp.sum(y * y), lambda x, y: 0.5 * xp.sum(y * y) + xp.sum(x * y[:n]),
        n, d + 1 + n, upper_grad=lambda x, y: (0 * x, y),
        lower_grad=lambda x, y: (y[:n], y + xp.concat([x, 0 * y[n:]])),
        cons_structure="polyhedral",
        cons_matrices=(xp.asarray(np.zeros((n, n))), xp.asarray(Ay), xp.asarray(-np.ones(n))),
        xp=xp)
    res = bilevel_minimize(prob, options={"maxiter": 10, "proj_tol": 1e-9, "proj_maxiter": 5000})
    g = Ay @ np_(res.y) + 1.0
    assert g.max() <= 1e-7 and res.proj_resid <= 1e-9
    assert res.projection == "polyhedral"


def test_kernel_parity_polyhedral_dual():
    from xpsolve.solvers.bilevel._numba_kernels import polyhedral_dual
    import array_api_compat.numpy as xp

    rng = np.random.default_rng(1)
    G = rng.standard_normal((15, 8))
    G /= np.linalg.norm(G, axis=1)[:, None]
    v = rng.standard_normal(8)
    b = G @ v - rng.uniform(-1, 1, 15)
    Q = G @ G.T
    ineq = np.r_[np.ones(13), 0.0, 0.0]
    L = np.linalg.eigvalsh(Q)[-1]
    m1, _, r1 = polyhedral_dual(Q, b, np.zeros(15), ineq, L, 1e-11, 100000)
    m2, _, r2 = polyhedral_dual_generic(Q, b, np.zeros(15), ineq, L, 1e-11, 100000, xp=xp)
    assert r1 <= 1e-11 and r2 <= 1e-11
    # unique primal projection w = v - G^T mu (mu itself need not be unique)
    np.testing.assert_allclose(G.T @ m1, G.T @ m2, atol=1e-8)
    w = v - G.T @ m1
    assert (G @ w - (G @ v - b))[:13].max() <= 1e-10


# ---------------------------------------------------------------------------------------
# options, callback, status
# ---------------------------------------------------------------------------------------

def test_callback_stop_equals_maxiter():
    prob = LVHBAToy(n=4)

    def cb(intermediate_result):
        if intermediate_result.nit == 7:
            raise StopIteration

    a = bilevel_minimize(prob, options={"maxiter": 50}, callback=cb)
    b = bilevel_minimize(prob, options={"maxiter": 7})
    assert a.status == 99 and not a.success and a.nit == 7
    np.testing.assert_array_equal(a.x, b.x)


def test_maxiter_zero_and_history():
    prob = LVHBAToy(n=4)
    r0 = bilevel_minimize(prob, options={"maxiter": 0})
    assert r0.nit == 0 and r0.x.shape == (4,)
    r = bilevel_minimize(prob, options={"maxiter": 40, "history": True, "check_every": 10})
    assert r.history["nit"] == [10, 20, 30, 40] and len(r.history["ll_gap"]) == 4


def test_stopping_tolerances_and_schedules():
    prob = Quadratic(d=3, mu=0.5)
    calls = []
    # with a constant penalty c = 10 the gap tends to its bias (about 7e-3 here), not to 0
    res = bilevel_minimize(prob, options={"maxiter": 20000, "tol_stat": 1e-3, "tol_gap": 1e-2,
                                          "penalty": lambda k: 10.0, "alpha": 0.1, "eta": 0.1,
                                          "beta": lambda k: calls.append(k) or 0.1})
    assert res.status == 0 and res.nit < 20000 and "tolerances met" in res.message
    assert calls[:3] == [0, 1, 2]
    res2 = bilevel_minimize(prob, options={"maxiter": 5, "tol_stat": 1e-12, "tol_gap": 1e-12})
    assert res2.status == 1 and not res2.success
    with pytest.raises(ValueError, match="together"):
        bilevel_minimize(prob, options={"tol_stat": 1e-3})


def test_stochastic_mode_runs():
    pytest.importorskip("sklearn")
    from xpsolve.problems.bilevel import RidgeReg

    prob = RidgeReg(seed=0)
    res = bilevel_minimize(prob, options={"maxiter": 200, "stochastic": True, "batch_size": 16,
                                          "seed": 0, "alpha": 0.02, "eta": 0.02})
    assert res.status == 1 and np.isfinite(res.fun)  # fixed budget
    res2 = bilevel_minimize(prob, options={"maxiter": 200, "stochastic": True, "batch_size": 16,
                                           "seed": 0, "alpha": 0.02, "eta": 0.02})
    np.testing.assert_array_equal(res.x, res2.x)  # seeded


def test_multiplier_cap_warning():
    prob = LVHBAToy(n=10)
    with pytest.warns(RuntimeWarning, match="hit the cap"):
        bilevel_minimize(prob, options={**T1, "r": 0.5, "maxiter": 1000})


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------

def _plain(**kw):
    return BilevelProblem.from_callables(
        lambda x, y: 0.5 * np.sum(y ** 2), lambda x, y: 0.5 * np.sum((y - x) ** 2), 2, 2,
        upper_grad=lambda x, y: (0 * x, y), lower_grad=lambda x, y: (x - y, y - x), **kw)


def test_missing_projection_refused():
    prob = _plain(lower_cons=lambda x, y: np.array([np.sum(x) - np.sum(y)]),
                  lower_cons_jac=lambda x, y: (np.ones((1, 2)), -np.ones((1, 2))))
    with pytest.raises(ValueError, match="projection onto C"):
        bilevel_minimize(prob, options={"maxiter": 5})


def test_missing_oracle_refused():
    class NoGrad(BilevelProblem):
        dim_x = dim_y = 2
        xp = np
        dtype = np.float64

        def upper_grad(self, x, y, batch=None):
            return x, y

    with pytest.raises(ValueError, match="lower_grad"):
        bilevel_minimize(NoGrad(), np.zeros(2), np.zeros(2))


def test_structure_with_proj_y_refused():
    prob = _plain(proj_y=lambda y: y, cons_structure="halfspace",
                  cons_matrices=(np.ones((1, 2)), np.ones((1, 2)), np.zeros(1)))
    with pytest.raises(ValueError, match="proj_xy"):
        bilevel_minimize(prob, options={"maxiter": 5})


def test_shape_mismatch():
    prob = LVHBAToy(n=4)
    with pytest.raises(ValueError, match="x0 must have shape"):
        bilevel_minimize(prob, np.zeros(5))
    with pytest.raises(ValueError, match="y0 must have shape"):
        bilevel_minimize(prob, np.zeros(4), np.zeros((8, 1)))
    with pytest.raises(ValueError, match="must not contain inf or NaN"):
        bilevel_minimize(prob, np.full(4, np.nan))
    with pytest.raises(ValueError, match="theta0"):
        bilevel_minimize(prob, options={"theta0": np.zeros(3)})


def test_wrong_types():
    with pytest.raises(TypeError, match="BilevelProblem"):
        bilevel_minimize(lambda x: x)
    pytest.importorskip("torch")
    import torch
    with pytest.raises(TypeError, match="convert it first"):
        bilevel_minimize(LVHBAToy(n=2), torch.zeros(2, dtype=torch.float64))


def test_unknown_and_bad_options():
    prob = LVHBAToy(n=4)
    with pytest.raises(TypeError, match="did you mean 'maxiter'"):
        bilevel_minimize(prob, options={"maxiters": 5})
    with pytest.raises(ValueError, match="Option 'alpha'"):
        bilevel_minimize(prob, options={"alpha": -1.0})
    with pytest.raises(ValueError, match="Unknown method"):
        bilevel_minimize(prob, method="bo-rap")


def test_non_finite_oracle_stops_with_status_3():
    base = LVHBAToy(n=3)
    calls = {"n": 0}

    class Exploding(LVHBAToy):
        def upper_grad(self, x, y, batch=None):
            calls["n"] += 1
            gx, gy = super().upper_grad(x, y)
            return (gx * math.nan if calls["n"] > 20 else gx), gy

    prob = Exploding(n=3)
    ref = bilevel_minimize(base, options={"maxiter": 20})
    res = bilevel_minimize(prob, options={"maxiter": 100})
    assert res.status == 3 and not res.success and res.nit == 20
    np.testing.assert_array_equal(res.x, ref.x)
    assert np.all(np.isfinite(res.y))
    # with sparser checks the last *checked* finite iterate is kept
    calls["n"] = 0
    res5 = bilevel_minimize(prob, options={"maxiter": 100, "check_every": 5})
    assert res5.status == 3 and res5.nit == 20
    np.testing.assert_array_equal(res5.x, ref.x)


# ---------------------------------------------------------------------------------------
# from_callables filling rules and check_oracles
# ---------------------------------------------------------------------------------------

def test_from_callables_finite_differences_flagged():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prob = BilevelProblem.from_callables(
            lambda x, y: 0.5 * np.sum((y - 1) ** 2) + 0.5 * np.sum(x ** 2),
            lambda x, y: 0.5 * np.sum((y - x) ** 2), 2, 2)  # no warning until used
    assert set(prob.approximate_oracles) == {"upper_grad", "lower_grad", "lower_hvp_yy",
                                             "lower_jvp_xy"}
    with pytest.warns(UserWarning, match="finite differences"):
        res = bilevel_minimize(prob, options={"maxiter": 200, "alpha": 0.1, "eta": 0.1})
    assert set(res.approximate_oracles) == {"upper_grad", "lower_grad"}
    gx, gy = prob.lower_grad(np.array([1.0, 2.0]), np.array([0.5, 0.0]))
    np.testing.assert_allclose(gy, [-0.5, -2.0], atol=1e-8)
    np.testing.assert_allclose(prob.lower_hvp_yy(np.zeros(2), np.zeros(2), np.array([1.0, 3.0])),
                               [1.0, 3.0], atol=1e-6)
    np.testing.assert_allclose(prob.lower_jvp_xy(np.zeros(2), np.zeros(2), np.array([1.0, 3.0])),
                               [-1.0, -3.0], atol=1e-6)


def test_from_callables_float32_refused_and_bad_args():
    with pytest.raises(ValueError, match="float32"):
        BilevelProblem.from_callables(lambda x, y: 0.0, lambda x, y: 0.0, 2, 2, dtype=np.float32)
    with pytest.raises(ValueError, match="dim_x"):
        BilevelProblem.from_callables(lambda x, y: 0.0, lambda x, y: 0.0, 0, 2)
    with pytest.raises(TypeError, match="upper"):
        BilevelProblem.from_callables(None, lambda x, y: 0.0, 2, 2)
    with pytest.raises(ValueError, match="cons_structure"):
        _plain(cons_structure="ball", cons_matrices=(np.ones((1, 2)),) * 2 + (np.zeros(1),))
    with pytest.raises(ValueError, match="shapes"):
        _plain(cons_structure="halfspace", cons_matrices=(np.ones((1, 3)), np.ones((1, 2)), np.zeros(1)))


def test_from_callables_constraint_vjp_from_jacobian_and_fd():
    J = np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]])
    cons = lambda x, y: J[0] @ x + J[1] @ y  # noqa: E731
    p1 = _plain(lower_cons=cons, lower_cons_jac=lambda x, y: J, proj_xy=lambda x, y: (x, y))
    assert p1.n_cons == 1 and "lower_cons_vjp" not in p1.approximate_oracles
    jx, jy = p1.lower_cons_vjp(np.zeros(2), np.zeros(2), np.array([2.0]))
    np.testing.assert_allclose(jx, [2.0, 4.0]) and np.testing.assert_allclose(jy, [6.0, -2.0])
    with pytest.warns(UserWarning, match="lam\\^T g"):
        p2 = _plain(lower_cons=cons, proj_xy=lambda x, y: (x, y))
    assert "lower_cons_vjp" in p2.approximate_oracles
    jx2, jy2 = p2.lower_cons_vjp(np.zeros(2), np.zeros(2), np.array([2.0]))
    np.testing.assert_allclose(jx2, jx, atol=1e-7) and np.testing.assert_allclose(jy2, jy, atol=1e-7)


def test_from_callables_torch_autodiff_exact():
    torch = pytest.importorskip("torch")
    import array_api_compat.torch as xp

    prob = BilevelProblem.from_callables(
        lambda x, y: torch.sum(torch.sin(x) * y), lambda x, y: 0.5 * torch.sum((y - x) ** 2)
        + 0.1 * torch.sum(y ** 4), 3, 3, autodiff=True, xp=xp,
        lower_cons=lambda x, y: torch.stack([torch.sum(x * y) - 1.0]))
    assert prob.approximate_oracles == ()
    x = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64)
    rep = check_oracles(prob, x, y)
    assert rep["ok"], rep
    v = torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64)
    np.testing.assert_allclose(prob.lower_hvp_yy(x, y, v).numpy(), (v + 1.2 * y ** 2 * v).numpy())
    np.testing.assert_allclose(prob.lower_jvp_xy(x, y, v).numpy(), (-v).numpy())


def test_check_oracles_catches_wrong_sign():
    good = _plain(lower_hvp_yy=lambda x, y, v: v, lower_jvp_xy=lambda x, y, v: -v)
    bad = _plain(lower_hvp_yy=lambda x, y, v: v, lower_jvp_xy=lambda x, y, v: v)
    x, y = np.array([0.3, -0.2]), np.array([1.0, 2.0])
    assert check_oracles(good, x, y)["ok"]
    rep = check_oracles(bad, x, y)
    assert rep["failed"] == ["lower_jvp_xy"] and rep["errors"]["lower_jvp_xy"] > 1
    with pytest.raises(AssertionError, match="lower_jvp_xy"):
        check_oracles(bad, x, y, raise_on_error=True)
    with pytest.raises(ValueError, match="shapes"):
        check_oracles(good, np.zeros(3), y)
    with pytest.raises(TypeError):
        check_oracles(object())


def test_public_exports():
    assert xpsolve.bilevel_minimize is bilevel_minimize
    assert {"bilevel_minimize", "BilevelProblem", "check_oracles"} <= set(xpsolve.__all__)
    spec = xpsolve.get_solver("lv-hba", family="bilevel")
    assert spec.family == "bilevel" and spec.defaults["alpha"] == 0.01
    assert "gamma1" in xpsolve.show_options("lv-hba", disp=False)


# ---------------------------------------------------------------------------------------
# reference solvers (benchmark peers)
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["eq", "ineq"])
def test_reference_kkt_reformulation_toy(monkeypatch, form):
    # The KKT peer hands its reformulation to SciPy's trust-constr, whose convergence on
    # this degenerate system depends on SciPy/BLAS internals (it stalls at n = 4, and a
    # fresh numpy 2.4.6 / scipy 1.17.1 venv gave rel_err 0.76 at n = 10). We test what we
    # own: the reformulation handed to SciPy holds at the closed-form solution, and the
    # peer's status mapping; trust-constr itself is not run.
    import scipy.optimize
    from scipy.optimize import LinearConstraint, NonlinearConstraint, OptimizeResult

    from xpsolve.solvers.bilevel._reference import kkt_trust_constr

    captured = {}

    def fake_minimize(fun, v0, **kw):
        captured.update(kw, fun=fun, v0=v0)
        return OptimizeResult(x=v0, fun=fun(v0)[0], nit=0, status=captured.get("status", 1),
                              message="(not run)", constr_violation=0.0)

    monkeypatch.setattr(scipy.optimize, "minimize", fake_minimize)
    n = 4
    prob = LVHBAToy(n=n, form=form)
    sol = prob.solution()
    res = kkt_trust_constr(prob)
    assert captured["method"] == "trust-constr" and res.status == 0
    v = np.r_[np_(sol["x"]), np_(sol["y"]), np_(sol["lam"])]
    f, g = captured["fun"](v)
    assert f == pytest.approx(0.05 * n)
    gx, gy = prob.upper_grad(sol["x"], sol["y"])
    np.testing.assert_allclose(g, np.r_[np_(gx), np_(gy), 0.0], atol=1e-15)
    kinds = []
    for con in captured["constraints"]:
        if isinstance(con, NonlinearConstraint):  # lower stationarity, complementarity
            np.testing.assert_allclose(con.fun(v), 0.0, atol=1e-13)
            kinds.append("nonlinear")
        else:
            assert isinstance(con, LinearConstraint)  # (x, y) in C
            Av = con.A @ v
            assert np.all(Av >= con.lb - 1e-13) and np.all(Av <= con.ub + 1e-13)
            kinds.append("linear")
    # stationarity + C, plus complementarity for the inequality form
    assert sorted(kinds) == sorted(["nonlinear", "linear"] + (["nonlinear"] if form == "ineq"
                                                               else []))
    # status mapping of the wrapper: SciPy 0 (maxiter) and 3 (callback) are not success
    for scipy_status, ours in ((1, 0), (2, 0), (0, 1), (3, 1)):
        captured["status"] = scipy_status
        assert kkt_trust_constr(prob).status == ours


def test_reference_implicit_hypergradient_descent():
    from xpsolve.solvers.bilevel._reference import implicit_hypergradient_descent

    prob = Quadratic(d=5, mu=0.2)
    res = implicit_hypergradient_descent(prob, maxiter=100, lr=0.5)
    # exact inner solves would give a linear rate; 50 inner steps of size 1/L reach 1e-5 here
    assert prob.metrics(res.x, res.y)["rel_err_x"] <= 1e-8
    with pytest.raises(ValueError, match="unconstrained"):
        implicit_hypergradient_descent(LVHBAToy(n=2))


def test_t3_value_function_gradient():
    # small convex LL: quadratic f, two linear coupled constraints, n = m = 3
    from xpsolve.solvers.bilevel._lvhba import prox_lagrangian_saddle

    rng = np.random.default_rng(0)
    M = rng.standard_normal((3, 3))
    Qm = M @ M.T + np.eye(3)
    B = rng.standard_normal((3, 3))
    A1, A2, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), np.array([-2.0, -2.0])
    prob = BilevelProblem.from_callables(
        lambda x, y: 0.0, lambda x, y: 0.5 * y @ Qm @ y + x @ B @ y, 3, 3,
        upper_grad=lambda x, y: (0 * x, 0 * y), lower_grad=lambda x, y: (B @ y, Qm @ y + B.T @ x),
        lower_hvp_yy=lambda x, y, v: Qm @ v, lower_jvp_xy=lambda x, y, v: B @ v,
        lower_cons=lambda x, y: A1 @ x + A2 @ y - b, lower_cons_jac=lambda x, y: (A1, A2),
        proj_xy=lambda x, y: (x, y))
    x, y, z = np.array([0.5, -1.0, 0.2]), np.array([1.0, 0.3, -0.4]), np.array([0.7, 0.2])
    g1, g2 = 1.0, 1.0
    th, lam, v0 = prox_lagrangian_saddle(prob, x, y, z, gamma1=g1, gamma2=g2, eta=0.05, iters=4000)
    # the saddle point is solved to 1e-12: one more step does not move it
    th2, lam2, _ = prox_lagrangian_saddle(prob, x, y, z, gamma1=g1, gamma2=g2, eta=0.05, iters=1,
                                          theta=th, lam=lam)
    assert np.abs(th2 - th).max() <= 1e-13 and np.abs(lam2 - lam).max() <= 1e-13
    assert lam.min() > 0  # both constraints active in the saddle: a genuinely coupled case
    gx = B @ th + A1.T @ lam
    gy = (y - th) / g1
    gz = (lam - z) / g2

    def v(xx, yy, zz):
        return prox_lagrangian_saddle(prob, xx, yy, zz, gamma1=g1, gamma2=g2, eta=0.05,
                                      iters=4000, theta=th, lam=lam)[2]

    h = 1e-5
    for grad, which in ((gx, 0), (gy, 1), (gz, 2)):
        fd = np.zeros_like(grad)
        for i in range(grad.shape[0]):
            args_p, args_m = [x.copy(), y.copy(), z.copy()], [x.copy(), y.copy(), z.copy()]
            args_p[which][i] += h
            args_m[which][i] -= h
            fd[i] = (v(*args_p) - v(*args_m)) / (2 * h)
        assert np.linalg.norm(fd - grad) <= 1e-5 * np.linalg.norm(grad)


def test_array_api_strict_second_device():
    xps = pytest.importorskip("array_api_strict")
    dev = xps.Device("device1")
    for prob, opts in ((LVHBAToy(n=3, xp=xps, device=dev), {"maxiter": 20}),
                       (LVHBAEqToy(xp=xps, device=dev), {"maxiter": 20})):
        res = bilevel_minimize(prob, options=opts)
        assert res.x.device == dev and res.y.device == dev and res.multipliers.device == dev
        assert check_oracles(prob)["ok"]
