r"""The bilevel oracle protocol shared by the bilevel solvers.

A bilevel problem

.. math::

    \min_{x \in X,\, y \in Y} F(x, y) \quad \text{s.t.} \quad
    y \in \operatorname*{argmin}_{\theta \in Y} \{ G(x, \theta) : g(x, \theta) \le 0 \}

is described by a :class:`BilevelProblem`: dimensions, namespace, and *oracles*
(methods returning arrays of the problem's namespace). Neutral names are used:
``upper`` = F, ``lower`` = G, ``lower_cons`` = g (LV-HBA writes (F, f, g), BO-REP
writes (f, g) for upper and lower).

The solvers import this module; the problem library (:mod:`xpsolve.problems.bilevel`)
builds instances of it, never the reverse.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ...backends import device as _device
from ...backends import get_namespace, namespace_name, to_numpy

__all__ = ["BilevelProblem", "check_oracles", "CountingProblem", "ORACLE_NAMES"]

#: Oracle method names of the protocol.
ORACLE_NAMES = (
    "upper_value", "lower_value", "upper_grad", "lower_grad", "lower_hvp_yy", "lower_jvp_xy",
    "lower_cons", "lower_cons_vjp", "proj_x", "proj_y", "proj_xy",
)
_REFERENCE_NAMES = ("x0", "y0", "solution", "phi", "hypergrad", "lower_solve", "metrics")
CONS_STRUCTURES = ("halfspace", "affine", "polyhedral")


class BilevelProblem:
    """A bilevel optimisation problem given by oracles.

    Subclass it and define the oracle methods the problem supports, or build one
    from plain callables with :meth:`from_callables`. An oracle that is not
    defined is simply absent (:meth:`provides` returns False); solvers check
    what they need before iterating.

    Attributes
    ----------
    dim_x, dim_y : int
        Dimensions of the upper variable ``x`` and the lower variable ``y``.
    n_cons : int
        Number of lower-level constraints :math:`g(x, y) \\le 0` (0 if none).
    xp : namespace
        Array namespace of the problem data; ``dtype`` its floating dtype.
    n_upper, n_lower : int or None
        Number of samples per level for finite-sum problems (None: deterministic).
        Oracles take ``batch`` (an integer index array or None = full objective)
        and return averages over the batch.
    lower_mu, lower_L, upper_L0, upper_L1 : float or None
        Optional constants (strong convexity / smoothness of the lower level,
        (L0, L1)-smoothness of the upper level).
    equality_rows : tuple of int
        Constraint rows that are equalities (free-sign multipliers).
    cons_structure : {None, "halfspace", "affine", "polyhedral"}
        When set, ``cons_matrices = (G_x, G_y, h)`` describe the joint feasible
        set :math:`C = \\{(x, y): G_x x + G_y y \\le h\\}` (``= h`` for
        "affine"), and the solvers build the projection onto C themselves. The
        rows may include upper-level constraints on ``x`` folded into C; the
        lower constraints ``lower_cons`` are then a subset of them.
    approximate_oracles : tuple of str
        Oracles served by finite differences (see :meth:`from_callables`).

    Notes
    -----
    Oracles: ``upper_value(x, y, batch=None)``, ``lower_value(x, y, batch=None)`` -> scalar;
    ``upper_grad(x, y, batch=None)``, ``lower_grad(x, y, batch=None)`` -> (grad_x, grad_y);
    ``lower_hvp_yy(x, y, v, batch=None)`` -> :math:`\\nabla^2_{yy} G\\, v` (dim_y);
    ``lower_jvp_xy(x, y, v, batch=None)`` -> :math:`\\nabla^2_{xy} G\\, v` (dim_x);
    ``lower_cons(x, y)`` -> g (n_cons); ``lower_cons_vjp(x, y, lam)`` ->
    :math:`(J_x g^\\top \\lambda, J_y g^\\top \\lambda)`; ``proj_x(x)``,
    ``proj_y(y)``, ``proj_xy(x, y)`` -> projections onto X, Y and C.

    Reference information (tests and the suite only, never used by solvers):
    ``x0()``, ``y0()``, ``solution()``, ``phi(x)``, ``hypergrad(x)``,
    ``lower_solve(x)``, ``metrics(x, y)``.
    """

    dim_x: int = 0
    dim_y: int = 0
    n_cons: int = 0
    xp = None
    dtype = None
    n_upper = None
    n_lower = None
    lower_mu = None
    lower_L = None
    upper_L0 = None
    upper_L1 = None
    equality_rows: tuple = ()
    cons_structure = None
    cons_matrices = None
    approximate_oracles: tuple = ()

    def provides(self, name: str) -> bool:
        """Whether oracle (or reference method) ``name`` is available."""
        return callable(getattr(self, name, None))

    # -- construction from callables -------------------------------------------------
    @classmethod
    def from_callables(cls, upper, lower, dim_x, dim_y, *, upper_grad=None, lower_grad=None,
                       lower_hvp_yy=None, lower_jvp_xy=None, lower_cons=None, lower_cons_jac=None,
                       lower_cons_vjp=None, n_cons=None, proj_x=None, proj_y=None, proj_xy=None,
                       cons_structure=None, cons_matrices=None, equality_rows=(), autodiff=False,
                       fd_rel_step=None, allow_fd_float32=False, xp=None, dtype=None,
                       warn=True):
        r"""Build a :class:`BilevelProblem` from plain callables.

        Missing oracles are filled in this order of preference:

        1. the user-supplied callable;
        2. ``autodiff=True`` and torch tensors: exact derivatives with
           ``torch.func`` (``grad``, ``vjp``, ``jvp``);
        3. finite differences, flagged in ``approximate_oracles`` (and in every
           solver result) with one :class:`UserWarning` naming them: central
           differences of the values for gradients (``2 d`` evaluations, warned
           above d = 300); Hessian-vector and mixed products by central
           differences of the gradients along ``v`` with step
           :math:`s = \epsilon^{1/3} \max(1, \|y\|) / \|v\|`; :math:`J^\top
           \lambda` from a dense ``lower_cons_jac(x, y)`` (exact) or from finite
           differences of :math:`\lambda^\top g` (costly).

        Parameters
        ----------
        upper, lower : callable
            ``upper(x, y) -> scalar`` (F) and ``lower(x, y) -> scalar`` (G).
        dim_x, dim_y : int
            Dimensions of ``x`` and ``y``.
        upper_grad, lower_grad : callable, optional
            ``(x, y) -> (grad_x, grad_y)``.
        lower_hvp_yy, lower_jvp_xy : callable, optional
            ``(x, y, v) -> array``: :math:`\nabla^2_{yy} G v` (dim_y) and
            :math:`\nabla^2_{xy} G v` (dim_x) for a y-vector ``v``.
        lower_cons : callable, optional
            ``(x, y) -> g(x, y)`` of shape ``(n_cons,)`` (constraints ``g <= 0``).
        lower_cons_jac : callable, optional
            ``(x, y) -> (J_x, J_y)`` dense Jacobians of ``g``.
        lower_cons_vjp : callable, optional
            ``(x, y, lam) -> (J_x^T lam, J_y^T lam)``.
        n_cons : int, optional
            Number of constraints (evaluated from ``lower_cons`` at zero if omitted).
        proj_x, proj_y, proj_xy : callable, optional
            Projections onto X, Y and the joint set C.
        cons_structure, cons_matrices : optional
            ``"halfspace"``, ``"affine"`` or ``"polyhedral"`` with ``(G_x, G_y, h)``
            describing C (see the class docstring); ``lower_cons`` and its
            Jacobian default to those rows.
        equality_rows : sequence of int
            Constraint rows that are equalities.
        autodiff : bool
            Use ``torch.func`` for missing derivatives of torch problems.
        fd_rel_step : float, optional
            Relative finite-difference step (default :math:`\epsilon^{1/3}`).
        allow_fd_float32 : bool
            Allow finite differences in float32 (refused by default).
        xp, dtype : optional
            Namespace and dtype of the problem (default NumPy float64, or the
            namespace of ``cons_matrices``).

        Examples
        --------
        >>> import numpy as np
        >>> from xpsolve import BilevelProblem
        >>> prob = BilevelProblem.from_callables(
        ...     lambda x, y: 0.5 * np.sum((y - 1.0) ** 2) + 0.5 * np.sum(x ** 2),
        ...     lambda x, y: 0.5 * np.sum((y - x) ** 2), 2, 2,
        ...     upper_grad=lambda x, y: (x, y - 1.0),
        ...     lower_grad=lambda x, y: (x - y, y - x))
        >>> prob.approximate_oracles   # filled, warned about on first use
        ('lower_hvp_yy', 'lower_jvp_xy')
        """
        return _CallableProblem(
            upper, lower, dim_x, dim_y, upper_grad=upper_grad, lower_grad=lower_grad,
            lower_hvp_yy=lower_hvp_yy, lower_jvp_xy=lower_jvp_xy, lower_cons=lower_cons,
            lower_cons_jac=lower_cons_jac, lower_cons_vjp=lower_cons_vjp, n_cons=n_cons,
            proj_x=proj_x, proj_y=proj_y, proj_xy=proj_xy, cons_structure=cons_structure,
            cons_matrices=cons_matrices, equality_rows=equality_rows, autodiff=autodiff,
            fd_rel_step=fd_rel_step, allow_fd_float32=allow_fd_float32, xp=xp, dtype=dtype,
            warn=warn)

    def __repr__(self):
        return (f"{type(self).__name__}(dim_x={self.dim_x}, dim_y={self.dim_y}, "
                f"n_cons={self.n_cons}, backend={namespace_name(self.xp) if self.xp else None})")


# ---------------------------------------------------------------------------------------
# finite-difference helpers (generic in xp)
# ---------------------------------------------------------------------------------------

def _norm(v, xp):
    return float(xp.linalg.vector_norm(v))


def _fd_grad_value(fun, x, step, xp):
    """Central-difference gradient of the scalar ``fun`` at the 1-D array ``x``."""
    d = x.shape[0]
    h = step * max(1.0, _norm(x, xp) / math.sqrt(max(d, 1)))
    dev = _device(x)
    on = {} if dev is None else {"device": dev}
    eye = xp.eye(d, dtype=x.dtype, **on)
    parts = []
    for i in range(d):
        e = eye[i, :] * h
        parts.append((float(fun(x + e)) - float(fun(x - e))) / (2.0 * h))
    return xp.asarray(parts, dtype=x.dtype, **on)


def _fd_dir(fun_vec, y, v, step, xp):
    """Central difference of the vector map ``fun_vec`` at ``y`` along ``v``."""
    nv = _norm(v, xp)
    if nv == 0.0:
        return None
    s = step * max(1.0, _norm(y, xp)) / nv
    return (fun_vec(y + s * v) - fun_vec(y - s * v)) / (2.0 * s)


class _CallableProblem(BilevelProblem):
    """:class:`BilevelProblem` assembled from user callables (see ``from_callables``)."""

    def __init__(self, upper, lower, dim_x, dim_y, *, upper_grad, lower_grad, lower_hvp_yy,
                 lower_jvp_xy, lower_cons, lower_cons_jac, lower_cons_vjp, n_cons, proj_x, proj_y,
                 proj_xy, cons_structure, cons_matrices, equality_rows, autodiff, fd_rel_step,
                 allow_fd_float32, xp, dtype, warn):
        for name, f in (("upper", upper), ("lower", lower)):
            if not callable(f):
                raise TypeError(f"{name} must be a callable (x, y) -> scalar; got {type(f).__name__}")
        for name, v in (("dim_x", dim_x), ("dim_y", dim_y)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        opt = dict(upper_grad=upper_grad, lower_grad=lower_grad, lower_hvp_yy=lower_hvp_yy,
                   lower_jvp_xy=lower_jvp_xy, lower_cons=lower_cons, lower_cons_jac=lower_cons_jac,
                   lower_cons_vjp=lower_cons_vjp, proj_x=proj_x, proj_y=proj_y, proj_xy=proj_xy)
        for name, f in opt.items():
            if f is not None and not callable(f):
                raise TypeError(f"{name} must be a callable or None; got {type(f).__name__}")
        self.dim_x, self.dim_y = int(dim_x), int(dim_y)
        if cons_structure is not None:
            if cons_structure not in CONS_STRUCTURES:
                raise ValueError(f"cons_structure must be one of {CONS_STRUCTURES} or None; "
                                 f"got {cons_structure!r}")
            if cons_matrices is None or len(cons_matrices) != 3:
                raise ValueError("cons_structure needs cons_matrices=(G_x, G_y, h)")
        if xp is None:
            xp = get_namespace(*(cons_matrices or ()))
        self.xp = xp
        self.dtype = dtype if dtype is not None else xp.float64
        if cons_matrices is not None:
            Gx, Gy, h = (xp.asarray(m, dtype=self.dtype) for m in cons_matrices)
            if Gx.ndim == 1:
                Gx, Gy = Gx[None, :], Gy[None, :]
            h = xp.reshape(h, (-1,))
            if Gx.shape[1] != self.dim_x or Gy.shape[1] != self.dim_y or \
                    Gx.shape[0] != Gy.shape[0] or h.shape[0] != Gx.shape[0]:
                raise ValueError("cons_matrices must have shapes (m, dim_x), (m, dim_y), (m,); got "
                                 f"{tuple(Gx.shape)}, {tuple(Gy.shape)}, {tuple(h.shape)}")
            self.cons_matrices = (Gx, Gy, h)
            self.cons_structure = cons_structure
            if lower_cons is None:
                lower_cons = lambda x, y: Gx @ x + Gy @ y - h  # noqa: E731
                lower_cons_jac = lower_cons_jac or (lambda x, y: (Gx, Gy))
        self.equality_rows = tuple(int(i) for i in equality_rows)
        self._upper, self._lower = upper, lower
        step = fd_rel_step if fd_rel_step is not None else float(np.finfo(np.float64).eps) ** (1 / 3)
        approx = []

        use_torch = bool(autodiff) and namespace_name(xp) == "torch"
        if autodiff and not use_torch:
            warnings.warn("autodiff=True is only supported for torch problems; "
                          "falling back to finite differences where needed.", UserWarning,
                          stacklevel=3)

        self.upper_value = lambda x, y, batch=None: upper(x, y)
        self.lower_value = lambda x, y, batch=None: lower(x, y)

        def grad_of(fun, name):
            if use_torch:
                return _torch_grad(fun)
            approx.append(name)

            def g(x, y, batch=None):
                gx = _fd_grad_value(lambda xx: fun(xx, y), x, step, xp)
                gy = _fd_grad_value(lambda yy: fun(x, yy), y, step, xp)
                return gx, gy
            return g

        self.upper_grad = _wrap2(upper_grad) if upper_grad else grad_of(upper, "upper_grad")
        self.lower_grad = _wrap2(lower_grad) if lower_grad else grad_of(lower, "lower_grad")
        lg = self.lower_grad

        if lower_hvp_yy is not None:
            self.lower_hvp_yy = _wrap3(lower_hvp_yy)
        elif use_torch and lower_grad is None:
            self.lower_hvp_yy = _torch_hvp_yy(lower)
        else:
            approx.append("lower_hvp_yy")

            def hvp(x, y, v, batch=None):
                r = _fd_dir(lambda yy: lg(x, yy)[1], y, v, step, xp)
                return xp.zeros_like(y) if r is None else r
            self.lower_hvp_yy = hvp
        if lower_jvp_xy is not None:
            self.lower_jvp_xy = _wrap3(lower_jvp_xy)
        elif use_torch and lower_grad is None:
            self.lower_jvp_xy = _torch_jvp_xy(lower)
        else:
            approx.append("lower_jvp_xy")

            def jvp(x, y, v, batch=None):
                r = _fd_dir(lambda yy: lg(x, yy)[0], y, v, step, xp)
                return xp.zeros_like(x) if r is None else r
            self.lower_jvp_xy = jvp

        if lower_cons is not None:
            self.lower_cons = lower_cons
            if n_cons is None:
                z = xp.zeros((self.dim_x,), dtype=self.dtype)
                n_cons = int(xp.reshape(lower_cons(z, xp.zeros((self.dim_y,), dtype=self.dtype)),
                                        (-1,)).shape[0])
            self.n_cons = int(n_cons)
            if lower_cons_vjp is not None:
                self.lower_cons_vjp = lower_cons_vjp
            elif lower_cons_jac is not None:
                def vjp(x, y, lam, _jac=lower_cons_jac):
                    Jx, Jy = _jac(x, y)
                    return lam @ Jx, lam @ Jy
                self.lower_cons_vjp = vjp
            elif use_torch:
                self.lower_cons_vjp = _torch_cons_vjp(lower_cons)
            else:
                approx.append("lower_cons_vjp")
                if warn:
                    warnings.warn("lower_cons_vjp is computed by finite differences of lam^T g; "
                                  "this costs 2 (dim_x + dim_y) constraint evaluations per call. "
                                  "Pass lower_cons_jac or lower_cons_vjp.", UserWarning, stacklevel=3)

                def vjp(x, y, lam):
                    gx = _fd_grad_value(lambda xx: xp.sum(lam * lower_cons(xx, y)), x, step, xp)
                    gy = _fd_grad_value(lambda yy: xp.sum(lam * lower_cons(x, yy)), y, step, xp)
                    return gx, gy
                self.lower_cons_vjp = vjp
        else:
            if lower_cons_jac is not None or lower_cons_vjp is not None:
                raise ValueError("lower_cons_jac / lower_cons_vjp given without lower_cons")
            self.n_cons = 0
        for name in ("proj_x", "proj_y", "proj_xy"):
            if opt[name] is not None:
                setattr(self, name, opt[name])
        self.approximate_oracles = tuple(approx)
        if approx:
            if self.dtype == getattr(xp, "float32", None) and not allow_fd_float32:
                raise ValueError(f"oracles {', '.join(approx)} would need finite differences in "
                                 "float32; pass them explicitly or allow_fd_float32=True")
            big = max(self.dim_x, self.dim_y)
            extra = (f" (gradients by finite differences in dimension {big} are costly)"
                     if big > 300 and any(a.endswith("_grad") for a in approx) else "")
            message = (f"BilevelProblem: oracles served by finite differences: "
                       f"{', '.join(approx)}{extra}.")
            state = {"warned": not warn}
            # One warning per problem, emitted when a finite-difference oracle is first used
            # (a solver that never needs, e.g., Hessian-vector products is not warned about them).
            for name in approx:
                setattr(self, name, _warn_on_first_use(getattr(self, name), state, message))


def _warn_on_first_use(f, state, message):
    def g(*args, **kw):
        if not state["warned"]:
            state["warned"] = True
            warnings.warn(message, UserWarning, stacklevel=3)
        return f(*args, **kw)
    return g


def _wrap2(f):
    return lambda x, y, batch=None: f(x, y)


def _wrap3(f):
    return lambda x, y, v, batch=None: f(x, y, v)


def _torch_grad(fun):
    import torch.func as tf

    g = tf.grad(lambda x, y: fun(x, y), argnums=(0, 1))
    return lambda x, y, batch=None: g(x, y)


def _torch_hvp_yy(fun):
    import torch.func as tf

    gy = tf.grad(lambda x, y: fun(x, y), argnums=1)
    return lambda x, y, v, batch=None: tf.jvp(lambda yy: gy(x, yy), (y,), (v,))[1]


def _torch_jvp_xy(fun):
    import torch.func as tf

    gx = tf.grad(lambda x, y: fun(x, y), argnums=0)
    return lambda x, y, v, batch=None: tf.jvp(lambda yy: gx(x, yy), (y,), (v,))[1]


def _torch_cons_vjp(cons):
    import torch.func as tf

    def vjp(x, y, lam):
        _, pull = tf.vjp(cons, x, y)
        return pull(lam)
    return vjp


# ---------------------------------------------------------------------------------------
# counting wrapper
# ---------------------------------------------------------------------------------------

class CountingProblem:
    """Wrap a :class:`BilevelProblem`, counting calls per oracle name (``counts``)."""

    def __init__(self, problem):
        self._p = problem
        self.counts = {}
        for name in ORACLE_NAMES:
            f = getattr(problem, name, None)
            if callable(f):
                setattr(self, name, self._counted(name, f))

    def _counted(self, name, f):
        counts = self.counts
        counts[name] = 0

        def g(*args, **kw):
            counts[name] += 1
            return f(*args, **kw)
        return g

    def provides(self, name):
        return callable(getattr(self, name, None)) if name in ORACLE_NAMES else \
            self._p.provides(name)

    def __getattr__(self, name):
        return getattr(self._p, name)


# ---------------------------------------------------------------------------------------
# oracle checker
# ---------------------------------------------------------------------------------------

def _dir_deriv(fun, t_scale, xp):
    """Five-point central derivative at t = 0 of the scalar or vector map ``fun(t)``."""
    h = t_scale
    f1, f_1 = fun(h), fun(-h)
    f2, f_2 = fun(2 * h), fun(-2 * h)
    return (8.0 * (f1 - f_1) - (f2 - f_2)) / (12.0 * h)


def check_oracles(problem, x=None, y=None, *, rng=0, n_dirs=2, rtol=1e-6, raise_on_error=False):
    r"""Compare every supplied derivative oracle of ``problem`` with finite differences.

    Each check uses random unit directions ``u`` and the five-point central
    difference (step :math:`\epsilon^{1/5} \max(1, \|\cdot\|)`, error about
    1e-12 relative in float64):

    - ``upper_grad`` / ``lower_grad`` against :math:`\frac{d}{dt} F(x + t u, y)`
      and :math:`\frac{d}{dt} F(x, y + t u)` (same for G);
    - ``lower_hvp_yy`` / ``lower_jvp_xy`` against :math:`\frac{d}{dt}
      \nabla_y G(x, y + t v)` and :math:`\frac{d}{dt} \nabla_x G(x, y + t v)`;
    - ``lower_cons_vjp`` against :math:`\frac{d}{dt} \lambda^\top g` along ``u``.

    The error of a directional derivative ``a`` (analytic) against ``b`` (finite
    difference) is :math:`|a - b| / \max(\|\text{grad}\| \|u\|, \tau)`: relative
    to the gradient norm, with the floor :math:`\tau = 10^{-4}(1 + |F|)` so that
    an exactly zero block (e.g. an upper objective independent of ``x``) is
    checked in absolute terms instead of dividing by zero.

    Parameters
    ----------
    problem : BilevelProblem
    x, y : array, optional
        Point of the check (default ``problem.x0()`` / ``problem.y0()`` or a
        random point).
    rng : int or numpy.random.Generator
        Seed of the random directions.
    n_dirs : int
        Directions per check.
    rtol : float
        Threshold for ``ok`` (1e-6 in float64 by default).
    raise_on_error : bool
        Raise ``AssertionError`` listing the failing oracles instead of returning.

    Returns
    -------
    dict
        ``errors``: {oracle name: largest error}; ``ok``: all errors <= rtol;
        ``failed``: names above ``rtol``.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve import BilevelProblem, check_oracles
    >>> prob = BilevelProblem.from_callables(
    ...     lambda x, y: np.sum(np.sin(x) * y), lambda x, y: 0.5 * np.sum((y - x) ** 2), 3, 3,
    ...     upper_grad=lambda x, y: (np.cos(x) * y, np.sin(x)),
    ...     lower_grad=lambda x, y: (x - y, y - x), lower_hvp_yy=lambda x, y, v: v,
    ...     lower_jvp_xy=lambda x, y, v: -v)
    >>> check_oracles(prob, np.ones(3), np.zeros(3))["ok"]
    True
    """
    if not isinstance(problem, (BilevelProblem, CountingProblem)):
        raise TypeError(f"problem must be a BilevelProblem; got {type(problem).__name__}")
    xp = problem.xp
    gen = np.random.default_rng(rng)
    dt = problem.dtype
    if x is None:
        x = problem.x0() if problem.provides("x0") else xp.asarray(gen.standard_normal(problem.dim_x), dtype=dt)
    if y is None:
        y = problem.y0() if problem.provides("y0") else xp.asarray(gen.standard_normal(problem.dim_y), dtype=dt)
    if tuple(x.shape) != (problem.dim_x,) or tuple(y.shape) != (problem.dim_y,):
        raise ValueError(f"x and y must have shapes ({problem.dim_x},) and ({problem.dim_y},); "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")
    eps = float(np.finfo(to_numpy(xp.zeros(1, dtype=dt)).dtype).eps)
    rel = eps ** 0.2
    dev = _device(x)
    on = {} if dev is None else {"device": dev}

    def unit(d):
        u = gen.standard_normal(d)
        return xp.asarray(u / np.linalg.norm(u), dtype=dt, **on)

    def step(v):
        return rel * max(1.0, _norm(v, xp) / math.sqrt(v.shape[0]))

    errors = {}

    def record(name, err):
        errors[name] = max(errors.get(name, 0.0), float(err))

    for level in ("upper", "lower"):
        gname, vname = f"{level}_grad", f"{level}_value"
        if not (problem.provides(gname) and problem.provides(vname)):
            continue
        if gname in problem.approximate_oracles:
            continue
        val = getattr(problem, vname)
        gx, gy = getattr(problem, gname)(x, y)
        f0 = abs(float(val(x, y)))
        floor = 1e-4 * (1.0 + f0)
        for _ in range(n_dirs):
            for which, g, base in (("x", gx, x), ("y", gy, y)):
                u = unit(base.shape[0])
                h = step(base)
                if which == "x":
                    fd = _dir_deriv(lambda t: float(val(x + t * u, y)), h, xp)
                else:
                    fd = _dir_deriv(lambda t: float(val(x, y + t * u)), h, xp)
                an = float(xp.sum(g * u))
                record(gname, abs(an - fd) / max(_norm(g, xp), floor))
    if problem.provides("lower_grad"):
        lg = problem.lower_grad
        for name, idx in (("lower_hvp_yy", 1), ("lower_jvp_xy", 0)):
            if not problem.provides(name) or name in problem.approximate_oracles:
                continue
            for _ in range(n_dirs):
                v = unit(problem.dim_y)
                an = getattr(problem, name)(x, y, v)
                h = step(y)
                fd = _dir_deriv(lambda t: lg(x, y + t * v)[idx], h, xp)
                floor = 1e-4 * (1.0 + _norm(lg(x, y)[idx], xp))
                record(name, _norm(an - fd, xp) / max(_norm(an, xp), floor))
    if getattr(problem, "n_cons", 0) and problem.provides("lower_cons") and \
            problem.provides("lower_cons_vjp") and "lower_cons_vjp" not in problem.approximate_oracles:
        lam = xp.asarray(gen.standard_normal(problem.n_cons), dtype=dt, **on)
        jx, jy = problem.lower_cons_vjp(x, y, lam)
        c0 = abs(float(xp.sum(lam * problem.lower_cons(x, y))))
        floor = 1e-4 * (1.0 + c0)
        for _ in range(n_dirs):
            for which, g, base in (("x", jx, x), ("y", jy, y)):
                u = unit(base.shape[0])
                h = step(base)
                if which == "x":
                    fd = _dir_deriv(lambda t: float(xp.sum(lam * problem.lower_cons(x + t * u, y))), h, xp)
                else:
                    fd = _dir_deriv(lambda t: float(xp.sum(lam * problem.lower_cons(x, y + t * u))), h, xp)
                an = float(xp.sum(g * u))
                record("lower_cons_vjp", abs(an - fd) / max(_norm(g, xp), floor))
    failed = sorted(k for k, v in errors.items() if not v <= rtol)
    if failed and raise_on_error:
        raise AssertionError("oracles disagree with finite differences: " +
                             ", ".join(f"{k} ({errors[k]:.2e})" for k in failed))
    return {"errors": errors, "ok": not failed, "failed": failed}
