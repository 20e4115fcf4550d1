"""``xpsolve.minimize`` as a drop-in superset of ``scipy.optimize.minimize`` (issue 10).

Part 1 ports the equality-constrained calls of SciPy's own test files
(``scipy/optimize/tests/test_slsqp.py`` and ``test_minimize_constrained.py``; SciPy
1.17). The problems are re-written here (same mathematics); each call is made as the
SciPy test makes it, only ``minimize`` is ``xpsolve.minimize``:

- ``test_scipy_eq_passthrough``: SciPy's method, SciPy's assertions;
- ``test_scipy_eq_adasketch``: the same call with ``method="adasketch"`` and
  ``tol=1e-8`` (the calls an equality-only method can take: no bounds, no
  inequalities), checked against SciPy's expected solution.

``test_optimize.py`` and ``test_constraints.py`` have no equality-constrained
``minimize`` call (their constraints are inequalities; fixed variables there are bounds).

Part 2: SciPy passthrough details (status mapping, namespaces, options), the
derivative conversions for xpsolve methods, and hostile input.
"""
from __future__ import annotations

import warnings

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from numpy.testing import assert_allclose, assert_array_almost_equal, assert_array_less
from scipy.optimize import (BFGS, SR1, Bounds, LinearConstraint, NonlinearConstraint, rosen,
                            rosen_der)

import xpsolve
from xpsolve import HostRoundTripWarning

SCIPY_TESTS = "scipy/optimize/tests"


# =========================================================================== problems
class Chapra:
    """test_slsqp.py ``TestSLSQP``: f(x, y) = 2xy + 2x - x^2 - 2y^2 (maximised with sign=-1)."""

    opts = {"disp": False}

    @staticmethod
    def fun(d, sign=1.0):
        return sign * (2 * d[0] * d[1] + 2 * d[0] - d[0] ** 2 - 2 * d[1] ** 2)

    @staticmethod
    def jac(d, sign=1.0):
        return np.array([sign * (-2 * d[0] + 2 * d[1] + 2), sign * (2 * d[0] - 4 * d[1])], float)

    @staticmethod
    def f_eqcon(x, sign=1.0):
        return np.array([x[0] - x[1]])

    @staticmethod
    def fprime_eqcon(x, sign=1.0):
        return np.array([[1, -1]])

    @staticmethod
    def f_eqcon_scalar(x, sign=1.0):
        return x[0] - x[1]

    @staticmethod
    def fprime_eqcon_scalar(x, sign=1.0):
        return [1, -1]


class Maratos:
    """test_minimize_constrained.py ``Maratos``: Nocedal & Wright problem 15.4.

    min 2 (x0^2 + x1^2 - 1) - x0  s.t.  x0^2 + x1^2 = 1;  solution (1, 0).
    """

    def __init__(self, constr_jac=None, constr_hess=None, grad_in_fun=False, args=None):
        t = np.pi / 3
        self.x0 = [np.cos(t), np.sin(t)]
        self.x_opt = np.array([1.0, 0.0])
        self.bounds = None
        self.constr_jac, self.constr_hess = constr_jac, constr_hess
        self.grad_in_fun, self.args = grad_in_fun, args

    def _f(self, x):
        return 2 * (x[0] ** 2 + x[1] ** 2 - 1) - x[0]

    def _g(self, x):
        return np.array([4 * x[0] - 1, 4 * x[1]])

    def fun(self, x, *args):
        self._check(args)
        return (self._f(x), self._g(x)) if self.grad_in_fun else self._f(x)

    @property
    def grad(self):
        if self.grad_in_fun:
            return True
        return lambda x, *args: self._check(args) or self._g(x)

    def hess(self, x, *args):
        self._check(args)
        return 4 * np.eye(2)

    def _check(self, args):
        if self.args is not None and tuple(args) != self.args:
            raise ValueError(f"args {args} != {self.args}")

    @property
    def constr(self):
        # MaratosTestArgs and MaratosGradInFunc give 4x (twice the true Jacobian), as SciPy's do
        k = 2 if (self.args is None and not self.grad_in_fun) else 4
        jac = self.constr_jac or (lambda x: [[k * x[0], k * x[1]]])
        hess = self.constr_hess or (lambda x, v: 2 * v[0] * np.eye(2))
        return NonlinearConstraint(lambda x: x[0] ** 2 + x[1] ** 2, 1, 1, jac, hess)


class EqIneqRosenbrock:
    """test_minimize_constrained.py ``EqIneqRosenbrock``: Rosenbrock, x0 + 2 x1 <= 1, 2 x0 + x1 = 1."""

    x0 = [-1, -0.5]
    x_opt = [0.41494, 0.17011]
    bounds = None
    fun = staticmethod(rosen)
    grad = staticmethod(rosen_der)

    @staticmethod
    def hess(x):
        from scipy.optimize import rosen_hess

        return rosen_hess(x)

    @property
    def constr(self):
        return (LinearConstraint([[1, 2]], -np.inf, 1), LinearConstraint([[2, 1]], 1, 1))


MARATOS = {"Maratos()": lambda: Maratos(),
           "Maratos(constr_hess='2-point')": lambda: Maratos(constr_hess="2-point"),
           "Maratos(constr_hess=SR1())": lambda: Maratos(constr_hess=SR1()),
           "Maratos(constr_jac='2-point', constr_hess=SR1())":
               lambda: Maratos(constr_jac="2-point", constr_hess=SR1()),
           "MaratosGradInFunc()": lambda: Maratos(grad_in_fun=True)}
GRADS = ("prob.grad", "3-point", False)
HESSES = {"prob.hess": "prob.hess", "3-point": "3-point", "SR1()": lambda: SR1(),
          "BFGS(damp_update)": lambda: BFGS(exception_strategy="damp_update"),
          "BFGS(skip_update)": lambda: BFGS(exception_strategy="skip_update")}


def _list_of_problems_cases(problems):
    """The (prob, grad, hess) triples ``TestTrustRegionConstr.test_list_of_problems`` runs."""
    out = []
    for pname, make in problems.items():
        for grad in GRADS:
            for hname, hess in HESSES.items():
                if grad in ("3-point", False) and hess == "3-point":
                    continue  # SciPy skips: "Numerical Hessian needs analytical gradient"
                if pname.startswith("MaratosGradInFunc") and grad in ("3-point", False):
                    continue  # SciPy skips: prob.grad is True
                out.append(pytest.param(make, grad, hess, id=f"{pname}-{grad}-{hname}"))
    return out


def _resolve(prob, grad, hess):
    grad = prob.grad if grad == "prob.grad" else grad
    hess = hess() if callable(hess) else hess
    hess = prob.hess if hess == "prob.hess" else hess
    return grad, hess


# =========================================================================== the calls
# Each function makes one of SciPy's calls with ``minimize`` (as written in SciPy's test)
# and returns the result and SciPy's expected solution (None: SciPy checks no solution).
def slsqp_equality_approximated(minimize, jac):
    """test_slsqp.py::TestSLSQP::test_minimize_equality_approximated (one call per jac)."""
    self = Chapra
    res = minimize(self.fun, [-1.0, 1.0], args=(-1.0, ),
                   jac=jac,
                   constraints={'type': 'eq',
                                'fun': self.f_eqcon,
                                'args': (-1.0, )},
                   method='SLSQP', options=self.opts)
    return res, [1, 1], {}


def slsqp_equality_given(minimize):
    """test_slsqp.py::TestSLSQP::test_minimize_equality_given."""
    self = Chapra
    res = minimize(self.fun, [-1.0, 1.0], jac=self.jac,
                   method='SLSQP', args=(-1.0,),
                   constraints={'type': 'eq', 'fun': self.f_eqcon,
                                'args': (-1.0, )},
                   options=self.opts)
    return res, [1, 1], {}


def slsqp_equality_given2(minimize):
    """test_slsqp.py::TestSLSQP::test_minimize_equality_given2."""
    self = Chapra
    res = minimize(self.fun, [-1.0, 1.0], method='SLSQP',
                   jac=self.jac, args=(-1.0,),
                   constraints={'type': 'eq',
                                'fun': self.f_eqcon,
                                'args': (-1.0, ),
                                'jac': self.fprime_eqcon},
                   options=self.opts)
    return res, [1, 1], {}


def slsqp_equality_given_cons_scalar(minimize):
    """test_slsqp.py::TestSLSQP::test_minimize_equality_given_cons_scalar."""
    self = Chapra
    res = minimize(self.fun, [-1.0, 1.0], method='SLSQP',
                   jac=self.jac, args=(-1.0,),
                   constraints={'type': 'eq',
                                'fun': self.f_eqcon_scalar,
                                'args': (-1.0, ),
                                'jac': self.fprime_eqcon_scalar},
                   options=self.opts)
    return res, [1, 1], {}


def slsqp_bound_equality_given2(minimize):
    """test_slsqp.py::TestSLSQP::test_minimize_bound_equality_given2 (bounds)."""
    self = Chapra
    res = minimize(self.fun, [-1.0, 1.0], method='SLSQP',
                   jac=self.jac, args=(-1.0, ),
                   bounds=[(-0.8, 1.), (-1, 0.8)],
                   constraints={'type': 'eq',
                                'fun': self.f_eqcon,
                                'args': (-1.0, ),
                                'jac': self.fprime_eqcon},
                   options=self.opts)
    assert -0.8 <= res.x[0] <= 1 and -1 <= res.x[1] <= 0.8
    return res, [0.8, 0.8], {"atol": 1e-3}


def slsqp_inconsistent_linearization(minimize):
    """test_slsqp.py::TestSLSQP::test_inconsistent_linearization (eq + ineq + bounds)."""
    def f1(x):
        return x[0] + x[1] - 2

    def f2(x):
        return x[0] ** 2 - 1
    x = [0, 1]
    sol = minimize(
        lambda x: x[0]**2 + x[1]**2,
        x,
        constraints=({'type': 'eq', 'fun': f1},
                     {'type': 'ineq', 'fun': f2}),
        bounds=((0, None), (0, None)),
        method='SLSQP')
    assert_allclose(f1(sol.x), 0, atol=1e-8)
    assert f2(sol.x) >= -1e-8
    return sol, None, {}


def slsqp_regression_5743(minimize):
    """test_slsqp.py::TestSLSQP::test_regression_5743 (infeasible: must not succeed)."""
    x = [1, 2]
    sol = minimize(
        lambda x: x[0]**2 + x[1]**2,
        x,
        constraints=({'type': 'eq', 'fun': lambda x: x[0] + x[1] - 1},
                     {'type': 'ineq', 'fun': lambda x: x[0] - 2}),
        bounds=((0, None), (0, None)),
        method='SLSQP')
    assert not sol.success
    return sol, "fails", {}


def slsqp_gh1758(minimize):
    """test_slsqp.py::TestSLSQP::test_gh1758 (two equalities + bounds)."""
    def fun(x):
        return np.sqrt(x[1])

    def f_eqcon(x):
        return x[1] - (2 * x[0]) ** 3

    def f_eqcon2(x):
        return x[1] - (-x[0] + 1) ** 3
    c1 = {'type': 'eq', 'fun': f_eqcon}
    c2 = {'type': 'eq', 'fun': f_eqcon2}
    res = minimize(fun, [8, 0.25], method='SLSQP',
                   constraints=[c1, c2], bounds=[(-0.5, 1), (0, 8)])
    assert_allclose(res.fun, 0.5443310539518)
    return res, [0.33333333, 0.2962963], {}


def slsqp_segfault_workspace(minimize, method="SLSQP"):
    """test_slsqp.py::test_slsqp_segfault_wrong_workspace_computation (ill-posed; must return)."""
    rng = np.random.default_rng(1742651087222879)
    v = rng.uniform(size=[22, 365])
    target = np.linspace(0.9, 4.0, 50)

    def metric(v, weights):
        return [[0, 0], [1, 1]]

    def metric_a(weights):
        return metric(v, weights)[1][0]

    def metric_b(weights, v):
        return metric(v, weights)[0][0]
    constraints = ({'type': 'eq', 'fun': lambda x: metric_a(x) - target},
                   {'type': 'eq', 'fun': lambda x: np.sum(x) - 1})
    weights = np.array([len(v) * [1. / len(v)]])[0]
    result = minimize(metric_b, weights, args=(v,), method='SLSQP',
                      constraints=constraints)
    return result, "returns", {}


def trust_constr_list_of_problems(minimize, make, grad, hess):
    """test_minimize_constrained.py::TestTrustRegionConstr::test_list_of_problems."""
    prob = make()
    grad, hess = _resolve(prob, grad, hess)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "delta_grad == 0.0", UserWarning)
        result = minimize(prob.fun, prob.x0,
                          method='trust-constr',
                          jac=grad, hess=hess,
                          bounds=prob.bounds,
                          constraints=prob.constr)
    return result, prob.x_opt, {"decimal": 5}


def trust_constr_hessp(minimize):
    """test_minimize_constrained.py::TestTrustRegionConstr::test_hessp."""
    prob = Maratos()

    def hessp(x, p):
        H = prob.hess(x)
        return H.dot(p)
    result = minimize(prob.fun, prob.x0,
                      method='trust-constr',
                      jac=prob.grad, hessp=hessp,
                      bounds=prob.bounds,
                      constraints=prob.constr)
    return result, prob.x_opt, {"decimal": 2}


def trust_constr_args(minimize):
    """test_minimize_constrained.py::TestTrustRegionConstr::test_args (MaratosTestArgs)."""
    prob = Maratos(args=("a", 234))
    result = minimize(prob.fun, prob.x0, ("a", 234),
                      method='trust-constr',
                      jac=prob.grad, hess=prob.hess,
                      bounds=prob.bounds,
                      constraints=prob.constr)
    return result, prob.x_opt, {"decimal": 2}


def trust_constr_issue_18882(minimize):
    """test_minimize_constrained.py::test_issue_18882 (singular Jacobian at x0: must not succeed)."""
    def lsf(u):
        u1, u2 = u
        a, b = [3.0, 4.0]
        return 1.0 + u1**2 / a**2 - u2**2 / b**2

    def of(u):
        return np.sum(u**2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "delta_grad == 0.0", UserWarning)
        warnings.filterwarnings("ignore", "Singular Jacobian matrix.", UserWarning)
        res = minimize(
            of,
            [0.0, 0.0],
            method="trust-constr",
            constraints=NonlinearConstraint(lsf, 0, 0),
        )
    assert not res.success
    assert res.status == 4  # trust-constr: constraint violation; adasketch: LICQ fails at x0
    return res, "fails", {}


def trust_constr_gh11649(minimize):
    """test_minimize_constrained.py::test_gh11649 (eq + ineq + keep_feasible bounds)."""
    bnds = Bounds(lb=[-1, -1], ub=[1, 1], keep_feasible=True)

    def assert_inbounds(x):
        assert np.all(x >= bnds.lb) and np.all(x <= bnds.ub)

    def obj(x):
        assert_inbounds(x)
        return np.exp(x[0])*(4*x[0]**2 + 2*x[1]**2 + 4*x[0]*x[1] + 2*x[1] + 1)

    def nce(x):
        assert_inbounds(x)
        return x[0]**2 + x[1]

    def nce_jac(x):
        return np.array([2*x[0], 1])

    def nci(x):
        assert_inbounds(x)
        return x[0]*x[1]
    x0 = np.array((0.99, -0.99))
    nlcs = [NonlinearConstraint(nci, -10, np.inf),
            NonlinearConstraint(nce, 1, 1, jac=nce_jac)]
    res = minimize(fun=obj, x0=x0, method='trust-constr',
                   bounds=bnds, constraints=nlcs)
    assert_inbounds(res.x)
    assert nlcs[0].lb < nlcs[0].fun(res.x) < nlcs[0].ub
    return res, None, {}


def trust_constr_gh20665_svd(minimize):
    """test_minimize_constrained.py::test_gh20665_too_many_constraints (second call)."""
    x0 = np.ones((2,))
    A_eq, b_eq = np.arange(6).reshape((3, 2)), np.ones((3,))
    g = NonlinearConstraint(lambda x: A_eq @ x, lb=b_eq, ub=b_eq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = minimize(rosen, x0, method='trust-constr', constraints=[g],
                       options={'factorization_method': 'SVDFactorization'})
    return res, "returns", {}


# SciPy refuses these; so must we (same exception).
def trust_constr_raise_exception(minimize):
    """test_minimize_constrained.py::TestTrustRegionConstr::test_raise_exception."""
    prob = Maratos()
    message = "Whenever the gradient is estimated via finite-differences"
    with pytest.raises(ValueError, match=message):
        minimize(prob.fun, prob.x0, method='trust-constr', jac='2-point',
                 hess='2-point', constraints=prob.constr)
    return None, "raises", {}


def trust_constr_gh20665_raises(minimize):
    """test_minimize_constrained.py::test_gh20665_too_many_constraints (first call)."""
    message = "...more equality constraints than independent variables..."
    with pytest.raises(ValueError, match=message):
        x0 = np.ones((2,))
        A_eq, b_eq = np.arange(6).reshape((3, 2)), np.ones((3,))
        g = NonlinearConstraint(lambda x: A_eq @ x, lb=b_eq, ub=b_eq)
        minimize(rosen, x0, method='trust-constr', constraints=[g])
    return None, "raises", {}


SLSQP_JACS = (None, False, '2-point', '3-point')
ALL_CASES = (
    [pytest.param(slsqp_equality_approximated, (j,), id=f"slsqp_equality_approximated-{j}")
     for j in SLSQP_JACS]
    + [pytest.param(f, (), id=f.__name__) for f in (
        slsqp_equality_given, slsqp_equality_given2, slsqp_equality_given_cons_scalar,
        slsqp_bound_equality_given2, slsqp_inconsistent_linearization, slsqp_regression_5743,
        slsqp_gh1758, slsqp_segfault_workspace)]
    + [pytest.param(trust_constr_list_of_problems, p.values, id="list_of_problems-" + p.id)
       for p in _list_of_problems_cases(dict(MARATOS, **{"EqIneqRosenbrock()": EqIneqRosenbrock}))]
    + [pytest.param(f, (), id=f.__name__) for f in (
        trust_constr_hessp, trust_constr_args, trust_constr_issue_18882, trust_constr_gh11649,
        trust_constr_gh20665_svd, trust_constr_raise_exception, trust_constr_gh20665_raises)])

# The calls an equality-only method can take unchanged but for ``method``: no bounds,
# no inequality; SciPy's refusals it refuses too (more equalities than unknowns) or,
# being a superset, runs (a finite-difference Hessian of a finite-difference gradient).
ADASKETCH_CASES = (
    [pytest.param(slsqp_equality_approximated, (j,), id=f"slsqp_equality_approximated-{j}")
     for j in SLSQP_JACS]
    + [pytest.param(f, (), id=f.__name__) for f in (
        slsqp_equality_given, slsqp_equality_given2, slsqp_equality_given_cons_scalar)]
    + [pytest.param(trust_constr_list_of_problems, p.values, id="list_of_problems-" + p.id)
       for p in _list_of_problems_cases(MARATOS)]
    + [pytest.param(f, (), id=f.__name__) for f in (
        trust_constr_hessp, trust_constr_args, trust_constr_issue_18882)])


def _check(res, expected, tol):
    if expected is None or isinstance(expected, str):
        if expected == "fails":
            assert not res.success
        return
    assert res.success, res.message
    if "decimal" in tol:
        assert_array_almost_equal(res.x, expected, decimal=tol["decimal"])
    else:
        assert_allclose(res.x, expected, **tol)


@pytest.mark.parametrize("case, extra", ALL_CASES)
def test_scipy_eq_passthrough(case, extra):
    """SciPy's equality-constrained calls, SciPy's method, through xpsolve.minimize."""
    res, expected, tol = case(xpsolve.minimize, *extra)
    if res is None:
        return
    assert isinstance(res, xpsolve.OptimizeResult) and "scipy_status" in res
    if case is trust_constr_list_of_problems:
        # SciPy's checks on its own codes: 1 gtol, 2 xtol; never 0 (max iter) or 3
        assert res.scipy_status not in {0, 3}
        assert res.status == 0 and res.success
        if res.scipy_status == 1:
            assert_array_less(res.optimality, 1e-8)
        if res.scipy_status == 2:
            assert_array_less(res.tr_radius, 1e-8)
    _check(res, expected, tol)


def _as_adasketch(minimize):
    """``minimize`` with ``method="adasketch"`` and ``tol=1e-8``; everything else as called."""
    def call(fun, x0, args=(), method=None, **kw):
        opts = {k: v for k, v in (kw.pop("options", None) or {}).items() if k == "disp"}
        opts.setdefault("seed", 0)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Method 'adasketch' does not run quasi-Newton",
                                    RuntimeWarning)
            return minimize(fun, x0, args, method="adasketch", tol=1e-8, options=opts, **kw)
    return call


@pytest.mark.parametrize("case, extra", ADASKETCH_CASES)
def test_scipy_eq_adasketch(case, extra):
    """The same calls with method='adasketch' at tol=1e-8 give SciPy's expected solutions."""
    res, expected, tol = case(_as_adasketch(xpsolve.minimize), *extra)
    if res is None:
        return
    if isinstance(expected, str) or expected is None:
        _check(res, expected, tol)
        return
    assert res.success, res.message
    assert res.kkt <= 1e-8
    # SciPy's own tolerance, or 1e-6 where SciPy's (decimal=2) is looser
    if "decimal" in tol:
        assert_array_almost_equal(res.x, expected, decimal=max(tol["decimal"], 6))
    else:
        assert_allclose(res.x, expected, **tol)


def test_adasketch_refuses_what_it_cannot_take_naming_methods_that_can():
    with pytest.raises(ValueError, match="does not handle bounds.*'L-BFGS-B'.*'SLSQP'"):
        slsqp_bound_equality_given2(_as_adasketch(xpsolve.minimize))
    with pytest.raises(ValueError, match=r"equality constraints only; constraints\[1\] is an "
                                         r"inequality.*'SLSQP', 'trust-constr'"):
        xpsolve.minimize(lambda x: x[0]**2 + x[1]**2, [0, 1], method="adasketch",
                         constraints=({'type': 'eq', 'fun': lambda x: x[0] + x[1] - 2},
                                      {'type': 'ineq', 'fun': lambda x: x[0] ** 2 - 1}))
    # more equalities than unknowns: refused by AdaSketch (LICQ), as trust-constr does
    with pytest.raises(ValueError, match="more equality constraints"):
        _gh20665_plain(_as_adasketch(xpsolve.minimize))
    with pytest.raises(ValueError, match="more equality constraints"):
        slsqp_segfault_workspace(_as_adasketch(xpsolve.minimize))
    # infinite bounds are no bounds (TestEmptyConstraint passes Bounds(-inf, inf))
    res = xpsolve.minimize(lambda x: x[0] ** 2 + x[1] ** 2, [1.0, 2.0], method="adasketch",
                           bounds=Bounds([-np.inf, -np.inf], [np.inf, np.inf]),
                           constraints={"type": "eq", "fun": lambda x: x[0] - 1},
                           options={"seed": 0})
    assert res.success


def _gh20665_plain(minimize):
    A_eq, b_eq = np.arange(6).reshape((3, 2)), np.ones((3,))
    g = NonlinearConstraint(lambda x: A_eq @ x, lb=b_eq, ub=b_eq)
    minimize(rosen, np.ones((2,)), method='trust-constr', constraints=[g])


# =========================================================================== passthrough
def test_signature_is_scipys():
    import inspect

    import scipy.optimize

    ours = inspect.signature(xpsolve.minimize).parameters
    theirs = inspect.signature(scipy.optimize.minimize).parameters
    assert [(k, p.default, p.kind) for k, p in ours.items()] == \
        [(k, p.default, p.kind) for k, p in theirs.items()]


@pytest.mark.parametrize("method", ["BFGS", "bfgs", "L-BFGS-B", "SLSQP", "trust-constr"])
def test_scipy_methods_match_scipy(method):
    import scipy.optimize

    x0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])
    ours = xpsolve.minimize(rosen, x0, method=method, jac=rosen_der)
    ref = scipy.optimize.minimize(rosen, x0, method=method, jac=rosen_der)
    assert_allclose(ours.x, ref.x, rtol=0, atol=0)  # the very same computation
    assert ours.fun == float(ref.fun) and ours.nfev == ref.nfev
    assert ours.message == ref.message and ours.scipy_status == ref.status
    assert ours.status == 0 and ours.success and ours.backend == "numpy"


def test_method_none_follows_scipy_rule():
    r = xpsolve.minimize(rosen, np.zeros(2))
    assert r.method == "BFGS"
    r = xpsolve.minimize(rosen, np.zeros(2), bounds=[(0, 0.5), (0, 1)])
    assert r.method == "L-BFGS-B" and r.x[0] <= 0.5
    r = xpsolve.minimize(rosen, np.zeros(2), constraints={"type": "eq", "fun": lambda x: x[0] - x[1]})
    assert r.method == "SLSQP"


@pytest.mark.parametrize("method, options, scipy_status", [
    ("BFGS", {"maxiter": 2}, 1),
    ("L-BFGS-B", {"maxiter": 2}, 1),
    ("SLSQP", {"maxiter": 2}, 9),
    ("trust-constr", {"maxiter": 2}, 0),
    ("TNC", {"maxfun": 3}, 3),
    ("Nelder-Mead", {"maxiter": 3}, 2),
])
def test_status_mapping_iteration_limit_is_1(method, options, scipy_status):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = xpsolve.minimize(rosen, np.array([-1.2, 1.0]), method=method, options=options)
    assert r.scipy_status == scipy_status
    assert r.status == 1 and not r.success


def test_status_mapping_nan_is_3_and_callback_is_99():
    def f(x):  # log(x) - x^2: NaN once the iterate crosses 0
        return float(np.log(x[0])) - x[0] ** 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method, scipy_status in (("BFGS", 2), ("CG", 3), ("L-BFGS-B", 2), ("SLSQP", 9)):
            r = xpsolve.minimize(f, np.array([0.5]), method=method)
            assert (r.scipy_status, r.status, r.success) == (scipy_status, 3, False), method
        # Powell reports success on fun = -inf; a non-finite value is status 3 here
        r = xpsolve.minimize(f, np.array([0.5]), method="Powell")
        assert r.scipy_status == 0 and r.status == 3 and not r.success

    def stop(intermediate_result):
        raise StopIteration
    r = xpsolve.minimize(rosen, np.zeros(2), method="BFGS", callback=stop)
    assert r.status == 99 and r.scipy_status == 99 and r.nit == 1


def test_status_mapping_trust_constr_success_and_infeasible():
    r = xpsolve.minimize(rosen, np.zeros(2), method="trust-constr", jac=rosen_der)
    assert r.scipy_status in (1, 2) and r.status == 0 and r.success
    # codes that are hard to provoke: the table itself
    from xpsolve.solvers._scipy_methods import map_scipy_status

    for meth, code, ours in (("slsqp", 4, 4), ("slsqp", 2, 4), ("slsqp", 8, 2), ("tnc", -1, 4),
                             ("tnc", 7, 99), ("cobyla", 3, 1), ("cobyla", -2, 3),
                             ("cobyqa", 6, 1), ("trust-constr", 4, 4), ("powell", 4, 4),
                             ("dogleg", 3, 2), ("newton-cg", 1, 1)):
        res = {"success": False, "status": code, "message": "m", "fun": 1.0, "x": np.zeros(1)}
        assert map_scipy_status(meth, res) == ours, (meth, code)
    assert map_scipy_status("newton-cg", {"success": False, "status": 3, "fun": 1.0,
                                          "message": "NaN result encountered."}) == 3
    assert map_scipy_status("cobyla", {"success": False, "status": 0, "fun": 1.0,
                                       "message": "Did not converge to a solution satisfying "
                                                  "the constraints."}) == 4


def test_legacy_and_new_callbacks_on_scipy_methods():
    seen = []
    r = xpsolve.minimize(rosen, np.zeros(2), method="BFGS", callback=lambda xk: seen.append(xk))
    assert len(seen) == r.nit and isinstance(seen[0], np.ndarray)
    res_seen = []

    def cb(intermediate_result):
        res_seen.append(intermediate_result.fun)
    xpsolve.minimize(rosen, np.zeros(2), method="L-BFGS-B", callback=cb)
    assert res_seen and all(np.isfinite(res_seen))


def test_unknown_scipy_option_raises():
    with pytest.raises(TypeError, match="Unknown option 'maxiters' for SciPy method 'BFGS'.*"
                                        "Did you mean 'maxiter'"):
        xpsolve.minimize(rosen, np.zeros(2), method="BFGS", options={"maxiters": 3})


# =========================================================================== namespaces
@pytest.mark.filterwarnings("ignore:delta_grad == 0.0:UserWarning")
def test_scipy_method_round_trip_on_other_namespaces(xp):
    if xp.__name__.endswith("numpy") or "numpy" == getattr(xp, "__name__", ""):
        pytest.skip("NumPy goes straight through")
    x0 = xp.asarray([1.3, 0.7, 0.8], dtype=xp.float64)
    seen = []

    def fun(x):
        assert not isinstance(x, np.ndarray)
        return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    def jac(x):
        return xp.asarray(rosen_der(np.asarray(xpsolve.backends.to_numpy(x))), dtype=xp.float64)

    with pytest.warns(HostRoundTripWarning, match="not array-API generic"):
        r = xpsolve.minimize(fun, x0, method="BFGS", jac=jac, callback=lambda xk: seen.append(xk))
    assert type(r.x) is type(x0) and r.x.dtype == x0.dtype and r.x.shape == (3,)
    assert_allclose(xpsolve.backends.to_numpy(r.x), np.ones(3), atol=1e-5)
    assert seen and type(seen[0]) is type(x0)
    with pytest.warns(HostRoundTripWarning):  # jac=True: (f, g) in the caller's namespace
        r2 = xpsolve.minimize(lambda x: (fun(x), jac(x)), x0, method="L-BFGS-B", jac=True)
    assert_allclose(xpsolve.backends.to_numpy(r2.x), np.ones(3), atol=1e-4)
    assert r.backend != "numpy" and r.success
    # constraints and bounds cross too
    cons = NonlinearConstraint(lambda x: x[0] + x[1], 1, 1)
    with pytest.warns(HostRoundTripWarning):
        r = xpsolve.minimize(lambda x: x[0] ** 2 + x[1] ** 2,
                             xp.asarray([2.0, 0.0], dtype=xp.float64),
                             method="trust-constr", constraints=cons,
                             bounds=Bounds([-5, -5], [5, 5]))
    assert_allclose(xpsolve.backends.to_numpy(r.x), [0.5, 0.5], atol=1e-5)


def test_adasketch_finite_differences_in_every_namespace(xp):
    x0 = xp.asarray([0.0, 0.0], dtype=xp.float64)
    res = xpsolve.minimize(lambda x: x[0] ** 2 + 2 * x[1] ** 2, x0, method="adasketch",
                           constraints={"type": "eq", "fun": lambda x: x[0] + x[1] - 3},
                           tol=1e-8, options={"seed": 0})
    assert type(res.x) is type(x0) and res.success
    assert_allclose(xpsolve.backends.to_numpy(res.x), [2.0, 1.0], atol=1e-7)
    assert set(res.approximate_derivatives) == {"jac", "hess", "constraints[0].jac"}


def test_jac_autodiff_on_torch():
    torch = pytest.importorskip("torch")
    x0 = torch.tensor([0.5, 0.5], dtype=torch.float64)
    res = xpsolve.minimize(lambda x: (x[0] - 2) ** 2 + (x[1] + 1) ** 2, x0, method="adasketch",
                           jac="autodiff", tol=1e-10, options={"seed": 0},
                           constraints={"type": "eq", "fun": lambda x: x[0] ** 2 + x[1] ** 2 - 1,
                                        "jac": lambda x: torch.stack([2 * x[0], 2 * x[1]])[None]})
    target = np.array([2.0, -1.0]) / np.sqrt(5.0)
    assert res.success and isinstance(res.x, torch.Tensor)
    assert_allclose(res.x.numpy(), target, atol=1e-8)
    assert "autograd" in res.approximate_derivatives["hess"]
    with pytest.raises(ValueError, match="autodiff.*torch"):
        xpsolve.minimize(lambda x: x @ x, np.zeros(2), method="adasketch", jac="autodiff",
                         constraints={"type": "eq", "fun": lambda x: x[0] - 1})
    with pytest.warns(HostRoundTripWarning):
        r = xpsolve.minimize(lambda x: torch.sum((x - 3) ** 2), torch.zeros(3, dtype=torch.float64),
                             method="BFGS", jac="autodiff")
    assert r.success and r.njev >= 1 and torch.allclose(r.x, torch.full((3,), 3.0,
                                                                         dtype=torch.float64))
    with pytest.raises(ValueError, match="autodiff.*torch"):
        xpsolve.minimize(lambda x: x @ x, np.ones(2), method="BFGS", jac="autodiff")


# =========================================================================== our methods
def _hs6_pieces():
    f = lambda x: (1 - x[0]) ** 2  # noqa: E731
    g = lambda x: np.array([-2 * (1 - x[0]), 0.0])  # noqa: E731
    c = lambda x: 10 * (x[1] - x[0] ** 2)  # noqa: E731
    return f, g, c


@pytest.mark.parametrize("jac", [None, False, True, "2-point", "3-point", "cs", "callable"])
def test_adasketch_accepts_every_scipy_jac(jac):
    f, g, c = _hs6_pieces()
    fun = (lambda x: (f(x), g(x))) if jac is True else f
    j = g if jac == "callable" else jac
    res = xpsolve.minimize(fun, np.array([-1.2, 1.0]), method="adasketch", jac=j,
                           constraints=NonlinearConstraint(c, 0, 0), tol=1e-6,
                           options={"seed": 0})
    assert res.success, res.message
    assert_allclose(res.x, [1.0, 1.0], atol=1e-5)
    assert ("jac" in res.approximate_derivatives) == (jac not in (True, "callable"))


def test_adasketch_exact_derivatives_unchanged_and_nothing_approximated():
    f, g, c = _hs6_pieces()
    cons = {"type": "eq", "fun": lambda x: np.array([c(x)]),
            "jac": lambda x: np.array([[-20 * x[0], 10.0]]),
            "hess": lambda x, v: np.diag([-20 * v[0], 0.0])}
    kw = dict(method="adasketch", jac=g, hess=lambda x: np.diag([2.0, 0.0]), constraints=cons)
    a = xpsolve.minimize(f, np.array([-1.2, 1.0]), options={"seed": 3}, **kw)
    from xpsolve.solvers.constrained import minimize_adasketch

    b = minimize_adasketch(f, np.array([-1.2, 1.0]), xp=np, seed=3, jac=g, hess=kw["hess"],
                           constraints=cons)
    assert_allclose(a.x, b.x, rtol=0, atol=0) and a.nit == b.nit
    assert a.approximate_derivatives == {}


def test_adasketch_callbacks_legacy_and_new_and_fun_as_list():
    f, g, c = _hs6_pieces()
    xs, results = [], []
    kw = dict(method="adasketch", jac=g, constraints={"type": "eq", "fun": c},
              options={"seed": 0})
    r = xpsolve.minimize(lambda x: [f(x)], np.array([-1.2, 1.0]), callback=xs.append, **kw)
    assert len(xs) == r.nit and isinstance(xs[0], np.ndarray) and xs[0].shape == (2,)

    def cb(intermediate_result):
        results.append(intermediate_result)
        if len(results) == 2:
            raise StopIteration
    r = xpsolve.minimize(f, np.array([-1.2, 1.0]), callback=cb, **kw)
    assert r.status == 99 and r.nit == 2 and "kkt" in results[0]


def test_as_scipy_method_passes_string_and_boolean_jac():
    import scipy.optimize

    f, g, c = _hs6_pieces()
    for jac in ("2-point", True):
        fun = (lambda x: (f(x), g(x))) if jac is True else f
        r = scipy.optimize.minimize(fun, np.array([-1.2, 1.0]), jac=jac,
                                    method=xpsolve.as_scipy_method("adasketch"),
                                    constraints={"type": "eq", "fun": c}, tol=1e-7,
                                    options={"seed": 0})
        assert r.success
        assert_allclose(r.x, [1.0, 1.0], atol=1e-5)


# =========================================================================== hostile input
def test_hostile_inputs():
    f, g, c = _hs6_pieces()
    x0 = np.array([-1.2, 1.0])
    cons = {"type": "eq", "fun": c}
    with pytest.raises(ValueError, match="Unknown method 'BFGSS'.*Did you mean 'bfgs'.*"
                                         "SciPy's methods.*xpsolve's: .*adasketch"):
        xpsolve.minimize(f, x0, method="BFGSS")
    with pytest.raises(ValueError, match="Did you mean 'adasketch'"):
        xpsolve.minimize(f, x0, method="adasketh", constraints=cons)
    with pytest.raises(ValueError, match="bounds must have one .* pair per variable: got 3"):
        xpsolve.minimize(f, x0, method="L-BFGS-B", bounds=[(0, 1)] * 3)
    with pytest.raises(ValueError, match="bounds: Bounds.lb and Bounds.ub"):
        xpsolve.minimize(f, x0, method="adasketch", bounds=Bounds([0, 0, 0], [1, 1, 1]),
                         constraints=cons)
    with pytest.raises(ValueError, match="lower bound 2.0 exceeds upper bound 1.0"):
        xpsolve.minimize(f, x0, method="SLSQP", bounds=[(2, 1), (0, 1)])
    with pytest.raises(TypeError, match="fun must be callable"):
        xpsolve.minimize("rosen", x0, method="BFGS")
    with pytest.raises(ValueError, match="x0 must not contain inf or NaN"):
        xpsolve.minimize(f, np.array([np.nan, 1.0]), method="BFGS")
    with pytest.raises(ValueError, match="x0 must be 1-D"):
        xpsolve.minimize(f, np.zeros((2, 2)), method="adasketch", constraints=cons)
    with pytest.raises(ValueError, match="fun must return a scalar .* size 2"):
        xpsolve.minimize(lambda x: [1.0, 2.0], x0, method="adasketch", constraints=cons)
    with pytest.raises(ValueError, match=r"jac\(x\) must return shape \(2,\)"):
        xpsolve.minimize(f, x0, method="adasketch", jac=lambda x: np.zeros(3), constraints=cons)
    with pytest.raises(ValueError, match="jac must be a callable, True, None"):
        xpsolve.minimize(f, x0, method="adasketch", jac="4-point", constraints=cons)
    with pytest.raises(ValueError, match="hess must be a callable"):
        xpsolve.minimize(f, x0, method="adasketch", hess="exact", constraints=cons)
    with pytest.raises(TypeError, match="options must be a dict"):
        xpsolve.minimize(f, x0, method="BFGS", options=[("maxiter", 3)])
    with pytest.raises(TypeError, match="Unknown option 'maxiters' for method 'adasketch'"):
        xpsolve.minimize(f, x0, method="adasketch", constraints=cons, options={"maxiters": 3})
    with pytest.raises(TypeError, match="method must be a string"):
        xpsolve.minimize(f, x0, method=3)


@pytest.mark.parametrize("name", ["constrained/hs6", "constrained/hs7", "constrained/hs27",
                                  "constrained/bt2"])
def test_finite_difference_adasketch_on_hs_problems(name):
    """No jac, no hess, no constraint jac: KKT 1e-6 (issue 10; tools/fd_adasketch_collection.py
    runs the whole collection)."""
    from xpsolve.problems import get_problem

    p = get_problem(name)
    con = p.data["constraints"]
    con = con if isinstance(con, dict) else con[0]
    res = xpsolve.minimize(p.fun, p.x0, method="adasketch", tol=1e-6, options={"seed": 0},
                           constraints={"type": "eq", "fun": con["fun"]})
    assert res.success and res.kkt <= 1e-6
    assert abs(res.fun - p.f_opt) <= 1e-5 * max(1.0, abs(p.f_opt))
    assert set(res.approximate_derivatives) == {"jac", "hess", "constraints[0].jac"}


def test_finite_difference_evaluations_are_counted_in_nfev():
    calls = []

    def f(x):
        calls.append(1)
        return (1 - x[0]) ** 2

    res = xpsolve.minimize(f, np.array([-1.2, 1.0]), method="adasketch", options={"seed": 0},
                           constraints={"type": "eq", "fun": lambda x: 10 * (x[1] - x[0] ** 2)})
    assert res.success and res.nfev == len(calls) > 4 * res.nit


def test_registry_path_for_other_minimize_methods():
    """Methods registered in the "minimize" family (e.g. composite ones taking pieces through
    options) keep the registry path: needs/accepts, validated options, bounds when accepted."""
    from xpsolve._options import Interval, IsCallable, OneOf
    from xpsolve._registry import SolverSpec, register_solver, unregister_solver
    from xpsolve._result import make_result

    def _solve(fun, x0, *, args=(), xp, callback=None, jac, bounds=None, maxiter=200, step=0.25,
               prox=None):
        lb, ub = (None, None) if bounds is None else (np.array([b[0] for b in bounds]),
                                                      np.array([b[1] for b in bounds]))
        x = x0
        for _ in range(maxiter):
            x = x - step * jac(x, *args)
            x = prox(x) if prox is not None else x
            x = np.clip(x, lb, ub) if lb is not None else x
        return make_result(x=x, fun=fun(x, *args), nit=maxiter, status=0, backend="numpy")

    register_solver(SolverSpec(name="test-proj-gd", family="minimize", func=_solve,
                               options={"maxiter": [Interval(int, 0, None)],
                                        "step": [Interval(float, 0, None, closed="neither")],
                                        "prox": [OneOf(None), IsCallable()]},
                               needs=frozenset({"jac"}), accepts=frozenset({"bounds"}),
                               summary="test"))
    try:
        f = lambda x: float((x - 2) @ (x - 2))  # noqa: E731
        r = xpsolve.minimize(f, np.zeros(2), method="test-proj-gd", bounds=[(0, 1), (0, 3)])
        assert_allclose(r.x, [1.0, 2.0], atol=1e-6)
        assert r.approximate_derivatives == {"jac": "3-point finite differences of fun"}
        r = xpsolve.minimize(f, np.zeros(2), method="test-proj-gd", jac=lambda x: 2 * (x - 2),
                             options={"prox": lambda x: np.minimum(x, 1.5)})
        assert_allclose(r.x, [1.5, 1.5]) and r.approximate_derivatives == {}
        with pytest.raises(ValueError, match="Option 'step'"):
            xpsolve.minimize(f, np.zeros(2), method="test-proj-gd", options={"step": -1.0})
        with pytest.raises(ValueError, match="does not handle constraints"):
            xpsolve.minimize(f, np.zeros(2), method="test-proj-gd",
                             constraints={"type": "eq", "fun": lambda x: x[0]})
    finally:
        unregister_solver("minimize", "test-proj-gd")


def test_custom_method_gets_what_scipy_gives():
    """test_optimize.py::TestOptimizeSimple::test_gh10771 and a jac=True custom call."""
    bounds = [(-2, 2), (0, 3)]
    constraints = 'constraints'

    def custmin(fun, x0, **options):
        assert options['bounds'] is bounds
        assert options['constraints'] is constraints
        return xpsolve.OptimizeResult()

    x0 = [1, 1]
    xpsolve.minimize(rosen, x0, method=custmin, bounds=bounds, constraints=constraints)

    def gd(fun, x0, *, args=(), jac=None, callback=None, maxiter=2000, **kw):
        x = x0
        for _ in range(maxiter):
            x = x - 1e-3 * jac(x)
        return xpsolve.OptimizeResult(x=x, fun=fun(x))

    r = xpsolve.minimize(lambda x: (rosen(x), rosen_der(x)), np.array([0.9, 0.8]), jac=True,
                         method=gd)
    assert r.fun < rosen(np.array([0.9, 0.8]))


@settings(max_examples=15, deadline=None, derandomize=True)
@given(x=hnp.arrays(np.float64, 3, elements=st.floats(-3, 3)),
       method=st.sampled_from(["2-point", "3-point", "cs"]))
def test_generic_finite_differences_match_scipy(x, method):
    """The generic finite differences (non-NumPy namespaces) take SciPy's steps."""
    import array_api_strict
    from scipy.optimize._numdiff import approx_derivative

    from xpsolve.solvers._derivatives import fd_jacobian

    def f(y):  # written once for NumPy, array-api-strict and complex input
        xp_ = y.__array_namespace__() if hasattr(y, "__array_namespace__") else np
        return xp_.stack([xp_.sin(y[0]) * y[1], y[0] ** 2 * xp_.exp(y[2] / 4)])

    ref = approx_derivative(f, x, method=method)
    got = fd_jacobian(f, array_api_strict.asarray(x), method, array_api_strict)
    assert_allclose(np.asarray(got), ref, rtol=1e-12, atol=1e-12)
    got_np = fd_jacobian(f, x, method, np)  # NumPy: SciPy's own routine
    assert_allclose(got_np, ref, rtol=0, atol=0)
