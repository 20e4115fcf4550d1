"""Sphinx configuration for xpsolve (numpydoc + autosummary + MyST for the Markdown pages).

The build works offline: intersphinx is used only when its inventories are reachable,
MathJax is served from ``_static`` when ``docs/_mathjax`` holds a local copy (see
``tools/check_docs.sh``), and the method pages, the chooser table, the citing page and the
gallery are generated at build time by ``docs/_ext/xpsolve_docs.py``.
"""
import os
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)              # document this checkout, not an installed copy
sys.path.insert(0, os.path.join(HERE, "_ext"))

import xpsolve  # noqa: E402

project = "xpsolve"
author = "xpsolve developers"
copyright = "xpsolve developers"
release = xpsolve.__version__
version = release
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "numpydoc",
    "myst_parser",
    "xpsolve_docs",
]
autosummary_generate = True
templates_path = ["_templates"]
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
autodoc_default_options = {"member-order": "bysource"}
smartquotes = False          # keep method="sns" as typed in titles and text
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_mathjax", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]


def _online(host="docs.python.org", port=443, timeout=1.5):
    if os.environ.get("XPSOLVE_DOCS_OFFLINE"):
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


if _online():
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
    }
    nitpick_ignore_regex = []
else:
    # offline: no inventories; references into these projects are left as plain text
    intersphinx_mapping = {}
    nitpick_ignore_regex = [(r"py:.*", r"(scipy|numpy|python|concurrent|types)(\..*)?")]
# libraries without an inventory here: references to them stay plain text
nitpick_ignore_regex += [(r"py:.*", r"(torch|cupy|dask|distributed|array_api\w*|pylops|ot)(\..*)?")]
nitpick_ignore = [("py:class", "optional"), ("py:class", "callable"),
                  ("py:class", "array"), ("py:class", "array-like"),
                  ]

# MathJax 3, served locally when a copy is present (tools/check_docs.sh installs it with npm).
_MATHJAX = os.path.join(HERE, "_mathjax", "node_modules", "mathjax", "es5", "tex-svg-full.js")
html_static_path = ["_static"]
if os.path.exists(_MATHJAX):
    mathjax_path = "mathjax/tex-svg-full.js"
    xpsolve_mathjax_source = _MATHJAX     # copied into _static/mathjax by xpsolve_docs
html_theme = "pydata_sphinx_theme"
html_title = "xpsolve"
html_css_files = ["xpsolve.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_context = {"default_mode": "light"}
# single pages without sub-pages: no empty navigation column, more room for tables
html_sidebars = {p: [] for p in ("index", "quickstart", "installation", "chooser", "citing",
                                 "changelog", "conventions", "problems", "developers")}
