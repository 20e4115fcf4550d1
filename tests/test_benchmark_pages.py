"""docs/benchmarks.md is built from stored suite runs only (issue: one benchmark harness).

The published plans are those of ``tools/build_benchmarks.sh``; each has its page written
by ``python -m xpsolve report`` (``docs/benchmarks/PLAN.md``), listed in the toctree of
``docs/benchmarks.md``; no page or figure comes from a script, and no stored run claims a
success its curve does not reach.
"""
import re
from pathlib import Path

import pytest

from xpsolve.suite import list_plans

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def published_plans() -> list:
    text = (ROOT / "tools" / "build_benchmarks.sh").read_text()
    m = re.search(r"PLANS=\(([^)]*)\)\s*\n\s*mkdir", text)
    assert m, "the default plan list of tools/build_benchmarks.sh"
    return m.group(1).split()


def test_every_published_plan_is_bundled_and_has_its_page():
    plans = published_plans()
    assert "quick" in plans and len(plans) == len(set(plans))
    bundled = set(list_plans())
    index = (DOCS / "benchmarks.md").read_text()
    toctree = re.search(r"```\{toctree\}(.*?)```", index, re.S).group(1)
    for plan in plans:
        assert plan in bundled, plan
        page = DOCS / "benchmarks" / f"{plan}.md"
        assert page.exists(), f"{page} (run tools/build_benchmarks.sh {plan})"
        assert f"benchmarks/{plan}\n" in toctree, plan


@pytest.mark.parametrize("plan", published_plans())
def test_pages_come_from_stored_runs(plan):
    text = (DOCS / "benchmarks" / f"{plan}.md").read_text()
    assert text.startswith(f"# Plan {plan} (stored runs)")
    assert "Inconsistent" not in text  # success always agrees with time to target
    assert "## Environment" in text and "- plan: " in text
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (DOCS / "benchmarks" / link).exists(), link


def test_the_index_has_no_script_made_figure_or_table():
    text = (DOCS / "benchmarks.md").read_text()
    assert not re.search(r"benchmarks/\w+\.py", text)  # kernel micro-benchmarks run as a module
    assert "figures/" not in text  # every figure is a page's, from stored runs
