"""The documentation's examples run as written.

- every ``pycon`` block of the quick start (``docs/quickstart.md``) and the landing page
  (``docs/index.rst``), one namespace per page, in order;
- the runnable example of every generated method page (``docs/families.toml``, one per
  registered method);
- the gallery scripts (``examples/plot_*.py``), when matplotlib is installed (marked slow).
"""
import doctest
import os
import re
import runpy
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
sys.path.insert(0, os.path.join(DOCS, "_ext"))

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _blocks(path):
    text = open(path, encoding="utf-8").read()
    if path.endswith(".md"):
        return re.findall(r"```pycon\n(.*?)```", text, re.S)
    out = []     # reST: indented body of ".. code-block:: pycon"
    for m in re.finditer(r"\.\. code-block:: pycon\n\n((?:(?:   .*)?\n)+)", text):
        out.append("\n".join(line[3:] for line in m.group(1).splitlines()) + "\n")
    return out


def _run(text, name):
    test = doctest.DocTestParser().get_doctest(text, {}, name, name, 0)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test, out=lambda s: sys.stdout.write(s))
    assert test.examples, f"{name}: no examples found"
    assert runner.failures == 0, f"{name}: {runner.failures} of {runner.tries} examples failed"


@pytest.mark.parametrize("page", ["quickstart.md", "index.rst"])
def test_page_examples(page):
    blocks = _blocks(os.path.join(DOCS, page))
    assert blocks, f"no pycon blocks in {page}"
    _run("\n".join(blocks), page)


def _method_examples():
    import xpsolve_docs
    return xpsolve_docs.all_examples()


@pytest.mark.parametrize("name,text", _method_examples(), ids=lambda v: v if "\n" not in v else "")
def test_method_page_example(name, text):
    _run(text, name)


def test_every_method_has_an_example():
    import xpsolve
    import xpsolve_docs
    have = {n for n, _ in xpsolve_docs.all_examples()}
    missing = [f"{s.family}-{s.name}" for s in xpsolve.list_solvers() if f"{s.family}-{s.name}" not in have]
    assert not missing, f"add an example for {missing} in docs/families.toml"


GALLERY = sorted(f for f in os.listdir(os.path.join(ROOT, "examples")) if f.startswith("plot_"))


@pytest.mark.slow
@pytest.mark.parametrize("script", GALLERY)
def test_gallery_script(script, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    monkeypatch.chdir(tmp_path)
    plt.close("all")
    ns = runpy.run_path(os.path.join(ROOT, "examples", script), run_name="__main__")
    n_fig = len(plt.get_fignums())
    plt.close("all")
    assert n_fig >= 1 and len(ns.get("CAPTIONS", [])) == n_fig, "one caption per figure"


def test_readme_generated_blocks_are_current():
    """README.md's family table and backend sentence match the registry and docs/families.toml."""
    pytest.importorskip("yaml")          # the paper names come from CITATION.cff
    import xpsolve_docs
    old, new = xpsolve_docs.readme_text()
    assert old == new, "README.md is stale: run python docs/_ext/xpsolve_docs.py --readme"
