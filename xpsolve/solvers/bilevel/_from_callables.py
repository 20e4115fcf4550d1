"""``BilevelProblem.from_callables``: a problem assembled from plain callables.

Missing derivative oracles are filled by ``torch.func`` (``autodiff=True``) or by
finite differences, flagged in ``approximate_oracles``.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ...backends import device as _device
from ...backends import get_namespace, namespace_name
from ._protocol import CONS_STRUCTURES, BilevelProblem

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
