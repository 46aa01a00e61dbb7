"""Benchmarks: each ``bench_*.py`` module has ``async def main(args) -> None`` printing figures.

Run all with ``make bench`` (``python -m bench``) or one with ``python -m bench NAME``. They are
never part of the test suite; figures are medians and percentiles over repeated runs, and each
benchmark prints a baseline measured by the same script so that ratios stay honest on a noisy
machine.
"""
