"""Kernel micro-benchmarks of xpsolve (the solver-vs-peer comparisons are suite plans).

Laid out for `asv <https://asv.readthedocs.io>`_ (``asv.conf.json`` at the repository root
points here): each module defines classes with ``params`` / ``param_names``, a ``setup``
and ``time_*`` (seconds) or ``track_*`` (a counted quantity, e.g. flops) methods. Without
asv, ``python -m benchmarks [MODULE ...] [--quick] [--repeat R]`` runs them with the small
harness in :mod:`benchmarks.__main__` and prints one Markdown table (medians of ``R``
timings after a warm-up call; classes may define ``quick_params`` for ``--quick``).

Pin threads for comparable figures on a shared machine::

    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m benchmarks bench_recovery_kernels
"""
