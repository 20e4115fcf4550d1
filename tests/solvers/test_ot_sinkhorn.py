"""Correctness of the Sinkhorn baselines ("sinkhorn", "sinkhorn-log") of solve_ot."""
import math

import numpy as np
import pytest

import xpsolve
from xpsolve import solve_ot
from xpsolve.backends import to_numpy
from xpsolve.testing import assert_close

from ..helpers import point_cloud_cost, random_weights, to_xp

METHODS = ["sinkhorn", "sinkhorn-log"]


@pytest.mark.parametrize("method", METHODS)
def test_two_by_two_closed_form(xp, method):
    # r = c = (1/2, 1/2), C = [[0, 1], [1, 0]], reg = 1: P = [[p, q], [q, p]], p = 0.5 / (1 + e^-1)
    a = to_xp(xp, [0.5, 0.5])
    C = to_xp(xp, [[0.0, 1.0], [1.0, 0.0]])
    res = solve_ot(a, a, C, 1.0, method=method, tol=1e-15, options={"check_every": 1})
    p = 0.5 / (1 + math.exp(-1))
    assert res.success
    assert_close(res.plan, np.array([[p, 0.5 - p], [0.5 - p, p]]), rtol=0, atol=1e-14, xp=xp)
    assert res.backend == xpsolve.backends.namespace_name(xp)


@pytest.mark.parametrize("method", METHODS)
def test_additive_cost_gives_product_plan(xp, method):
    # C_ij = alpha_i + beta_j: the optimal plan is a b^T for every reg (rectangular, n != m)
    rng = np.random.default_rng(3)
    a, b = random_weights(7, 1), random_weights(5, 2)
    C = rng.random(7)[:, None] + rng.random(5)[None, :]
    res = solve_ot(to_xp(xp, a), to_xp(xp, b), to_xp(xp, C), 0.05, method=method, tol=1e-14)
    assert res.success and res.nit <= 10
    assert_close(res.plan, np.outer(a, b), rtol=0, atol=1e-15)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_pot_sinkhorn_log(xp, method, seed):
    ot = pytest.importorskip("ot")
    n, m, reg = 40, 30, 0.05
    C = point_cloud_cost(n, m, seed)
    a, b = random_weights(n, seed + 10), random_weights(m, seed + 20)
    P_ref = ot.sinkhorn(a, b, C, reg, method="sinkhorn_log", stopThr=1e-14, numItermax=100000)
    res = solve_ot(to_xp(xp, a), to_xp(xp, b), to_xp(xp, C), reg, method=method, tol=1e-13,
                   options={"maxiter": 100000})
    assert res.success, res.message
    P = to_numpy(res.plan)
    # relative to the plan's scale: entries far below it carry no information about agreement
    assert np.abs(P - P_ref).max() <= 1e-9 * P_ref.max()
    assert abs(res.cost - (P_ref * C).sum()) <= 1e-9 * (P_ref * C).sum()
    # duality: primal objective equals the dual objective at convergence
    assert abs(res.fun - res.dual_fun) <= 1e-10 * (1 + abs(res.fun))
    assert res.marginal_err <= 1e-13


@pytest.mark.parametrize("method", METHODS)
def test_both_methods_give_same_iterates(method):
    # same sweeps in exact arithmetic: same stopping sweep and the same plan to rounding
    C = point_cloud_cost(60, 60, 5)
    res = {m: solve_ot(None, None, C, 0.02, method=m, tol=1e-10) for m in METHODS}
    assert res["sinkhorn"].nit == res["sinkhorn-log"].nit
    np.testing.assert_allclose(res["sinkhorn"].plan, res["sinkhorn-log"].plan, rtol=0, atol=1e-13)


def test_small_reg_point_clouds_converge_without_overflow():
    # reg = 1e-3 on n = 500 point clouds: exp(-C/reg) underflows for most entries; the
    # stabilised scaling form must still converge to the target error
    from xpsolve.problems import get_problem

    p = get_problem("ot/uniform_point_clouds", size="small", seed=0, n=500, reg=1e-3)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is harmless
        res = p.solve("sinkhorn", options={"maxiter": 20000, "tol": 1e-9})
    assert res.success, res.message
    m = p.metrics(res)
    assert m["marginal_err"] <= 1e-9
    assert np.all(np.isfinite(res.plan))
    assert 0 <= m["entropic_gap"] <= m["entropic_gap_bound"]


@pytest.mark.slow
def test_small_reg_point_clouds_log_domain():
    from xpsolve.problems import get_problem

    p = get_problem("ot/uniform_point_clouds", size="small", seed=0, n=500, reg=1e-3)
    res = p.solve("sinkhorn-log", options={"maxiter": 20000, "tol": 1e-9})
    assert res.success and p.metrics(res)["marginal_err"] <= 1e-9


def test_pot_plain_sinkhorn_underflows_where_ours_converges():
    # Adding a constant to C leaves the plan unchanged, but after the shift the
    # kernel exp(-C/reg) is identically zero (C >= 10, reg = 1e-2): POT's plain Sinkhorn fails at once, ours
    # (log-domain first sweep, absorbed kernel) solves it and matches the unshifted problem.
    ot = pytest.importorskip("ot")
    C = point_cloud_cost(60, 60, 2)
    w = np.full(60, 1 / 60)
    with np.errstate(all="ignore"), pytest.warns(UserWarning):
        P_pot = ot.sinkhorn(w, w, C + 10.0, 1e-2, method="sinkhorn", numItermax=100)
    assert not np.all(np.isfinite(P_pot)) or abs(P_pot.sum() - 1) > 1e-3
    shifted = solve_ot(w, w, C + 10.0, 1e-2, method="sinkhorn", options={"maxiter": 50000})
    plain = solve_ot(w, w, C, 1e-2, method="sinkhorn", options={"maxiter": 50000})
    assert shifted.success and shifted.marginal_err <= 1e-9
    np.testing.assert_allclose(shifted.plan, plain.plan, rtol=0, atol=1e-10)


def test_gauge_shift_warmstart_gives_same_plan():
    C = point_cloud_cost(30, 20, 4)
    a, b = random_weights(30, 1), random_weights(20, 2)
    base = solve_ot(a, b, C, 0.05, method="sinkhorn", tol=1e-13)
    f, g = base.potentials
    shifted = solve_ot(a, b, C, 0.05, method="sinkhorn", tol=1e-13, options={"warmstart": (f + 3.0, g - 3.0)})
    np.testing.assert_allclose(shifted.plan, base.plan, rtol=0, atol=1e-13)
    assert shifted.nit <= 10  # warm start at the solution converges at the first check


@pytest.mark.parametrize("method", METHODS)
def test_dual_objective_is_monotone(method):
    C = point_cloud_cost(40, 40, 7)
    vals = []

    def cb(intermediate_result):
        vals.append(intermediate_result.dual_fun)

    solve_ot(None, None, C, 0.01, method=method, tol=1e-12, callback=cb,
             options={"check_every": 1})
    assert len(vals) > 20
    assert np.all(np.diff(vals) >= -10 * np.finfo(float).eps * np.abs(vals[1:]))


@pytest.mark.parametrize("method", METHODS)
def test_zero_weights_are_stripped_and_restored(xp, method):
    C = point_cloud_cost(6, 5, 0)
    a = np.array([0.2, 0.0, 0.3, 0.1, 0.0, 0.4])
    b = np.array([0.25, 0.25, 0.0, 0.3, 0.2])
    res = solve_ot(to_xp(xp, a), to_xp(xp, b), to_xp(xp, C), 0.1, method=method, tol=1e-14)
    P = to_numpy(res.plan)
    assert P.shape == (6, 5)
    assert np.all(P[[1, 4], :] == 0) and np.all(P[:, 2] == 0)
    np.testing.assert_allclose(P.sum(1), a, atol=1e-14)
    np.testing.assert_allclose(P.sum(0), b, atol=1e-14)
    f = to_numpy(res.potentials[0])
    assert np.isneginf(f[1]) and np.all(np.isfinite(f[[0, 2, 3, 5]]))
    # equals the solve of the reduced problem
    red = solve_ot(a[a > 0], b[b > 0], C[a > 0][:, b > 0], 0.1, method=method, tol=1e-14)
    np.testing.assert_allclose(P[a > 0][:, b > 0], red.plan, atol=1e-15)


@pytest.mark.parametrize("method", METHODS)
def test_float32_input_keeps_dtype(method):
    C = point_cloud_cost(20, 20, 1).astype(np.float32)
    res = solve_ot(None, None, C, 0.05, method=method, tol=1e-5)
    assert res.plan.dtype == np.float32 and res.success


@pytest.mark.parametrize("method", METHODS)
def test_numba_and_generic_paths_agree(method):
    C = point_cloud_cost(50, 40, 9)
    with xpsolve.config_context(use_numba=True):
        r1 = solve_ot(None, None, C, 0.01, method=method, tol=1e-12)
    with xpsolve.config_context(use_numba=False):
        r2 = solve_ot(None, None, C, 0.01, method=method, tol=1e-12)
    assert r1.numba and not r2.numba
    assert r1.nit == r2.nit
    np.testing.assert_allclose(r1.plan, r2.plan, rtol=0, atol=1e-14)


@pytest.mark.parametrize("method", METHODS)
def test_maxiter_reports_failure(method):
    C = point_cloud_cost(40, 40, 0)
    res = solve_ot(None, None, C, 1e-3, method=method, options={"maxiter": 15})
    assert not res.success and res.status == 1 and res.nit == 15
    assert "Maximum number of iterations" in res.message
    assert res.marginal_err > 1e-9


def test_history_and_disp(capsys):
    C = point_cloud_cost(20, 20, 0)
    res = solve_ot(None, None, C, 0.05, method="sinkhorn", options={"history": True, "disp": True})
    assert res.history["nit"][-1] == res.nit
    assert res.history["marginal_err"][-1] <= 1e-9
    assert "marginal_err" in capsys.readouterr().out


# ---------------------------------------------------------------------------- bad input
C3 = np.ones((3, 2))
A3, B2 = np.full(3, 1 / 3), np.full(2, 0.5)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(C=np.ones(3)), ValueError, "C must be a 2-D"),
    (dict(a=np.full(4, 0.25)), ValueError, "a has 4 entries but C has 3 rows"),
    (dict(b=np.full(3, 1 / 3)), ValueError, "b has 3 entries but C has 2 columns"),
    (dict(a=np.ones((3, 1)) / 3), ValueError, "a must be 1-D"),
    (dict(C=np.array([[1.0, np.nan], [0, 0], [1, 1]])), ValueError, "C must not contain inf or NaN"),
    (dict(C=np.array([[1.0, np.inf], [0, 0], [1, 1]])), ValueError, "C must not contain inf or NaN"),
    (dict(a=np.array([0.5, 0.6, -0.1])), ValueError, "a must be non-negative"),
    (dict(b=np.array([np.nan, 0.5])), ValueError, "b must not contain inf or NaN"),
    (dict(b=np.array([0.5, 0.6])), ValueError, "equal total mass"),
    (dict(a=np.zeros(3)), ValueError, "positive total mass"),
    (dict(reg=0.0), ValueError, "reg must be a positive finite"),
    (dict(reg=-1.0), ValueError, "reg must be a positive finite"),
    (dict(reg=float("nan")), ValueError, "reg must be a positive finite"),
    (dict(reg="big"), TypeError, "reg must be a positive real"),
    (dict(C=np.array([["a", "b"]] * 3)), TypeError, "C must be a real numeric array"),
])
def test_bad_input_raises(kwargs, exc, match):
    args = dict(a=A3, b=B2, C=C3, reg=0.1)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        solve_ot(args["a"], args["b"], args["C"], args["reg"])


def test_mass_tolerance_is_explicit():
    # a mass mismatch below sqrt(eps) is accepted and b rescaled; above it is rejected
    C = point_cloud_cost(3, 2, 0)
    res = solve_ot(A3, B2 * (1 + 1e-10), C, 0.1, method="sinkhorn", tol=1e-13)
    np.testing.assert_allclose(res.plan.sum(0), B2, atol=1e-13)
    with pytest.raises(ValueError, match="relative tolerance 1.5e-08"):
        solve_ot(A3, B2 * (1 + 1e-6), C, 0.1)


@pytest.mark.parametrize("options, exc, match", [
    ({"maxiters": 10}, TypeError, "Unknown option 'maxiters' for method 'sinkhorn'; did you mean 'maxiter'"),
    ({"tol": -1e-3}, ValueError, r"Option 'tol' of method 'sinkhorn' must be a float in \(0, inf\); got -0.001"),
    ({"maxiter": 1.5}, ValueError, "Option 'maxiter' of method 'sinkhorn' must be an int"),
    ({"check_every": 0}, ValueError, "Option 'check_every'"),
    ({"tau": 0.5}, ValueError, "Option 'tau'"),
    ({"warmstart": "x"}, ValueError, "Option 'warmstart'"),
])
def test_bad_options_raise(options, exc, match):
    with pytest.raises(exc, match=match):
        solve_ot(A3, B2, C3, 0.1, method="sinkhorn", options=options)


def test_unknown_method_suggests():
    with pytest.raises(ValueError, match="Did you mean 'sinkhorn'"):
        solve_ot(A3, B2, C3, 0.1, method="sinkhorm")


def test_mixed_namespaces_raise():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="mix array libraries"):
        solve_ot(A3, torch.asarray(B2), C3, 0.1)


@pytest.mark.parametrize("method", METHODS)
def test_result_stays_on_a_non_default_device(method):
    xs = pytest.importorskip("array_api_strict")
    dev = xs.Device("device1")
    C = xs.asarray(point_cloud_cost(6, 5, 0), device=dev)
    a = xs.asarray(np.array([0.2, 0.0, 0.3, 0.1, 0.0, 0.4]), device=dev)
    res = solve_ot(a, None, C, 0.1, method=method)
    assert res.success
    assert res.plan.device == dev and res.potentials[0].device == dev and res.log_v.device == dev


def test_mixed_devices_raise():
    xs = pytest.importorskip("array_api_strict")
    C = xs.asarray(point_cloud_cost(3, 2, 0), device=xs.Device("device1"))
    with pytest.raises(ValueError, match="different devices"):
        solve_ot(xs.asarray(A3), None, C, 0.1)


def test_serial_and_parallel_numba_drivers_are_bit_identical():
    # the parallel drivers (used from PARALLEL_MIN_SIZE entries with >1 Numba thread) call the
    # same compiled block functions as the serial ones, so switching changes no iterate
    pytest.importorskip("numba")
    from xpsolve.solvers.ot import _numba_kernels as K

    C = point_cloud_cost(150, 130, 3)  # > 2 column blocks, several row chunks
    rng = np.random.default_rng(0)
    f, g = rng.random(150) * 0.1, rng.random(130) * 0.1
    la, lb = np.log(np.full(150, 1 / 150)), np.log(np.full(130, 1 / 130))
    assert np.array_equal(K._nb_lse_rows(C, g, la, 1e-2), K._nb_lse_rows_serial(C, g, la, 1e-2))
    assert np.array_equal(K._nb_lse_cols(C, f, lb, 1e-2), K._nb_lse_cols_serial(C, f, lb, 1e-2))
    assert np.array_equal(K._nb_gibbs(C, f, g, 1e-2), K._nb_gibbs_serial(C, f, g, 1e-2))
    assert not K.use_parallel(C)  # small problems never pay a thread barrier
