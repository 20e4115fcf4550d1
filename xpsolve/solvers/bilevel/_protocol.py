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
builds instances of it, never the reverse. :meth:`BilevelProblem.from_callables` lives in
:mod:`._from_callables` and :func:`check_oracles` in :mod:`._check`; both names stay
importable from here.
"""
from __future__ import annotations

from ...backends import namespace_name

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

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve import BilevelProblem
    >>> prob = BilevelProblem.from_callables(
    ...     lambda x, y: 0.5 * x @ x + 0.5 * y @ y, lambda x, y: 0.5 * np.sum((y - x) ** 2),
    ...     2, 2, upper_grad=lambda x, y: (x, y), lower_grad=lambda x, y: (x - y, y - x))
    >>> prob.dim_x, prob.dim_y, prob.provides("upper_grad"), prob.provides("lower_hvp")
    (2, 2, True, False)
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
        from ._from_callables import _CallableProblem

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


from ._check import check_oracles  # noqa: E402  (re-export; it imports this module)
