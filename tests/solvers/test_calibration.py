"""Correctness of blind gain calibration (calibrate_gains: pgd, pgd-subspace, spectral-ls).

The checks follow the spec's list (gradients, initialisation, projection, normalisation,
exact recovery, linear convergence, spectral baseline, subspace priors, the
under-determined regime, noise, positivity), then statuses, hostile inputs, operators
and backend agreement.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpsolve
from xpsolve import calibrate_gains
from xpsolve.backends import namespace_name, to_numpy
from xpsolve.problems import get_problem
from xpsolve.problems.calibration import dct_basis, sensing_operator
from xpsolve.solvers.calibration import RandomConvolution, project_gains
from xpsolve.solvers.calibration._common import objective_and_grads
from xpsolve.solvers.calibration._operators import CountingOperator, DenseSensing
from xpsolve.testing import assert_close

from ..helpers import to_xp

METHODS = ["pgd", "pgd-subspace", "spectral-ls"]


def gaussian_instance(n, m, p, rho=0.5, seed=0, snr=None):
    """Spec check 5's draw: A (p, m, n), then x, then w (numpy default_rng(seed))."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((p, m, n))
    x = rng.standard_normal(n)
    w = rng.uniform(-1, 1, m)
    w -= w.mean()
    w *= rho / np.abs(w).max()
    d = 1 + w
    y = d * (A @ x)
    if snr is not None:
        y = y + np.sqrt(np.mean(y * y)) * 10 ** (-snr / 20) * rng.standard_normal(y.shape)
    return y, A, x, d


def truth(x, d):
    return {"x_true": x, "d_true": d}


# ----------------------------------------------------------------------------- 1. gradients
def test_gradients_match_central_differences():
    import array_api_compat.numpy as xp

    rng = np.random.default_rng(1)
    n, m, p = 5, 4, 3
    A = rng.standard_normal((p, m, n))
    y = rng.standard_normal((p, m))
    x = rng.standard_normal(n)
    g = 1 + 0.3 * rng.standard_normal(m)
    op = CountingOperator(DenseSensing(A, xp))
    F, gx, gg, _ = objective_and_grads(op, y, x, g, xp)

    def f(x, g):
        return float(((g * (A @ x) - y) ** 2).sum() / (2 * m * p))

    assert math.isclose(float(F), f(x, g), rel_tol=1e-14)
    h = 1e-6
    fd_x = np.array([(f(x + h * e, g) - f(x - h * e, g)) / (2 * h) for e in np.eye(n)])
    fd_g = np.array([(f(x, g + h * e) - f(x, g - h * e)) / (2 * h) for e in np.eye(m)])
    np.testing.assert_allclose(gx, fd_x, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gg, fd_g, rtol=1e-6, atol=1e-9)
    # the projected gain gradient (onto 1-perp) sums to zero
    assert abs((gg - gg.mean()).sum()) < 1e-14


# ----------------------------------------------------------------------------- 2. initialisation
def test_backprojection_is_unbiased_and_gains_start_at_one():
    rng = np.random.default_rng(2)
    n = m = 8
    p = 4
    x = rng.standard_normal(n)
    d = 1 + 0.5 * np.cos(np.arange(m))
    d /= d.mean()
    A = rng.standard_normal((2000, p, m, n))
    y = d * np.einsum("tpmn,n->tpm", A, x)
    xs = []
    for t in range(2000):
        res = calibrate_gains(y[t], A[t], options={"maxiter": 0})
        xs.append(res.x)
        if t == 0:
            np.testing.assert_array_equal(res.gains, np.ones(m))
            np.testing.assert_allclose(res.x, A[0].transpose(0, 2, 1).__matmul__(y[0][..., None])
                                       .sum(0).ravel() / (m * p), rtol=1e-13)
    mean = np.mean(xs, axis=0)
    assert np.linalg.norm(mean - x) / np.linalg.norm(x) < 0.05


# ----------------------------------------------------------------------------- 3. projection
def _projection_reference(v, rho, m):
    """Exact projection by scanning the 2m breakpoints of tau -> sum clip(v - tau) (independent)."""
    lo, hi = 1 - rho, 1 + rho
    bps = np.sort(np.concatenate([v - lo, v - hi]))
    s = lambda t: np.clip(v - t, lo, hi).sum()  # noqa: E731  (decreasing in t)
    vals = np.array([s(t) for t in bps])
    k = np.searchsorted(-vals, -m)              # first breakpoint with s(t) <= m
    t0, t1 = bps[max(k - 1, 0)], bps[min(k, len(bps) - 1)]
    s0, s1 = s(t0), s(t1)
    t = t0 if s0 == s1 else t0 + (s0 - m) * (t1 - t0) / (s0 - s1)
    return np.clip(v - t, lo, hi)


def test_projection_onto_G_rho(xp):
    rng = np.random.default_rng(3)
    m, rho = 50, 0.3
    for _ in range(20):
        v = 1 + rng.standard_normal(m) * rng.uniform(0.1, 2) + rng.uniform(-1, 1)
        g = project_gains(to_xp(xp, v), rho, xp)
        gn = to_numpy(g)
        assert abs(gn.sum() - m) < 1e-12
        assert gn.min() >= 1 - rho - 1e-15 and gn.max() <= 1 + rho + 1e-15
        np.testing.assert_allclose(gn, _projection_reference(v, rho, m), atol=1e-8)
        # KKT: v - g = tau on the free coordinates
        free = (gn > 1 - rho + 1e-12) & (gn < 1 + rho - 1e-12)
        if free.sum() > 1:
            assert np.ptp((v - gn)[free]) < 1e-10
    # rho=None: the hyperplane only
    v = rng.standard_normal(m)
    np.testing.assert_allclose(to_numpy(project_gains(to_xp(xp, v), None, xp)), v - v.mean() + 1)


@pytest.mark.skipif(not __import__("importlib").util.find_spec("cvxpy"), reason="cvxpy absent")
def test_projection_matches_cvxpy():
    import cvxpy as cp
    import array_api_compat.numpy as xp

    rng = np.random.default_rng(4)
    m, rho = 50, 0.3
    for _ in range(20):
        v = 1 + rng.standard_normal(m)
        g = cp.Variable(m)
        cp.Problem(cp.Minimize(cp.sum_squares(g - v)),
                   [cp.sum(g) == m, g >= 1 - rho, g <= 1 + rho]).solve()
        np.testing.assert_allclose(project_gains(v, rho, xp), g.value, atol=1e-6)


# ----------------------------------------------------------------------------- 4. normalisation
@pytest.mark.parametrize("method", METHODS)
def test_gains_have_mean_one(method):
    y, A, x, d = gaussian_instance(16, 16, 6, seed=5)
    res = calibrate_gains(3.0 * y, A, method=method, options={"maxiter": 50})
    assert abs(float(np.mean(res.gains)) - 1) < 1e-12


# ----------------------------------------------------------------------------- 5-6. exact recovery
@pytest.fixture(scope="module")
def spec5():
    return gaussian_instance(64, 64, 4, seed=0)


def _first_below(hist, level):
    return next(nit for nit, e in zip(hist["nit"], hist["err"]) if e < level)


def test_exact_recovery_fixed_and_backtracking(spec5):
    y, A, x, d = spec5
    fixed = calibrate_gains(y, A, tol=1e-13,
                            options={"step": "fixed", "mu": 0.5, "history": True, **truth(x, d)})
    assert fixed.success and fixed.err < 1e-10
    assert fixed.n_forward == fixed.nit + 1 and fixed.n_adjoint == fixed.nit + 1  # + back-projection
    bt = calibrate_gains(y, A, options={"history": True, **truth(x, d)})
    assert bt.success and bt.err < 1e-8
    # prototype: 408 (fixed 0.5) and 376 (backtracking) iterations to err < 1e-6
    assert _first_below(bt.history, 1e-6) <= _first_below(fixed.history, 1e-6)
    # 6. linear convergence: once err < 1e-2, at least a halving per 200 iterations
    h = fixed.history
    start = _first_below(h, 1e-2)
    errs = dict(zip(h["nit"], h["err"]))
    for k in range(start, max(h["nit"]) - 200, 50):
        assert errs[k + 200] <= errs[k] / 2


def test_backtracking_never_returns_nan_from_a_huge_step(spec5):
    y, A, x, d = spec5
    res = calibrate_gains(y, A, options={"mu": 1e6, "maxiter": 2000, **truth(x, d)})
    assert res.success and res.err < 1e-6
    assert np.all(np.isfinite(res.x)) and math.isfinite(res.fun)


# ----------------------------------------------------------------------------- 7. spectral LS
@pytest.mark.parametrize("solver", ["svd", "cgls"])
def test_spectral_ls_exact_at_the_counting_threshold(spec5, solver):
    y, A, x, d = spec5
    res = calibrate_gains(y[:2], A[:2], method="spectral-ls",
                          options={"solver": solver, **truth(x, d)})   # mp = 128 >= n + m - 1
    assert res.success and res.identifiable
    assert res.err < (1e-10 if solver == "svd" else 1e-8)
    assert res.solver == solver


def test_spectral_ls_fails_honestly_with_one_snapshot(spec5):
    y, A, x, d = spec5
    with pytest.warns(RuntimeWarning, match="not identifiable"):
        res = calibrate_gains(y[:1], A[:1], method="spectral-ls", options=truth(x, d))
    assert not res.success and res.status == 4 and res.err > 1e-2


def test_spectral_ls_matches_dense_least_squares_reference():
    # the constrained LS min ||M w|| s.t. sum(s) = m by an independent dense solve (KKT system)
    y, A, x, d = gaussian_instance(10, 8, 3, seed=6, snr=30)
    p, m, n = A.shape
    M = np.concatenate([np.concatenate([np.diag(y[l]), -A[l]], axis=1) for l in range(p)])
    c = np.concatenate([np.ones(m), np.zeros(n)])
    K = np.block([[2 * M.T @ M, c[:, None]], [c[None, :], np.zeros((1, 1))]])
    w = np.linalg.solve(K, np.concatenate([np.zeros(m + n), [m]]))[:-1]
    s, xr = w[:m], w[m:]
    dr = 1 / s
    xr, dr = xr * dr.mean(), dr / dr.mean()
    res = calibrate_gains(y, A, method="spectral-ls", tol=1e-13, options={"solver": "cgls"})
    assert res.success
    np.testing.assert_allclose(res.gains, dr, rtol=1e-7)
    np.testing.assert_allclose(res.x, xr, rtol=1e-7, atol=1e-9)


# ----------------------------------------------------------------------------- 8. subspace priors
@pytest.mark.parametrize("p", [1, 2, 4])
def test_subspace_variant_recovers_with_few_snapshots(p):
    n = m = 64
    for seed in range(10):
        prob = get_problem("calibration/subspace", size="small", seed=seed, p=p)
        res = prob.solve("pgd-subspace")
        assert res.success and res.err < 1e-8, (p, seed, res.err)


def test_subspace_beats_plain_pgd_at_one_snapshot():
    prob = get_problem("calibration/subspace", size="small", seed=0)   # p = 1
    sub = prob.solve("pgd-subspace")
    with pytest.warns(RuntimeWarning):
        plain = prob.solve("pgd", options={"maxiter": 2000})
    assert sub.success and sub.err < 1e-8
    assert not plain.success and plain.err > 1e-2


# ----------------------------------------------------------------------------- 9. under-determined
def test_under_determined_never_reports_success():
    for seed in range(3):
        y, A, x, d = gaussian_instance(32, 8, 4, seed=seed)              # mp = 32 < 39
        with pytest.warns(RuntimeWarning, match="not identifiable"):
            res = calibrate_gains(y, A, options={"maxiter": 3000, "rho": 0.9, **truth(x, d)})
        assert not res.success and not res.identifiable and res.err > 1e-2
        assert res.status in (1, 4)


# ----------------------------------------------------------------------------- 10. noise
@pytest.mark.parametrize("snr", [10, 40])
def test_noise_degrades_gracefully(snr):
    # spec prototype: x-error about -(snr + 8) dB +- 3 dB; we bound the 5-seed mean by 5 dB
    errs = []
    for seed in range(5):
        y, A, x, d = gaussian_instance(64, 64, 8, seed=seed, snr=snr)
        res = calibrate_gains(y, A, tol=1e-8, options=truth(x, d))
        assert res.success
        errs.append(20 * np.log10(res.err_x))
    assert abs(np.mean(errs) + snr + 8) <= 5, errs


# ----------------------------------------------------------------------------- 11. positivity
@pytest.mark.filterwarnings("ignore:not identifiable")
def test_warns_on_nonpositive_gains_without_box():
    prob = get_problem("calibration/subspace", size="tiny", seed=0)
    with pytest.warns(RuntimeWarning, match="gains are <= 0"):
        prob.solve("pgd", options={"maxiter": 1500})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(RuntimeWarning, match="not identifiable"):
            prob.solve("pgd", options={"maxiter": 10, "rho": 0.5})
    res = get_problem("calibration/gaussian", size="tiny", seed=0).solve(
        "pgd", options={"rho": 0.6, "maxiter": 5})
    assert np.all(np.abs(res.gains - 1) <= 0.6 + 1e-12)


# ----------------------------------------------------------------------------- statuses
def test_statuses_maxiter_callback_nonfinite():
    y, A, x, d = gaussian_instance(16, 16, 6, seed=7)
    res = calibrate_gains(y, A, options={"maxiter": 3})
    assert res.status == 1 and not res.success and res.nit == 3

    def cb(intermediate_result):
        assert intermediate_result.x.shape == (16,) and intermediate_result.gains.shape == (16,)
        if intermediate_result.nit == 4:
            raise StopIteration

    res = calibrate_gains(y, A, callback=cb)
    assert res.status == 99 and res.nit == 4
    seen = []
    calibrate_gains(y, A, callback=lambda xk: seen.append(xk.shape), options={"maxiter": 2})
    assert seen == [(16,)] * 2                      # SciPy: one callback(xk) per iteration
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = calibrate_gains(y, A, options={"step": "fixed", "mu": 1e8, "maxiter": 500})
    assert res.status == 3 and not res.success
    assert np.all(np.isfinite(res.x)) and math.isfinite(res.fun)
    # a user step schedule (pluggable rule)
    res = calibrate_gains(y, A, options={"step": lambda nit, mu: 0.5, "maxiter": 5000,
                                         **truth(x, d)})
    assert res.success and res.err < 1e-8


def test_zero_measurements_give_a_finite_answer():
    _, A, _, _ = gaussian_instance(8, 8, 4, seed=17)
    with pytest.warns(RuntimeWarning, match="back-projection of y is zero"):
        res = calibrate_gains(np.zeros((4, 8)), A, options={"maxiter": 5})
    assert np.all(res.x == 0) and np.all(res.gains == 1) and res.status in (0, 2)


def test_history_and_disp(capsys):
    y, A, x, d = gaussian_instance(8, 8, 6, seed=8)
    res = calibrate_gains(y, A, options={"history": True, "disp": True, "check_every": 10,
                                         **truth(x, d)})
    assert set(res.history) >= {"nit", "fun", "rel_change", "err", "time"}
    assert res.history["nit"][:2] == [0, 10]
    assert "rel_change" in capsys.readouterr().out


# ----------------------------------------------------------------------------- hostile inputs
def test_bad_inputs_raise_naming_the_argument():
    y, A, x, d = gaussian_instance(8, 8, 4, seed=9)
    with pytest.raises(ValueError, match="A has shape"):
        calibrate_gains(y, A[:3])
    with pytest.raises(ValueError, match="y must be a \\(p, m\\)"):
        calibrate_gains(y[0], A)
    with pytest.raises(ValueError, match="p >= 1"):
        calibrate_gains(np.zeros((0, 8)), np.zeros((0, 8, 8)))
    yb = y.copy()
    yb[0, 0] = np.nan
    with pytest.raises(ValueError, match="y must not contain inf or NaN"):
        calibrate_gains(yb, A)
    Ab = A.copy()
    Ab[1, 2, 3] = np.inf
    with pytest.raises(ValueError, match="A must not contain inf or NaN"):
        calibrate_gains(y, Ab)
    with pytest.raises(TypeError, match="A must be"):
        calibrate_gains(y, "not an operator")
    for rho in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="Option 'rho' of method 'pgd' must be"):
            calibrate_gains(y, A, options={"rho": rho})
    with pytest.raises(TypeError, match="Unknown option 'rhoo'"):
        calibrate_gains(y, A, options={"rhoo": 0.5})
    with pytest.raises(TypeError, match="Unknown option 'Z' for method 'pgd'"):
        calibrate_gains(y, A, options={"Z": np.eye(8)})
    with pytest.raises(ValueError, match="step='theory' needs option mu"):
        calibrate_gains(y, A, options={"step": "theory"})
    with pytest.raises(ValueError, match="x_true must have shape"):
        calibrate_gains(y, A, options={"x_true": np.ones(3)})
    with pytest.raises(ValueError, match="Unknown method 'pdg'"):
        calibrate_gains(y, A, method="pdg")


def test_bad_subspace_bases():
    y, A, x, d = gaussian_instance(8, 8, 4, seed=10)
    Z = dct_basis(8, range(3))
    B = dct_basis(8, range(1, 3))
    with pytest.raises(ValueError, match="option Z must have shape"):
        calibrate_gains(y, A, "pgd-subspace", options={"Z": Z[:5]})
    with pytest.raises(ValueError, match="option Z must have orthonormal columns"):
        calibrate_gains(y, A, "pgd-subspace", options={"Z": 2 * Z})
    with pytest.raises(ValueError, match="option B must be orthogonal to the constant"):
        calibrate_gains(y, A, "pgd-subspace", options={"B": dct_basis(8, range(2))})
    with pytest.raises(ValueError, match="option B must have shape"):
        calibrate_gains(y, A, "pgd-subspace", options={"B": B.T})
    # a basis orthonormal to 1e-12 is accepted
    res = calibrate_gains(y, A, "pgd-subspace", options={"Z": Z + 1e-13, "B": B, "maxiter": 2})
    assert res.x.shape == (8,)


# ----------------------------------------------------------------------------- operators
def test_linear_operators_match_dense():
    from scipy.sparse.linalg import aslinearoperator

    y, A, x, d = gaussian_instance(12, 10, 5, seed=11)
    p, m, n = A.shape
    dense = calibrate_gains(y, A, options={"maxiter": 40})
    stacked = calibrate_gains(y, aslinearoperator(A.reshape(p * m, n)), options={"maxiter": 40})
    seq = calibrate_gains(y, [aslinearoperator(a) for a in A], options={"maxiter": 40})
    for other in (stacked, seq):
        np.testing.assert_allclose(other.x, dense.x, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(other.gains, dense.gains, rtol=1e-12)
    with pytest.raises(ValueError, match="shape \\(p\\*m, n\\)"):
        calibrate_gains(y, aslinearoperator(A.reshape(p * m, n)[:-1]))
    lin = calibrate_gains(y, aslinearoperator(A.reshape(p * m, n)), method="spectral-ls")
    np.testing.assert_allclose(lin.gains, calibrate_gains(y, A, method="spectral-ls").gains,
                               rtol=1e-8)


def test_scipy_operator_with_another_namespace(xp):
    from scipy.sparse.linalg import aslinearoperator

    y, A, x, d = gaussian_instance(12, 10, 5, seed=15)
    p, m, n = A.shape
    res = calibrate_gains(to_xp(xp, y), aslinearoperator(A.reshape(p * m, n)),
                          options={"maxiter": 40})
    ref = calibrate_gains(y, A, options={"maxiter": 40})
    assert_close(res.x, ref.x, rtol=1e-12, atol=1e-13, xp=xp)
    assert_close(res.gains, ref.gains, rtol=1e-12, xp=xp)


def test_pylops_operator():
    pylops = pytest.importorskip("pylops")
    y, A, x, d = gaussian_instance(12, 10, 5, seed=12)
    p, m, n = A.shape
    op = pylops.MatrixMult(A.reshape(p * m, n))
    res = calibrate_gains(y, op, options=truth(x, d))
    assert res.success and res.err < 1e-8


def test_random_convolution_adjoint_and_dense(xp):
    rng = np.random.default_rng(13)
    filt = np.sign(rng.standard_normal((3, 4, 5)))
    op = RandomConvolution(to_xp(xp, filt))
    D = RandomConvolution(filt).todense()                       # (p, m, n) on the host
    xv, R = rng.standard_normal(20), rng.standard_normal((3, 20))
    assert_close(op.forward(to_xp(xp, xv)), D @ xv, rtol=1e-12, atol=1e-12, xp=xp)
    assert_close(op.adjoint(to_xp(xp, R)), np.einsum("pmn,pm->n", D, R), rtol=1e-12,
                 atol=1e-12, xp=xp)
    # direct definition of a circular convolution for one entry
    i, j = 2, 3
    direct = sum(filt[0, a, b] * xv.reshape(4, 5)[(i - a) % 4, (j - b) % 5]
                 for a in range(4) for b in range(5))
    assert math.isclose(D[0, i * 5 + j] @ xv, direct, rel_tol=1e-12)


# ----------------------------------------------------------------------------- numba twin
@settings(max_examples=30, deadline=None, derandomize=True)
@given(m=st.integers(1, 40), rho=st.floats(0.01, 0.99), scale=st.floats(1e-3, 10.0),
       shift=st.floats(-3.0, 3.0), seed=st.integers(0, 2**16))
def test_numba_projection_matches_generic(m, rho, scale, shift, seed):
    pytest.importorskip("numba")
    import array_api_compat.numpy as xp

    from xpsolve.solvers.calibration._numba_kernels import project_gains_numba

    v = 1 + shift + scale * np.random.default_rng(seed).standard_normal(m)
    g_ref = project_gains(v, rho, xp)
    g = project_gains_numba(v, rho, xp)
    np.testing.assert_allclose(g, g_ref, atol=1e-12 * max(1.0, scale))
    assert abs(g.sum() - m) <= 1e-11 * m
    np.testing.assert_allclose(project_gains_numba(v, None, xp), project_gains(v, None, xp))


def test_pgd_with_and_without_numba_agree():
    y, A, x, d = gaussian_instance(16, 16, 6, seed=14)
    runs = []
    for flag in (True, False):
        with xpsolve.config_context(use_numba=flag):
            runs.append(calibrate_gains(y, A, options={"rho": 0.5, "maxiter": 200}))
    np.testing.assert_allclose(runs[0].x, runs[1].x, rtol=1e-10, atol=1e-12)
    assert runs[0].nit == runs[1].nit


# ----------------------------------------------------------------------------- backends
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("problem", ["calibration/gaussian", "calibration/randconv_image"])
def test_backends_agree_with_numpy(xp, method, problem):
    # PGD runs with the box (rho): NumPy uses the Numba projection, the others the generic one
    opts = {"maxiter": 60, **({"rho": 0.5} if method == "pgd" else {})}
    ref = get_problem(problem, size="tiny", seed=0).solve(method, options=opts)
    res = get_problem(problem, size="tiny", seed=0, xp=xp).solve(method, options=opts)
    assert res.backend == namespace_name(xp)
    # CGLS (matrix-free spectral-ls) amplifies FFT rounding differences (1e-16) to ~1e-9 in
    # 60 iterations through its loss of conjugacy; PGD contracts them
    rtol = 1e-6 if method == "spectral-ls" and "randconv" in problem else 1e-9
    assert_close(res.x, to_numpy(ref.x), rtol=rtol, atol=1e-11, xp=xp)
    assert_close(res.gains, to_numpy(ref.gains), rtol=rtol, atol=1e-11, xp=xp)
    assert res.nit == ref.nit and res.status == ref.status


def test_float32_input_keeps_dtype_and_warns_on_unreachable_tol():
    y, A, x, d = gaussian_instance(16, 16, 6, seed=16)
    with pytest.warns(RuntimeWarning, match="below the attainable precision"):
        res = calibrate_gains(y.astype(np.float32), A.astype(np.float32),
                              options={"maxiter": 300, **truth(x, d)})
    assert res.x.dtype == np.float32 and res.gains.dtype == np.float32
    assert res.err < 1e-4 and not res.success and res.status == 2     # stalled at float32
    # a reachable tol: success; err ~ rel_change / (1 - contraction), about 10x here
    res = calibrate_gains(y.astype(np.float32), A.astype(np.float32), tol=2e-6,
                          options={"maxiter": 3000, **truth(x, d)})
    assert res.success and res.err < 1e-4


def test_imaging_demo_removes_the_haze():
    prob = get_problem("calibration/randconv_image", size="tiny", seed=0)
    res = prob.solve("pgd-subspace")
    assert res.success and prob.metrics(res)["err"] < 1e-6
    # "ignore gains": least squares with d = 1 keeps a large error
    A = sensing_operator(prob).todense()
    y = to_numpy(prob.data["y"])
    x_ign = np.linalg.lstsq(A.reshape(-1, A.shape[2]), y.ravel(), rcond=None)[0]
    xt = to_numpy(prob.data["x_true"])
    assert np.linalg.norm(x_ign - xt) / np.linalg.norm(xt) > 1e-2


def test_front_door_exported():
    assert xpsolve.calibrate_gains is calibrate_gains
    assert {s.name for s in xpsolve.list_solvers("calibration")} == set(METHODS)
