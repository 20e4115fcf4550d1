"""AdaSketch-Newton (method "adasketch"): merit gradient, descent identity, sketch invariants,
schedules, exact QP steps, the HS/BT collection, backends, statuses and input checks."""
import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import LinearConstraint, NonlinearConstraint

import xpsolve
from xpsolve.problems import get_problem, list_problems
from xpsolve.solvers.constrained import _kernels as K
from xpsolve.solvers.constrained._adasketch import _evaluate, _merit
from xpsolve.solvers.constrained._inner import KKTOperator, sketch_solve
from xpsolve.solvers.constrained._oracle import Oracle

from ..helpers import namespace as _ns


def _hs6(xp=np):
    def c(x):
        return xp.stack([10 * (x[1] - x[0] ** 2)])

    return dict(
        fun=lambda x: (1 - x[0]) ** 2,
        jac=lambda x: xp.stack([-2 * (1 - x[0]), 0 * x[0]]),
        hess=lambda x: xp.asarray([[2.0, 0.0], [0.0, 0.0]], dtype=xp.float64),
        constraints={"type": "eq", "fun": c,
                     "jac": lambda x: xp.reshape(xp.stack([-20 * x[0], 0 * x[0] + 10]), (1, 2)),
                     "hess": lambda x, v: xp.reshape(xp.stack([-20 * v[0], 0 * v[0], 0 * v[0],
                                                               0 * v[0]]), (2, 2))})


# ------------------------------------------------------------------ merit gradient
def _cubic_problem(rng, n=6, m=3):
    a = rng.standard_normal(n)
    Q = rng.standard_normal((n, n))
    Q = Q + Q.T
    Cl = rng.standard_normal((m, n))
    Cq = rng.standard_normal((m, n))

    fun = lambda x: float(a @ x ** 3 / 3 + 0.5 * x @ Q @ x)
    jac = lambda x: a * x ** 2 + Q @ x
    hess = lambda x: np.diag(2 * a * x) + Q
    con = {"type": "eq", "fun": lambda x: Cl @ x + Cq @ x ** 3 - 1.0,
           "jac": lambda x: Cl + 3 * Cq * x ** 2,
           "hess": lambda x, v: np.diag(6 * (v @ Cq) * x)}
    return fun, jac, hess, con


def test_merit_gradient_matches_finite_differences():
    import array_api_compat.numpy as xp

    rng = np.random.default_rng(0)
    fun, jac, hess, con = _cubic_problem(rng)
    x = rng.standard_normal(6)
    lam = rng.standard_normal(3)
    mu, nu = 2.3, 0.37
    orc = Oracle(fun, jac, hess, None, [con], (), x, xp)
    pt = _evaluate(orc, x, lam)
    H = orc.hess_f(x) + orc.hess_c(x, lam)
    G = pt.G
    # the solver's merit gradient: [gL + nu H gL + mu G^T c ; c + nu G gL] (exact H, not hess f)
    g_an = np.concatenate([pt.gL + nu * H @ pt.gL + mu * G.T @ pt.c, pt.c + nu * G @ pt.gL])
    z = np.concatenate([x, lam])
    h = 1e-6
    g_fd = np.empty(9)
    for i in range(9):
        e = np.zeros(9)
        e[i] = h
        zp, zm = z + e, z - e
        fp = _merit(_evaluate(orc, zp[:6], zp[6:]), mu, nu, xp)
        fm = _merit(_evaluate(orc, zm[:6], zm[6:]), mu, nu, xp)
        g_fd[i] = (fp - fm) / (2 * h)
    # central differences: truncation O(h^2 * third derivative) ~ 1e-10 relative here
    assert np.linalg.norm(g_fd - g_an) <= 1e-6 * np.linalg.norm(g_an)


# ------------------------------------------------------------------ descent identity
def test_descent_identity_exact_solve():
    rng = np.random.default_rng(1)
    n, m = 8, 3
    H = rng.standard_normal((n, n))
    H = H + H.T
    B = H + 3.0 * np.eye(n)
    G = rng.standard_normal((m, n))
    gL = rng.standard_normal(n)
    c = rng.standard_normal(m)
    mu, nu = 1.7, 0.2
    K_ = np.block([[B, G.T], [G, np.zeros((m, m))]])
    dz = np.linalg.solve(K_, -np.concatenate([gL, c]))
    dx, dl = dz[:n], dz[n:]
    gm = np.concatenate([gL + nu * H @ gL + mu * G.T @ c, c + nu * G @ gL])
    lhs = gm @ dz
    rhs = (-nu * gL @ gL - mu * c @ c - dx @ B @ dx + 2 * c @ dl + nu * gL @ (H - B) @ dx)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


# ------------------------------------------------------------------ sketch invariants
def _random_kkt(seed=0, n=30, m=10):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    B = A.T @ A / n + np.eye(n)
    G = rng.standard_normal((m, n)) / np.sqrt(n)
    Kd = np.block([[B, G.T], [G, np.zeros((m, m))]])
    b = rng.standard_normal(n + m)
    return B, G, Kd, b


@pytest.mark.parametrize("kernel", ["gv", "rk"])
def test_sketch_step_invariants(kernel):
    import array_api_compat.numpy as xp

    _, _, Kd, b = _random_kkt()
    N = Kd.shape[0]
    rng = np.random.default_rng(3)
    z = np.zeros(N)
    r = -b
    rn2 = (Kd ** 2).sum(1)
    for _ in range(20):
        if kernel == "gv":
            S = rng.standard_normal((1, N))
            z, r, k = K.gv_steps(Kd, z, r, b, S, 0.0, 10 ** 9, 0, xp=xp)
            # S^T r = 0 after the projection
            assert abs(S[0] @ r) <= 1e-10 * np.linalg.norm(r) * np.linalg.norm(S[0])
        else:
            i = rng.integers(N, size=1)
            z, r, k = K.rk_steps(Kd, None, rn2, z, r, b, i, 0.0, 10 ** 9, 0, xp=xp)
            assert abs(r[i[0]]) <= 1e-10 * np.linalg.norm(r)
        assert k == 1
        # incremental residual stays equal to K z - b
        np.testing.assert_allclose(r, Kd @ z - b, atol=1e-10 * np.linalg.norm(b))


@pytest.mark.parametrize("sketch", ["gaussian", "kaczmarz"])
def test_sketch_reaches_tight_tolerance(sketch):
    import array_api_compat.numpy as xp

    B, G, Kd, b = _random_kkt()
    op = KKTOperator.dense(xp.asarray(B), xp.asarray(G), xp)
    z0 = np.zeros(Kd.shape[0])
    rng = np.random.default_rng(0)
    thresh = 1e-10 * np.linalg.norm(b)
    z, r, steps, flops = sketch_solve(op, z0, -b, b, thresh, 10 ** 6, sketch=sketch, rng=rng,
                                      start=0)
    assert np.linalg.norm(Kd @ z - b) <= 1.01 * thresh  # within 1e6 steps
    assert 0 < steps < 10 ** 6 and flops > 0


def _kernel_inputs(seed, draw_seed, count):
    """A random KKT system (n = 12, m = 4) with ``count`` Gaussian and row-index draws."""
    _, _, Kd, b = _random_kkt(seed=seed, n=12, m=4)
    N = Kd.shape[0]
    rng = np.random.default_rng(draw_seed)
    S = rng.standard_normal((count, N))
    idx = rng.integers(N, size=count)
    return Kd, b, N, S, idx, (Kd ** 2).sum(1)


def test_numba_twins_match_generic():
    import array_api_compat.numpy as xp
    from xpsolve.solvers.constrained import _numba_kernels as nk

    Kd, b, N, S, idx, rn2 = _kernel_inputs(seed=2, draw_seed=5, count=500)
    Kc = sp.csr_matrix(Kd)
    zg, rg, kg = K.gv_steps(Kd, np.zeros(N), -b, b, S, 1e-12, 50, 0, xp=xp)
    for fn, KK in ((nk.gv_steps_dense, Kd), (nk.gv_steps_csr, Kc)):
        zn, rn, kn = fn(KK, np.zeros(N), -b, b, S, 1e-12, 50, 0)
        assert kn == kg
        np.testing.assert_allclose(zn, zg, rtol=1e-9, atol=1e-12)
    zg, rg, kg = K.rk_steps(Kd, None, rn2, np.zeros(N), -b, b, idx, 1e-12, 50, 0, xp=xp)
    for zn, rn, kn in (nk.rk_steps_dense(Kd, Kd @ Kd, rn2, np.zeros(N), -b, b, idx, 1e-12, 50, 0),
                       nk.rk_steps_csr(Kc, None, rn2, np.zeros(N), -b, b, idx, 1e-12, 50, 0)):
        assert kn == kg
        np.testing.assert_allclose(zn, zg, rtol=1e-9, atol=1e-12)


def test_numba_gv_draws_follow_numpy_stream():
    """The compiled kernels draw their sketches themselves: same values, same steps and
    the same final generator state as ``rng.standard_normal((count, N))`` + the S kernel,
    bitwise (so the solver's iterates do not depend on where the draws happen)."""
    pytest.importorskip("numba")
    from xpsolve.solvers.constrained import _numba_kernels as nk

    Kd, b, N, _, _, _ = _kernel_inputs(seed=3, draw_seed=0, count=1)
    Kc = sp.csr_matrix(Kd)
    for thresh in (0.0, 0.3 * np.linalg.norm(b)):
        for start in (0, 57):
            for fn_s, fn_rng, KK in ((nk.gv_steps_dense, nk.gv_steps_dense_rng, Kd),
                                     (nk.gv_steps_csr, nk.gv_steps_csr_rng, Kc)):
                g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
                ref = fn_s(KK, np.zeros(N), -b, b, g1.standard_normal((700, N)), thresh, 100,
                           start)
                out = fn_rng(KK, np.zeros(N), -b, b, g2, 700, thresh, 100, start)
                assert out[2] == ref[2]
                assert np.array_equal(out[0], ref[0]) and np.array_equal(out[1], ref[1])
                assert g1.standard_normal() == g2.standard_normal()
    # the small-K loop (block products, fused residual norm) equals the row-loop kernel,
    # also when it stops inside a block
    S = np.random.default_rng(1).standard_normal((700, N))
    for thresh, start in ((0.0, 0), (0.3 * np.linalg.norm(b), 41)):
        zs, rs, ks = nk.gv_steps_dense(Kd, np.zeros(N), -b, b, S, thresh, 100, start)
        zb, rb = np.zeros(N), -b.copy()
        kb = nk._nb_gv_dense_big(np.ascontiguousarray(Kd), zb, rb, b, S, thresh ** 2, 100,
                                 start)
        assert ks == kb and np.array_equal(zs, zb) and np.array_equal(rs, rb)
    assert 0 < ks < 700 and ks % 256 != 0


def test_fused_generic_block_stops_at_the_sequential_step():
    """The generic kernels fuse up to 64 steps; they must stop exactly where the
    step-by-step Numba twins stop (threshold crossed inside a block) and give the
    same iterate on array-api-strict."""
    import array_api_compat.numpy as xnp
    import array_api_strict as xs
    from xpsolve.solvers.constrained import _numba_kernels as nk

    Kd, b, N, S, idx, rn2 = _kernel_inputs(seed=4, draw_seed=11, count=3000)
    # a threshold the sequential loop crosses after a few hundred steps
    z_ref, r_ref, k_ref = nk.gv_steps_dense(Kd, np.zeros(N), -b, b, S, 0.3 * np.linalg.norm(b),
                                            100, 0)
    assert 0 < k_ref < 3000 and k_ref % 64 != 0
    for xp, conv in ((xnp, np.asarray), (xs, xs.asarray)):
        z, r, k = K.gv_steps(conv(Kd), conv(np.zeros(N)), conv(-b), conv(b), conv(S),
                             0.3 * np.linalg.norm(b), 100, 0, xp=xp)
        assert k == k_ref
        np.testing.assert_allclose(np.asarray(z), z_ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(r), Kd @ np.asarray(z) - b, atol=1e-10)
    z_ref, r_ref, k_ref = nk.rk_steps_dense(Kd, Kd @ Kd, rn2, np.zeros(N), -b, b, idx,
                                            0.3 * np.linalg.norm(b), 100, 0)
    assert 0 < k_ref < 3000
    for KK in (None, Kd @ Kd):
        z, r, k = K.rk_steps(Kd, KK, rn2, np.zeros(N), -b, b, idx, 0.3 * np.linalg.norm(b),
                             100, 0, xp=xnp)
        assert k == k_ref
        np.testing.assert_allclose(z, z_ref, rtol=1e-10, atol=1e-12)
    # a zero row of K is skipped (step counted, iterate unchanged), as in the twins
    Kz = Kd.copy()
    Kz[0, :] = 0.0
    Kz[:, 0] = 0.0
    zero = np.zeros(5, dtype=np.int64)
    z, r, k = K.rk_steps(Kz, None, (Kz ** 2).sum(1), np.zeros(N), -b, b, zero, 0.0, 100, 0,
                         xp=xnp)
    assert k == 5 and not np.any(z)


# ------------------------------------------------------------------ monotone schedules
def test_monotone_schedules_and_merit_decrease():
    p = get_problem("constrained/hs7")
    res = p.solve("adasketch", options={"seed": 0, "tol": 1e-8, "history": True})
    h = res.history
    assert res.success
    mu, nu, de = h["mu"][1:], h["nu"][1:], h["delta"][1:]
    assert all(b >= a for a, b in zip(mu, mu[1:]))
    assert all(b <= a for a, b in zip(nu, nu[1:]))
    assert all(b <= a for a, b in zip(de, de[1:]))
    assert all(0 < a <= 1 for a in res.alphas)
    assert res.nit == len(res.alphas) == len(res.kkt_path) - 1


# ------------------------------------------------------------------ QPs
@pytest.mark.parametrize("name", ["hs28", "hs48", "hs51", "bt3", "genhs28"])
def test_qp_one_iteration(name):
    p = get_problem(f"constrained/{name}", size="tiny")
    res = p.solve("adasketch", options={"seed": 0})
    assert res.success and res.nit <= 2
    assert res.alphas[0] == 1.0


def test_pde3_unit_steps():
    p = get_problem("constrained/pde", size="tiny")
    # the released PDE runs cap the inner loop at 1e6 steps; RK keeps this test fast
    res = p.solve("adasketch", options={"seed": 0, "max_inner": 10 ** 6, "sketch": "kaczmarz"})
    assert res.success and res.nit <= 6
    assert all(a == 1.0 for a in res.alphas)
    assert p.metrics(res)["rel_f_err"] <= 1e-4


# ------------------------------------------------------------------ small nonlinear set
SUBSET = ["hs6", "hs7", "hs40", "hs42", "hs56", "hs78", "bt5", "bt11", "bt4"]


@pytest.mark.parametrize("sketch", ["gaussian", "kaczmarz"])
@pytest.mark.parametrize("name", SUBSET)
def test_small_set_reaches_kkt_and_fopt(name, sketch):
    p = get_problem(f"constrained/{name}")
    for seed in (0, 1):
        res = p.solve("adasketch", options={"seed": seed, "tol": 1e-6, "sketch": sketch})
        m = p.metrics(res)
        assert res.success, res.message
        assert res.kkt <= 1e-6 and m["kkt_reported"] <= 1.01e-6
        assert res.nit <= 30
        if not p.reference["kkt_only"]:
            assert abs(m["fun"] - p.f_opt) <= 1e-5 * (1 + abs(p.f_opt))


@pytest.mark.parametrize("name", ["hs26", "hs46", "hs49", "bt7"])
def test_degenerate_problems_converge_with_the_cap_safeguard(name):
    """HS26/HS46/HS49 have a singular reduced Hessian at x* and BT7 a badly scaled one:
    the paper's accuracy target is out of reach of 1e5 sketch steps. With the paper's
    behaviour (on_inner_cap='continue') the run stalls far from tol 1e-6 (measured:
    HS26 KKT 2e-6..6e-6 after 200 iterations, BT7 line-search failure at KKT ~5);
    the default safeguard finishes capped passes with a direct solve and converges."""
    p = get_problem(f"constrained/{name}")
    res = p.solve("adasketch", options={"seed": 0, "tol": 1e-6, "maxiter": 200})
    m = p.metrics(res)
    assert res.success, res.message
    assert res.kkt <= 1e-6 and res.n_inner_fallback > 0
    if not p.reference.get("kkt_only", False):  # BT7 has two KKT points (306.5, 360.38)
        assert m["rel_f_err"] <= 1e-6
    paper = p.solve("adasketch", options={"seed": 0, "tol": 1e-6, "maxiter": 40,
                                          "on_inner_cap": "continue"})
    assert not paper.success and paper.n_inner_fallback == 0


def test_cap_safeguard_is_inactive_when_passes_reach_their_target():
    p = get_problem("constrained/hs40")
    a = p.solve("adasketch", options={"seed": 3, "tol": 1e-8})
    b = p.solve("adasketch", options={"seed": 3, "tol": 1e-8, "on_inner_cap": "continue"})
    assert a.n_inner_fallback == 0 and a.n_inner_capped == 0
    assert a.kkt_path == b.kkt_path and a.inner_steps == b.inner_steps


COLLECTION = [p.name for p in list_problems("constrained/*")
              if "hsbt" in p.tags or p.name.endswith("orthregb")]
# runs stopped by the paper's LICQ test (lambda_min(G G^T) < eps_g = 1e-2): HS61 at x0
# (rank-deficient Jacobian by construction), BT8 after 4 iterations (gradients of its two
# constraints become nearly parallel on the path; SLSQP and IPOPT solve it)
LICQ_STOPS = {"constrained/hs61", "constrained/bt8"}


@pytest.mark.parametrize("name", COLLECTION)
def test_collection_target_kkt_and_fopt(name):
    """Issue target: every collection problem passing the singularity test reaches
    KKT <= 1e-6 and |f - f*| <= 1e-6 max(1, |f*|) (f only where the KKT point is unique)."""
    p = get_problem(name)
    res = p.solve("adasketch", options={"seed": 0, "tol": 1e-6, "maxiter": 300})
    if name in LICQ_STOPS:
        assert res.status == 4 and "LICQ" in res.message
        return
    m = p.metrics(res)
    assert res.success, res.message
    assert m["kkt"] <= 1.01e-6
    if not p.reference.get("kkt_only", False):
        assert m["rel_f_err"] <= 1e-6


def test_local_rate_and_superlinear_variant():
    p = get_problem("constrained/bt11")
    lin = p.solve("adasketch", options={"seed": 0, "tol": 1e-9})
    k = lin.kkt_path
    assert all(a == 1.0 for a in lin.alphas[-3:])
    assert all(k[i + 1] / k[i] < 0.5 for i in range(len(k) - 3, len(k) - 1))
    # superlinear rule theta_t = min(1, kkt); with a capped sketch loop the inner accuracy is
    # capped too, so the rate is checked with a deterministic inner solver (same accuracy test)
    sup = p.solve("adasketch", options={"tol": 1e-10, "theta_exponent": 1.0, "delta_min": 1e-12,
                                        "inner_solver": "minres"})
    ks = sup.kkt_path
    assert sup.success and ks[-1] / ks[-2] < 0.1


# ------------------------------------------------------------------ 
def test_reproducible_same_seed():
    p = get_problem("constrained/hs40")
    a = p.solve("adasketch", options={"seed": 7, "tol": 1e-8})
    b = p.solve("adasketch", options={"seed": 7, "tol": 1e-8})
    assert a.kkt_path == b.kkt_path and a.inner_steps == b.inner_steps
    np.testing.assert_array_equal(a.x, b.x)


@pytest.mark.parametrize("backend", ["array_api_strict", "torch"])
@pytest.mark.parametrize("name", ["hs6", "hs40"])
def test_backends_agree_with_numpy(backend, name):
    xp = _ns(backend)
    # same draws (one host generator) -> same iterates. NumPy runs the
    # step-by-step Numba twins, the other namespaces the fused generic blocks: full
    # solves, same step counts, iterates equal to rounding (1e-10)
    opts = {"seed": 0, "tol": 1e-6}
    ref = get_problem(f"constrained/{name}").solve("adasketch", options=opts)
    p = get_problem(f"constrained/{name}", xp=xp)
    res = p.solve("adasketch", options=opts)
    assert res.backend == backend
    assert type(res.x) is type(p.x0) and res.x.dtype == p.x0.dtype
    assert res.success and ref.success
    assert res.nit == ref.nit and res.inner_steps == ref.inner_steps
    np.testing.assert_allclose(np.asarray(xpsolve.backends.to_numpy(res.x)), ref.x,
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(res.kkt_path, ref.kkt_path, rtol=1e-6, atol=1e-12)


# ------------------------------------------------------------------ status codes
def test_singular_jacobian_hs61():
    p = get_problem("constrained/hs61")
    res = p.solve("adasketch", options={"seed": 0})
    assert res.status == 4 and not res.success
    assert "LICQ" in res.message and res.nit == 0


def test_nonfinite_during_run_returns_last_finite_iterate():
    d = _hs6()
    calls = {"n": 0}

    def fun(x):
        calls["n"] += 1
        return math.nan if calls["n"] > 3 else d["fun"](x)

    res = xpsolve.minimize(fun, np.array([-1.2, 1.0]), method="adasketch", jac=d["jac"],
                           hess=d["hess"], constraints=d["constraints"], options={"seed": 0})
    assert res.status == 3 and not res.success
    assert np.all(np.isfinite(res.x)) and math.isfinite(res.fun)


def test_nonfinite_hessian_status3():
    d = _hs6()
    res = xpsolve.minimize(d["fun"], np.array([-1.2, 1.0]), method="adasketch", jac=d["jac"],
                           hess=lambda x: np.full((2, 2), np.inf), constraints=d["constraints"])
    assert res.status == 3 and "non-finite" in res.message


def test_callback_stop_and_maxiter():
    d = _hs6()
    seen = []

    def cb(intermediate_result):
        seen.append((intermediate_result.nit, intermediate_result.kkt))
        if intermediate_result.nit == 2:
            raise StopIteration

    res = xpsolve.minimize(d["fun"], np.array([-1.2, 1.0]), method="adasketch", jac=d["jac"],
                           hess=d["hess"], constraints=d["constraints"], callback=cb,
                           options={"seed": 0})
    # check points at nit 0 (x0, not reported: SciPy calls back after each iteration), 1, 2;
    # the callback's kkt is the result's kkt at that point
    assert res.status == 99 and res.nit == 2 and [k for k, _ in seen] == [1, 2]
    assert [v for _, v in seen] == res.kkt_path[1:] and seen[-1][1] == res.kkt
    res0 = xpsolve.minimize(d["fun"], np.array([-1.2, 1.0]), method="adasketch", jac=d["jac"],
                            hess=d["hess"], constraints=d["constraints"], options={"maxiter": 0})
    assert res0.status == 1 and res0.nit == 0 and len(res0.kkt_path) == 1


# ------------------------------------------------------------------ input forms
def test_scipy_constraint_objects_and_hessp_only():
    d = _hs6()
    nl = NonlinearConstraint(lambda x: 10 * (x[1] - x[0] ** 2), 0.0, 0.0,
                             jac=lambda x: np.array([[-20 * x[0], 10.0]]),
                             hess=lambda x, v: np.diag([-20 * v[0], 0.0]))
    a = xpsolve.minimize(d["fun"], np.array([-1.2, 1.0]), method="adasketch", jac=d["jac"],
                         hessp=lambda x, p: np.array([2 * p[0], 0.0]), constraints=[nl],
                         options={"seed": 0, "tol": 1e-8})
    assert a.success and np.allclose(a.x, [1, 1], atol=1e-7)
    lin = LinearConstraint(np.array([[1.0, 2.0, 3.0]]), 1.0, 1.0)
    b = xpsolve.minimize(lambda x: float((x[0] + x[1]) ** 2 + (x[1] + x[2]) ** 2),
                         np.array([-4.0, 1.0, 1.0]), method="adasketch",
                         jac=lambda x: np.array([2 * (x[0] + x[1]), 2 * (x[0] + x[1]) + 2 * (x[1] + x[2]),
                                                 2 * (x[1] + x[2])]),
                         hess=lambda x: np.array([[2.0, 2, 0], [2, 4, 2], [0, 2, 2]]),
                         constraints=lin, options={"seed": 0, "tol": 1e-8})
    assert b.success and np.allclose(b.x, [0.5, -0.5, 0.5], atol=1e-7)


def test_matrix_free_with_jvp_vjp_matches_dense():
    # only products: hessp for f, jvp / vjp / hessp for c -> K is never formed
    con = {"type": "eq", "fun": lambda x: np.array([10 * (x[1] - x[0] ** 2)]),
           "jvp": lambda x, v: np.array([-20 * x[0] * v[0] + 10 * v[1]]),
           "vjp": lambda x, w: np.array([-20 * x[0] * w[0], 10 * w[0]]),
           "hessp": lambda x, v, q: np.array([-20 * v[0] * q[0], 0.0])}
    d = _hs6()
    res = xpsolve.minimize(d["fun"], np.array([-1.2, 1.0]), method="adasketch", jac=d["jac"],
                           hessp=lambda x, p: np.array([2 * p[0], 0.0]), constraints=con,
                           options={"seed": 0, "tol": 1e-4, "max_inner": 300,
                                    "hessian_modification": "none"})
    assert res.operator == "matfree" and res.success
    # KKT residual 1e-4 at a regular solution: |x - x*| of the same order
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-3)
    with pytest.raises(ValueError, match="reduced_eig"):
        xpsolve.minimize(d["fun"], np.array([-1.2, 1.0]), method="adasketch", jac=d["jac"],
                         constraints=con, options={"hessian_modification": "reduced_eig"})


@pytest.mark.parametrize("sketch", ["gaussian", "kaczmarz"])
def test_sparse_jacobian(sketch):
    p = get_problem("constrained/dtoc3", size="tiny", sparse=True)
    assert sp.issparse(p.data["constraints"][0]["jac"](p.x0))
    res = p.solve("adasketch", options={"seed": 0, "tol": 1e-6, "sketch": sketch,
                                        "max_inner": 10 ** 6})
    assert res.operator == "sparse" and res.success
    assert p.metrics(res)["rel_f_err"] < 1e-8


@pytest.mark.parametrize("sketch", ["block-gaussian", "row-block", "kaczmarz-rownorm"])
def test_extension_sketches(sketch):
    p = get_problem("constrained/hs40")
    res = p.solve("adasketch", options={"seed": 0, "tol": 1e-6, "sketch": sketch,
                                        "sketch_size": 3, "max_inner": 20000})
    assert res.success and p.metrics(res)["rel_f_err"] < 1e-6


@pytest.mark.parametrize("inner", ["minres", "gmres", "direct"])
def test_deterministic_inner_baselines(inner):
    p = get_problem("constrained/hs7")
    res = p.solve("adasketch", options={"inner_solver": inner, "tol": 1e-8, "max_inner": 1000})
    assert res.success and abs(res.fun - p.f_opt) < 1e-7


# ------------------------------------------------------------------ bad input
def test_bad_inputs():
    d = _hs6()
    x0 = np.array([-1.2, 1.0])
    with pytest.raises(ValueError, match="inequality.*trust-constr"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"],
                         constraints={"type": "ineq", "fun": d["constraints"]["fun"]})
    with pytest.raises(ValueError, match="inequality"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"],
                         constraints=NonlinearConstraint(d["constraints"]["fun"], -1, 1,
                                                         jac=d["constraints"]["jac"]))
    with pytest.raises(ValueError, match=r"jac\(x\) must return shape \(2,\)"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=lambda x: np.zeros(3),
                         hess=d["hess"], constraints=d["constraints"])
    bad = dict(d["constraints"], jac=lambda x: np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"constraints\[0\] jac\(x\) must return shape \(1, 2\)"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"], hess=d["hess"],
                         constraints=bad)
    bad = dict(d["constraints"], fun=lambda x: np.zeros((2, 2)))
    with pytest.raises(ValueError, match="1-D"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"], constraints=bad)
    with pytest.raises(ValueError, match=r"hess\(x\) must return shape"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"],
                         hess=lambda x: np.eye(3), constraints=d["constraints"])
    with pytest.raises(TypeError, match="Unknown option 'max_iner'.*did you mean 'max_inner'"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"],
                         constraints=d["constraints"], options={"max_iner": 3})
    with pytest.raises(ValueError, match="Option 'on_inner_cap'"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"],
                         constraints=d["constraints"], options={"on_inner_cap": "lu"})
    with pytest.raises(ValueError, match="Option 'cap_rtol'"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"],
                         constraints=d["constraints"], options={"cap_rtol": -1.0})
    with pytest.raises(ValueError, match="on_inner_cap='direct' needs an assembled K"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"], hess=d["hess"],
                         constraints=d["constraints"],
                         options={"operator": "matrix-free", "on_inner_cap": "direct",
                                  "hessian_modification": "none"})
    with pytest.raises(ValueError, match="Option 'beta'"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"],
                         constraints=d["constraints"], options={"beta": 0.7})
    # jac=None: finite differences, as SciPy (issue 10), and the result says so
    res = xpsolve.minimize(d["fun"], x0, method="adasketch", constraints=d["constraints"],
                           options={"seed": 0, "maxiter": 2})
    assert "jac" in res.approximate_derivatives
    with pytest.raises(ValueError, match="at least one equality constraint"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"])
    with pytest.raises(ValueError, match="multipliers0"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"],
                         constraints=d["constraints"], options={"multipliers0": np.ones(3)})
    with pytest.raises(ValueError, match="more equality constraints"):
        xpsolve.minimize(lambda x: float(x[0]), np.array([1.0]), method="adasketch",
                         jac=lambda x: np.ones(1),
                         constraints={"type": "eq", "fun": lambda x: np.array([x[0], x[0] - 1]),
                                      "jac": lambda x: np.ones((2, 1))})
    with pytest.raises(TypeError, match="constraints"):
        xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"], constraints=[3])
    # a constraint without jac: SciPy's default '2-point' (issue 10)
    res = xpsolve.minimize(d["fun"], x0, method="adasketch", jac=d["jac"], options={"maxiter": 2},
                           constraints={"type": "eq", "fun": d["constraints"]["fun"]})
    assert "constraints[0].jac" in res.approximate_derivatives


# ------------------------------------------------------------------ registry instances
# The collection's problems keep their data in closures (no arrays in ``data``), so the
# registry-wide backend/seed tests have nothing to compare: compare the oracles instead.
COLLECTION = [p.name for p in list_problems("constrained/*")]


def _fingerprint(p, seed=0):
    """Objective, gradient, constraint values and Jacobian at a fixed point near x0 (host)."""
    from xpsolve.backends import to_numpy

    rng = np.random.default_rng(seed)
    xp = p.xp
    xh = to_numpy(p.x0) + 0.1 * rng.standard_normal(p.x0.shape[0])
    x = xp.asarray(xh, dtype=p.x0.dtype)
    con = p.data["constraints"][0]
    J = con["jac"](x)
    J = J.toarray() if hasattr(J, "toarray") else to_numpy(J)
    return [to_numpy(p.x0), np.asarray(float(p.fun(x))), to_numpy(p.grad(x)),
            to_numpy(con["fun"](x)), np.asarray(J)]


def _instance(name, **kw):
    try:
        return get_problem(name, size="tiny", **kw)
    except ImportError:
        pytest.skip("optional dependency missing")


@pytest.mark.parametrize("name", COLLECTION)
def test_collection_instance_identical_on_every_backend(name, xp):
    ref = _fingerprint(_instance(name, seed=3))
    got = _fingerprint(_instance(name, seed=3, xp=xp))
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", COLLECTION)
def test_collection_seed_determines_instance(name):
    a, b = _fingerprint(_instance(name, seed=1)), _fingerprint(_instance(name, seed=1))
    c = _fingerprint(_instance(name, seed=2))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    differs = any(u.shape != v.shape or not np.allclose(u, v, rtol=1e-12, atol=0)
                  for u, v in zip(a, c))
    # only LOGREG draws data from the seed; the HS/BT/CUTEst/PDE instances are fixed
    assert differs == (name == "constrained/logreg_eq")


def test_a_user_bound_xi_g_is_taken_as_the_licq_constant():
    # PDE(N): G = [L_h, I], so lambda_min(G G^T) >= 1 is known; the user passes it (and the
    # default relative LICQ test must not need the eigenvalues it was told to skip)
    from xpsolve.problems import get_problem

    p = get_problem("constrained/pde", "small", 0)
    res = p.solve("adasketch", options={"xi_g": 1.0, "hessian_modification": "none",
                                        "inner_solver": "direct", "tol": 1e-8, "maxiter": 5})
    assert res.status == 0 and p.metrics(res)["kkt"] <= 1e-8
    bad = p.solve("adasketch", options={"xi_g": 1e-9, "inner_solver": "direct", "maxiter": 5})
    assert bad.status == 4 and "xi_g (the given bound" in bad.message
