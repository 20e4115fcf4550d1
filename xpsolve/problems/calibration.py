r"""Blind gain calibration benchmark problems (Cambareri & Jacques, arXiv:1610.09028).

Every instance is :math:`y_l = \operatorname{diag}(d) A_l x\,(+\,\nu_l)`, :math:`l = 1..p`, solved
through :func:`xpsolve.calibrate_gains`. ``data`` holds ``y`` (p, m), ``A`` (a dense
(p, m, n) stack) or ``filters`` (random convolutions; :func:`sensing_operator` builds the
:class:`~xpsolve.solvers.calibration.RandomConvolution`), the ground
truth ``x_true``, ``d_true`` (mean 1) and, where the instance has them, the subspace bases
``Z`` (n, k) and ``B`` (m, h). The verifiable metric is the scale-aligned recovery error
``err = max(err_x, err_d)`` (see :func:`xpsolve.solvers.calibration.recovery_error`);
success means ``err <= 1e-6`` (the paper's exact-recovery regime).
"""
from __future__ import annotations

import math

import numpy as np

from ..backends import to_numpy
from ._base import Problem
from ._registry import move, register_problem

__all__ = ["gaussian", "subspace", "randconv_image", "dct_basis", "phantom", "sensing_operator"]


def dct_basis(n, atoms):
    """Columns = orthonormal DCT-II atoms ``atoms`` (indices) of :math:`\\mathbb{R}^n`."""
    i = np.arange(n) + 0.5
    cols = []
    for k in atoms:
        v = np.cos(np.pi * i * k / n)
        cols.append(v / np.linalg.norm(v))
    return np.stack(cols, axis=1)


def _dct2_basis(side, q):
    """2-D separable DCT atoms (i, j) with 0 <= i, j <= q except (0, 0): smooth, zero mean."""
    C = dct_basis(side, range(q + 1))
    cols = [np.outer(C[:, i], C[:, j]).ravel() for i in range(q + 1) for j in range(q + 1)
            if (i, j) != (0, 0)]
    return np.stack(cols, axis=1)


def phantom(side):
    """A procedural test image in [0.1, 1] (ellipses, a bar and a smooth ramp); no download."""
    t = (np.arange(side) + 0.5) / side * 2 - 1
    u, v = np.meshgrid(t, t, indexing="ij")
    img = 0.1 + 0.15 * (u + 1)
    img += 0.45 * (((u / 0.8) ** 2 + (v / 0.6) ** 2) <= 1)
    img += 0.25 * ((((u - 0.25) / 0.25) ** 2 + ((v + 0.2) / 0.15) ** 2) <= 1)
    img -= 0.2 * ((np.abs(u + 0.3) < 0.08) & (np.abs(v) < 0.4))
    return np.clip(img, 0.1, 1.0)


def _scaled_perturbation(w, rho):
    w = w - w.mean()
    return w * (rho / np.abs(w).max())


def _add_noise(y, snr, rng):
    if snr is None:
        return y
    sigma = np.sqrt(np.mean(y * y)) * 10.0 ** (-snr / 20.0)
    return y + sigma * rng.standard_normal(y.shape)


def _solve(problem, method, *, options=None, callback=None):
    from .._registry import get_solver
    from ..solvers import calibrate_gains

    d = problem.data
    opts = dict(options or {})
    if isinstance(method, str):
        accepted = get_solver(method, family="calibration").options
        for key in ("x_true", "d_true", "Z", "B"):
            if key in accepted and d.get(key) is not None:
                opts.setdefault(key, d[key])
    return calibrate_gains(d["y"], sensing_operator(problem), method, options=opts,
                           callback=callback)


def sensing_operator(problem):
    """The instance's sensing argument: the dense stack ``A``, or the FFT operator built from
    ``filters`` (kept as an array in ``data`` so every entry of ``data`` is an array or scalar)."""
    d = problem.data
    if "filters" in d:
        from ..solvers.calibration import RandomConvolution

        return RandomConvolution(d["filters"], xp=problem.xp)
    return d["A"]


def _metrics(problem, result):
    """Scale-aligned errors recomputed on the host from ``x`` and ``gains``."""
    ref = problem.reference
    x, g = to_numpy(result.x).astype(np.float64), to_numpy(result.gains).astype(np.float64)
    xt, dt = ref["x_true"], ref["d_true"]
    alpha = dt.mean() / g.mean() if g.mean() != 0 else math.nan
    ex = np.linalg.norm(x / alpha - xt) / np.linalg.norm(xt)
    ed = np.linalg.norm(alpha * g - dt) / np.linalg.norm(dt)
    return {"err": max(ex, ed), "err_x": ex, "err_d": ed,
            "err_x_db": 20 * np.log10(max(ex, 1e-300)), "nfev": float(result.nfev)}


def _build(spec, host, *, size, seed, params, xp, device, dtype):
    arrays = {k: v for k, v in host.items() if isinstance(v, np.ndarray)}
    data = move(arrays, xp, device, dtype)
    data.setdefault("Z", None)
    data.setdefault("B", None)
    reference = {"x_true": host["x_true"], "d_true": host["d_true"]}
    return Problem(name=spec.name, family=spec.family, size=size, seed=seed, params=params,
                   xp=xp, device=device, data=data, solve_fn=_solve, metrics_fn=_metrics,
                   x_opt=data["x_true"], reference=reference,
                   description=spec.make.__doc__ or "", success_metric="err", success_tol=1e-6)


@register_problem("calibration/gaussian", family="calibration",
                  sizes={"tiny": {"n": 8, "m": 8, "p": 6}, "small": {"n": 32, "m": 32, "p": 8},
                         "medium": {"n": 64, "m": 64, "p": 4},
                         "large": {"n": 256, "m": 256, "p": 8}},
                  defaults={"rho": 0.5, "snr": None}, tags=("contract",), build=_build)
def gaussian(*, rng, n, m, p, rho, snr):
    r"""Gaussian sensing matrices, Gaussian signal, random gains of amplitude rho.

    :math:`A_l` i.i.d. N(0, 1) entries, :math:`x \sim N(0, I_n)`, :math:`d = 1 + w`, :math:`w \sim U[-1, 1]^m` centred and scaled to
    :math:`\|w\|_\infty = \rho`; optional noise at ``snr`` dB relative to the RMS of ``y``.

    Drawn in the order A, x, w. Exact recovery by PGD needs roughly
    :math:`mp \ge 1.5\text{--}3\,(n + m)`; the linear baseline :math:`mp \ge n + m - 1`, p >= 2.
    """
    A = rng.standard_normal((p, m, n))
    x = rng.standard_normal(n)
    d = 1.0 + _scaled_perturbation(rng.uniform(-1.0, 1.0, m), rho)
    y = _add_noise(d * (A @ x), snr, rng)
    return {"y": y, "A": A, "x_true": x, "d_true": d}


@register_problem("calibration/subspace", family="calibration",
                  sizes={"tiny": {"n": 16, "m": 16, "p": 1, "k": 4, "h": 2},
                         "small": {"n": 64, "m": 64, "p": 1, "k": 8, "h": 4},
                         "medium": {"n": 256, "m": 256, "p": 2, "k": 16, "h": 8}},
                  defaults={"rho": 0.5, "snr": None}, build=_build)
def subspace(*, rng, n, m, p, k, h, rho, snr):
    r"""Known subspaces: signal and gains in low-dimensional DCT subspaces.

    :math:`x = Z z`, :math:`Z` = the first ``k`` orthonormal DCT-II atoms of
    :math:`\mathbb{R}^n`; :math:`d = 1 + B b`, :math:`B` = DCT atoms 1..h of :math:`\mathbb{R}^m`
    (no DC atom, so :math:`B^\top 1 = 0`), :math:`\|Bb\|_\infty = \rho`; Gaussian :math:`A_l`.

    Identifiable with priors when :math:`mp \ge k + h` (``p = 1`` can suffice).
    """
    Z = dct_basis(n, range(k))
    B = dct_basis(m, range(1, h + 1))
    A = rng.standard_normal((p, m, n))
    x = Z @ rng.standard_normal(k)
    d = 1.0 + _scaled_perturbation(B @ rng.standard_normal(h), rho)
    y = _add_noise(d * (A @ x), snr, rng)
    return {"y": y, "A": A, "x_true": x, "d_true": d, "Z": Z, "B": B}


@register_problem("calibration/randconv_image", family="calibration",
                  sizes={"tiny": {"side": 8, "p": 4}, "small": {"side": 32, "p": 4},
                         "medium": {"side": 64, "p": 4}, "large": {"side": 256, "p": 4}},
                  defaults={"rho": 0.3, "q": 2, "snr": None}, build=_build)
def randconv_image(*, rng, side, p, rho, q, snr):
    r"""Imaging with random convolutions: a side x side test image, smooth gains.

    ``x`` = a procedural ``side`` x ``side`` test image (:func:`phantom`, n = m = side^2), :math:`A_l x = c_l \circledast x` (2-D circular
    convolution, i.i.d. :math:`\pm 1` filters, matrix-free through the namespace's FFT),
    :math:`d = 1 + B b`, :math:`B` = the smooth 2-D DCT atoms :math:`(i, j) \ne (0, 0)`,
    :math:`i, j \le q` (passed as the gain prior of ``pgd-subspace``), :math:`\|Bb\|_\infty = \rho`.

    Ignoring the gains leaves a fixed-pattern "haze" on the back-projection; blind calibration
    removes it (the paper's imaging application; image and operator sizes are ours).
    """
    x = phantom(side).ravel()
    B = _dct2_basis(side, q)
    filters = rng.choice(np.array([-1.0, 1.0]), size=(p, side, side))
    d = 1.0 + _scaled_perturbation(B @ rng.standard_normal(B.shape[1]), rho)
    F = np.fft.rfft2(filters)
    Ax = np.fft.irfft2(F * np.fft.rfft2(x.reshape(side, side))[None], s=(side, side))
    y = _add_noise(d * Ax.reshape(p, side * side), snr, rng)
    return {"y": y, "filters": filters, "x_true": x, "d_true": d, "B": B}
