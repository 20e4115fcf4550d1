"""``python -m xpsolve suite``: run a benchmark plan and report on it."""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import re
import sys
import time
import uuid
from pathlib import Path

from .plan import PlanError, expand, list_plans, load_plan, parse_seeds

__all__ = ["main", "build_parser", "report_main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # raise instead of exiting, so main() returns the code
        raise PlanError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m xpsolve suite``."""
    p = _Parser(prog="python -m xpsolve suite",
                description="Run a benchmark plan (problems x solvers x sizes x seeds x backends), "
                            "store each finished run in OUTPUT/results.sqlite and report.")
    p.add_argument("--list", action="store_true", help="list problems, solvers and plans, then exit")
    p.add_argument("--plan", default="quick",
                   help="bundled plan name or path of a .toml plan (default: quick)")
    p.add_argument("--problems", help="comma-separated globs on problem names (overrides the plan)")
    p.add_argument("--solvers", help="comma-separated globs on solver names or family:name")
    p.add_argument("--sizes", help="comma-separated size names, e.g. tiny,small")
    p.add_argument("--seeds", help="seeds: '0-4', '0,2,3' or '0-2,7'")
    p.add_argument("--backend", help="numpy, array_api_strict, torch or cupy (comma-separated for "
                                     "several; 'torch:cuda' picks a device)")
    p.add_argument("--executor", default="serial", choices=("serial", "process", "dask"))
    p.add_argument("--n-workers", type=int, help="workers of the process / local dask executor")
    p.add_argument("--address", help="dask scheduler address (default: a LocalCluster)")
    p.add_argument("--timeout", type=float,
                   help="per-run wall-clock budget in seconds: the run is stopped at its next "
                        "callback, and a run that does not call back is killed (it runs in a "
                        "worker process) and stored as timed_out")
    p.add_argument("--repeat", type=int, help="timed repetitions of each run")
    p.add_argument("--output", default="xpsolve-results",
                   help="output directory (default: ./xpsolve-results)")
    p.add_argument("--resume", action="store_true", help="skip runs already stored in --output")
    p.add_argument("--retry-errors", action="store_true",
                   help="with --resume: run again the stored runs whose status is 'error' "
                        "(or 'timed_out' with --retry-timeouts)")
    p.add_argument("--retry-timeouts", action="store_true",
                   help="with --resume: run again the stored runs that timed out")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    p.add_argument("--no-plot", action="store_true", help="do not write plots/*.png")
    return p


def _plain(text: str) -> str:
    """Docstring markup to plain text for the terminal (roles, inline literals, common TeX)."""
    text = re.sub(r":[a-z]+:`([^`]*)`", r"\1", text).replace("``", "")
    for tex, plain in _TEX:
        text = text.replace(tex, plain)
    return text.rstrip(",;: ")


_TEX = [("\\|", "||"), ("\\top", "T"), ("\\sim", "~"), ("\\varepsilon", "eps"), ("\\sum", "sum"),
        ("\\mathbb{R}", "R"), ("\\infty", "inf"), ("\\le", "<="), ("\\ge", ">="), ("\\", "")]


def _print_list(out) -> None:
    from ..problems import list_problems
    from .solvers import list_entries

    print("Problems:", file=out)
    for p in list_problems():
        print(f"  {p.name:28s} [{p.family}] sizes: {', '.join(p.sizes)}. {_plain(p.summary)}",
              file=out)
    print("\nSolvers (family:name):", file=out)
    for e in list_entries():
        state = f" (unavailable: {e.unavailable})" if e.unavailable else ""
        print(f"  {e.qualname:24s} {e.kind:7s} backends: {', '.join(e.namespaces)}{state}",
              file=out)
    print("\nPlans:", file=out)
    for name, desc in list_plans().items():
        print(f"  {name:16s} {desc}", file=out)


def _apply_overrides(plan, args):
    if args.problems:
        plan.problems = [s.strip() for s in args.problems.split(",") if s.strip()]
    if args.solvers:
        plan.solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    if args.sizes:
        plan.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if args.seeds is not None:
        plan.seeds = parse_seeds(args.seeds)
    if args.backend:
        plan.backends = [s.strip() for s in args.backend.split(",") if s.strip()]
    if args.timeout is not None:
        if not args.timeout > 0:
            raise PlanError(f"--timeout must be positive; got {args.timeout}")
        plan.timeout = args.timeout
    if args.repeat is not None:
        if args.repeat < 1:
            raise PlanError(f"--repeat must be at least 1; got {args.repeat}")
        plan.repeat = args.repeat
    if args.n_workers is not None and args.n_workers < 1:
        raise PlanError(f"--n-workers must be at least 1; got {args.n_workers}")
    return plan


def _progress(total, quiet):
    disable = quiet or not sys.stderr.isatty()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, file=sys.stderr, disable=disable, unit="run", desc="xpsolve suite")


def _skip_summary(skips) -> str:
    reasons = {}
    for s in skips:
        reasons[s.reason] = reasons.get(s.reason, 0) + 1
    return "; ".join(f"{n} x {reason}" for reason, n in sorted(reasons.items()))


def main(argv=None) -> int:
    """Run the suite command line; return the exit status.

    0: every planned run is stored and none raised; 1: some runs ended with
    status ``error``; 2: bad command-line or plan input (nothing run).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except PlanError as exc:
        print(f"xpsolve suite: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if args.list:
        _print_list(sys.stdout)
        return 0
    try:
        plan = _apply_overrides(load_plan(args.plan), args)
        if args.executor == "dask" and importlib.util.find_spec("distributed") is None:
            raise PlanError("the dask executor needs dask.distributed: "
                            "pip install 'xpsolve[dask]'")
        specs, skips = expand(plan)
        if not specs:
            raise PlanError("the plan selects no runnable combination"
                            + (f" (skipped: {_skip_summary(skips)})" if skips else ""))
    except (PlanError, ImportError) as exc:
        print(f"xpsolve suite: error: {exc}", file=sys.stderr)
        return 2
    return _run(plan, specs, skips, args)


def _open_store(out_dir: Path):
    """Lock ``out_dir`` for this suite and open its store; PlanError with a clean message."""
    import sqlite3

    from .store import OutputLocked, Store

    try:
        return Store(out_dir / "results.sqlite", lock=True)
    except OutputLocked as exc:
        raise PlanError(str(exc)) from None
    except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed"
        raise PlanError(f"{out_dir / 'results.sqlite'} is not a readable results store ({exc}); "
                        "move it away or choose another --output") from None
    except OSError as exc:
        raise PlanError(f"cannot write to --output {str(out_dir)!r}: {exc.strerror or exc}") from None


def _run(plan, specs, skips, args) -> int:
    from . import _guard, report
    from .executors import make_executor
    from .store import environment_meta

    out_dir = Path(args.output)
    session = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S") + \
        "-" + uuid.uuid4().hex[:6]
    if (args.retry_errors or args.retry_timeouts) and not args.resume:
        print("xpsolve suite: error: --retry-errors/--retry-timeouts need --resume", file=sys.stderr)
        return 2
    try:
        store = _open_store(out_dir)
    except PlanError as exc:
        print(f"xpsolve suite: error: {exc}", file=sys.stderr)
        return 2
    try:
        retry = {"error"} if args.retry_errors else set()
        if args.retry_timeouts:
            retry.add("timed_out")
        if retry:
            store.delete_runs([s.key for s in specs], statuses=retry)
        stored = store.keys()
        planned = [s.key for s in specs]
        if len(set(planned)) != len(planned):
            raise PlanError("the plan produces duplicate runs (same key twice)")
        done = [k for k in planned if k in stored]
        if done and not args.resume:
            raise PlanError(f"{out_dir} already holds {len(done)} of the {len(specs)} runs of this "
                            "plan; pass --resume to skip them, or choose another --output")
        todo = [s for s in specs if s.key not in stored]
        try:
            executor = make_executor(args.executor, n_workers=args.n_workers, address=args.address)
        except (ImportError, OSError, ValueError) as exc:  # no dask, scheduler unreachable
            raise PlanError(f"cannot start the {args.executor} executor: {exc}") from None
    except PlanError as exc:
        store.close()
        print(f"xpsolve suite: error: {exc}", file=sys.stderr)
        return 2
    meta = {**environment_meta(), "plan": plan.name, "executor": executor.name,
            "n_workers": getattr(executor, "n_workers", 1), "argv": " ".join(sys.argv),
            "started_at": session.split("-")[0], "runs_planned": len(specs),
            "runs_todo": len(todo)}
    store.add_meta(session, meta)
    if skips:
        store.add_skips(session, skips)
    if not args.quiet:
        print(f"plan {plan.name!r}: {len(specs)} runs ({len(specs) - len(todo)} already stored), "
              f"{len(skips)} skipped combinations, executor {executor.name}, output {out_dir}",
              file=sys.stderr)
        if skips:
            print(f"skipped: {_skip_summary(skips)}", file=sys.stderr)
    bar = _progress(len(todo), args.quiet)
    t0 = time.perf_counter()
    interrupted = False
    try:
        for rec in executor.map_unordered(_guard.run_guarded, todo):
            store.add_run(rec, session=session, executor=executor.name,
                          parallel=int(executor.parallel))
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: finished runs are stored; rerun with --resume", file=sys.stderr)
    finally:
        if bar is not None:
            bar.close()
        executor.close()
        _guard.shutdown()
    wall = time.perf_counter() - t0
    store.add_meta(session, {"wall_s": f"{wall:.3f}", "interrupted": interrupted})

    runs = store.runs(keys=set(s.key for s in specs))
    store.close()
    plots = [] if args.no_plot else report.write_plots(runs, out_dir / "plots")
    title = f"xpsolve suite: plan {plan.name}"
    parallel = any(r["parallel"] for r in runs)
    report.write_markdown(runs, out_dir / "report.md", title=title, skips=skips, meta=meta,
                          parallel=parallel, plots=plots)
    report.write_html(runs, out_dir / "report.html", title=title, skips=skips, meta=meta,
                      parallel=parallel)
    if not args.quiet:
        print(report.format_table(runs))
        print(f"\n{len(runs)}/{len(specs)} runs stored in {out_dir / 'results.sqlite'}; report: "
              f"{out_dir / 'report.md'}; suite wall time {wall:.1f} s", file=sys.stderr)
    if interrupted:
        return 130
    return 1 if any(r["status"] == "error" for r in runs) else 0


def report_main(argv=None) -> int:
    """``python -m xpsolve report RESULTS``: rebuild report.md, report.html and plots/ of a store.

    Returns 0, or 2 with a message for a missing or unreadable store.
    """
    import sqlite3

    from .report import build_report

    p = _Parser(prog="python -m xpsolve report",
                description="Rebuild the Markdown and self-contained HTML reports (and plots) "
                            "from a suite's stored runs.")
    p.add_argument("results", help="suite output directory or its results.sqlite")
    p.add_argument("--markdown", help="Markdown report path (default: RESULTS/report.md)")
    p.add_argument("--html", help="HTML report path (default: RESULTS/report.html)")
    p.add_argument("--plots", help="directory of the PNG plots (default: RESULTS/plots)")
    p.add_argument("--no-plot", action="store_true", help="do not write PNG files")
    p.add_argument("--title", help="report title")
    try:
        args = p.parse_args(sys.argv[1:] if argv is None else list(argv))
        out = build_report(args.results, markdown=args.markdown, html=args.html,
                           plots=False if args.no_plot else args.plots, title=args.title)
    except SystemExit as exc:
        return int(exc.code or 0)
    except (PlanError, FileNotFoundError, sqlite3.DatabaseError, OSError) as exc:
        print(f"xpsolve report: error: {exc}", file=sys.stderr)
        return 2
    print(f"{out['runs']} runs: {out['markdown']}, {out['html']}"
          + (f", {len(out['plots'])} plots" if out["plots"] else ""))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
