"""Sphinx extension generating the registry-driven parts of the xpsolve docs.

At ``builder-inited`` it writes, under ``docs/generated/``:

- ``methods/<family>-<method>.rst``: one page per registered solver (``xpsolve.list_solvers()``):
  front door, problem statement and algorithm outline (from the docstrings), backends and
  dtypes, the options table from the :class:`xpsolve.SolverSpec`, the success metric, the
  papers with arXiv links, and a runnable example (doctested by ``tests/test_docs_examples.py``);
- ``methods/index.rst``: the list of those pages, grouped by family;
- ``chooser_tables.rst``: the method x (problem class, backend, dtype, scale) matrix;
- ``citing_refs.rst``: the papers, from ``CITATION.cff`` plus ``docs/families.toml``;
- ``gallery/``: the gallery (``examples/plot_*.py`` run at small sizes, figures captioned).

At ``build-finished`` it copies the local MathJax (when configured) into ``_static/mathjax``.
Per-family facts the registry does not hold live in ``docs/families.toml`` (one entry per family).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import sys
import textwrap
import time

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.dirname(HERE)
ROOT = os.path.dirname(DOCS)
GEN = os.path.join(DOCS, "generated")
EXAMPLES = os.path.join(ROOT, "examples")

NAMESPACE_LABELS = {"numpy": "NumPy", "array_api_strict": "array-api-strict",
                    "torch": "PyTorch", "cupy": "CuPy (GPU)"}
STANDARD_DESCRIPTIONS = {
    "maxiter": "Maximum number of iterations (status 1 when reached).",
    "tol": "Tolerance on the success metric: the run succeeds when the metric is ``<= tol``.",
    "seed": "Seed (or ``numpy.random.Generator``) for the method's randomness.",
    "check_every": "Iterations between check points (stopping test, callback, history).",
    "history": "Record the check-point values in ``result.history``.",
    "disp": "Print one line per check point.",
}


# ----------------------------------------------------------------------------- data
def load_families(path=None) -> dict:
    """``docs/families.toml`` as a dict (family -> entry; ``references`` -> extra papers)."""
    with open(path or os.path.join(DOCS, "families.toml"), "rb") as fh:
        return tomllib.load(fh)


def load_citation(path=None) -> dict:
    """``CITATION.cff`` as a dict (empty when absent or PyYAML is missing)."""
    path = path or os.path.join(ROOT, "CITATION.cff")
    try:
        import yaml
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh) or {}
    except (ImportError, OSError):
        return {}


def docs_family(families: dict, family: str, name: str) -> tuple[str, dict]:
    """The ``families.toml`` table documenting method ``name`` of registry family ``family``.

    A table documents the methods listed under it (``[<table>.methods.<name>]``) of the
    registry family named by its ``family`` key (default: the table's own name). So one
    registry family may be split into several documented problem classes sharing a front door
    (``[sliding]`` with ``family = "minimize"``); a method no table lists falls back to the
    table named like its registry family.
    """
    for key, fam in families.items():
        if key == "references" or not isinstance(fam, dict):
            continue
        if fam.get("family", key) == family and name in fam.get("methods", {}):
            return key, fam
    return family, families.get(family, {})


def ordered_specs(families: dict, specs) -> list:
    """The registered solvers in ``families.toml`` order (tables, then methods within a table).

    Paper methods are listed before baselines in the toml, so pages, tables and the README
    show them first; methods no table lists come last, by registry order.
    """
    tables = [k for k, v in families.items() if k != "references" and isinstance(v, dict)]

    def key(spec):
        t, fam = docs_family(families, spec.family, spec.name)
        names = list(fam.get("methods", {}))
        return (tables.index(t) if t in tables else len(tables),
                names.index(spec.name) if spec.name in names else len(names))

    return sorted(specs, key=key)       # stable: registry order breaks ties


def method_entry(families: dict, family: str, name: str) -> dict:
    _, fam = docs_family(families, family, name)
    return dict(fam.get("methods", {}).get(name, {}))


def method_example(families: dict, family: str, name: str) -> str | None:
    """The doctest example of a method (its own, else its docs family's with ``{method}`` filled)."""
    _, fam = docs_family(families, family, name)
    ex = method_entry(families, family, name).get("example") or fam.get("example")
    if not ex:
        return None
    return textwrap.dedent(ex).strip("\n").replace("{method}", name) + "\n"


def all_examples() -> list[tuple[str, str]]:
    """(id, doctest text) of every registered method's example (used by the tests)."""
    import xpsolve
    families = load_families()
    out = []
    for spec in xpsolve.list_solvers():
        ex = method_example(families, spec.family, spec.name)
        if ex:
            out.append((f"{spec.family}-{spec.name}", ex))
    return out


def arxiv_refs(families: dict) -> dict:
    """arXiv id -> one-line reference text (CITATION.cff first, then families.toml)."""
    refs = {}
    for ref in load_citation().get("references", []) or []:
        ids = [i.get("value", "") for i in ref.get("identifiers", []) or []]
        arx = [i.split(":", 1)[1] for i in ids if i.lower().startswith("arxiv:")]
        if not arx:
            continue
        names = [" ".join(filter(None, [a.get("given-names"), a.get("family-names")])) or a.get("name", "")
                 for a in ref.get("authors", []) or []]
        venue = (ref.get("conference") or {}).get("name") or ref.get("journal") or ""
        year = ref.get("year", "")
        if venue and str(year) not in str(venue):
            venue = f"{venue}, {year}"
        text = f"{', '.join(names)}. {ref.get('title', '').rstrip('.')}. {venue or year}."
        refs[arx[0]] = text
    for key, val in (families.get("references") or {}).items():
        refs.setdefault(key, val["text"])
    return refs


def short_refs(families: dict) -> dict:
    """arXiv id -> short citation ("Tang et al., ICLR 2024") for the README table."""
    out = {}
    for ref in load_citation().get("references", []) or []:
        ids = [i.get("value", "") for i in ref.get("identifiers", []) or []]
        arx = [i.split(":", 1)[1] for i in ids if i.lower().startswith("arxiv:")]
        if not arx:
            continue
        names = [a.get("family-names") or a.get("name", "") for a in ref.get("authors", []) or []]
        who = names[0] + " et al." if len(names) > 2 else " & ".join(names)
        venue = (ref.get("conference") or {}).get("name") or ""
        if not venue:
            venue = f"{ref.get('journal', 'preprint')} {ref.get('year', '')}".strip()
        out[arx[0]] = f"{who}, {venue}"
    for key, val in (families.get("references") or {}).items():
        out.setdefault(key, val.get("short", val["text"].split(". ")[0]))
    return out


def arxiv_link(aid: str) -> str:
    return f"`arXiv:{aid} <https://arxiv.org/abs/{aid}>`__"


# ----------------------------------------------------------------------------- docstrings
_SECTION = re.compile(r"^([A-Z][A-Za-z ]+)\n-{3,}\s*$", re.M)


def _doc(obj) -> str:
    import inspect
    return inspect.cleandoc(getattr(obj, "__doc__", None) or "")


def _sections(doc: str) -> tuple[str, dict]:
    """Split a numpydoc string into (summary + extended summary, {section: text})."""
    matches = list(_SECTION.finditer(doc))
    head = doc[:matches[0].start()] if matches else doc
    secs = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(doc)
        secs[m.group(1).strip()] = doc[m.end():end].strip("\n")
    return head.strip(), secs


def _param_entries(text: str) -> dict:
    """``name : type`` entries of a numpydoc parameter list -> first sentence(s) of description."""
    out, name, buf = {}, None, []

    def flush():
        if name:
            desc = " ".join(line.strip() for line in buf).strip()
            for n in name:
                out.setdefault(n, desc)

    for line in text.splitlines():
        if line and not line.startswith(" "):
            flush()
            names = line.split(" : ")[0]
            name, buf = [n.strip() for n in names.split(",")], []
        elif name is not None:
            buf.append(line)
    flush()
    return out


def option_descriptions(spec, front) -> dict:
    descs = {}
    for obj in (spec.func, front):
        if obj is None:
            continue
        _, secs = _sections(_doc(obj))
        for key in ("Options", "Other Parameters", "Parameters"):
            if key in secs:
                for k, v in _param_entries(secs[key]).items():
                    descs.setdefault(k, v)
    return descs


def _short(text: str, limit: int = 320) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    # do not cut inside inline markup: end at the last sentence end, else the last space
    stop = max(cut.rfind(". "), cut.rfind("; "))
    cut = cut[:stop + 1] if stop > limit // 3 else cut[:cut.rfind(" ")]
    if cut.count("``") % 2 or cut.count("`") % 2:
        cut = cut[:cut.rfind("`", 0, len(cut) - 1)].rstrip(" :")
    return cut.rstrip() + " ..."


def _cell(text: str) -> str:
    return text or "--"


def _fmt_default(v) -> str:
    if v is None:
        return "``None``"
    if callable(v):
        return "callable"
    return f"``{v!r}``"


# ----------------------------------------------------------------------------- writers
def _list_table(headers, rows, widths=None) -> str:
    out = [".. list-table::", "   :header-rows: 1", "   :class: xps-table"]
    if widths:
        out.append("   :widths: " + " ".join(map(str, widths)))
    out.append("")
    for row in [headers] + rows:
        for j, cell in enumerate(row):
            lines = str(cell).splitlines() or [""]
            out.append(("   * - " if j == 0 else "     - ") + lines[0])
            out.extend("       " + ln for ln in lines[1:])
    return "\n".join(out) + "\n"


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == text:
                return       # unchanged: keep the mtime so Sphinx does not rebuild the page
    except OSError:
        pass
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def page_name(spec) -> str:
    return f"{spec.family}-{spec.name}"


def _front_door_of(fam):
    import xpsolve
    name = fam.get("front_door")
    return name, (getattr(xpsolve, name, None) if name else None)


def _metric_text(metric) -> str:
    if isinstance(metric, str):
        return f"``result.{metric} <= tol``"
    names = [f"``result.{m} <= tol``" for m in metric]
    return " when reported, else ".join(names)


def method_page(spec, families, refs) -> str:
    _, fam = docs_family(families, spec.family, spec.name)
    entry = method_entry(families, spec.family, spec.name)
    fd_name, front = _front_door_of(fam)
    call = f'{fd_name}(method="{spec.name}")' if fd_name else spec.name
    title = f"{call}"
    lines = [f".. _method-{page_name(spec)}:", "", title, "=" * len(title), ""]
    if spec.summary:
        lines += [spec.summary.rstrip(".") + ".", ""]
    facts = []
    if fd_name:
        facts.append(f":Call: :func:`xpsolve.{fd_name}` with ``method=\"{spec.name}\"``")
    facts.append(f":Family: {fam.get('title', spec.family)} (``{spec.family}``)")
    if entry.get("role"):
        facts.append(f":Role: {entry['role']}")
    if spec.metric:
        facts.append(f":Success: {_metric_text(spec.metric)}")
    papers = entry.get("arxiv", [])
    if papers:
        facts.append(":Papers: " + "; ".join(arxiv_link(a) for a in papers))
    narr = fam.get("narrative", [])
    if narr:
        facts.append(":Narrative: " + ", ".join(f":doc:`/{p}`" for p in narr))
    lines += facts + [""]

    # problem statement: the front door's extended summary (math included)
    if front is not None:
        head, _ = _sections(_doc(front))
        body = head.split("\n", 1)[1].strip() if "\n" in head else ""
        lines += ["Problem", "-------", ""]
        shared = sum(1 for k, f in families.items() if k != "references" and isinstance(f, dict)
                     and f.get("front_door") == fd_name) > 1
        if shared and fam.get("problem"):       # a front door for several problem classes
            lines += [fam["problem"], "", "The front door:", ""]
        lines += [head.split("\n", 1)[0], ""]
        if body:
            lines += [body, ""]
    # algorithm outline: the solver's own docstring, when it says more than one line
    fhead, _ = _sections(_doc(spec.func))
    if "\n" in fhead.strip():
        lines += ["Algorithm", "---------", "", fhead.split("\n", 1)[1].strip(), ""]
    if entry.get("when"):
        lines += ["Use it for: " + entry["when"] + ".", ""]

    lines += ["Backends and dtypes", "-------------------", ""]
    rows = [[NAMESPACE_LABELS.get(ns, ns), "yes" if ns in spec.namespaces else "no"]
            for ns in NAMESPACE_LABELS]
    rows.append(["Numba kernels (NumPy input)", "yes" if spec.numba else "no"])
    if fam.get("dtypes"):
        rows.append(["dtypes", fam["dtypes"]])
    lines += [_list_table(["Backend", "Supported"], rows, [40, 60]), ""]
    lines += ["Results come back in the input's array library, device and dtype.", ""]

    lines += ["Options", "-------", "",
              f"Pass them as ``options={{...}}``; ``xpsolve.show_options(\"{spec.name}\")`` prints "
              "the same table. Unknown names raise ``TypeError``, out-of-range values ``ValueError``.", ""]
    from xpsolve._options import describe
    defaults = spec.defaults
    descs = option_descriptions(spec, front)
    rows = []
    for key in spec.options:
        desc = descs.get(key) or STANDARD_DESCRIPTIONS.get(key, "")
        rows.append([f"``{key}``", _fmt_default(defaults.get(key)),
                     _cell(describe(spec.options[key])), _cell(_short(desc))])
    lines += [_list_table(["Option", "Default", "Accepted values", "Description"], rows,
                          [16, 14, 25, 45]), ""]

    ex = method_example(families, spec.family, spec.name)
    if ex:
        lines += ["Example", "-------", "", ".. code-block:: pycon", ""]
        lines += ["   " + ln if ln else "" for ln in ex.splitlines()] + [""]
    _, fsecs = _sections(_doc(spec.func))
    if "Parameters" in fsecs or "Other Parameters" in fsecs:
        lines += ["Solver function", "---------------", "",
                  "The implementation behind the front door, with its full parameter list "
                  "(pass its options through ``options={...}`` of the front door).", "",
                  f".. autofunction:: {spec.func.__module__}.{spec.func.__qualname__}", ""]
    if papers:
        lines += ["References", "----------", ""]
        for a in papers:
            lines.append(f"- {refs.get(a, '')} {arxiv_link(a)}".replace("-  ", "- "))
        lines.append("")
    return "\n".join(lines)


def write_methods(families, refs) -> list:
    import xpsolve
    specs = ordered_specs(families, xpsolve.list_solvers())
    out = os.path.join(GEN, "methods")
    keep = set()
    for spec in specs:
        _write(os.path.join(out, page_name(spec) + ".rst"), method_page(spec, families, refs))
        keep.add(page_name(spec) + ".rst")
    idx = ["Method reference", "================", "",
           "One page per registered method, generated from the solver registry "
           "(``xpsolve.list_solvers()``) and the docstrings: call, backends, options with defaults "
           "and accepted values, success metric, papers, and an example that runs.", ""]
    toc = [".. toctree::", "   :hidden:", ""]
    by_family = {}
    for spec in specs:
        by_family.setdefault(docs_family(families, spec.family, spec.name)[0], []).append(spec)
    for key, group in by_family.items():
        t = families.get(key, {}).get("title", key)
        idx += [t, "-" * len(t), ""]
        for spec in group:
            idx.append(f"- :doc:`{page_name(spec)}`: {spec.summary}")
            toc.append(f"   {page_name(spec)}")
        idx.append("")
    _write(os.path.join(out, "index.rst"), "\n".join(idx + toc) + "\n")
    for f in os.listdir(out):           # drop pages of methods no longer registered
        if f.endswith(".rst") and f != "index.rst" and f not in keep:
            os.remove(os.path.join(out, f))
    return specs


def write_chooser(families, specs) -> None:
    rows1, rows2 = [], []
    for spec in specs:
        _, fam = docs_family(families, spec.family, spec.name)
        entry = method_entry(families, spec.family, spec.name)
        link = f":doc:`{spec.name} </generated/methods/{page_name(spec)}>`"
        rows1.append([link, fam.get("title", spec.family), entry.get("role", ""),
                      _cell(entry.get("when", spec.summary))])
        ns = ", ".join(NAMESPACE_LABELS[n] for n in NAMESPACE_LABELS if n in spec.namespaces)
        rows2.append([link, ns, "yes" if spec.numba else "no", fam.get("dtypes", ""),
                      fam.get("scale", "")])
    text = ["Problem class and when to use each method", "^" * 42, "",
            _list_table(["Method", "Problem class", "Role", "Use it for"], rows1, [18, 20, 18, 44]), "",
            "Backends, dtypes and scale", "^" * 26, "",
            _list_table(["Method", "Backends", "Numba", "dtypes", "Scale"], rows2, [18, 24, 8, 20, 30])]
    _write(os.path.join(GEN, "chooser_tables.rst"), "\n".join(text) + "\n")


def family_rows(families, specs) -> list[dict]:
    """One row per front door: its problem classes (docs families), methods and arXiv ids.

    Used by the landing page's family table (and by ``README.md``'s, kept consistent by a test).
    """
    rows = {}
    for spec in specs:
        key, fam = docs_family(families, spec.family, spec.name)
        door = fam.get("front_door") or spec.family
        row = rows.setdefault(door, {"front_door": door, "documented": bool(fam.get("front_door")),
                                     "groups": {}, "arxiv": [], "namespaces": set()})
        group = row["groups"].setdefault(key, {"title": fam.get("title", key), "specs": []})
        group["specs"].append(spec)
        row["namespaces"].update(spec.namespaces)
        for a in method_entry(families, spec.family, spec.name).get("arxiv", []):
            if a not in row["arxiv"]:
                row["arxiv"].append(a)
    return list(rows.values())


def write_family_table(families, specs) -> None:
    rows = []
    for row in family_rows(families, specs):
        fd = row["front_door"]
        door = f":func:`~xpsolve.{fd}`" if row["documented"] else f"``{fd}``"
        groups = list(row["groups"].values())
        problem = "; ".join(g["title"] for g in groups)
        methods = "; ".join(
            ", ".join(f":doc:`{s.name} </generated/methods/{page_name(s)}>`" for s in g["specs"])
            for g in groups)
        rows.append([door, problem, methods, ", ".join(arxiv_link(a) for a in row["arxiv"])])
    _write(os.path.join(GEN, "family_table.rst"),
           _list_table(["Front door", "Problem", "Methods", "Papers"], rows, [16, 24, 34, 26]))


NAMESPACE_PROSE = {"numpy": "NumPy", "array_api_strict": "array-api-strict",
                   "torch": "PyTorch (CPU or GPU tensors)", "cupy": "CuPy (GPU)"}
README = os.path.join(ROOT, "README.md")


def _is_baseline(entry: dict) -> bool:
    return "baseline" in entry.get("role", "")


def readme_family_table(families, specs) -> str:
    """The README's family table (markdown): one row per front door, from the registry."""
    short = short_refs(families)
    lines = ["| front door | problem classes and methods | papers |", "|---|---|---|"]
    for row in family_rows(families, ordered_specs(families, specs)):
        groups = list(row["groups"].items())
        first = families.get(groups[0][0], {})
        call = first.get("call") or f"{row['front_door']}(..., method=...)"
        cells = []
        for key, g in groups:
            fam = families.get(key, {})
            names = []
            for spec in g["specs"]:
                entry = method_entry(families, spec.family, spec.name)
                names.append(f"`{spec.name}`" + (" (baseline)" if _is_baseline(entry) else ""))
            note = f" {fam['call_note']}" if fam.get("call_note") else ""
            cells.append(f"**{g['title']}**{note}: " + ", ".join(names))
        papers = "; ".join(f"{short.get(a, a)} ([arXiv:{a}](https://arxiv.org/abs/{a}))"
                           for a in row["arxiv"])
        lines.append(f"| `{call}` | " + "<br>".join(cells) + f" | {papers} |")
    return "\n".join(lines) + "\n"


def readme_backends(specs) -> str:
    """The README's backend sentence, from ``SolverSpec.namespaces`` and ``SolverSpec.numba``."""
    everywhere, partial = [], []
    for ns, label in NAMESPACE_PROSE.items():
        missing = [s.name for s in specs if ns not in s.namespaces]
        if not missing:
            everywhere.append(label)
        elif len(missing) < len(specs):
            partial.append(f"{label} for every method except " + ", ".join(f"`{m}`" for m in missing))
    text = ("Every solver is array-API generic; the array libraries each method supports are "
            "declared in the solver registry (`xpsolve.list_solvers()`, `SolverSpec.namespaces`): "
            + " and ".join([", ".join(everywhere[:-1]), everywhere[-1]] if len(everywhere) > 1
                           else everywhere) + " for every method")
    text += ("; " + "; ".join(partial)) if partial else ""
    no_numba = [s.name for s in specs if not s.numba]
    text += (". Results come back in the input's library, device and dtype. Numba-JIT kernels run "
             "the hot loops for NumPy input")
    text += (" in every method except " + ", ".join(f"`{m}`" for m in no_numba)
             + " (their hot loop is the problem's own oracle or a dense solve)") if no_numba else ""
    return text + ".\n"


def _replace_block(text, name, body):
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    i, j = text.index(start) + len(start), text.index(end)
    return text[:i] + "\n" + body + text[j:]


def readme_text(path=README) -> tuple[str, str]:
    """(current README, README with its generated blocks refreshed)."""
    import xpsolve
    families = load_families()
    specs = xpsolve.list_solvers()
    with open(path, encoding="utf-8") as fh:
        old = fh.read()
    new = _replace_block(old, "families", readme_family_table(families, specs))
    new = _replace_block(new, "backends", readme_backends(specs))
    return old, new


def write_plans_table() -> None:
    from xpsolve.suite import list_plans
    rows = [[f"``{name}``" + (" (default)" if name == "quick" else ""), desc]
            for name, desc in sorted(list_plans().items())]
    _write(os.path.join(GEN, "plans_table.rst"), _list_table(["Plan", "Contents"], rows, [20, 80]))


def write_citing(families, refs) -> None:
    lines = []
    by_aid = {}
    for fname, fam in families.items():
        if fname == "references" or not isinstance(fam, dict):
            continue
        for mname, m in fam.get("methods", {}).items():
            for a in m.get("arxiv", []):
                by_aid.setdefault(a, []).append((fam.get("front_door", fname), mname))
    for a, ref in refs.items():
        used = by_aid.get(a)
        where = ("; used by " + ", ".join(f"``{fd}(method=\"{m}\")``" for fd, m in used)) if used else ""
        lines.append(f"- {ref} {arxiv_link(a)}{where}")
    _write(os.path.join(GEN, "citing_refs.rst"), "\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- gallery
def _example_meta(path):
    import ast
    with open(path, encoding="utf-8") as fh:
        src = fh.read()
    tree = ast.parse(src)
    doc = ast.get_docstring(tree) or os.path.basename(path)
    title, _, body = doc.partition("\n")
    captions = []
    first = tree.body[0] if tree.body else None
    body_start = first.end_lineno + 1 if (first is not None and isinstance(first, ast.Expr)
                                          and isinstance(getattr(first, "value", None), ast.Constant)) else 1
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "CAPTIONS" for t in node.targets):
            captions = ast.literal_eval(node.value)
    return src, title.strip(), body.strip(), captions, body_start


def run_example(path, img_dir):
    """Run one example (Agg backend, in-process), save its figures; return (pngs, stdout, seconds)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcdefaults()
    plt.rcParams.update({"font.size": 12, "axes.titlesize": 12, "legend.fontsize": 10})
    name = os.path.splitext(os.path.basename(path))[0]
    plt.close("all")
    buf = io.StringIO()
    t0 = time.perf_counter()
    cwd = os.getcwd()
    import tempfile
    import warnings
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(buf), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the examples' own warnings are not build warnings
        os.chdir(tmp)
        try:
            import runpy
            runpy.run_path(path, run_name="__main__")
        finally:
            os.chdir(cwd)
    secs = time.perf_counter() - t0
    pngs = []
    os.makedirs(img_dir, exist_ok=True)
    for i, num in enumerate(plt.get_fignums(), 1):
        fig = plt.figure(num)
        w, h = fig.get_size_inches()
        if w > 8.0:          # the page shows ~8 in at 100 dpi: shrink the canvas, keep 12 pt fonts
            fig.set_size_inches(8.0, h * 8.0 / w)
        fname = f"{name}_{i}.png"
        fig.savefig(os.path.join(img_dir, fname), dpi=100, bbox_inches="tight")
        pngs.append(fname)
    plt.close("all")
    return pngs, buf.getvalue(), secs


def write_gallery(app=None, force=False) -> None:
    out = os.path.join(GEN, "gallery")
    img = os.path.join(out, "images")
    os.makedirs(img, exist_ok=True)
    scripts = sorted(f for f in os.listdir(EXAMPLES) if f.startswith("plot_") and f.endswith(".py")) \
        if os.path.isdir(EXAMPLES) else []
    cards, toc = [], [".. toctree::", "   :hidden:", ""]
    for script in scripts:
        path = os.path.join(EXAMPLES, script)
        name = script[:-3]
        src, title, body, captions, body_start = _example_meta(path)
        key = hashlib.sha256(src.encode()).hexdigest()
        meta_path = os.path.join(out, name + ".json")
        meta = None
        if not force and os.path.exists(meta_path):
            with open(meta_path) as fh:
                meta = json.load(fh)
            if meta.get("key") != key or not all(os.path.exists(os.path.join(img, p)) for p in meta["pngs"]):
                meta = None
        if meta is None:
            pngs, stdout, secs = run_example(path, img)
            meta = {"key": key, "pngs": pngs, "stdout": stdout, "seconds": round(secs, 1)}
            with open(meta_path, "w") as fh:
                json.dump(meta, fh)
        if len(captions) < len(meta["pngs"]):
            raise RuntimeError(f"{script}: {len(meta['pngs'])} figures but {len(captions)} CAPTIONS")
        lines = [f".. _gallery-{name}:", "", title, "=" * len(title), "", body, ""]
        for png, cap in zip(meta["pngs"], captions):
            lines += [f".. figure:: images/{png}", f"   :alt: {cap.splitlines()[0]}",
                      "   :class: xps-figure", "   :width: 100%", "", f"   {cap}", ""]
        if meta["stdout"].strip():
            lines += ["Output:", "", ".. code-block:: text", ""]
            lines += ["   " + ln for ln in meta["stdout"].rstrip().splitlines()] + [""]
        lines += [f"Source (``examples/{script}``, ran in {meta['seconds']:.1f} s when the docs were built):", "",
                  f".. literalinclude:: ../../../examples/{script}", "   :language: python",
                  f"   :lines: {body_start}-", ""]
        _write(os.path.join(out, name + ".rst"), "\n".join(lines))
        toc.append(f"   {name}")
        thumb = f"images/{meta['pngs'][0]}" if meta["pngs"] else None
        card = [f"   .. container:: xps-card", ""]
        if thumb:
            card += [f"      .. image:: {thumb}", f"         :alt: {title}", f"         :target: {name}.html", ""]
        card += [f"      :doc:`{name}`", ""]
        cards += card
    idx = ["Gallery", "=======", "",
           "Runnable examples, each a script in ``examples/`` executed when these pages are built "
           "(small sizes, a few seconds each). Run one yourself with ``python examples/<name>.py`` "
           "(``pip install \"xpsolve[plot]\"`` for matplotlib).", "",
           ".. container:: xps-gallery", ""] + (cards or ["   (no examples)", ""]) + [""] + toc
    _write(os.path.join(out, "index.rst"), "\n".join(idx) + "\n")


# ----------------------------------------------------------------------------- sphinx hooks
def _generate(app):
    families = load_families()
    refs = arxiv_refs(families)
    specs = write_methods(families, refs)        # in families.toml order
    write_chooser(families, specs)
    write_family_table(families, specs)
    write_plans_table()
    write_citing(families, refs)
    write_gallery(app=None, force=os.environ.get("XPSOLVE_GALLERY_FORCE") == "1")


def _copy_mathjax(app, exc):
    src = getattr(app.config, "xpsolve_mathjax_source", None)
    if exc is None and src and app.builder.format == "html":
        dst = os.path.join(app.outdir, "_static", "mathjax")
        os.makedirs(dst, exist_ok=True)
        shutil.copy2(src, os.path.join(dst, os.path.basename(src)))


def setup(app):
    app.add_config_value("xpsolve_mathjax_source", None, "html")
    app.connect("builder-inited", _generate)
    app.connect("build-finished", _copy_mathjax)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    # python docs/_ext/xpsolve_docs.py           regenerate docs/generated without Sphinx
    # python docs/_ext/xpsolve_docs.py --readme  refresh README.md's generated blocks
    sys.path.insert(0, ROOT)
    if "--readme" in sys.argv[1:]:
        _, text = readme_text()
        with open(README, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        _generate(None)
