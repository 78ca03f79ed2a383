"""Mercato's benchmarks: a load generator, a runner, and the benchmarks themselves.

Run ``python -m bench`` (see bench/README.md). Importing this package imports nothing heavy,
so the load generator's process starts quickly.
"""
