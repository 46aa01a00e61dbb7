"""Run every benchmark module (or the ones named) and print their figures."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
import time
from pathlib import Path

import bench


def main() -> None:
    names = sys.argv[1:] or sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(bench.__file__).parent)])
        if m.name.startswith("bench_")
    )
    for name in names:
        module = importlib.import_module(
            f"bench.{name if name.startswith('bench_') else 'bench_' + name}"
        )
        print(f"\n== {module.__name__} ==", flush=True)
        started = time.perf_counter()
        asyncio.run(module.main())
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
