"""SubGM and the recovery baselines: the correctness checks of the SubGM spec (section 3).

Instances come from :func:`xpsolve.problems.recovery.robust_sensing` (Gaussian A with
N(0,1) entries, ||X*||_F = 1, outliers 10 N(0,1)); thresholds are the spec's measured
values with a margin (e.g. 1e-10 where float64 runs end near 1e-13 after 1500 steps).
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import array_api_compat.numpy as xnp
import xpsolve
from xpsolve import recover_low_rank
from xpsolve.backends import get_kernel, namespace_name, to_numpy
from xpsolve.backends._kernels import _KERNELS
from xpsolve.problems import get_problem
from xpsolve.problems.recovery import robust_sensing
from xpsolve.solvers.recovery import DenseOperator, RankOneOperator

from ..helpers import to_xp


def _inst(d=20, r=3, m=600, p=0.3, seed=0, **kw):
    return robust_sensing(d, r, m, p=p, seed=seed, **kw)


def _solve(inst, rank, method="subgm", truth=True, **opts):
    o = {"seed": 0, **opts}
    if truth:
        o["truth"] = inst["X_star"]
    return recover_low_rank(inst["A"], inst["y"], rank, method=method, options=o)


def _rel_err(U, X_star):
    U = np.asarray(to_numpy(U), dtype=np.float64)
    return float(np.linalg.norm(U @ U.T - X_star) / np.linalg.norm(X_star))


# --------------------------------------------------------------------------- unit level

@pytest.mark.parametrize("kind", ["dense", "rank1"])
def test_subgradient_matches_finite_differences(kind):
    rng = np.random.default_rng(1)
    d, r, m = 6, 2, 50
    inst = robust_sensing(d, 2, m, p=0.2, seed=1, operator="gaussian" if kind == "dense" else "rank1")
    op = (DenseOperator if kind == "dense" else RankOneOperator)(inst["A"], xp=xnp)
    y = inst["y"]
    U = rng.standard_normal((d, r))
    res, G = op.fused(U, y, True)
    assert np.min(np.abs(res)) > 1e-6          # f is differentiable at U
    D = 2 * G / m

    def f(V):
        return np.mean(np.abs(op.apply(V) - y))

    h = 1e-6
    for _ in range(5):
        E = rng.standard_normal((d, r))
        fd = (f(U + h * E) - f(U - h * E)) / (2 * h)
        np.testing.assert_allclose(fd, np.sum(D * E), rtol=1e-6)
    # the least-squares gradient as well
    res2, G2 = op.fused(U, y, False)
    E = rng.standard_normal((d, r))
    f2 = lambda V: np.mean((op.apply(V) - y) ** 2) / 2  # noqa: E731
    fd = (f2(U + h * E) - f2(U - h * E)) / (2 * h)
    np.testing.assert_allclose(fd, np.sum(2 * G2 / m * E), rtol=1e-6)


class _UserDense:
    """A matrix-free operator object (the third input form), here backed by a dense stack."""

    def __init__(self, A):
        self.A, self.m, self.d = A, A.shape[0], A.shape[1]

    def apply(self, U):
        return np.einsum("ijk,jk->i", self.A, U @ U.T)

    def adjoint(self, w, U):
        S = np.einsum("i,ijk->jk", w, self.A)
        return (S + S.T) / 2 @ U


@pytest.mark.parametrize("kind", ["dense", "rank1", "user"])
def test_adjoint_identity(kind):
    rng = np.random.default_rng(2)
    d, m = 7, 40
    if kind == "rank1":
        A = rng.standard_normal((m, d))
        op = RankOneOperator(A, xp=xnp)
    else:
        A = rng.standard_normal((m, d, d))
        op = DenseOperator(A, xp=xnp)
    U = rng.standard_normal((d, 3))
    w = rng.standard_normal(m)
    if kind == "user":
        from xpsolve.solvers.recovery._operators import as_operator

        op = as_operator(_UserDense(A), xp=xnp, dtype=np.float64)
    # <A(U U^T), w> == <U U^T, A*(w)>, and adjoint(w, U) == sym(A*(w)) U
    lhs = op.apply(U) @ w
    M = op.matrix_adjoint(w)
    np.testing.assert_allclose(lhs, np.sum((U @ U.T) * M), rtol=1e-12)
    np.testing.assert_allclose(op.adjoint(w, U), (M + M.T) / 2 @ U, rtol=1e-12, atol=1e-12)


def test_scale_invariance():
    # (c y, same relative alpha) => U'_t = sqrt(c) U_t at every iteration, same schedule
    inst = _inst(m=600, p=0.3)
    c = 100.0
    traj = {}
    for key, y in (("1", inst["y"]), ("c", c * inst["y"])):
        seen = []
        recover_low_rank(inst["A"], y, 3, options={"seed": 0, "maxiter": 300},
                         callback=lambda intermediate_result: seen.append(intermediate_result.x))
        traj[key] = seen
    assert len(traj["1"]) == len(traj["c"]) == 300  # one callback per iteration (not at x0)
    for U1, Uc in zip(traj["1"], traj["c"]):   # rtol 1e-10 in norm (entries near 0 round apart)
        assert np.linalg.norm(Uc - math.sqrt(c) * U1) <= 1e-10 * np.linalg.norm(Uc)


def test_exact_fit_stops_at_iteration_zero():
    inst = _inst(d=8, r=2, m=100, p=0.0)
    U0 = np.random.default_rng(3).standard_normal((8, 2))
    op = DenseOperator(inst["A"], xp=xnp)
    y = op.fused(U0, np.zeros(100), True)[0]     # the same operator call as the solver's
    res = recover_low_rank(op, y, 2, options={"x0": U0})
    assert res.status == 0 and res.success and res.nit == 0
    assert res.rel_change == 0.0 and res.fun == 0.0
    np.testing.assert_array_equal(res.x, U0)


def test_zero_start_is_refused():
    inst = _inst(d=6, r=2, m=60)
    with pytest.raises(ValueError, match="x0 must not be zero.*stationary"):
        recover_low_rank(inst["A"], inst["y"], 2, options={"x0": np.zeros((6, 2))})


# --------------------------------------------------------------------------- recovery level

@pytest.mark.parametrize("p", [0.0, 0.3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_rank_recovery_with_outliers(p, seed):
    # issue target: 30% outliers of arbitrary magnitude, d = 20, r = 3, m = 10 d r: <= 1e-10
    inst = _inst(m=600, p=p, seed=seed)
    res = _solve(inst, 3, maxiter=1500)
    assert res.success and res.status == 0, res.message
    assert res.rel_err <= 1e-10
    assert _rel_err(res.U, inst["X_star"]) <= 1e-10   # the reported metric is the real one
    assert res.x is res.U and res.x.shape == (20, 3)


def test_dense_outliers_half_corrupted():
    inst = _inst(m=1200, p=0.5, seed=0)
    res = _solve(inst, 3, maxiter=1500)
    assert res.rel_err < 1e-8


def test_arbitrarily_large_outliers():
    inst = _inst(m=600, p=0.3, seed=4, outlier_scale=1e6)
    res = _solve(inst, 3, maxiter=1500, scale=1.0)
    assert res.success and res.rel_err <= 1e-10


def test_success_without_truth_is_relative_change_and_real():
    inst = _inst(m=600, p=0.3, seed=1)
    res = _solve(inst, 3, truth=False)
    assert res.success and "rel_change" in res and "rel_err" not in res
    assert res.rel_change <= 1e-12
    assert _rel_err(res.U, inst["X_star"]) < 1e-10


def test_over_parameterized_error_monotone_in_alpha():
    # r' = d = 20: the final error decreases with alpha (spec: 1e-3 -> ~2e-4, 1e-6 -> ~1e-7)
    inst = _inst(m=1200, p=0.0, seed=0)
    errs = [_solve(inst, 20, alpha=a, maxiter=1500).rel_err for a in (1e-2, 1e-4, 1e-6)]
    assert errs[0] > errs[1] > errs[2], errs
    assert errs[2] < 1e-3 and errs[2] < 0.1 * errs[0]
    # with outliers, the adaptive warm-up (decay starts once ||U||_F^2 reaches 5% of the
    # scale) keeps the spurious directions small: measured 9e-7 vs 1.5e-3 (fixed T0 = 208)
    dirty = _inst(m=1200, p=0.3, seed=0)
    fixed = _solve(dirty, 20, alpha=1e-6, maxiter=2000)
    adaptive = _solve(dirty, 20, alpha=1e-6, warmup="adaptive", maxiter=2000)
    assert adaptive.rel_err < 1e-5 and adaptive.rel_err < fixed.rel_err / 100
    assert adaptive.warmup < fixed.warmup
    # "large initialization" without warm-up stalls at a visibly larger error
    big = _solve(inst, 20, alpha=1.0, step="geometric", maxiter=1500).rel_err
    assert errs[2] < big / 10


def test_gaussian_noise_reaches_the_statistical_error():
    # dense noise nu: the error levels off near nu sqrt(d r / m) (measured 0.23 nu here); the
    # recovery tolerance cannot be met, so the run ends honestly (step underflow, status 2)
    nu, d, r, m = 1e-2, 20, 3, 1200
    inst = _inst(m=m, p=0.2, noise=nu, seed=0)
    res = _solve(inst, 3)
    assert res.rel_err < 2 * nu * math.sqrt(d * r / m)
    assert res.status == 2 and not res.success and "step size" in res.message


def test_least_squares_baseline_breaks_with_outliers():
    clean = _inst(m=1200, p=0.0, seed=0)
    res = _solve(clean, 3, method="factored-gd")
    assert res.success and res.rel_err <= 1e-10           # exact without outliers
    dirty = _inst(m=1200, p=0.1, seed=0)
    gd = _solve(dirty, 3, method="factored-gd", maxiter=1000)
    sub = _solve(dirty, 3, maxiter=1500)
    assert gd.rel_err > 0.3 and not gd.success
    assert sub.rel_err < 1e-6


def test_polyak_with_oracle_value():
    inst = _inst(m=600, p=0.3, seed=0)
    res = _solve(inst, 3, method="polyak-subgradient", f_star=inst["f_star"], maxiter=500)
    assert res.success and res.rel_err <= 1e-10
    sub = _solve(inst, 3, step="polyak", f_star=inst["f_star"], maxiter=500)
    assert sub.success and sub.rel_err <= 1e-10
    with pytest.raises(ValueError, match="f_star"):
        _solve(inst, 3, step="polyak")


def test_cvxpy_convex_reference_agrees():
    cp = pytest.importorskip("cvxpy")
    from xpsolve.suite.peers import get_peer

    prob = get_problem("recovery/gaussian_sensing", size="small", seed=0, p=0.0)
    ref = prob.solve(get_peer("recovery", "cvxpy:l1-psd").method)
    assert ref.success, ref.message
    res = prob.solve("subgm")
    X_ref = ref.X_convex
    X = to_numpy(res.X)
    assert np.linalg.norm(X - X_ref) / np.linalg.norm(X_ref) < 1e-5
    assert cp is not None


def test_rank_one_operator_and_spectral_init():
    prob = get_problem("recovery/quadratic_sensing", size="tiny", seed=0)
    res = prob.solve("subgm")
    assert res.success and prob.metrics(res)["rel_err"] < 1e-8
    inst = _inst(m=600, p=0.0, seed=2)
    sp = _solve(inst, 3, init="spectral", maxiter=1500)
    assert sp.success and sp.rel_err < 1e-10


def test_user_operator_object_matches_dense_stack():
    inst = _inst(d=8, r=2, m=200, p=0.2)
    a = recover_low_rank(inst["A"], inst["y"], 2, options={"seed": 0, "maxiter": 200})
    with xpsolve.config_context(use_numba=False):
        b = recover_low_rank(_UserDense(inst["A"]), inst["y"], 2, options={"seed": 0, "maxiter": 200})
    np.testing.assert_allclose(b.x, a.x, rtol=1e-8, atol=1e-12)


# --------------------------------------------------------------------------- the failure mode

def test_pure_geometric_decay_from_small_start_is_detected():
    # spec: alpha = 1e-3, eta0 = 0.2, rho = 0.97, no warm-up: the iterate never leaves the origin
    inst = _inst(m=600, p=0.3, seed=0)
    with pytest.warns(RuntimeWarning, match="initialization too small for schedule"):
        bad = _solve(inst, 3, truth=False, step="geometric", rho=0.97)
    assert not bad.success and bad.status == 2 and "U never grew" in bad.message
    assert _rel_err(bad.U, inst["X_star"]) > 0.5
    # the warm-up variant fixes it, with the same eta0 and a decay as fast
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        good = _solve(inst, 3, truth=False, rho=0.97)
    # T0 = ceil(3 ln(1/alpha_eff) / eta0), alpha_eff = ||U0||_F / sqrt(scale * rank) ~ alpha
    assert good.success and abs(good.warmup - math.ceil(3 * math.log(1e3) / 0.2)) <= 10
    assert _rel_err(good.U, inst["X_star"]) < 1e-9


# --------------------------------------------------------------------------- statuses, result

def test_statuses_and_result_keys():
    inst = _inst(d=8, r=2, m=200, p=0.2)
    res = _solve(inst, 2, maxiter=5, history=True)
    assert res.status == 1 and not res.success and res.nit == 5
    assert set(res.history) >= {"nit", "fun", "rel_err", "eta", "time"}
    assert "X" not in res                                  # formed lazily
    np.testing.assert_allclose(res.X, res.U @ res.U.T)
    assert "X" in res and res.U_best.shape == (8, 2) and res.fun_best <= res.history["fun"][0]

    def stop(intermediate_result):
        assert intermediate_result.x.shape == (8, 2)
        if intermediate_result.nit == 3:
            raise StopIteration

    res = _solve(inst, 2, maxiter=50)
    stopped = recover_low_rank(inst["A"], inst["y"], 2, callback=stop, options={"seed": 0})
    assert stopped.status == 99 and stopped.nit == 3
    seen = []
    recover_low_rank(inst["A"], inst["y"], 2, callback=lambda xk: seen.append(xk.shape),
                     options={"seed": 0, "maxiter": 2})
    assert seen == [(8, 2)] * 2                            # SciPy: one callback(xk) per iteration


class _NanAfter:
    def __init__(self, A, k):
        self.inner, self.m, self.d, self.k, self.calls = _UserDense(A), A.shape[0], A.shape[1], k, 0

    def apply(self, U):
        self.calls += 1
        out = self.inner.apply(U)
        return out * np.nan if self.calls > self.k else out

    def adjoint(self, w, U):
        return self.inner.adjoint(w, U)


def test_non_finite_gives_status_3_and_last_finite_iterate():
    inst = _inst(d=8, r=2, m=200, p=0.2)
    seen = []
    res = recover_low_rank(_NanAfter(inst["A"], 6), inst["y"], 2,
                           options={"seed": 0, "max_restarts": 0},
                           callback=lambda intermediate_result: seen.append(intermediate_result.x))
    assert res.status == 3 and not res.success
    assert np.all(np.isfinite(res.x))
    np.testing.assert_array_equal(res.x, seen[-1])


def test_divergence_guard_halves_the_step_and_restarts():
    inst = _inst(m=600, p=0.3, seed=0)
    res = _solve(inst, 3, eta0=4.0, maxiter=3000)
    assert res.restarts >= 1 and res.success and res.rel_err < 1e-10


def test_float32_floor():
    inst = _inst(m=600, p=0.3, seed=0)
    res = recover_low_rank(inst["A"].astype(np.float32), inst["y"].astype(np.float32), 3,
                           options={"seed": 0, "truth": inst["X_star"]})
    assert res.x.dtype == np.float32
    assert res.success and res.rel_err < 1e-4     # tol max(1e-10, 100 eps) = 1.2e-5


# --------------------------------------------------------------------------- hostile inputs

def test_bad_inputs_fail_fast():
    inst = _inst(d=6, r=2, m=60)
    A, y = inst["A"], inst["y"]
    with pytest.raises(ValueError, match="A has 60 measurements but y has 59"):
        recover_low_rank(A, y[:59], 2)
    with pytest.raises(ValueError, match=r"A must have shape \(m, d, d\)"):
        recover_low_rank(A[:, :, :5], y, 2)
    with pytest.raises(ValueError, match="A must be a stack"):
        recover_low_rank(A[..., None], y, 2)
    with pytest.raises(ValueError, match="y must be 1-D"):
        recover_low_rank(A, y[:, None], 2)
    for bad in (0, 7, -1):
        with pytest.raises(ValueError, match=r"rank must be in \[1, d\]"):
            recover_low_rank(A, y, bad)
    for bad in (2.0, True, "2"):
        with pytest.raises(TypeError, match="rank must be an int"):
            recover_low_rank(A, y, bad)
    An = A.copy()
    An[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="A must not contain inf or NaN"):
        recover_low_rank(An, y, 2)
    yi = y.copy()
    yi[3] = np.inf
    with pytest.raises(ValueError, match="y must not contain inf or NaN"):
        recover_low_rank(A, yi, 2)
    for alpha in (0.0, -1e-3):
        with pytest.raises(ValueError, match="Option 'alpha' of method 'subgm' must be"):
            recover_low_rank(A, y, 2, options={"alpha": alpha})
    with pytest.raises(TypeError, match="Unknown option 'alpah'.*did you mean 'alpha'"):
        recover_low_rank(A, y, 2, options={"alpah": 1e-3})
    with pytest.raises(ValueError, match="Option 'step' of method 'subgm' must be"):
        recover_low_rank(A, y, 2, options={"step": "cosine"})
    with pytest.raises(ValueError, match=r"x0 must have shape \(d, rank\) = \(6, 2\)"):
        recover_low_rank(A, y, 2, options={"x0": np.ones((6, 3))})
    with pytest.raises(ValueError, match="Option 'truth' must be the matrix X"):
        recover_low_rank(A, y, 2, options={"truth": np.ones((6, 2))})
    with pytest.raises(TypeError, match="A must be an array"):
        recover_low_rank("A", y, 2)
    with pytest.raises(TypeError, match="y must be"):
        recover_low_rank(A, None, 2)
    with pytest.raises(TypeError, match="positive integer attributes 'm' and 'd'"):
        class NoSize:
            def apply(self, U):
                return U

            def adjoint(self, w, U):
                return U
        recover_low_rank(NoSize(), y, 2)
    class BadShape(_UserDense):
        def apply(self, U):
            return super().apply(U)[:, None]

    with pytest.raises(ValueError, match=r"A.apply\(U\) must return an array of shape \(60,\)"):
        recover_low_rank(BadShape(A), y, 2)
    with pytest.raises(ValueError, match="Unknown method 'subgmm'.*Did you mean 'subgm'"):
        recover_low_rank(A, y, 2, method="subgmm")
    with pytest.raises(ValueError, match="tol must be a positive float"):
        recover_low_rank(A, y, 2, tol=-1.0)


# --------------------------------------------------------------------------- backends, kernels

def test_backends_agree(xp):
    inst = _inst(d=8, r=2, m=200, p=0.2)
    ref = recover_low_rank(inst["A"], inst["y"], 2, options={"seed": 0, "maxiter": 700})
    res = recover_low_rank(to_xp(xp, inst["A"]), to_xp(xp, inst["y"]), 2,
                           options={"seed": 0, "maxiter": 700, "truth": to_xp(xp, inst["X_star"])})
    assert namespace_name(xpsolve.backends.get_namespace(res.x)) == namespace_name(xp)
    assert res.x.dtype == xp.float64 and res.U_best.dtype == xp.float64
    np.testing.assert_allclose(to_numpy(res.x), ref.x, rtol=1e-7, atol=1e-12)
    assert res.rel_err < 1e-6
    np.testing.assert_allclose(to_numpy(res.X), ref.x @ ref.x.T, rtol=1e-7, atol=1e-12)
    # NumPy truth / x0 with data of another namespace are moved to it
    mixed = recover_low_rank(to_xp(xp, inst["A"]), to_xp(xp, inst["y"]), 2,
                             options={"x0": ref.x, "maxiter": 3, "truth": inst["X_star"]})
    assert namespace_name(xpsolve.backends.get_namespace(mixed.x)) == namespace_name(xp)


def test_backends_rank_one(xp):
    prob = get_problem("recovery/quadratic_sensing", size="tiny", seed=0, xp=xp)
    res = prob.solve("subgm", options={"maxiter": 1500})
    assert namespace_name(xpsolve.backends.get_namespace(res.x)) == namespace_name(xp)
    assert prob.metrics(res)["rel_err"] < 1e-8


@st.composite
def _kernel_inputs(draw):
    kind = draw(st.sampled_from(["dense", "rank1"]))
    m = draw(st.integers(1, 300))
    d = draw(st.integers(1, 12))
    r = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    seed = draw(st.integers(0, 2 ** 16))
    l1 = draw(st.booleans())
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((d, r))
    if kind == "dense":
        A = rng.standard_normal((m, d * d))
        x = (U @ U.T).ravel()
        third = x
    else:
        A = rng.standard_normal((m, d))
        third = U
    y = rng.standard_normal(m) * draw(st.sampled_from([0.0, 1.0, 100.0]))
    return kind, A.astype(dtype), y.astype(dtype), third.astype(dtype), l1


@settings(max_examples=40, deadline=None, derandomize=True)
@given(_kernel_inputs())
def test_numba_kernel_parity(inp):
    pytest.importorskip("numba")
    kind, A, y, third, l1 = inp
    name = f"recovery_{kind}_fused"
    generic = _KERNELS[name].generic
    twin = get_kernel(name, xnp)
    assert twin is not generic
    res_g, g_g = generic(A, y, third, l1, xp=xnp)
    res_n, g_n = twin(A, y, third, l1, xp=xnp)
    tol = 1e-4 if A.dtype == np.float32 else 1e-10
    scale = np.abs(A).sum(1).max() * max(np.abs(third).max(), 1) ** 2 + np.abs(y).max() + 1
    assert res_n.dtype == A.dtype and g_n.dtype == A.dtype
    np.testing.assert_allclose(res_n, res_g, rtol=tol, atol=tol * scale)
    # signs of residuals within rounding of zero may differ between the two summation orders
    assume(not l1 or np.min(np.abs(res_g)) > 1e2 * tol * scale)
    np.testing.assert_allclose(g_n, g_g, rtol=tol, atol=tol * scale * len(y))


def test_kernels_selected_for_numpy_only():
    import array_api_strict

    for name in ("recovery_dense_fused", "recovery_rank1_fused"):
        assert get_kernel(name, array_api_strict) is _KERNELS[name].generic
        with xpsolve.config_context(use_numba=False):
            assert get_kernel(name, xnp) is _KERNELS[name].generic
    inst = _inst(d=6, r=2, m=60)
    assert recover_low_rank(inst["A"], inst["y"], 2, options={"maxiter": 1}).numba is True


def test_show_options_lists_the_step_rules():
    text = xpsolve.show_options("subgm", family="recovery", disp=False)
    for key in ("alpha", "step", "eta0", "rho", "warmup", "truth", "maxiter"):
        assert key in text
