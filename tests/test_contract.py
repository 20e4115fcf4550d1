"""Contract tests over the solver registry x compatible tiny problems x namespaces.

Every registered solver is picked up automatically: it must have a ``maxiter``
option, return the core result keys, keep ``x`` in the input namespace and dtype,
report a status consistent with its message, stop cleanly on StopIteration at the
same point as ``maxiter``, and reject bad options with the documented messages.
"""
import math

import numpy as np
import pytest

import xpsolve
from xpsolve import STATUS_MESSAGES, list_solvers
from xpsolve.backends import get_namespace, namespace_name, to_numpy
from xpsolve.problems import get_problem, list_problems

CORE_KEYS = {"x", "fun", "nit", "nfev", "success", "status", "message", "history", "backend"}


def _cases():
    from xpsolve.problems._registry import method_fits_problem

    cases = []
    for spec in list_solvers():
        family = list_problems(family=spec.family)
        # a problem tagged "option:<name>" is solved through method option <name> (e.g. the
        # composite pieces of the sliding methods): the registry's pairing rule
        probs = [p for p in family
                 if method_fits_problem(spec.options, p, family, spec.accepts) is None]
        if not probs:
            continue
        # one tiny problem per solver keeps the run short; a family marks its contract
        # problem with the tag "contract" (one that does not converge in a few iterations)
        tagged = [p for p in probs if "contract" in p.tags]
        name = (tagged or probs)[0].name
        # numpy-only checks may use an instance that needs several iterations (tag
        # "contract-iterative") where the all-backend instance converges at once
        iterative = [p for p in probs if "contract-iterative" in p.tags]
        cases.append(pytest.param(spec, name, (iterative[0].name if iterative else name),
                                  id=f"{spec.family}:{spec.name}"))
    return cases


CASES = _cases()


@pytest.mark.parametrize("spec, problem, iterative", CASES)
def test_result_fields_and_namespace(spec, problem, iterative, xp):
    name = namespace_name(xp)
    if name not in spec.namespaces:
        pytest.skip(f"{spec.name} does not support {name}")
    p = get_problem(problem, size="tiny", seed=0, xp=xp)
    res = p.solve(spec.name)
    assert isinstance(res, xpsolve.OptimizeResult)
    assert CORE_KEYS <= set(res)
    assert namespace_name(get_namespace(res.x)) == name
    assert xp.isdtype(res.x.dtype, "real floating") and res.x.dtype == xp.float64
    assert isinstance(res.fun, float) and isinstance(res.nit, int)
    assert res.success == (res.status == 0)
    assert res.message.startswith(STATUS_MESSAGES[res.status])
    assert res.backend == name
    assert np.all(np.isfinite(to_numpy(res.x)))


@pytest.mark.parametrize("spec, problem, iterative", CASES)
def test_maxiter_zero_and_small(spec, problem, iterative):
    p = get_problem(iterative, size="tiny", seed=0)
    for k in (0, 1):
        res = p.solve(spec.name, options={"maxiter": k})
        assert res.nit <= k
        assert res.status in (0, 1, 2)
        assert isinstance(res.fun, float)
    # no iteration is no convergence proof: the iteration limit is status 1
    res = p.solve(spec.name, options={"maxiter": 0})
    assert res.status == 1 and not res.success, (res.status, res.message)


def _arrays(value):
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        yield value
    elif isinstance(value, (tuple, list)) and len(value) < 16:
        for v in value:
            yield from _arrays(v)


@pytest.mark.parametrize("spec, problem, iterative", CASES)
def test_every_result_array_in_input_namespace_and_dtype(spec, problem, iterative, xp):
    name = namespace_name(xp)
    if name not in spec.namespaces:
        pytest.skip(f"{spec.name} does not support {name}")
    p = get_problem(problem, size="tiny", seed=0, xp=xp)
    res = p.solve(spec.name, options={"maxiter": 3})
    for key, value in res.items():
        if key == "history":
            continue
        for arr in _arrays(value):
            assert namespace_name(get_namespace(arr)) == name, key
            if xp.isdtype(arr.dtype, "real floating"):
                assert arr.dtype == res.x.dtype, key


@pytest.mark.parametrize("spec, problem, iterative", CASES)
def test_callback_x_and_fun_mean_what_the_result_means(spec, problem, iterative):
    p = get_problem(iterative, size="tiny", seed=0)
    seen = []

    def cb(intermediate_result):
        seen.append(intermediate_result)

    res = p.solve(spec.name, callback=cb, options=_every_iteration(spec))
    assert seen, f"{spec.name} never called back"
    last = seen[-1]
    assert tuple(last.x.shape) == tuple(res.x.shape)
    assert {"x", "fun", "nit"} <= set(last)
    if spec.metric is not None:
        name = spec.metric_of(res)
        assert name in last, f"callback lacks the success metric {name!r}"
    if last.nit == res.nit and res.status not in (3,):
        # the last check point is the returned iterate: same x, same fun
        np.testing.assert_allclose(to_numpy(last.x), to_numpy(res.x), rtol=1e-12, atol=1e-14)
        if last.fun is not None and math.isfinite(float(last.fun)):
            assert math.isclose(float(last.fun), res.fun, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("spec, problem, iterative", CASES)
def test_success_means_the_reported_metric_meets_tol(spec, problem, iterative):
    assert spec.metric, f"{spec.name} does not declare the metric its success is decided on"
    p = get_problem(iterative, size="tiny", seed=0)
    for tol in (1e-3, 1e-8):
        opts = {"tol": tol} if "tol" in spec.options else {}
        res = p.solve(spec.name, options=opts)
        name = spec.metric_of(res)
        assert name is not None and isinstance(res[name], float), spec.metric
        used = opts.get("tol", spec.defaults.get("tol"))
        if res.success:
            assert used is not None and res[name] <= used, (res[name], used)
        else:
            assert res.status != 0


@pytest.mark.parametrize("spec, problem, iterative", CASES)
def test_stop_iteration_equals_maxiter(spec, problem, iterative):
    p = get_problem(iterative, size="tiny", seed=0)
    seen = []

    def cb(intermediate_result):
        seen.append(intermediate_result.nit)
        if len(seen) == 3:
            raise StopIteration

    stopped = p.solve(spec.name, callback=cb, options=_every_iteration(spec))
    if len(seen) < 3:
        pytest.skip("solver converged before the third callback")
    assert stopped.status == 99 and not stopped.success
    assert stopped.message.startswith(STATUS_MESSAGES[99])
    k = seen[-1]
    assert stopped.nit == k
    capped = p.solve(spec.name, options={**_every_iteration(spec), "maxiter": k})
    assert capped.nit == k
    np.testing.assert_allclose(to_numpy(stopped.x), to_numpy(capped.x), rtol=1e-12, atol=1e-14)


def _every_iteration(spec):
    # callbacks at every iteration; randomized methods get a fixed seed so two runs match
    opts = {"check_every": 1} if "check_every" in spec.options else {}
    if "seed" in spec.options:
        opts["seed"] = 0
    return opts


@pytest.mark.parametrize("spec, problem, iterative", CASES)
def test_bad_options_raise_documented_errors(spec, problem, iterative):
    p = get_problem(problem, size="tiny", seed=0)
    with pytest.raises(TypeError, match=f"Unknown option 'maxiterr' for method '{spec.name}'; "
                                        "did you mean 'maxiter'"):
        p.solve(spec.name, options={"maxiterr": 3})
    with pytest.raises(ValueError, match=f"Option 'maxiter' of method '{spec.name}' must be"):
        p.solve(spec.name, options={"maxiter": -1})


def test_every_solver_declares_maxiter_and_summary():
    for spec in list_solvers():
        assert "maxiter" in spec.options, spec.name
        assert spec.summary, spec.name
        assert set(spec.namespaces) >= {"numpy"}, spec.name
        text = xpsolve.show_options(spec.name, family=spec.family, disp=False)
        assert spec.name in text and "maxiter" in text


def test_every_family_with_solvers_has_problems():
    families = {s.family for s in list_solvers()} - {"minimize"}
    for fam in families:
        assert list_problems(family=fam), f"family {fam!r} has no registered problem"


def test_callable_method_in_minimize():
    def gd(fun, x0, *, args=(), jac=None, callback=None, maxiter=50, **kw):
        x = x0
        for _ in range(maxiter):
            x = x - 0.25 * jac(x)
        return xpsolve.OptimizeResult(x=x, fun=fun(x), nit=maxiter, success=True, status=0,
                                      message="ok")

    res = xpsolve.minimize(lambda x: float((x - 1) @ (x - 1)), np.zeros(3), method=gd,
                           jac=lambda x: 2 * (x - 1))
    np.testing.assert_allclose(res.x, np.ones(3), atol=1e-12)


def test_minimize_registered_method_dispatch_and_warnings():
    from xpsolve._options import Interval
    from xpsolve._registry import SolverSpec, register_solver, unregister_solver
    from xpsolve._result import make_result

    def _solve_gd(fun, x0, *, args=(), xp, callback=None, jac, maxiter=100, step=0.25):
        x = x0
        for _ in range(maxiter):
            x = x - step * jac(x, *args)
        return make_result(x=x, fun=fun(x, *args), nit=maxiter, status=0, backend="numpy")

    register_solver(SolverSpec(name="test-gd", family="minimize", func=_solve_gd,
                               options={"maxiter": [Interval(int, 0, None)],
                                        "step": [Interval(float, 0, None, closed="neither")]},
                               needs=frozenset({"jac"}), summary="test"))
    try:
        f = lambda x, c: float((x - c) @ (x - c))  # noqa: E731
        g = lambda x, c: 2 * (x - c)  # noqa: E731
        res = xpsolve.minimize(f, [0, 0], method="test-gd", args=(2.0,), jac=g)
        np.testing.assert_allclose(res.x, [2.0, 2.0])
        assert res.x.dtype == np.float64  # integer x0 promoted
        with pytest.warns(RuntimeWarning, match="does not use hessp"):
            xpsolve.minimize(f, np.zeros(2), method="test-gd", args=(1.0,), jac=g,
                             hessp=lambda x, p, c: p)
        # jac=None: finite differences (issue 10)
        res = xpsolve.minimize(f, np.zeros(2), method="test-gd", args=(1.0,))
        np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-6)
        assert res.approximate_derivatives == {"jac": "3-point finite differences of fun"}
        with pytest.raises(ValueError, match="x0 must be 1-D"):
            xpsolve.minimize(f, np.zeros((2, 2)), method="test-gd", jac=g)
        with pytest.raises(ValueError, match="x0 must not contain inf or NaN"):
            xpsolve.minimize(f, np.array([np.nan, 0]), method="test-gd", jac=g)
        with pytest.raises(ValueError, match="Unknown method 'test-gdd'.*Did you mean 'test-gd'"):
            xpsolve.minimize(f, np.zeros(2), method="test-gdd", jac=g)
        with pytest.raises(TypeError, match="fun must be callable"):
            xpsolve.minimize(3, np.zeros(2), method="test-gd", jac=g)
        import scipy.optimize

        sres = scipy.optimize.minimize(f, np.zeros(2), args=(3.0,), jac=g,
                                       method=xpsolve.as_scipy_method("test-gd"))
        np.testing.assert_allclose(sres.x, [3.0, 3.0])
    finally:
        unregister_solver("minimize", "test-gd")


def test_result_repr_is_compact():
    res = xpsolve.solve_ot(None, None, np.random.default_rng(0).random((50, 50)), 0.1)
    text = repr(res)
    assert "array shape=(50, 50)" in text and len(text) < 2000
    assert math.isfinite(res.fun)


def test_numba_flag_is_derived_from_registered_kernels():
    from xpsolve.backends import list_kernels
    from xpsolve.backends._kernels import _KERNELS, numba_available

    known = set(list_kernels())
    for spec in list_solvers():
        # a solver that claims Numba kernels names them, and they exist in the kernel registry
        assert set(spec.kernels) <= known, (spec.name, set(spec.kernels) - known)
        twins = [k for k in spec.kernels if _KERNELS[k].numba is not None]
        assert spec.numba == (bool(twins) and numba_available()), spec.name
