"""Eight clients placing one-line ship checkouts at once over HTTP (``omni serve`` at its
default worker count) in a chain of 3,000 locations, on SQLite and PostgreSQL: p50, p99 and
max latency, and p99 / p50.

Goal (issue 17): on SQLite p99 <= 10 x p50 (it was 4.4-6.6 s against a 71 ms p50: the write
lock was held through pricing and sourcing, and waiters were not served in turn).
"""

from __future__ import annotations

import asyncio
import random
import time

import httpx

from bench.bench_network_scale import CENTRE, seed
from bench.common import fresh_pg_database, fresh_sqlite_url, open_database, served

LOCATIONS = 3_000
CLIENTS = 8
PER_CLIENT = 40


async def prepare(url: str) -> str:
    db = await asyncio.to_thread(open_database, url)
    try:
        _, key = await seed(db, LOCATIONS)
        return key
    finally:
        await db.dispose()


async def run_clients(base: str, key: str) -> tuple[list[float], int]:
    samples: list[float] = []
    failed = 0

    async def client(n: int) -> None:
        nonlocal failed
        rng = random.Random(n)
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as http:
            for _ in range(PER_CLIENT):
                body = {
                    "channel": "app",
                    "lines": [{"sku": "HERO", "qty": 1}],
                    "fulfillment": {
                        "mode": "ship",
                        "address": {
                            "lat": CENTRE[0] + rng.uniform(-0.1, 0.1),
                            "lng": CENTRE[1] + rng.uniform(-0.1, 0.1),
                        },
                    },
                    "payments": [{"method": "sandbox", "amount": 9900}],
                }
                started = time.perf_counter()
                response = await http.post("/v1/orders", json=body)
                samples.append(time.perf_counter() - started)
                if response.status_code != 201:
                    failed += 1

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return samples, failed


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def main() -> None:
    for backend in ("sqlite", "postgresql"):
        if backend == "sqlite":
            url = fresh_sqlite_url()
        else:
            url = await fresh_pg_database("omni_bench_tail")
        key = await prepare(url)
        async with served(url) as base:
            await run_clients(base, key)  # warm up
            started = time.perf_counter()
            samples, failed = await run_clients(base, key)
            elapsed = time.perf_counter() - started
        ordered = sorted(samples)
        p50, p99 = quantile(ordered, 0.5), quantile(ordered, 0.99)
        print(
            f"   {backend:10} {CLIENTS} clients, {len(samples)} one-line ship checkouts over "
            f"{LOCATIONS:,} locations: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"max {ordered[-1] * 1000:.1f} ms, p99/p50 {p99 / p50:.1f}, "
            f"{len(samples) / elapsed:.0f} orders/s, failed {failed}",
            flush=True,
        )
