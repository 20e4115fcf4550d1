"""The polyhedral projection of LV-HBA: Hildreth's dual kernel, its Numba twin and the registry.

The kernel ``"bilevel_polyhedral_dual"`` has a generic (array API) version and a Numba twin
that must run the same algorithm: the same iterates after every number of sweeps, up to
rounding. Both are checked against a plain NumPy loop written here from the algorithm's
definition, on hypothesis-drawn small polyhedra, and the converged duals against the KKT
conditions of the projection (which characterise it: a convex QP).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpsolve
from xpsolve import BilevelProblem, bilevel_minimize
from xpsolve.backends import get_kernel, numba_available, to_numpy
from xpsolve.backends._kernels import _KERNELS, kernel_uses_numba
from xpsolve.problems import get_problem
from xpsolve.solvers.bilevel._projections import Projector, polyhedral_dual_generic

from ..helpers import namespace

KERNEL = "bilevel_polyhedral_dual"
needs_numba = pytest.mark.skipif(not numba_available(), reason="numba not installed")


def _numba_twin():
    from xpsolve.solvers.bilevel._numba_kernels import polyhedral_dual
    return polyhedral_dual


def _hildreth_reference(Q, b, mu0, ineq, tol, maxiter):
    """Hildreth's method as defined (every coordinate read and updated, in order)."""
    mu = np.array(mu0, dtype=np.float64)
    resid, nit = np.inf, 0
    for sweep in range(maxiter):
        nit = sweep + 1
        r = b - Q @ mu
        kkt = np.where(ineq > 0.5, np.abs(mu - np.maximum(mu + r, 0.0)), np.abs(r))
        resid = float(kkt.max())
        if resid <= tol:
            nit = sweep
            break
        for i in range(len(mu)):
            new = mu[i] + r[i] / Q[i, i]
            if ineq[i] > 0.5 and new < 0.0:
                new = 0.0
            delta = new - mu[i]
            mu[i] = new
            r = r - delta * Q[:, i]
    return mu, nit, resid


def _polyhedron(seed, m, n, n_eq):
    """Unit-norm rows G (m x n), the first ``n_eq`` rows equalities; b = G v - h for a point v."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((m, n))
    G /= np.linalg.norm(G, axis=1)[:, None]
    w0 = rng.standard_normal(n)
    h = G @ w0 + np.where(np.arange(m) < n_eq, 0.0, rng.uniform(0.0, 1.0, m))
    v = 2.0 * rng.standard_normal(n)
    ineq = (np.arange(m) >= n_eq).astype(np.float64)
    return G, h, v, ineq


polyhedra = dict(seed=st.integers(0, 2**31 - 1), m=st.integers(1, 9), n=st.integers(1, 6),
                 n_eq=st.integers(0, 2), warm=st.booleans())


def _instance(seed, m, n, n_eq, warm):
    n_eq = min(n_eq, n - 1, m)  # independent equality rows (with probability one)
    G, h, v, ineq = _polyhedron(seed, m, n, n_eq)
    Q, b = G @ G.T, G @ v - h
    mu0 = np.zeros(m)
    if warm:
        mu0 = np.random.default_rng(seed + 1).uniform(0.0, 1.0, m)
    return G, h, v, ineq, Q, b, mu0


# ---------------------------------------------------------------------------------------
# same iterates: generic == definition == Numba, after 1, 2, 5 sweeps
# ---------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None, derandomize=True)
@given(**polyhedra)
def test_generic_runs_hildreth_iterates(seed, m, n, n_eq, warm):
    import array_api_compat.numpy as xnp

    G, h, v, ineq, Q, b, mu0 = _instance(seed, m, n, n_eq, warm)
    for sweeps in (1, 2, 5):
        ref, nr, rr = _hildreth_reference(Q, b, mu0, ineq, 0.0, sweeps)
        mu, nit, resid = polyhedral_dual_generic(Q, b, mu0, ineq, 1.0, 0.0, sweeps, xp=xnp)
        scale = 1.0 + np.abs(ref).max()
        np.testing.assert_allclose(mu, ref, rtol=0, atol=1e-12 * scale)
        assert nit == nr <= sweeps and resid == pytest.approx(rr, rel=1e-9, abs=1e-12)


@needs_numba
@settings(max_examples=40, deadline=None, derandomize=True)
@given(**polyhedra)
def test_numba_twin_same_iterates_as_generic(seed, m, n, n_eq, warm):
    import array_api_compat.numpy as xnp

    twin = _numba_twin()
    G, h, v, ineq, Q, b, mu0 = _instance(seed, m, n, n_eq, warm)
    for sweeps in (1, 2, 5):
        m1, n1, r1 = twin(Q, b, mu0, ineq, 1.0, 0.0, sweeps)
        m2, n2, r2 = polyhedral_dual_generic(Q, b, mu0, ineq, 1.0, 0.0, sweeps, xp=xnp)
        scale = 1.0 + np.abs(m1).max()
        np.testing.assert_allclose(m2, m1, rtol=0, atol=1e-12 * scale)
        assert n1 == n2 <= sweeps and r2 == pytest.approx(r1, rel=1e-9, abs=1e-12)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(**polyhedra)
def test_converged_dual_is_the_projection(seed, m, n, n_eq, warm):
    """At convergence both twins give the projection (KKT of the primal QP) and the same point."""
    import array_api_compat.numpy as xnp

    G, h, v, ineq, Q, b, mu0 = _instance(seed, m, n, n_eq, warm)
    tol = 1e-10
    runs = [polyhedral_dual_generic(Q, b, mu0, ineq, 1.0, tol, 20000, xp=xnp)]
    if numba_available():
        runs.append(_numba_twin()(Q, b, mu0, ineq, 1.0, tol, 20000))
    ws = []
    for mu, nit, resid in runs:
        assert resid <= tol
        w = v - G.T @ mu
        s = G @ w - h                            # slacks, in distance units (unit rows)
        ineq_rows = ineq > 0.5
        assert np.all(mu[ineq_rows] >= 0)
        assert np.all(s[ineq_rows] <= 1e-9) and np.all(np.abs(s[~ineq_rows]) <= 1e-9)
        assert np.all(np.abs(mu[ineq_rows] * s[ineq_rows]) <= 1e-8 * (1 + np.abs(mu).max()))
        ws.append(w)
    if len(runs) == 2:
        # sweeps counted alike (rounding may move the stopping sweep by one at most)
        assert abs(runs[0][1] - runs[1][1]) <= 1
        np.testing.assert_allclose(ws[0], ws[1], atol=1e-8)


def test_nonconvergence_is_reported():
    """An empty polyhedron: the dual grows, the residual stays large, nit == maxiter."""
    import array_api_compat.numpy as xnp

    G = np.array([[1.0, 0.0], [-1.0, 0.0]])
    h = np.array([-1.0, -1.0])                   # x <= -1 and x >= 1
    v = np.zeros(2)
    Q, b, ineq = G @ G.T, G @ v - h, np.ones(2)
    mu, nit, resid = polyhedral_dual_generic(Q, b, np.zeros(2), ineq, 1.0, 1e-8, 50, xp=xnp)
    assert nit == 50 and resid > 1e-8
    if numba_available():
        mu2, nit2, resid2 = _numba_twin()(Q, b, np.zeros(2), ineq, 1.0, 1e-8, 50)
        assert nit2 == 50 and resid2 == pytest.approx(resid)
        np.testing.assert_allclose(mu2, to_numpy(mu))


def test_zero_rows_refused():
    import array_api_compat.numpy as xnp

    with pytest.raises(ValueError, match="diagonal"):
        polyhedral_dual_generic(np.zeros((1, 1)), np.ones(1), np.zeros(1), np.ones(1), 1.0,
                                1e-8, 5, xp=xnp)


# ---------------------------------------------------------------------------------------
# every namespace runs the same iterates
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generic_same_iterates_in_every_namespace(xp, seed):
    G, h, v, ineq, Q, b, mu0 = _instance(seed, 8, 5, 1, True)
    ref, nr, _ = _hildreth_reference(Q, b, mu0, ineq, 1e-9, 400)
    a = [xp.asarray(t) for t in (Q, b, mu0, ineq)]
    mu, nit, resid = polyhedral_dual_generic(*a[:4], 1.0, 1e-9, 400, xp=xp)
    assert abs(nit - nr) <= 1 and resid <= 1e-9
    np.testing.assert_allclose(to_numpy(mu), ref, atol=1e-9)
    assert mu.dtype == a[1].dtype


def test_generic_float32(xp):
    G, h, v, ineq, Q, b, mu0 = _instance(3, 6, 4, 0, False)
    ref, _, _ = _hildreth_reference(Q, b, mu0, ineq, 0.0, 30)
    a = [xp.asarray(t, dtype=xp.float32) for t in (Q, b, mu0, ineq)]
    mu, nit, _ = polyhedral_dual_generic(*a, 1.0, 0.0, 30, xp=xp)
    assert mu.dtype == xp.float32 and nit == 30
    np.testing.assert_allclose(to_numpy(mu), ref, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------
# the projector and LV-HBA with and without the twin
# ---------------------------------------------------------------------------------------

def _svm_like(xp, n=10, d=3, seed=0):
    rng = np.random.default_rng(seed)
    Ay = np.c_[-rng.standard_normal((n, d)), -np.ones((n, 1)), -np.eye(n)]
    return BilevelProblem.from_callables(
        lambda x, y: 0.5 * xp.sum(y * y), lambda x, y: 0.5 * xp.sum(y * y) + xp.sum(x * y[:n]),
        n, d + 1 + n, upper_grad=lambda x, y: (0 * x, y),
        lower_grad=lambda x, y: (y[:n], y + xp.concat([x, 0 * y[n:]])),
        cons_structure="polyhedral",
        cons_matrices=(xp.asarray(np.zeros((n, n))), xp.asarray(Ay), xp.asarray(-np.ones(n))),
        xp=xp)


@needs_numba
def test_projector_twins_agree():
    import array_api_compat.numpy as xnp

    prob = _svm_like(xnp)
    rng = np.random.default_rng(5)
    out = {}
    for use in (True, False):
        with xpsolve.config_context(use_numba=use):
            P = Projector(prob, xnp, proj_tol=1e-9, proj_maxiter=1000)
            assert P.numba is use
            pts = []
            for _ in range(5):                   # warm-started sequence of projections
                x, y = rng.standard_normal(prob.dim_x), rng.standard_normal(prob.dim_y)
                pts.append(P(x, y))
            out[use] = (pts, P.dual_iters)
        rng = np.random.default_rng(5)
    for (x1, y1), (x2, y2) in zip(out[True][0], out[False][0]):
        np.testing.assert_allclose(y1, y2, atol=1e-12)
        np.testing.assert_allclose(x1, x2, atol=1e-12)
    assert abs(out[True][1] - out[False][1]) <= 5


@needs_numba
def test_lvhba_same_run_with_and_without_numba():
    """p8 (SVM weights, 300 polyhedral rows): the twins give the same LV-HBA run."""
    res = {}
    for use in (True, False):
        P = get_problem("bilevel/p8_svm_weights", size="tiny", seed=0)
        with xpsolve.config_context(use_numba=use):
            res[use] = P.solve("lv-hba", options={"maxiter": 15})
    a, b = res[True], res[False]
    assert a.projection == "polyhedral"
    assert a.proj_dual_iters == b.proj_dual_iters and a.nit == b.nit == 15
    np.testing.assert_allclose(a.y, b.y, atol=1e-10)
    np.testing.assert_allclose(a.x, b.x, atol=1e-10)
    assert a.fun == pytest.approx(b.fun, rel=1e-10)


def test_lvhba_polyhedral_same_run_in_every_namespace(xp):
    ref = bilevel_minimize(_svm_like(namespace("numpy")),
                           options={"maxiter": 20, "proj_tol": 1e-9})
    res = bilevel_minimize(_svm_like(xp), options={"maxiter": 20, "proj_tol": 1e-9})
    assert res.proj_dual_iters == ref.proj_dual_iters
    np.testing.assert_allclose(to_numpy(res.y), to_numpy(ref.y), atol=1e-10)
    np.testing.assert_allclose(to_numpy(res.x), to_numpy(ref.x), atol=1e-10)


# ---------------------------------------------------------------------------------------
# the registry tells the truth
# ---------------------------------------------------------------------------------------

def test_lvhba_numba_flag_matches_its_kernels():
    spec = xpsolve.get_solver("lv-hba", family="bilevel")
    assert spec.kernels == (KERNEL,)
    k = _KERNELS[KERNEL]
    assert k.generic is polyhedral_dual_generic
    assert k.numba == "xpsolve.solvers.bilevel._numba_kernels:polyhedral_dual"
    assert spec.numba == numba_available()
    import array_api_compat.numpy as xnp

    with xpsolve.config_context(use_numba=True):
        assert kernel_uses_numba(KERNEL, xnp) == numba_available()
        if numba_available():
            assert get_kernel(KERNEL, xnp) is _numba_twin()
    with xpsolve.config_context(use_numba=False):
        assert get_kernel(KERNEL, xnp) is polyhedral_dual_generic


def test_projector_uses_the_twin_only_for_polyhedral_numpy(xp):
    with xpsolve.config_context(use_numba=True):
        P = Projector(_svm_like(xp), xp)
        is_np = xp is namespace("numpy")
        assert P.numba == (is_np and numba_available())
        toy = get_problem("bilevel/p2_lvhba_toy", size="tiny")
        assert Projector(toy.data["problem"], toy.data["problem"].xp).numba is False
