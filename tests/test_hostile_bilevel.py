"""Hostile inputs for ``bilevel_minimize`` and ``check_oracles``: honest statuses or clear errors.

Status rule (one contract): 0 only when the stopping tolerances are met, 1 at the iteration
limit (a fixed budget is not a convergence proof), 3 for non-finite values, 4 when the
returned iterate violates the lower-level constraints (an empty joint set C).
"""
import math
import warnings

import numpy as np
import pytest

from xpsolve import BilevelProblem, bilevel_minimize, check_oracles
from xpsolve.problems.bilevel import LVHBAToy, Quadratic


def _halfspace_problem(upper=None, upper_grad=None, cons=None):
    # LL: min_y 0.5 ||y - x||^2 s.t. (coupled set C); UL: 0.5 ||x||^2 + 0.5 ||y||^2
    cons = cons or ("halfspace", (np.zeros((1, 2)), -np.ones((1, 2)), -np.ones(1)))
    return BilevelProblem.from_callables(
        upper or (lambda x, y: 0.5 * x @ x + 0.5 * y @ y),
        lambda x, y: 0.5 * np.sum((y - x) ** 2), 2, 2,
        upper_grad=upper_grad or (lambda x, y: (x, y)), lower_grad=lambda x, y: (x - y, y - x),
        lower_hvp_yy=lambda x, y, v: v, lower_jvp_xy=lambda x, y, v: -v,
        cons_structure=cons[0], cons_matrices=cons[1])


def test_diverging_step_is_not_success():
    # alpha = 3 diverges: before, success=True with fun 4e105
    for maxiter in (100, 1000):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = bilevel_minimize(LVHBAToy(n=10), options={"alpha": 3.0, "maxiter": maxiter})
        assert not res.success and res.status in (1, 3)
    assert res.status == 3 and "non-finite" in res.message
    assert np.all(np.isfinite(res.x)) and np.all(np.isfinite(res.y))  # last finite iterate


def test_diverging_step_with_tolerances_is_not_success():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = bilevel_minimize(LVHBAToy(n=10), options={"alpha": 3.0, "maxiter": 100,
                                                        "tol_stat": 1e-3, "tol_gap": 1e-3})
    assert not res.success and res.status == 1 and res.residual > 1e-3


def test_nan_upper_values_give_status_3():
    prob = _halfspace_problem(upper=lambda x, y: math.nan)
    res = bilevel_minimize(prob, np.ones(2), np.ones(2), options={"maxiter": 50})
    assert res.status == 3 and not res.success and "fun = nan" in res.message
    # checked at every check point when something reads fun (callback, history)
    seen = []
    res = bilevel_minimize(prob, np.ones(2), np.ones(2), options={"maxiter": 50},
                           callback=lambda intermediate_result: seen.append(1))
    assert res.status == 3 and res.nit == 0 and not seen


def test_nan_upper_gradient_gives_status_3():
    prob = _halfspace_problem(upper_grad=lambda x, y: (x * math.nan, y))
    res = bilevel_minimize(prob, np.ones(2), np.ones(2), options={"maxiter": 50})
    assert res.status == 3 and not res.success and res.nit == 0
    assert np.all(np.isfinite(res.x))


def test_infeasible_polyhedral_set_gives_status_4():
    # y1 <= -1 and y1 >= 1: C is empty (before: status 0 with maxcv 2)
    cons = ("polyhedral", (np.zeros((2, 2)), np.array([[1.0, 0.0], [-1.0, 0.0]]),
                           np.array([-1.0, -1.0])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = bilevel_minimize(_halfspace_problem(cons=cons), np.ones(2), np.ones(2),
                               options={"maxiter": 200})
    assert res.status == 4 and not res.success
    assert res.maxcv == pytest.approx(2.0, rel=1e-6) and "feas_tol" in res.message


def test_maxiter_zero_is_not_success():
    res = bilevel_minimize(LVHBAToy(n=4), options={"maxiter": 0})
    assert res.status == 1 and not res.success and res.nit == 0
    assert math.isnan(res.residual)


def test_fixed_budget_is_status_1_and_tolerances_give_status_0():
    prob = Quadratic(d=3, mu=0.5)
    budget = bilevel_minimize(prob, options={"maxiter": 500, "alpha": 0.1, "eta": 0.1})
    assert budget.status == 1 and not budget.success and budget.nit == 500
    assert "Maximum number of iterations" in budget.message
    tol = bilevel_minimize(prob, options={"maxiter": 20000, "alpha": 0.1, "eta": 0.1,
                                          "penalty": lambda k: 10.0, "tol_stat": 1e-3,
                                          "tol_gap": 1e-2})
    # success implies the reported metric (and the gap) meet the tolerances
    assert tol.success and tol.residual <= 1e-3 and abs(tol.ll_gap) <= 1e-2


def test_wrong_shaped_gradient_raises_in_the_solver():
    prob = _halfspace_problem(upper_grad=lambda x, y: (x[:1], y))
    with pytest.raises(ValueError, match=r"upper_grad \(x part\) returned shape \(1,\)"):
        bilevel_minimize(prob, np.ones(2), np.ones(2), options={"maxiter": 5})
    prob = _halfspace_problem(upper_grad=lambda x, y: (x, np.float64(1.0)))
    with pytest.raises(ValueError, match=r"upper_grad \(y part\) returned shape \(\)"):
        bilevel_minimize(prob, np.ones(2), np.ones(2), options={"maxiter": 5})


def test_check_oracles_reports_nan_and_wrong_shapes():
    good = _halfspace_problem()
    assert check_oracles(good, np.ones(2), np.zeros(2))["ok"]
    nan = _halfspace_problem(upper_grad=lambda x, y: (x * math.nan, y))
    rep = check_oracles(nan, np.ones(2), np.zeros(2))
    assert not rep["ok"] and rep["failed"] == ["upper_grad"]
    assert math.isnan(rep["errors"]["upper_grad"]) and "non-finite" in rep["reasons"]["upper_grad"]
    bad = _halfspace_problem(upper_grad=lambda x, y: (x[:1], y))
    rep = check_oracles(bad, np.ones(2), np.zeros(2))
    assert not rep["ok"] and rep["errors"]["upper_grad"] == math.inf
    assert "shape" in rep["reasons"]["upper_grad"]
    with pytest.raises(AssertionError, match="upper_grad"):
        check_oracles(bad, np.ones(2), np.zeros(2), raise_on_error=True)
    # a NaN value (finite gradient) fails too: the finite difference is NaN
    nanval = _halfspace_problem(upper=lambda x, y: math.nan)
    assert check_oracles(nanval, np.ones(2), np.zeros(2))["failed"] == ["upper_grad"]


def test_seed_option_seeds_stochastic_runs():
    pytest.importorskip("sklearn")
    from xpsolve.problems.bilevel import RidgeReg

    prob = RidgeReg(seed=0)
    opts = {"maxiter": 30, "stochastic": True, "batch_size": 8, "alpha": 0.02, "eta": 0.02}
    a = bilevel_minimize(prob, options={**opts, "seed": 1})
    b = bilevel_minimize(prob, options={**opts, "seed": 1})
    c = bilevel_minimize(prob, options={**opts, "seed": 2})
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    with pytest.raises(TypeError, match="Unknown option 'rng'.*seed"):
        bilevel_minimize(prob, options={**opts, "rng": 1})
