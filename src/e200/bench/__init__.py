"""Benchmarks run by `e200 bench …` (results recorded in docs/performance.md)."""
