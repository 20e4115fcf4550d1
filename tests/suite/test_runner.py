"""run_one: plain picklable records, curves on a paused clock, errors, timeouts, backends, peers."""
import json
import math
import pickle
import time

import pytest

from xpsolve.problems import get_problem
from xpsolve.suite import Peer, RunSpec, expand, Plan, register_peer, run_one
from xpsolve.suite.peers import _PEERS
from xpsolve.suite.runner import Recorder, namespace_for

PLAIN = (str, int, float, bool, type(None))


def assert_plain(v, where="record"):
    if isinstance(v, dict):
        for k, x in v.items():
            assert isinstance(k, str), where
            assert_plain(x, f"{where}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            assert_plain(x, f"{where}[{i}]")
    else:
        assert isinstance(v, PLAIN), f"{where} is {type(v)}"


def test_run_one_record_is_plain_and_consistent():
    spec = RunSpec("ot/additive_cost", "tiny", 0, "sinkhorn", "ot",
                   options={"tol": 1e-12, "check_every": 1})
    rec = run_one(spec)
    assert_plain(rec)
    assert pickle.loads(pickle.dumps(rec)) == rec
    json.dumps(rec)  # JSON-able too
    assert rec["key"] == spec.key
    assert (rec["status"], rec["solver_status"], rec["success"], rec["solver_success"]) == \
        ("0", 0, True, True)
    assert rec["error"] is None
    # additive cost: the plan a b^T is reached; success is verified on the host
    assert rec["metrics"]["plan_err"] < 1e-12
    assert rec["key_metric"] == "marginal_err" and rec["key_value"] <= rec["target"]
    nits, times, values, calls = zip(*rec["curve"])
    assert list(nits) == list(range(1, rec["nit"] + 1))  # check_every=1: one point per sweep
    assert set(calls) == {None}  # Sinkhorn reports no counters: a sweep is its oracle call
    assert all(t2 >= t1 for t1, t2 in zip(times, times[1:]))
    assert rec["time_s"] >= times[-1] and rec["time_s"] <= rec["wall_s"]
    assert values[-1] <= 1e-12


def test_run_one_accepts_a_dict():
    spec = RunSpec("ot/additive_cost", "tiny", 1, "sinkhorn-log", "ot", warmup=False)
    assert run_one(spec.to_dict())["key"] == spec.key


def test_recorder_excludes_its_own_time():
    class SlowRecorder(Recorder):
        def value(self, res):
            time.sleep(0.02)
            return super().value(res)

    problem = get_problem("ot/additive_cost", "tiny", 0)
    rec = SlowRecorder(problem.xp, ("marginal_err",))
    t0 = time.perf_counter()
    rec.start()
    problem.solve("sinkhorn", options={"maxiter": 20, "tol": 1e-300, "check_every": 1},
                  callback=rec)
    rec.stop()
    wall = time.perf_counter() - t0
    assert len(rec.curve) == 20
    # 20 callbacks sleeping 0.02 s each: at least 0.4 s of the wall time is not solver time
    assert wall - rec.time_s >= 0.4
    assert rec.time_s < wall - 0.39


def test_recorder_metric_choice():
    import numpy as np

    from xpsolve import OptimizeResult

    res = OptimizeResult(nit=1, fun=np.asarray(3.0))
    rec = Recorder(np, ("grad_norm", "subopt", "fun"), f_opt=1.0)
    assert (rec.value(res), rec.metric) == (2.0, "subopt")
    rec = Recorder(np, ("grad_norm", "subopt", "fun"))  # no known optimum
    assert (rec.value(res), rec.metric) == (3.0, "fun")
    rec = Recorder(np, ("grad_norm", "subopt", "fun"), f_opt=1.0)
    rec.start()
    rec(OptimizeResult(nit=4, grad_norm=np.asarray(0.5), fun=2.0))
    assert rec.metric == "grad_norm" and rec.curve[0][0] == 4 and rec.curve[0][2] == 0.5


def test_solver_error_is_recorded_not_raised():
    rec = run_one(RunSpec("ot/additive_cost", "tiny", 0, "sinkhorn", "ot",
                          options={"maxiters": 3}))
    assert rec["status"] == "error" and rec["success"] is False
    assert "Unknown option 'maxiters'" in rec["message"]
    assert "TypeError" in rec["error"]
    rec = run_one(RunSpec("ot/nope", "tiny", 0, "sinkhorn", "ot"))
    assert rec["status"] == "error" and "Unknown problem" in rec["message"]


def test_timeout_stops_the_run_through_the_callback():
    spec = RunSpec("ot/random_assignment", "tiny", 0, "sinkhorn", "ot",
                   options={"maxiter": 10**8, "tol": 1e-300, "check_every": 1}, timeout=0.2)
    t0 = time.perf_counter()
    rec = run_one(spec)
    # warm-up (capped by the same budget) + the timed run, each stopped after about 0.2 s
    assert time.perf_counter() - t0 < 20
    assert rec["status"] == "timed_out" and rec["timed_out"] is True
    assert rec["solver_status"] == 99 and rec["message"].startswith("Timed out after 0.2 s.")
    # the budget is wall time; time_s (solver only, callbacks excluded) is a part of it
    assert rec["wall_s"] >= 0.2 and 0 < rec["time_s"] < rec["wall_s"]
    assert 0 < rec["nit"] < 10**8


@pytest.mark.parametrize("backend", ["array_api_strict", "torch"])
def test_other_backends(backend):
    pytest.importorskip(backend)
    rec = run_one(RunSpec("ot/additive_cost", "tiny", 0, "sinkhorn-log", "ot", backend=backend,
                          options={"tol": 1e-12}))
    assert_plain(rec)
    assert rec["status"] == "0" and rec["success"]
    assert rec["metrics"]["plan_err"] < 1e-12


def test_namespace_for():
    xp, dev = namespace_for("numpy")
    assert dev is None and hasattr(xp, "asarray")
    with pytest.raises(ValueError, match="unknown backend"):
        namespace_for("jax")


def test_namespace_for_torch_device():
    pytest.importorskip("torch")
    xp, dev = namespace_for("torch:cpu")
    assert dev == "cpu" and hasattr(xp, "asarray")


def test_warm_up_runs_once_per_process_and_combination():
    spec = RunSpec("ot/additive_cost", "tiny", 0, "sinkhorn", "ot", options={"tol": 1.234e-9})
    first = run_one(spec)
    second = run_one(RunSpec(**{**spec.to_dict(), "seed": 1}))
    assert first["warmup_s"] is not None and first["warmup_s"] >= 0
    assert second["warmup_s"] is None


@pytest.mark.parametrize("name", ["pot:sinkhorn", "pot:sinkhorn-log"])
def test_pot_peers(name):
    pytest.importorskip("ot")
    rec = run_one(RunSpec("ot/additive_cost", "tiny", 0, name, "ot", options={"tol": 1e-12}))
    assert rec["status"] == "0" and rec["success"], rec["message"]
    assert rec["metrics"]["plan_err"] < 1e-12
    assert len(rec["curve"]) == 1  # POT has no callback: only the final point
    # the same iterates as xpsolve's Sinkhorn: POT on a problem needing many sweeps
    spec = RunSpec("ot/random_assignment", "tiny", 0, name, "ot", options={"maxiter": 30})
    rec = run_one(spec)
    assert rec["status"] == "1" and rec["nit"] == 30 and "30 sweeps" in rec["message"]
    xs = run_one(RunSpec("ot/random_assignment", "tiny", 0, name.split(":")[1], "ot",
                         options={"maxiter": 30}))
    assert math.isclose(rec["metrics"]["cost"], xs["metrics"]["cost"], rel_tol=1e-10)
    bad = run_one(RunSpec("ot/additive_cost", "tiny", 0, name, "ot", options={"tau": 3.0}))
    assert bad["status"] == "error" and "Unknown option 'tau'" in bad["message"]


@pytest.mark.parametrize("name", ["scipy:slsqp", "scipy:trust-constr"])
def test_scipy_peers_on_constrained_problems(name):
    rec = run_one(RunSpec("constrained/bt5", "small", 0, name, "minimize",
                          options={"tol": 1e-10}))
    assert rec["status"] == "0" and rec["success"], rec["message"]
    assert rec["metrics"]["kkt"] < 1e-6 and rec["metrics"]["rel_f_err"] < 1e-8
    assert len(rec["curve"]) >= rec["nit"] >= 5  # SciPy calls back every iteration
    # the curve carries the KKT residual (least-squares multipliers), as xpsolve's runs do
    assert rec["curve_metric"] == "kkt"
    assert math.isclose(rec["curve"][-1][2], rec["metrics"]["kkt"], rel_tol=1e-6, abs_tol=1e-12)
    capped = run_one(RunSpec("constrained/bt5", "small", 0, name, "minimize",
                             options={"maxiter": 3}))
    assert capped["status"] == "1" and capped["nit"] == 3
    bad = run_one(RunSpec("constrained/bt5", "small", 0, name, "minimize",
                          options={"ftol": 1e-3}))
    assert bad["status"] == "error" and "Unknown option 'ftol'" in bad["message"]


def test_randomized_solver_gets_the_run_seed():
    """adasketch draws its sketches from ``seed``: the suite passes the run's seed, so
    a stored run is reproducible and different seeds give different sketch draws."""
    spec = RunSpec("constrained/hs7", "small", 3, "adasketch", "minimize",
                   options={"tol": 1e-6})
    a, b = run_one(spec), run_one(spec)
    c = run_one(RunSpec(**{**spec.to_dict(), "seed": 4}))
    assert a["success"] and a["metrics"] == b["metrics"] and a["nit"] == b["nit"]
    assert a["metrics"]["kkt"] != c["metrics"]["kkt"]
    direct = get_problem("constrained/hs7").solve("adasketch", options={"tol": 1e-6, "seed": 3})
    assert math.isclose(a["metrics"]["kkt"], get_problem("constrained/hs7").metrics(direct)["kkt"],
                        rel_tol=1e-12)


def test_missing_peer_library_is_skipped_with_reason():
    peer = register_peer(Peer("fake:solver", "ot", "xpsolve_no_such_module", "fake-lib",
                              method=None))
    try:
        specs, skips = expand(Plan(problems=["ot/additive_cost"], solvers=["fake:*"]))
        assert specs == []
        assert skips[0].reason == ("peer library 'fake-lib' is not installed "
                                   "(pip install fake-lib)")
        rec = run_one(RunSpec("ot/additive_cost", "tiny", 0, "fake:solver", "ot"))
        assert rec["status"] == "error" and "fake-lib" in rec["message"]
    finally:
        _PEERS.pop((peer.family, peer.name))


@pytest.mark.parametrize("problem,solver,family", [
    ("constrained/hs6", "adasketch", "minimize"),
    ("constrained/hs6", "scipy:trust-constr", "minimize"),
    ("bilevel/p4_double_well", "bo-rep", "bilevel"),
    ("bilevel/p2_lvhba_toy", "lv-hba", "bilevel"),
])
def test_curve_records_oracle_calls(problem, solver, family):
    # the fourth entry of each curve point counts the oracle calls so far: it grows along
    # the run and ends at the counters of the returned result
    rec = run_one(RunSpec(problem, "tiny" if family == "bilevel" else "small", 0, solver,
                          family, options={"maxiter": 30}, warmup=False))
    assert rec["status"] != "error", rec["message"]
    calls = [p[3] for p in rec["curve"]]
    assert len(calls) >= 3 and all(c is not None and c > 0 for c in calls)
    assert all(b >= a for a, b in zip(calls, calls[1:])) and calls[-1] > calls[0]


def test_oracle_calls_of_results():
    from xpsolve.suite.runner import oracle_calls

    assert oracle_calls({"nfev": 4, "njev": 3, "nhev": 0, "nit": 9}) == 7
    assert oracle_calls({"n_calls": {"upper_grad": 2, "lower_grad": 5}, "nfev": 1}) == 7
    assert oracle_calls({"nfev": 0}) is None and oracle_calls({"x": 1}) is None
    assert oracle_calls(None) is None
