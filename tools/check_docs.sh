#!/usr/bin/env bash
# Build and check the documentation (CI calls this; a few minutes on 2 cores).
#
#   tools/check_docs.sh [OUTDIR]        (default OUTDIR: docs/_build/html)
#
# 1. installs what it needs: the requirements of ".[docs,plot]" (+ pytest, array-api-strict), MathJax 3 from npm into docs/_mathjax
#    (served locally, so math renders offline), Debian's chromium (apt, when missing and root);
# 2. builds the HTML with `sphinx-build -W -n` (warnings are errors; intersphinx is used only when
#    online), running the gallery scripts afresh;
# 3. runs the documentation examples (quick start, landing page, one per method, gallery scripts);
# 4. opens the index, method pages, the quick start, the API page of solve_ot and the gallery pages in
#    headless Chromium: no console errors, no broken images, no raw LaTeX.
# Set XPSOLVE_DOCS_SKIP_INSTALL=1 to skip step 1 (everything already installed).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-docs/_build/html}"
export NUMBA_NUM_THREADS="${NUMBA_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
export MPLBACKEND=Agg
# intersphinx off unless asked for (XPSOLVE_DOCS_INTERSPHINX=1): an unreachable inventory is a
# warning, and warnings fail the build
[ "${XPSOLVE_DOCS_INTERSPHINX:-0}" = "1" ] || export XPSOLVE_DOCS_OFFLINE=1
t0=$(date +%s)
step() { echo "== [$(( $(date +%s) - t0 ))s] $*"; }

if [ "${XPSOLVE_DOCS_SKIP_INSTALL:-0}" != "1" ]; then
    step "install: the docs and plot extras of pyproject.toml, pytest"
    # the extras' requirements only: the docs document this checkout (docs/conf.py puts it first
    # on sys.path), so an installed xpsolve, if any, is left alone
    mapfile -t reqs < <(python - <<'PY'
import sys
try:
    import tomllib
except ModuleNotFoundError:
    import tomli as tomllib
extras = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join(deps + extras["docs"] + extras["plot"]))
PY
)
    # + what the documentation examples import (pytest, array-api-strict for the quick start)
    python -m pip install -q "${reqs[@]}" "pytest>=7" "array-api-strict>=2.2"
    if [ ! -f docs/_mathjax/node_modules/mathjax/es5/tex-svg-full.js ]; then
        step "install: MathJax 3 (npm) into docs/_mathjax"
        command -v npm >/dev/null || { [ "$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq npm >/dev/null; }
        npm install --silent --no-audit --no-fund --prefix docs/_mathjax mathjax@3 >/dev/null
    fi
    if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
        step "install: chromium (apt)"
        SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
    fi
fi
test -f docs/_mathjax/node_modules/mathjax/es5/tex-svg-full.js || {
    echo "check_docs: local MathJax missing (docs/_mathjax); math would need a network" >&2; exit 1; }

step "sphinx-build -W -n -b html docs $OUT (gallery scripts run afresh)"
rm -rf "$OUT" docs/generated
XPSOLVE_GALLERY_FORCE=1 python -m sphinx -W -n --keep-going -q -b html docs "$OUT"
echo "   0 warnings"

step "documentation examples (quick start, landing page, method pages, gallery scripts); numpydoc validation"
python -m pytest -q -p no:cacheprovider -o addopts="" tests/test_docs_examples.py tests/test_public_docstrings.py

step "headless Chromium: console errors, broken images, raw LaTeX"
pages=(index.html quickstart.html chooser.html citing.html generated/gallery/index.html
       generated/gallery/plot_ot_sns_vs_sinkhorn.html generated/xpsolve.solve_ot.html
       methods/ot_sns.html)
for f in "$OUT"/generated/methods/*.html; do pages+=("generated/methods/$(basename "$f")"); done
for f in "$OUT"/generated/gallery/plot_*.html; do
    [ "$(basename "$f")" = plot_ot_sns_vs_sinkhorn.html ] || pages+=("generated/gallery/$(basename "$f")")
done
python tools/check_docs_browser.py "$OUT" "${pages[@]}"
step "docs OK"
