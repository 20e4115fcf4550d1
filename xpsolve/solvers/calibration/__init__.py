"""Blind gain calibration: ``calibrate_gains`` front door and its methods."""
from __future__ import annotations

from ..._frontdoor import dispatch
from ...backends import as_float_array, check_finite, get_namespace
from . import _pgd  # noqa: F401  (registers "pgd" and "pgd-subspace")
from . import _spectral  # noqa: F401  (registers "spectral-ls")
from ._common import project_gains, recovery_error
from ._operators import DenseSensing, RandomConvolution, as_sensing_operator

__all__ = ["calibrate_gains", "RandomConvolution", "DenseSensing", "project_gains",
           "recovery_error"]


def _validate(y, A):
    arrays = [y] + ([A] if hasattr(A, "shape") and hasattr(A, "dtype")
                    and not hasattr(A, "matvec") else [])
    xp = get_namespace(*arrays)
    y = as_float_array(y, "y", xp)
    if y.ndim != 2:
        raise ValueError(f"y must be a (p, m) array of p snapshots of m sensors; got shape "
                         f"{tuple(y.shape)} (reshape a single snapshot to (1, m))")
    p, m = (int(s) for s in y.shape)
    if p < 1:
        raise ValueError("y must hold at least one snapshot (p >= 1); got p = 0")
    if m < 1:
        raise ValueError("y must have at least one sensor (m >= 1); got m = 0")
    check_finite(y, "y", xp)
    op, n = as_sensing_operator(A, p, m, xp, y.dtype)
    return y, op, xp


def calibrate_gains(y, A, method="pgd", *, options=None, callback=None, tol=None):
    r"""Blind gain calibration: recover a signal and positive sensor gains from random sensing.

    .. math::

        y_l = \operatorname{diag}(d)\, A_l\, x \;(+\, \nu_l), \qquad l = 1, \dots, p,

    where :math:`x \in \mathbb{R}^n` is the unknown signal, :math:`d \in \mathbb{R}^m_{>0}`
    the unknown sensor gains, :math:`A_l \in \mathbb{R}^{m \times n}` the known sensing
    matrices of the :math:`p` snapshots and :math:`\nu_l` noise. The pair is identifiable
    only up to :math:`(x/\alpha, \alpha d)`; the result fixes the scale by
    :math:`\operatorname{mean}(d) = 1`. PGD solves the non-convex least squares

    .. math::

        \min_{\xi,\; g \in G_\rho} \frac{1}{2mp} \sum_{l=1}^p
        \|\operatorname{diag}(g) A_l \xi - y_l\|^2, \qquad
        G_\rho = \{g : 1^\top g = m,\ \|g - 1\|_\infty \le \rho\}.

    Parameters
    ----------
    y : array of shape (p, m)
        Measurements, one row per snapshot. Any array-API namespace (NumPy, CuPy, torch,
        array-api-strict); results live in the same namespace, device and dtype.
    A : array of shape (p, m, n), linear operator or operator object
        The sensing matrices: a dense stack; a SciPy ``LinearOperator`` or PyLops
        operator of shape ``(p*m, n)`` (rows of snapshot ``l`` are rows ``l*m .. l*m+m-1``);
        a sequence of ``p`` such operators of shape ``(m, n)``; or any object with
        ``shape = (p, m, n)``, ``forward(x) -> (p, m)`` and ``adjoint(R) -> (n,)``
        (e.g. :class:`~xpsolve.solvers.calibration.RandomConvolution`, FFT-based and matrix-free).
    method : str or callable
        ``"pgd"`` (default), ``"pgd-subspace"`` (subspace priors ``Z``, ``B``) or
        ``"spectral-ls"`` (linear baseline). A callable is called as
        ``method(y, op, callback=callback, **options)`` with ``op`` the wrapped operator
        (``op.forward``, ``op.adjoint``, ``op.shape``).
    options : dict, optional
        Method options (:func:`xpsolve.show_options` lists them with their ranges).
        PGD: ``maxiter`` (10000), ``tol`` (1e-10, on the relative change),
        ``step`` (``"backtracking"``, ``"fixed"``, ``"theory"`` or a callable
        ``step(nit, mu) -> mu``), ``mu`` (initial/fixed step; 1.0 for backtracking,
        0.5 fixed), ``rho`` (bound on ``||g - 1||_inf``, in (0, 1), default ``None``:
        hyperplane only), ``gain_scale`` (gain-block step factor, default
        ``m / ||xi_0||^2``), ``backtrack`` (0.5), ``mu_grow`` (1.1), ``mu_min`` (1e-8),
        ``x_true``/``d_true`` (ground truth: adds the scale-aligned ``err`` to the
        callback, history and result), ``check_every``, ``history``, ``disp``.
        ``"pgd-subspace"`` adds ``Z`` (n, k) and ``B`` (m, h), orthonormal columns,
        ``B^T 1 = 0``; either may be ``None``. ``"spectral-ls"``: ``solver``
        (``"auto"``, ``"svd"``, ``"cgls"``), ``maxiter`` (1000, CGLS), ``tol``.
    callback : callable, optional
        ``callback(intermediate_result)`` at every check point with ``x``, ``gains``,
        ``fun``, ``nit``, the metric (``rel_change`` or ``ls_resid``) and ``err`` when the
        ground truth is given; ``StopIteration`` stops the run (status 99). SciPy's
        ``callback(xk)`` also works.
    tol : float, optional
        Shortcut for ``options["tol"]``.

    Returns
    -------
    OptimizeResult
        ``x`` (signal, shape (n,)); ``gains`` (shape (m,), mean 1); ``fun`` (the objective
        above); ``nit``; ``nfev`` = ``n_forward`` (batched forward products over all
        snapshots) and ``n_adjoint``; ``rel_change`` (PGD:
        :math:`\max(\|\Delta x\|/\|x\|, \|\Delta g\|/\|g\|)` of the last step, 1 before
        the first) or ``ls_resid`` (spectral LS: relative optimality residual);
        ``success`` iff that metric is at most ``tol``; ``identifiable`` (the counting
        condition :math:`pm \ge n + m - 1`, or :math:`k + h` with priors: when it fails,
        a run that converges ends with status 4, never success); with ground truth,
        ``err = max(err_x, err_d)`` after aligning the scale; ``history`` when asked.

    Notes
    -----
    PGD [1]_ starts from the back-projection :math:`\xi_0 = \frac{1}{mp}\sum_l A_l^\top y_l`
    with unit gains, then takes gradient steps on :math:`\xi` and on the zero-mean
    perturbation of :math:`g`, the gain block scaled by :math:`m/\|\xi_0\|^2` (the paper's
    preconditioning), and projects :math:`g` onto :math:`G_\rho`. Per iteration one batched
    forward and one batched adjoint product (backtracking: plus one forward per rejected
    trial). Items the paper leaves open and the library chose (step rules, the gain-block
    factor, the subspace projection under ``rho``) are options; see
    ``docs/methods/calibration.md``. ``"spectral-ls"`` is the linear least-squares /
    spectral method of [2]_ on the inverse gains :math:`s = 1/d`; it needs
    :math:`pm \ge n + m - 1`, :math:`p \ge 2` and nonzero measurements.

    References
    ----------
    .. [1] V. Cambareri, L. Jacques, "Through the haze: a non-convex approach to blind gain
       calibration for linear random sensing models", Information and Inference: A Journal
       of the IMA, 2019; arXiv:1610.09028.
    .. [2] S. Ling, T. Strohmer, "Self-calibration and bilinear inverse problems via linear
       least squares", SIAM J. Imaging Sciences 11(1), 2018; arXiv:1611.04196.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve import calibrate_gains
    >>> rng = np.random.default_rng(0)
    >>> n, m, p = 16, 16, 6
    >>> A = rng.standard_normal((p, m, n))
    >>> x = rng.standard_normal(n)
    >>> d = 1 + 0.3 * np.cos(np.linspace(0, 2 * np.pi, m, endpoint=False))
    >>> y = d * (A @ x)
    >>> res = calibrate_gains(y, A, options={"x_true": x, "d_true": d})
    >>> res.success, res.err < 1e-8, round(float(res.gains.mean()), 12)
    (True, True, 1.0)

    The linear baseline needs only ``p*m >= n + m - 1``:

    >>> res = calibrate_gains(y[:2], A[:2], method="spectral-ls", options={"x_true": x, "d_true": d})
    >>> res.success, res.err < 1e-10
    (True, True)
    """
    y, op, xp = _validate(y, A)
    return dispatch("calibration", method, (y, op), xp=xp, options=options, tol=tol,
                    callback=callback)
