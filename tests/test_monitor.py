"""The shared check-point helper: statuses, history, callback, honesty of the final result."""
import math

import numpy as np
import pytest

from xpsolve import STATUS_MESSAGES
from xpsolve._frontdoor import dispatch, wrap_callback
from xpsolve._monitor import Monitor
from xpsolve._options import IsInstance, STANDARD_OPTIONS, standard_options, validate_options


def _run(mon, metrics, x=None):
    """Drive a monitor over a metric sequence, one check per iteration."""
    nit = 0
    while True:
        if mon.due(nit) and mon.check(nit, x=x if x is not None else np.zeros(2),
                                      fun=float(metrics[min(nit, len(metrics) - 1)]),
                                      metric=metrics[min(nit, len(metrics) - 1)]):
            break
        nit += 1
    return nit


def test_converges_when_metric_meets_tol():
    mon = Monitor("demo", xp=np, maxiter=100, tol=1e-3, metric="err", history=True)
    nit = _run(mon, [10.0 ** -k for k in range(10)])
    assert nit == 3 and mon.status == 0  # 1e-3 <= tol
    res = mon.finish(x=np.zeros(2), fun=1e-3, nit=nit, metric=1e-3)
    assert res.success and res.status == 0 and res.err == 1e-3
    assert res.history["nit"] == [0, 1, 2, 3]
    assert res.history["err"][-1] == 1e-3 and len(res.history["time"]) == 4


def test_iteration_limit_is_status_1_and_maxiter_zero_is_not_success():
    mon = Monitor("demo", xp=np, maxiter=3, tol=1e-12, metric="err")
    assert _run(mon, [1.0]) == 3
    res = mon.finish(x=np.zeros(2), fun=1.0, nit=3, metric=1.0)
    assert res.status == 1 and not res.success
    assert res.message.startswith(STATUS_MESSAGES[1])
    mon0 = Monitor("demo", xp=np, maxiter=0, tol=1e-3, metric="err")
    assert _run(mon0, [1.0]) == 0
    assert mon0.finish(x=np.zeros(2), fun=1.0, nit=0, metric=1.0).status == 1
    # a fixed budget without tol is not a convergence proof either
    mon1 = Monitor("demo", xp=np, maxiter=2, metric="err")
    _run(mon1, [0.0])
    assert mon1.finish(x=np.zeros(2), fun=0.0, nit=2, metric=0.0).status == 1


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_metric_is_status_3(bad):
    mon = Monitor("demo", xp=np, maxiter=50, tol=1e-6, metric="err")
    nit = _run(mon, [1.0, 0.5, bad])
    assert nit == 2 and mon.status == 3
    assert mon.last_finite["nit"] == 1
    res = mon.finish(x=np.zeros(2), fun=0.5, nit=1, metric=0.5)
    assert res.status == 3 and "iteration 2" in res.message


def test_non_finite_x_detected_when_asked():
    mon = Monitor("demo", xp=np, maxiter=50, tol=1e-6, metric="err")
    assert mon.check(1, x=np.array([1.0, np.nan]), fun=1.0, metric=1.0, check_x=True)
    assert mon.status == 3


def test_success_decided_on_reported_metric():
    # the loop's test passed on an internal proxy; the returned quantity does not meet tol
    mon = Monitor("demo", xp=np, maxiter=50, tol=1e-9, metric="err")
    mon.stop(0)
    res = mon.finish(x=np.zeros(2), fun=1.0, nit=5, metric=2.7e-5)
    assert res.status == 2 and not res.success and "does not meet tol" in res.message
    res = Monitor("demo", xp=np, maxiter=5, tol=1e-9, metric="err")
    res.stop(0)
    assert res.finish(x=np.zeros(2), fun=1.0, nit=5, metric=math.nan).status == 3
    mon = Monitor("demo", xp=np, maxiter=5, tol=1e-9, metric="err")
    mon.stop(0)
    assert mon.finish(x=np.zeros(2), fun=4e105 * 1e300, nit=5, metric=0.0).status == 3


def test_callback_gets_public_values_and_stopiteration_is_99():
    seen = []

    def cb(intermediate_result):
        seen.append(intermediate_result)
        if intermediate_result.nit == 2:
            raise StopIteration

    mon = Monitor("demo", xp=np, maxiter=10, tol=1e-9, metric="err", callback=cb)
    calls = []

    def plan():  # lazy public iterate
        calls.append(1)
        return np.ones((3, 4))

    nit = 0
    while not mon.check(nit, x=plan, fun=lambda: 1.5, metric=1.0, extra=7.0):
        nit += 1
    assert nit == 2 and mon.status == 99
    assert [r.nit for r in seen] == [1, 2]  # the starting point (nit 0) is not reported
    assert seen[0].x.shape == (3, 4) and seen[0].fun == 1.5 and seen[0].err == 1.0
    # lazy: the plan is formed only for the intermediate results whose x is read
    assert seen[0].extra == 7.0 and len(calls) == 1
    assert seen[1].x.shape == (3, 4) and len(calls) == 2
    assert seen[1].x is seen[1]["x"] and len(calls) == 2  # formed once, then kept
    res = mon.finish(x=np.ones((3, 4)), fun=1.5, nit=nit, metric=1.0)
    assert res.status == 99 and not res.success


def test_lazy_values_not_evaluated_without_consumer():
    mon = Monitor("demo", xp=np, maxiter=10, tol=1e-9, metric="err")

    def boom():
        raise AssertionError("evaluated")

    assert not mon.check(1, x=boom, fun=boom, metric=1.0)


def test_disp_prints_aligned_rows(capsys):
    mon = Monitor("demo", xp=np, maxiter=2, tol=1e-9, metric="err", disp=True,
                  columns=("step",))
    mon.check(1, x=None, fun=2.0, metric=0.5, step=0.1)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["nit", "fun", "err", "step"]
    assert out[1].split()[0] == "1" and float(out[1].split()[2]) == 0.5


def test_standard_options_one_table():
    cons = standard_options("maxiter", "tol", "seed", "check_every", "history", "disp")
    assert validate_options("m", cons, {"seed": 3, "tol": 1e-3})["seed"] == 3
    validate_options("m", cons, {"seed": np.random.default_rng(0)})
    for bad in ({"seed": -1}, {"seed": 1.5}, {"maxiter": -1}, {"tol": 0.0}, {"check_every": 0},
                {"history": 1}):
        with pytest.raises(ValueError, match="of method 'm' must be"):
            validate_options("m", cons, bad)
    with pytest.raises(ValueError):
        standard_options("maxiters")
    assert set(STANDARD_OPTIONS) == {"maxiter", "tol", "seed", "check_every", "history", "disp"}
    with pytest.raises(TypeError, match="accepts anything"):
        IsInstance(object)


def test_wrap_callback_legacy_and_validation():
    got = []
    wrapped = wrap_callback(lambda xk: got.append(xk))
    from xpsolve import OptimizeResult

    wrapped(OptimizeResult(x=np.ones(2), nit=1))
    assert np.array_equal(got[0], np.ones(2))

    def modern(intermediate_result):
        got.append(intermediate_result.nit)

    assert wrap_callback(modern) is modern
    with pytest.raises(TypeError, match="callback must be callable"):
        wrap_callback(3)


def test_dispatch_maps_tol_and_refuses_tol_without_option():
    import xpsolve

    C = np.random.default_rng(0).random((5, 5))
    res = dispatch("ot", "sinkhorn-log", (np.full(5, .2), np.full(5, .2), C, 1.0), xp=np, tol=1e-8)
    assert res.marginal_err <= 1e-8
    with pytest.raises(ValueError, match="tol must be a positive float"):
        dispatch("ot", "sinkhorn-log", (None, None, C, 1.0), xp=np, tol=-1.0)
    with pytest.raises(TypeError, match="options must be a dict"):
        dispatch("ot", "sinkhorn-log", (None, None, C, 1.0), xp=np, options=[1])

    def custom(a, b, C, reg, *, xp, callback=None, tol=None):
        return xpsolve.OptimizeResult(xp=xp.__name__, tol=tol)

    out = dispatch("ot", custom, (None, None, C, 1.0), xp=np, tol=1e-3)
    assert out["tol"] == 1e-3 and "numpy" in out["xp"]


def test_lazy_intermediate_result_behaves_as_a_result():
    from xpsolve import LazyOptimizeResult, OptimizeResult

    calls = []
    r = LazyOptimizeResult(nit=2, x=lambda: calls.append("x") or np.arange(3.0),
                           fun=lambda: calls.append("fun") or 0.5, err=1e-3)
    assert set(r.keys()) == {"nit", "x", "fun", "err"} and "fun" in r and calls == []
    assert r.get("fun") == 0.5 and r.get("missing", 4) == 4 and calls == ["fun"]
    with pytest.raises(AttributeError):
        r.missing
    as_dict = dict(r)  # copies read through the lazy entries
    assert calls == ["fun", "x"] and list(as_dict["x"]) == [0.0, 1.0, 2.0]
    assert {**r}["fun"] == 0.5 and isinstance(r.copy(), OptimizeResult)
    assert "x:" in repr(r) and calls == ["fun", "x"]


def test_callback_reading_nothing_forms_no_plan():
    # a timing callback that reads only nit must not make the solver pay for the plan
    from xpsolve import solve_ot

    rng = np.random.default_rng(0)
    C = rng.random((40, 40))
    formed = []
    import xpsolve.solvers.ot._sinkhorn as sk

    real = sk.get_kernel

    def spy(name, xp):
        k = real(name, xp)
        if name != "ot_gibbs":
            return k
        return lambda *a, **kw: formed.append(1) or k(*a, **kw)

    sk.get_kernel = spy
    try:
        res = solve_ot(None, None, C, 0.1, method="sinkhorn-log",
                       callback=lambda intermediate_result: intermediate_result.nit)
    finally:
        sk.get_kernel = real
    assert res.success and res.nit >= 20
    assert len(formed) == 1  # the returned plan only, not one per check point
