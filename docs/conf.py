"""Sphinx configuration for xpsolve (numpydoc + autosummary + MyST for the Markdown pages)."""
import xpsolve

project = "xpsolve"
author = "xpsolve developers"
release = xpsolve.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "numpydoc",
    "myst_parser",
]
autosummary_generate = True
numpydoc_show_class_members = False
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "scipy": ("https://docs.scipy.org/doc/scipy", None),
    "array-api": ("https://data-apis.org/array-api/latest", None),
}
html_theme = "pydata_sphinx_theme"
html_title = "xpsolve"
