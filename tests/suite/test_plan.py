"""Plan loading and expansion: grids, overrides, skip reasons, bad input."""
import json

import pytest

from xpsolve.suite import Plan, PlanError, RunSpec, expand, list_plans, load_plan, parse_seeds
from xpsolve.suite.solvers import SolverEntry


def test_bundled_plans_load_and_expand():
    names = list_plans()
    assert {"tiny", "quick", "ot-sinkhorn", "ot-sns", "bilevel", "constrained"} <= set(names)
    for name in names:
        specs, _ = expand(load_plan(name))
        assert specs, name
        assert len({s.key for s in specs}) == len(specs)  # keys are unique within a plan


def test_quick_plan_grid():
    specs, skips = expand(load_plan("quick"))
    # every family, each with a peer or the baseline users know, tiny instances, seeds 0-1
    families = {s.family for s in specs}
    assert families == {"ot", "minimize", "bilevel", "completion", "calibration", "recovery"}
    pairs = {(s.problem.split("/")[0], s.solver) for s in specs}
    for needed in [("ot", "sns"), ("ot", "pot:sinkhorn-log"), ("constrained", "adasketch"),
                   ("constrained", "scipy:slsqp"), ("bilevel", "lv-hba"), ("bilevel", "bo-rep"),
                   ("bilevel", "scipy:kkt-trust-constr"), ("completion", "altmin"),
                   ("calibration", "pgd"), ("calibration", "spectral-ls"),
                   ("recovery", "subgm"), ("sliding", "rf-asgs"),
                   ("sliding", "baseline:condat-vu")]:
        assert needed in pairs, needed
    assert {s.seed for s in specs} == {0, 1} and {s.size for s in specs} == {"tiny"}
    # methods only meet the problems they can solve (no composite problem for adasketch,
    # no constrained bilevel problem for bo-rep, no HS problem for the sliding baseline)
    assert ("sliding", "adasketch") not in pairs and ("constrained", "rf-asgs") not in pairs
    assert not any(s.problem == "bilevel/p2_lvhba_toy" and s.solver == "bo-rep" for s in specs)
    assert any("does not handle the problem's constraints" in k.reason for k in skips)
    sns = [s for s in specs if s.solver == "sns"]
    assert all(s.options == {"maxiter": 1000, "tol": 1e-9} for s in sns)


def test_grid_axes_and_specific_options_override_globs():
    plan = Plan(problems=["ot/random_assignment"], solvers=["sinkhorn", "sinkhorn-l*"], sizes=["tiny"],
                seeds=[0, 1], repeat=2,
                options={"*": {"maxiter": 50, "check_every": 10},
                         "sinkhorn-log": {"check_every": [1, 5]}},
                params={"ot/*": {"reg": [0.1, 0.01]}})
    specs, skips = expand(plan)
    # reg (2) x seeds (2) x [sinkhorn (1 option set) + sinkhorn-log (2)] x repeat (2)
    assert len(specs) == 2 * 2 * 3 * 2
    log = [s for s in specs if s.solver == "sinkhorn-log"]
    assert {s.options["check_every"] for s in log} == {1, 5}
    assert all(s.options["maxiter"] == 50 for s in specs)
    assert {s.options["check_every"] for s in specs if s.solver == "sinkhorn"} == {10}
    assert {s.repeat for s in specs} == {0, 1}
    assert len({s.key for s in specs}) == len(specs)


def test_skip_reasons():
    entries = [
        SolverEntry("sinkhorn", "ot", ("numpy", "torch")),
        SolverEntry("gd", "minimize", ("numpy",)),
        SolverEntry("pot:x", "ot", ("numpy",), kind="peer", unavailable="peer library 'pot' missing"),
    ]
    plan = Plan(problems=["ot/additive_cost"], solvers=["*"], sizes=["tiny", "huge"],
                backends=["numpy", "array_api_strict"])
    specs, skips = expand(plan, entries=entries)
    assert [(s.solver, s.backend) for s in specs] == [("sinkhorn", "numpy")]
    reasons = {(s.solver, s.backend): s.reason for s in skips}
    assert "family 'minimize' != problem family 'ot'" in reasons[("minimize:gd", "numpy")]
    assert "backend 'array_api_strict' not supported" in reasons[("ot:sinkhorn", "array_api_strict")]
    assert reasons[("ot:pot:x", "numpy")] == "peer library 'pot' missing"
    assert any("no size 'huge'" in s.reason for s in skips)


def test_family_prefixed_solver_globs():
    specs, _ = expand(Plan(problems=["ot/additive_cost"], solvers=["ot:pot:*"]))
    assert {s.solver for s in specs} == {"pot:sinkhorn", "pot:sinkhorn-log"}
    specs, _ = expand(Plan(problems=["ot/additive_cost"], solvers=["ot:sinkhorn-log"]))
    assert [s.solver for s in specs] == ["sinkhorn-log"]


def test_run_key_ignores_timeout_but_not_identity():
    a = RunSpec("ot/additive_cost", "tiny", 0, "sinkhorn", "ot", timeout=1.0)
    assert a.key == RunSpec("ot/additive_cost", "tiny", 0, "sinkhorn", "ot", timeout=9.0).key
    assert a.key != RunSpec("ot/additive_cost", "tiny", 0, "sinkhorn", "ot", repeat=1).key
    assert a.key != RunSpec("ot/additive_cost", "tiny", 0, "sinkhorn", "ot",
                            options={"tol": 1e-3}).key


@pytest.mark.parametrize("text, expected", [("0-4", [0, 1, 2, 3, 4]), ("0,2,3", [0, 2, 3]),
                                            ("1-2,7,1", [1, 2, 7]), (3, [3]), ([5, 2], [5, 2])])
def test_parse_seeds(text, expected):
    assert parse_seeds(text) == expected


@pytest.mark.parametrize("text", ["a", "3-1", "0-", "", "1.5", -1, [], [1, "x"], True, None])
def test_parse_seeds_rejects(text):
    with pytest.raises(PlanError):
        parse_seeds(text)


@pytest.mark.parametrize("plan, match", [
    (Plan(problems=["nope/*"]), "no problem matches 'nope/\\*'"),
    (Plan(solvers=["zzz"]), "no solver matches 'zzz'"),
    (Plan(backends=["jax"]), "unknown backend 'jax'"),
    (Plan(problems=["ot/additive_cost"], params={"*": {"bogus": 1}}), "unknown parameter"),
])
def test_expand_rejects(plan, match):
    with pytest.raises(PlanError, match=match):
        expand(plan)


def test_plan_file_errors(tmp_path):
    with pytest.raises(PlanError, match="unknown plan 'missing'"):
        load_plan("missing")
    bad = tmp_path / "bad.toml"
    bad.write_text('problems = ["ot/*"]\nsolverz = ["x"]\n')
    with pytest.raises(PlanError, match="unknown key.*solverz"):
        load_plan(bad)
    bad.write_text('repeat = 0\n')
    with pytest.raises(PlanError, match="repeat must be a positive integer"):
        load_plan(bad)
    bad.write_text('options = {maxiter = 3}\n')
    with pytest.raises(PlanError, match="table of tables"):
        load_plan(bad)
    bad.write_text('problems = [\n')
    with pytest.raises(PlanError, match="bad.toml"):
        load_plan(bad)
    good = tmp_path / "mine.toml"
    good.write_text('problems = ["ot/additive_cost"]\nseeds = "0-2"\ntimeout = 5\n')
    plan = load_plan(good)
    assert (plan.name, plan.seeds, plan.timeout) == ("mine", [0, 1, 2], 5.0)


def test_problem_and_size_qualified_options():
    # "problem::solver" applies to one pairing, "problem@size::solver" to one size of it; both
    # override the solver-wide table; the problems hold no solver settings
    plan = Plan(problems=["bilevel/p2_lvhba_toy", "bilevel/p3_lvhba_eqtoy"], solvers=["lv-hba"],
                sizes=["tiny", "large"], seeds=[0],
                options={"lv-hba": {"maxiter": 7, "alpha": 0.5},
                         "bilevel/p2_*::lv-hba": {"alpha": 0.01, "c0": 5.0},
                         "bilevel/p2_*@large::lv-hba": {"alpha": 0.002, "c0": 1.0}})
    specs, _ = expand(plan)
    got = {(s.problem, s.size): s.options for s in specs}
    assert got[("bilevel/p2_lvhba_toy", "tiny")] == {"maxiter": 7, "alpha": 0.01, "c0": 5.0}
    assert got[("bilevel/p2_lvhba_toy", "large")] == {"maxiter": 7, "alpha": 0.002, "c0": 1.0}
    assert got[("bilevel/p3_lvhba_eqtoy", "tiny")] == {"maxiter": 7, "alpha": 0.5}
    from xpsolve.problems import get_problem

    assert not hasattr(get_problem("bilevel/p2_lvhba_toy", "tiny").data["problem"],
                       "lvhba_options")


def test_parameter_qualified_options():
    # "problem[name=value]::solver" applies to the runs whose generator parameters match
    # (the SNS protocol runs the l1 grids with 700 Sinkhorn sweeps first, the others with 20)
    plan = Plan(problems=["ot/grid_densities", "ot/uniform_point_clouds"], solvers=["sns"],
                sizes=["tiny"], seeds=[0],
                params={"ot/grid_densities": {"cost": ["sqeuclidean", "l1"]},
                        "ot/uniform_point_clouds": {"reg": [1e-2, 1e-3]}},
                options={"sns": {"n_sinkhorn": 20},
                         "ot/grid_densities[cost=l1]::sns": {"n_sinkhorn": 700},
                         "ot/*[reg=0.001]@tiny::sns": {"maxiter": 50}})
    specs, _ = expand(plan)
    got = {(s.problem, json.dumps(s.params, sort_keys=True)): s.options for s in specs}
    assert got[("ot/grid_densities", '{"cost": "l1"}')] == {"n_sinkhorn": 700}
    assert got[("ot/grid_densities", '{"cost": "sqeuclidean"}')] == {"n_sinkhorn": 20}
    assert got[("ot/uniform_point_clouds", '{"reg": 0.001}')] == {"n_sinkhorn": 20, "maxiter": 50}
    assert got[("ot/uniform_point_clouds", '{"reg": 0.01}')] == {"n_sinkhorn": 20}
    with pytest.raises(PlanError, match=r"name=value"):
        expand(Plan(problems=["ot/grid_densities"], solvers=["sns"], sizes=["tiny"], seeds=[0],
                    options={"ot/grid_densities[l1]::sns": {"n_sinkhorn": 700}}))
