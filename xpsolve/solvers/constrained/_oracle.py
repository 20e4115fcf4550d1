"""Equality constraints and derivative oracles of the AdaSketch-Newton solver.

Parses SciPy-style constraints (dicts with ``type='eq'``,
:class:`scipy.optimize.NonlinearConstraint` and :class:`scipy.optimize.LinearConstraint`
with ``lb == ub``), checks shapes, and evaluates ``f``, ``grad f``, ``c``, ``G``
and the Lagrangian Hessian (as a matrix or as products), counting evaluations.
"""
from __future__ import annotations

import math

import numpy as np

from ...backends import is_numpy_namespace

__all__ = ["parse_constraints", "Oracle", "NonFiniteError"]

_INEQ_MSG = ("Method 'adasketch' handles equality constraints only; got an inequality "
             "constraint{where}. Use scipy.optimize.minimize(method='trust-constr' or 'SLSQP') "
             "for inequality constraints and bounds.")


class NonFiniteError(FloatingPointError):
    """A user function returned inf or NaN."""


def _issparse(a) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover
        return False
    return sp.issparse(a)


class _EqConstraint:
    """One block of equality constraints ``c(x) = fun(x) - rhs = 0``."""

    def __init__(self, fun, *, jac=None, hess=None, hessp=None, jvp=None, vjp=None, rhs=None,
                 args=(), linear_matrix=None, index=0):
        self.fun, self.jac, self.hess, self.hessp = fun, jac, hess, hessp
        self.jvp, self.vjp, self.rhs, self.args = jvp, vjp, rhs, tuple(args)
        self.linear_matrix = linear_matrix
        self.index = index
        self.m = None

    @property
    def linear(self):
        return self.linear_matrix is not None


def _check_callable(name, f, i):
    if f is not None and not callable(f):
        raise TypeError(f"constraints[{i}]['{name}'] must be callable; got {type(f).__name__}")


def parse_constraints(constraints):
    """Normalise ``constraints`` to a list of :class:`_EqConstraint` (equality only)."""
    from scipy.optimize import LinearConstraint, NonlinearConstraint

    if constraints is None:
        return []
    if isinstance(constraints, (dict, NonlinearConstraint, LinearConstraint)):
        constraints = [constraints]
    try:
        items = list(constraints)
    except TypeError:
        raise TypeError("constraints must be a dict, a NonlinearConstraint, a LinearConstraint "
                        f"or a sequence of them; got {type(constraints).__name__}") from None
    out = []
    for i, con in enumerate(items):
        if isinstance(con, dict):
            unknown = set(con) - {"type", "fun", "jac", "hess", "hessp", "jvp", "vjp", "args"}
            if unknown:
                raise ValueError(f"constraints[{i}] has unknown key(s) {sorted(unknown)}; valid keys: "
                                 "type, fun, jac, hess, hessp, jvp, vjp, args")
            ctype = con.get("type")
            if ctype == "ineq":
                raise ValueError(_INEQ_MSG.format(where=f" (constraints[{i}]['type'] == 'ineq')"))
            if ctype != "eq":
                raise ValueError(f"constraints[{i}]['type'] must be 'eq'; got {ctype!r}")
            if "fun" not in con or not callable(con["fun"]):
                raise TypeError(f"constraints[{i}]['fun'] must be a callable c(x) -> array of shape (m,)")
            for key in ("jac", "hess", "hessp", "jvp", "vjp"):
                _check_callable(key, con.get(key), i)
            if con.get("jac") is None and (con.get("jvp") is None or con.get("vjp") is None):
                raise ValueError(f"constraints[{i}] needs 'jac' (a callable returning the (m, n) "
                                 "Jacobian) or both 'jvp' and 'vjp'")
            args = con.get("args", ())
            if not isinstance(args, tuple):
                args = (args,)
            out.append(_EqConstraint(con["fun"], jac=con.get("jac"), hess=con.get("hess"),
                                     hessp=con.get("hessp"), jvp=con.get("jvp"),
                                     vjp=con.get("vjp"), args=args, index=i))
        elif isinstance(con, NonlinearConstraint):
            lb = np.atleast_1d(np.asarray(con.lb, dtype=float))
            ub = np.atleast_1d(np.asarray(con.ub, dtype=float))
            if lb.shape != ub.shape and lb.size != 1 and ub.size != 1:
                raise ValueError(f"constraints[{i}]: lb and ub have different shapes")
            if not np.all(np.isfinite(lb)) or not np.all(np.isfinite(ub)) or not np.array_equal(
                    *np.broadcast_arrays(lb, ub)):
                raise ValueError(_INEQ_MSG.format(
                    where=f" (constraints[{i}] is a NonlinearConstraint with lb != ub)"))
            if not callable(con.jac):
                raise ValueError(f"constraints[{i}]: NonlinearConstraint.jac must be a callable "
                                 f"(finite-difference options such as {con.jac!r} are not supported)")
            hess = con.hess if callable(con.hess) else None
            out.append(_EqConstraint(con.fun, jac=con.jac, hess=hess, rhs=lb, index=i))
        elif isinstance(con, LinearConstraint):
            lb = np.atleast_1d(np.asarray(con.lb, dtype=float))
            ub = np.atleast_1d(np.asarray(con.ub, dtype=float))
            if not np.all(np.isfinite(lb)) or not np.array_equal(*np.broadcast_arrays(lb, ub)):
                raise ValueError(_INEQ_MSG.format(
                    where=f" (constraints[{i}] is a LinearConstraint with lb != ub)"))
            A = con.A
            out.append(_EqConstraint(None, rhs=lb, linear_matrix=A, index=i))
        else:
            raise TypeError(f"constraints[{i}] must be a dict with type 'eq', a NonlinearConstraint "
                            f"or a LinearConstraint; got {type(con).__name__}")
    return out


class Oracle:
    """Evaluates the objective, the constraints and their derivatives, counting calls.

    ``nfev``/``njev``/``nhev``: objective value / gradient / Hessian (or
    Hessian-vector product) evaluations; ``ncev``/``ncjev``: constraint value /
    Jacobian (or Jacobian-vector product) evaluations. Each user call counts once.
    """

    def __init__(self, fun, jac, hess, hessp, constraints, args, x0, xp):
        self.fun, self.jac, self.hess, self.hessp = fun, jac, hess, hessp
        self.args = tuple(args)
        self.xp = xp
        self.dtype = x0.dtype
        self.dev = getattr(x0, "device", None)
        self.n = int(x0.shape[0])
        self.cons = parse_constraints(constraints)
        if not self.cons:
            raise ValueError("Method 'adasketch' needs at least one equality constraint; pass "
                             "constraints=[{'type': 'eq', 'fun': c, 'jac': G}]")
        self.nfev = self.njev = self.nhev = self.ncev = self.ncjev = 0
        self.numpy = is_numpy_namespace(xp)
        self._linear_mats = {}
        for con in self.cons:
            if con.linear:
                A = con.linear_matrix
                if _issparse(A):
                    A = A.tocsr() if self.numpy else self._arr(A.toarray(), "A")
                else:
                    A = self._arr(A, f"constraints[{con.index}].A")
                    if A.ndim == 1:
                        A = xp.reshape(A, (1, -1))
                self._linear_mats[con.index] = A
        # First evaluation at x0: fixes m_i and checks every shape.
        c0 = self.constraint_values(x0, _count=False)
        self.m = int(c0.shape[0])
        if self.m > self.n:
            raise ValueError(f"more equality constraints (m = {self.m}) than variables (n = {self.n}); "
                             "the KKT matrix is then singular (LICQ fails)")
        self.has_jac_matrix = all(con.linear or con.jac is not None for con in self.cons)
        self.any_sparse = False

    # ------------------------------------------------------------------ helpers
    def _arr(self, a, name):
        xp = self.xp
        if self.numpy and type(a) is np.ndarray and a.dtype == self.dtype:
            return a  # fast path (hot loop of matrix-free products)
        if _issparse(a):
            raise TypeError(f"{name}: sparse matrices are only accepted with NumPy inputs")
        try:
            out = xp.asarray(a, device=self.dev) if self.dev is not None else xp.asarray(a)
        except Exception:
            out = xp.asarray(np.asarray(a, dtype=float))
        if not xp.isdtype(out.dtype, ("real floating", "integral", "bool")):
            raise TypeError(f"{name} must be real; got dtype {out.dtype}")
        if out.dtype != self.dtype:
            out = xp.astype(out, self.dtype)
        return out

    def _finite(self, a, name):
        if type(a) is np.ndarray:
            ok = bool(np.isfinite(a).all())
        elif _issparse(a):
            ok = bool(np.all(np.isfinite(a.data)))
        else:
            ok = bool(self.xp.all(self.xp.isfinite(a)))
        if not ok:
            raise NonFiniteError(f"{name} returned a non-finite value")
        return a

    # ------------------------------------------------------------------ objective
    def f(self, x):
        self.nfev += 1
        v = self.fun(x, *self.args)
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError("fun must return a scalar; got "
                             f"{type(v).__name__} of shape {getattr(v, 'shape', '?')}") from None
        if not math.isfinite(v):
            raise NonFiniteError("fun returned a non-finite value")
        return v

    def grad(self, x):
        self.njev += 1
        g = self._arr(self.jac(x, *self.args), "jac(x)")
        if tuple(g.shape) != (self.n,):
            raise ValueError(f"jac(x) must return shape ({self.n},) like x0; got {tuple(g.shape)}")
        return self._finite(g, "jac")

    def hess_f(self, x):
        """Objective Hessian as a matrix (dense xp or SciPy sparse), or None."""
        if self.hess is None:
            return None
        self.nhev += 1
        H = self.hess(x, *self.args)
        if type(H).__name__.endswith("LinearOperator"):
            raise TypeError("hess(x) must return an (n, n) array or sparse matrix; use hessp for "
                            "matrix-free products")
        if _issparse(H) and self.numpy:
            H = H.tocsr()
        else:
            H = self._arr(H.toarray() if _issparse(H) else H, "hess(x)")
        if tuple(H.shape) != (self.n, self.n):
            raise ValueError(f"hess(x) must return shape ({self.n}, {self.n}); got {tuple(H.shape)}")
        return self._finite(H, "hess")

    def hvp_f(self, x, p, Hf=None):
        if Hf is not None:
            return Hf @ p
        if self.hessp is not None:
            self.nhev += 1
            v = self._arr(self.hessp(x, p, *self.args), "hessp(x, p)")
            if tuple(v.shape) != (self.n,):
                raise ValueError(f"hessp(x, p) must return shape ({self.n},); got {tuple(v.shape)}")
            return v
        # forward difference of the gradient
        return self._fd(lambda y: self.grad(y), x, p)

    def _fd(self, g, x, p):
        xp = self.xp
        pn = float(xp.linalg.vector_norm(p))
        if pn == 0.0:
            return xp.zeros_like(p)
        eps = math.sqrt(np.finfo(np.float64).eps) * (1.0 + float(xp.linalg.vector_norm(x))) / pn
        return (g(x + eps * p) - g(x)) / eps

    # ------------------------------------------------------------------ constraints
    def constraint_values(self, x, _count=True):
        xp = self.xp
        parts = []
        for con in self.cons:
            if con.linear:
                A = self._linear_mats[con.index]
                v = A @ x if not _issparse(A) else xp.asarray(A @ np.asarray(x))
            else:
                if _count:
                    self.ncev += 1
                v = self._arr(con.fun(x, *con.args), f"constraints[{con.index}]['fun'](x)")
            if v.ndim == 0:
                v = xp.reshape(v, (1,))
            if v.ndim != 1:
                raise ValueError(f"constraints[{con.index}] fun(x) must return a 1-D array; got shape "
                                 f"{tuple(v.shape)}")
            if con.m is None:
                con.m = int(v.shape[0])
            elif int(v.shape[0]) != con.m:
                raise ValueError(f"constraints[{con.index}] fun(x) changed length from {con.m} to "
                                 f"{int(v.shape[0])}")
            if con.rhs is not None:
                rhs = np.broadcast_to(np.asarray(con.rhs, dtype=float), (con.m,))
                v = v - self._arr(np.ascontiguousarray(rhs), "rhs")
            parts.append(v)
        c = parts[0] if len(parts) == 1 else xp.concat(parts)
        return self._finite(c, "constraint fun")

    def jacobian(self, x):
        """Stacked constraint Jacobian: dense xp (m, n), SciPy CSR (NumPy only) or None (products)."""
        if not self.has_jac_matrix:
            return None
        xp = self.xp
        blocks = []
        sparse = False
        for con in self.cons:
            if con.linear:
                J = self._linear_mats[con.index]
            else:
                self.ncjev += 1
                J = con.jac(x, *con.args)
                if _issparse(J) and self.numpy:
                    J = J.tocsr()
                else:
                    J = self._arr(J.toarray() if _issparse(J) else J,
                                  f"constraints[{con.index}]['jac'](x)")
                    if J.ndim == 1 and con.m == 1:
                        J = xp.reshape(J, (1, -1))
            if tuple(J.shape) != (con.m, self.n):
                raise ValueError(f"constraints[{con.index}] jac(x) must return shape ({con.m}, "
                                 f"{self.n}) (constraint values x variables); got {tuple(J.shape)}")
            self._finite(J, f"constraints[{con.index}] jac")
            sparse = sparse or _issparse(J)
            blocks.append(J)
        if len(blocks) == 1:
            return blocks[0]
        if sparse:
            import scipy.sparse as sp

            return sp.vstack([b if _issparse(b) else sp.csr_matrix(np.asarray(b)) for b in blocks],
                             format="csr")
        return xp.concat(blocks, axis=0)

    def _split(self, w):
        out, k = [], 0
        for con in self.cons:
            out.append(w[k:k + con.m])
            k += con.m
        return out

    def jvp(self, x, G, p):
        """``G p``."""
        xp = self.xp
        if G is not None:
            return _matvec(G, p, xp)
        parts = []
        for con in self.cons:
            if con.linear:
                parts.append(_matvec(self._linear_mats[con.index], p, xp))
            else:
                self.ncjev += 1
                v = self._arr(con.jvp(x, p, *con.args), f"constraints[{con.index}]['jvp']")
                if tuple(v.shape) != (con.m,):
                    raise ValueError(f"constraints[{con.index}] jvp(x, p) must return shape "
                                     f"({con.m},); got {tuple(v.shape)}")
                parts.append(v)
        return parts[0] if len(parts) == 1 else xp.concat(parts)

    def vjp(self, x, G, w):
        """``G^T w``."""
        xp = self.xp
        if G is not None:
            return _rmatvec(G, w, xp)
        out = None
        for con, wi in zip(self.cons, self._split(w)):
            if con.linear:
                v = _rmatvec(self._linear_mats[con.index], wi, xp)
            else:
                self.ncjev += 1
                v = self._arr(con.vjp(x, wi, *con.args), f"constraints[{con.index}]['vjp']")
                if tuple(v.shape) != (self.n,):
                    raise ValueError(f"constraints[{con.index}] vjp(x, w) must return shape "
                                     f"({self.n},); got {tuple(v.shape)}")
            out = v if out is None else out + v
        return out

    def hess_c_matrix_available(self):
        return all(con.linear or con.hess is not None for con in self.cons)

    def hess_c(self, x, lam):
        """``sum_i lam_i hess c_i(x)`` as a matrix (needs every nonlinear block's ``hess``)."""
        xp = self.xp
        H = None
        for con, li in zip(self.cons, self._split(lam)):
            if con.linear:
                continue
            self.nhev += 1
            Hi = con.hess(x, li, *con.args)
            if _issparse(Hi) and self.numpy:
                Hi = Hi.tocsr()
            else:
                Hi = self._arr(Hi.toarray() if _issparse(Hi) else Hi,
                               f"constraints[{con.index}]['hess'](x, v)")
            if tuple(Hi.shape) != (self.n, self.n):
                raise ValueError(f"constraints[{con.index}] hess(x, v) must return shape "
                                 f"({self.n}, {self.n}); got {tuple(Hi.shape)}")
            self._finite(Hi, "constraint hess")
            H = Hi if H is None else H + Hi
        return H

    def hvp_c(self, x, lam, p):
        """``sum_i lam_i hess c_i(x) p`` from ``hessp``, ``hess`` or differences of ``G^T lam``."""
        xp = self.xp
        out = xp.zeros_like(p)
        for con, li in zip(self.cons, self._split(lam)):
            if con.linear:
                continue
            if con.hessp is not None:
                self.nhev += 1
                v = self._arr(con.hessp(x, li, p, *con.args), f"constraints[{con.index}]['hessp']")
            elif con.hess is not None:
                self.nhev += 1
                Hi = con.hess(x, li, *con.args)
                v = _matvec(Hi if _issparse(Hi) and self.numpy else self._arr(
                    Hi.toarray() if _issparse(Hi) else Hi, "hess"), p, xp)
            else:
                v = self._fd(lambda y, con=con, li=li: self._vjp_one(con, y, li), x, p)
            out = out + v
        return out

    def _vjp_one(self, con, x, w):
        xp = self.xp
        if con.vjp is not None:
            self.ncjev += 1
            return self._arr(con.vjp(x, w, *con.args), "vjp")
        self.ncjev += 1
        J = con.jac(x, *con.args)
        if _issparse(J):
            return xp.asarray(J.T @ np.asarray(w)) if self.numpy else self._arr(J.toarray().T @ np.asarray(w), "jac")
        J = self._arr(J, "jac")
        if J.ndim == 1:
            J = xp.reshape(J, (1, -1))
        return w @ J


def _matvec(A, v, xp):
    if _issparse(A):
        return xp.asarray(A @ np.asarray(v))
    return A @ v


def _rmatvec(A, w, xp):
    if _issparse(A):
        return xp.asarray(A.T @ np.asarray(w))
    return w @ A
