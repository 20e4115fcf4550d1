"""Benchmark problem library: generators with seed, size and backend, and their registry.

Problems are built on the host from ``numpy.random.default_rng(seed)`` and moved to
the requested namespace, so a seed is one instance on every backend.
"""
from ._base import Problem
from ._registry import ProblemSpec, get_problem, list_problems, register_problem

__all__ = ["Problem", "ProblemSpec", "get_problem", "list_problems", "register_problem"]
