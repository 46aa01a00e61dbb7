"""Sourcing latency for a 5-line order over 5,000 locations (the pure engine).

Two shapes: a common cart (many locations hold every line: one shipment) and a rare cart (no
location holds all five, so pairs and triples are searched).
"""

from __future__ import annotations

import random
import time

from bench.common import summary
from omniretail.orders.sourcing import Candidate, Policy, source_order

LOCATIONS = 5_000
SKUS = [f"SKU-{i}" for i in range(5)]


def network(rng: random.Random, holding: float) -> list[Candidate]:
    return [
        Candidate(
            code=f"L{i:05d}",
            distance_km=round(rng.uniform(0.1, 1500.0), 3),
            stock={sku: rng.randint(1, 5) for sku in SKUS if rng.random() < holding},
        )
        for i in range(LOCATIONS)
    ]


def measure(candidates: list[Candidate], repeats: int) -> tuple[list[float], int]:
    lines = [(sku, 1) for sku in SKUS]
    samples = []
    shipments = 0
    for _ in range(repeats):
        started = time.perf_counter()
        plan = source_order(lines, candidates, Policy(max_shipments=3))
        samples.append(time.perf_counter() - started)
        shipments = len(plan.shipments)
    return samples, shipments


async def main() -> None:
    rng = random.Random(5)
    common, n1 = measure(network(rng, holding=0.5), 200)
    print(
        f"5-line order, 5,000 locations, one location suffices ({n1} shipment): {summary(common)}"
    )
    rare, n2 = measure(network(rng, holding=0.12), 100)
    print(f"5-line order, 5,000 locations, split needed ({n2} shipments): {summary(rare)}")
