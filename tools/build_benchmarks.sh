#!/usr/bin/env bash
# Rebuild the benchmark pages of the docs from stored suite runs: one command.
#
#   tools/build_benchmarks.sh [PLAN ...]      (default: the published plans below)
#
# For each plan: `python -m xpsolve suite --plan PLAN --output bench-results/PLAN --resume`
# (runs already stored are kept: delete bench-results/PLAN to start afresh), then
# `python -m xpsolve report bench-results/PLAN --markdown docs/benchmarks/PLAN.md
#  --plots docs/benchmarks/PLAN` (tables and figures from the stored runs only).
# Run it on a quiet machine (no tests or other jobs): times are compared within a plan.
set -euo pipefail
cd "$(dirname "$0")/.."
export NUMBA_NUM_THREADS="${NUMBA_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
PLANS=("$@")
# the published plans (docs/benchmarks.md lists their pages)
[ ${#PLANS[@]} -gt 0 ] || PLANS=(quick ot-sns ot-sinkhorn constrained constrained-seeds constrained-scalable bilevel
    bilevel-borep-tune bilevel-borep bilevel-borep-det bilevel-borep-p2 bilevel-borep-p3 completion calibration
    calibration-phase calibration-noise calibration-lifted calibration-scale recovery recovery-ab
    recovery-scale sliding sliding-large sliding-hinge)
mkdir -p docs/benchmarks
for plan in "${PLANS[@]}"; do
    echo "== $plan"
    python -m xpsolve suite --plan "$plan" --output "bench-results/$plan" --resume --quiet --no-plot \
        || [ $? -eq 1 ]   # 1: some runs ended in 'error'; they are stored and reported
    python -m xpsolve report "bench-results/$plan" --markdown "docs/benchmarks/$plan.md" \
        --plots "docs/benchmarks/$plan" --html "bench-results/$plan/report.html" \
        --title "Plan $plan (stored runs)"
done
