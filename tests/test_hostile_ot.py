"""Hostile inputs of ``solve_ot``: every case gives an honest status or a clear error.

The cases of issue 9 ("One library, one contract"): a constant offset on the cost, a warm
start far along the gauge direction, a regularisation below the dtype's resolution, a
tolerance below the dtype's resolution. The rule checked throughout: ``success`` is
decided on the returned plan's own marginal error (recomputed here from ``res.plan``).
"""
import warnings

import numpy as np
import pytest

import xpsolve
from xpsolve import solve_ot
from xpsolve.backends import to_numpy

from .helpers import point_cloud_cost, random_weights, to_xp

METHODS = ["sns", "sinkhorn", "sinkhorn-log", "sinkhorn-newton"]
REG = 0.05


def _cost():
    return np.random.default_rng(0).random((50, 40))


def _marginal_err(res, a=None, b=None):
    P = to_numpy(res.plan).astype(np.float64)
    n, m = P.shape
    a = np.full(n, 1 / n) if a is None else a
    b = np.full(m, 1 / m) if b is None else b
    return np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()


def _honest(res, tol):
    """success iff the returned plan meets tol (up to the rounding of the recomputation)."""
    err = _marginal_err(res)
    assert res.marginal_err == pytest.approx(err, rel=1e-6, abs=1e-15)
    if res.success:
        assert res.status == 0 and err <= tol * (1 + 1e-6) + 1e-15
    else:
        assert res.status != 0


@pytest.mark.parametrize("method", ["auto", *METHODS])
@pytest.mark.parametrize("offset", [1e10, 1e12, -1e10])
def test_constant_offset_is_solved_exactly(method, offset):
    # C + 1e10 was "success" with marginal_err 2.7e-5 against tol 1e-9. A constant changes
    # neither the plan nor the iterates; it is removed exactly (Sterbenz) before solving, so the
    # answer is the exact one for the given (rounded) cost fl(C + offset).
    C = _cost()
    Cs = C + offset
    C_eff = Cs - offset  # exact: the cost the solver really sees, minus the constant
    res = solve_ot(None, None, Cs, REG, method=method, tol=1e-9)
    ref = solve_ot(None, None, C_eff, REG, method=method, tol=1e-9)
    assert res.success and res.marginal_err <= 1e-9
    _honest(res, 1e-9)
    assert res.nit == ref.nit
    np.testing.assert_allclose(res.plan, ref.plan, rtol=0, atol=1e-12)
    # cost and objective are those of the given cost (the offset times sum(P) = 1 +- err
    # makes them sensitive at the 1e-9 * offset level: compare with <Cs, P> of this plan)
    assert res.cost == pytest.approx(float(np.sum(Cs * res.plan)), rel=1e-13)
    # fun - cost is the entropy term, resolved to a few ulp of the offset
    assert res.fun - res.cost == pytest.approx(ref.fun - ref.cost, abs=1e-14 * abs(offset))


@pytest.mark.parametrize("method", METHODS)
def test_row_offset_too_large_is_honest(method):
    # A row offset of 1e10 cannot be removed exactly (min(C) is not within a factor 2 of
    # max(C)); potentials of size 1e10 cost ~5 digits. Whatever the method reaches, success
    # must match the returned plan.
    C = _cost()
    C2 = C + 1e10 * (np.arange(C.shape[0]) % 2)[:, None]
    res = solve_ot(None, None, C2, REG, method=method, tol=1e-9)
    _honest(res, 1e-9)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("s", [1e10, 1e14])
def test_warm_start_far_along_the_gauge(method, s):
    # (f + s, g - s) describes the same plan; s = 1e10 / 1e14 gave "success" with errors
    # 1.8e-5 / 0.17. The start is moved back along the gauge direction before iterating.
    C = _cost()
    base = solve_ot(None, None, C, REG, method="sns", tol=1e-13)
    f, g = base.potentials
    res = solve_ot(None, None, C, REG, method=method, tol=1e-9,
                   options={"warmstart": (f + s, g - s)})
    assert res.success
    _honest(res, 1e-9)
    np.testing.assert_allclose(res.plan, base.plan, rtol=0, atol=1e-9)
    # potentials in the usual gauge, and they reproduce the plan
    fr, gr = res.potentials
    P = np.exp((fr[:, None] + gr[None, :] - C) / REG)
    np.testing.assert_allclose(P, res.plan, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", ["auto", *METHODS])
def test_reg_below_dtype_resolution_raises(method):
    # reg = 1e-22 gave "success" with marginal error 276: the plan's exponent (f + g - C)/reg
    # carries rounding errors of eps * max|C| / reg ~ 2e6, so no potentials represent it.
    with pytest.raises(ValueError, match=r"reg=1e-22 is below what float64 resolves"):
        solve_ot(None, None, _cost(), 1e-22, method=method)
    # the rule is on the cost's spread, not its offset: C + 1e10 at reg 1e-10 is fine
    res = solve_ot(None, None, _cost() + 1e10, 1e-3, method="sns")
    assert res.success


def test_reg_resolution_is_per_dtype():
    C32 = _cost().astype(np.float32)
    with pytest.raises(ValueError, match="float32"):
        solve_ot(None, None, C32, 1e-8, method="sinkhorn-log")


@pytest.mark.parametrize("method", ["sinkhorn-log", "sinkhorn", "auto"])
def test_float32_tol_below_precision_is_refused_honestly(method):
    # float32 sinkhorn-log at tol 1e-10 reported success at error 2.9e-7 (its internal test
    # passed on rounding noise). Now: a warning that the tolerance is below eps32 * sum(a), and
    # no success: status 2 when the internal test passed on noise (sinkhorn-log: the returned
    # plan is re-tested), status 1 at maxiter otherwise, with the reason in the message.
    C32 = _cost().astype(np.float32)
    with pytest.warns(RuntimeWarning, match="below the attainable precision"):
        res = solve_ot(None, None, C32, REG, method=method, tol=1e-10)
    assert not res.success and res.status == (1 if method == "sinkhorn" else 2)
    assert "cannot be met" in res.message
    assert res.marginal_err > 1e-10
    assert res.plan.dtype == np.float32
    # a reachable tolerance in float32 is a real success
    res = solve_ot(None, None, C32, REG, method=method, tol=1e-5)
    assert res.success and _marginal_err(res) <= 1e-5


def test_float64_tol_below_eps_warns():
    with pytest.warns(RuntimeWarning, match="tol=1e-17"):
        res = solve_ot(None, None, _cost(), REG, method="sinkhorn-log", tol=1e-17,
                       options={"maxiter": 2000})
    assert not res.success and res.status in (1, 2) and "cannot be met" in res.message


@pytest.mark.parametrize("method", METHODS)
def test_callback_sees_the_plan_and_the_final_meaning_of_fun(method):
    # intermediate_result.x is the plan (n, m) -- with zero weights restored -- and fun the
    # primal objective; at the last check point (maxiter) they equal the final x and fun.
    C = point_cloud_cost(8, 6, 0)
    a = random_weights(8, 1)
    a[2] = 0.0
    a /= a.sum()
    b = random_weights(6, 2)
    seen = []

    def cb(intermediate_result):
        seen.append((intermediate_result.x, intermediate_result.fun, intermediate_result.nit,
                     intermediate_result.marginal_err))

    opts = {"maxiter": 23 if method.startswith("sinkhorn") and "newton" not in method else 22,
            "check_every": 1}
    res = solve_ot(a, b, C, 1e-3, method=method, callback=cb, options=opts)
    assert seen and all(x.shape == (8, 6) for x, *_ in seen)
    x, fun, nit, err = seen[-1]
    assert nit == res.nit
    np.testing.assert_allclose(x, res.x, rtol=0, atol=1e-15)
    assert fun == pytest.approx(res.fun, rel=1e-12, abs=1e-15)
    assert err == pytest.approx(res.marginal_err, rel=1e-6, abs=1e-15)
    assert np.all(x[2] == 0)


@pytest.mark.parametrize("method", METHODS)
def test_legacy_callback_gets_the_plan(method):
    shapes = []
    solve_ot(None, None, point_cloud_cost(7, 5, 0), 0.05, method=method,
             callback=lambda xk: shapes.append(xk.shape), options={"check_every": 1})
    assert shapes and set(shapes) == {(7, 5)}


@pytest.mark.parametrize("method", METHODS)
def test_maxiter_zero_is_not_a_success(method):
    res = solve_ot(None, None, _cost(), REG, method=method, options={"maxiter": 0})
    assert not res.success and res.status == 1 and res.nit == 0


def test_auto_picks_sns_for_float64_and_log_sinkhorn_otherwise(xp):
    C = to_xp(xp, point_cloud_cost(30, 20, 0))
    res = solve_ot(None, None, C, 1e-3)
    assert res.method == "sns" and res.success and res.marginal_err <= 1e-9
    C32 = xp.astype(C, xp.float32)
    res32 = solve_ot(None, None, C32, 1e-1, tol=1e-5)
    assert res32.method == "sinkhorn-log" and res32.success and res32.plan.dtype == xp.float32
    # options belong to the chosen method
    with pytest.raises(TypeError, match="Unknown option 'tau' for method 'sns'"):
        solve_ot(None, None, C, 1e-3, options={"tau": 1e3})


def test_readme_first_solve_converges():
    # the README's first solve (1000 points, reg 1e-3) at a smaller size: "auto" (SNS)
    # converges where 1000 Sinkhorn sweeps did not
    rng = np.random.default_rng(0)
    X, Y = rng.random((300, 2)), rng.random((300, 2))
    C = ((X[:, None] - Y[None]) ** 2).sum(-1)
    res = solve_ot(None, None, C, reg=1e-3)
    assert res.success and res.nit < 100 and _marginal_err(res) <= 1e-9
    sk = solve_ot(None, None, C, reg=1e-3, method="sinkhorn")
    assert not sk.success and sk.status == 1


def test_numba_flags_are_derived_from_the_kernels():
    from xpsolve import get_solver
    from xpsolve.backends import numba_available

    have = numba_available()
    for name in METHODS:
        spec = get_solver(name, family="ot")
        assert spec.kernels and spec.numba == have, name
    # the result says whether a Numba kernel ran for this call
    C = point_cloud_cost(30, 30, 0)
    with xpsolve.config_context(use_numba=True):
        r1 = solve_ot(None, None, C, 1e-2, method="sns")
    with xpsolve.config_context(use_numba=False):
        r2 = solve_ot(None, None, C, 1e-2, method="sns")
    assert r1.numba == have and not r2.numba
    assert r1.nit == r2.nit


def test_solver_spec_numba_stays_backward_compatible():
    from xpsolve._registry import SolverSpec

    def f(*, maxiter=1):
        return None

    assert SolverSpec("x", "y", f, {}, numba=True).numba is True
    assert SolverSpec("x", "y", f, {}).numba is False
    # with kernels the bool is derived, whatever was declared
    assert SolverSpec("x", "y", f, {}, numba=True, kernels=("sns_topk_threshold",)).numba is False
    with pytest.raises(KeyError):
        SolverSpec("x", "y", f, {}, kernels=("no_such_kernel",)).numba


def test_hostile_inputs_fail_fast():
    C = _cost()
    with pytest.raises(ValueError, match="warmstart"):
        solve_ot(None, None, C, REG, options={"warmstart": (np.zeros(50), np.full(40, np.nan))})
    with pytest.raises(ValueError, match="warmstart"):
        solve_ot(None, None, C, REG, options={"warmstart": (np.zeros(49), np.zeros(40))})
    with pytest.raises(TypeError, match="callback must be callable"):
        solve_ot(None, None, C, REG, callback=3)
    with pytest.raises(ValueError, match="tol must be a positive float"):
        solve_ot(None, None, C, REG, tol=-1.0)
    with pytest.raises(ValueError, match="needs float64"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            solve_ot(None, None, C.astype(np.float32), REG, method="sns")


def test_sns_numba_flag_counts_the_host_kernels():
    # array-api-strict input: the dense passes are generic, but the sparse Newton system runs
    # on the host with the Numba kernels
    import array_api_strict as xs
    from xpsolve.backends import numba_available

    C = xs.asarray(point_cloud_cost(30, 30, 0))
    res = solve_ot(None, None, C, 1e-2, method="sns")
    assert res.nit_newton > 0 and res.numba == numba_available()
    with xpsolve.config_context(use_numba=False):
        assert not solve_ot(None, None, C, 1e-2, method="sns").numba
