"""The sourcing engine: fewest shipments first, then least distance; never beyond stock."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from omniretail.orders.sourcing import Candidate, Policy, plan_pickup, source_order

WAREHOUSE = Candidate("WH", 40.0, {"A": 100, "B": 100, "C": 100})


def test_the_nearest_store_holding_every_line_beats_a_farther_warehouse() -> None:
    near = Candidate("ST-NEAR", 2.0, {"A": 1, "B": 1})
    nearer_but_short = Candidate("ST-SHORT", 1.0, {"A": 5})
    plan = source_order([("A", 1), ("B", 1)], [WAREHOUSE, near, nearer_but_short])
    assert [s.location for s in plan.shipments] == ["ST-NEAR"]
    assert plan.complete
    reasons = {v.location: v.reason for v in plan.explanation}
    assert reasons["ST-SHORT"] == "short of B"
    assert reasons["WH"] == "farther than the chosen location"


def test_an_order_no_single_store_can_serve_is_split_into_the_fewest_shipments() -> None:
    stores = [
        Candidate("S1", 1.0, {"A": 1}),
        Candidate("S2", 2.0, {"B": 1}),
        Candidate("S3", 3.0, {"C": 1}),
        Candidate("S4", 4.0, {"B": 1, "C": 1}),
    ]
    plan = source_order([("A", 1), ("B", 1), ("C", 1)], stores)
    assert sorted(s.location for s in plan.shipments) == ["S1", "S4"]


def test_excluded_locations_are_never_used_and_say_why() -> None:
    closed = Candidate("CLOSED", 0.5, {"A": 9}, excluded="closed now")
    full = Candidate("FULL", 0.6, {"A": 9}, excluded="at daily capacity")
    plan = source_order([("A", 2)], [closed, full, Candidate("OK", 3.0, {"A": 2})])
    assert [s.location for s in plan.shipments] == ["OK"]
    reasons = {v.location: v.reason for v in plan.explanation}
    assert reasons == {
        "OK": "nearest location holding every line",
        "CLOSED": "closed now",
        "FULL": "at daily capacity",
    }


def test_an_excluded_holder_nearer_than_the_plan_is_explained_beyond_the_nearest_ten() -> None:
    short = [Candidate(f"NEAR-{i:02d}", 1.0 + i / 10, {"A": 1}) for i in range(12)]
    full = Candidate("FULL", 4.0, {"A": 5}, excluded="at its daily capacity of 3 orders")
    far = Candidate("FAR", 9.0, {"A": 5})
    plan = source_order([("A", 2)], [*short, full, far], Policy(explain_top=10))
    assert [s.location for s in plan.shipments] == ["FAR"]
    reasons = {v.location: v.reason for v in plan.explanation}
    assert reasons["FULL"] == "at its daily capacity of 3 orders"
    assert len(plan.explanation) == 11  # the chosen one and ten others
    assert [v.distance_km for v in plan.explanation[1:]] == sorted(
        v.distance_km for v in plan.explanation[1:]
    )


def test_an_excluded_holder_farther_than_the_plan_does_not_crowd_out_nearer_ones() -> None:
    near = [Candidate(f"NEAR-{i}", 1.0 + i, {"B": 1}) for i in range(3)]
    chosen = Candidate("OK", 0.5, {"A": 1})
    beyond = Candidate("BEYOND", 50.0, {"A": 1}, excluded="closed now")
    plan = source_order([("A", 1)], [chosen, *near, beyond], Policy(explain_top=3))
    assert [v.location for v in plan.explanation] == ["OK", "NEAR-0", "NEAR-1", "NEAR-2"]


def test_what_nobody_has_is_named_as_unserved() -> None:
    plan = source_order([("A", 3), ("Z", 1)], [Candidate("S1", 1.0, {"A": 2})])
    assert plan.unserved == (("A", 1), ("Z", 1))
    assert not plan.complete


def test_max_shipments_is_respected() -> None:
    stores = [Candidate(f"S{i}", float(i), {sku: 1}) for i, sku in enumerate("ABCD")]
    plan = source_order([(s, 1) for s in "ABCD"], stores, Policy(max_shipments=2))
    assert len(plan.shipments) <= 2
    assert len(plan.unserved) == 2


def test_a_pickup_store_short_of_a_line_gets_a_transfer_and_alternatives() -> None:
    store = Candidate("PICK", 0.0, {"A": 1})
    other = Candidate("S2", 5.0, {"A": 1, "B": 1})
    local, transfer, whole = plan_pickup([("A", 1), ("B", 1)], store, [other, WAREHOUSE])
    assert local.shipments[0].lines == (("A", 1),)
    assert transfer is not None
    assert [s.location for s in transfer.shipments] == ["S2"]
    assert transfer.shipments[0].lines == (("B", 1),)
    assert [c.code for c in whole] == ["S2", "WH"]


SKUS = ["A", "B", "C"]
candidates_strategy = st.lists(
    st.builds(
        lambda i, d, stock: Candidate(f"L{i}", d, stock),
        st.integers(0, 10_000),
        st.floats(0, 50, allow_nan=False).map(lambda x: round(x, 2)),
        st.dictionaries(st.sampled_from(SKUS), st.integers(0, 3), max_size=3),
    ),
    max_size=7,
    unique_by=lambda c: c.code,
)
lines_strategy = st.dictionaries(st.sampled_from(SKUS), st.integers(1, 4), min_size=1).map(
    lambda d: list(d.items())
)


def brute_force(
    lines: list[tuple[str, int]], cands: list[Candidate], max_k: int
) -> tuple[int, float] | None:
    for k in range(1, max_k + 1):
        costs = [
            sum(c.distance_km for c in combo)
            for combo in itertools.combinations(cands, k)
            if all(sum(c.stock.get(s, 0) for c in combo) >= q for s, q in lines)
        ]
        if costs:
            return k, min(costs)
    return None


@settings(max_examples=300, deadline=None)
@given(lines=lines_strategy, cands=candidates_strategy)
def test_the_plan_is_optimal_and_never_exceeds_stock(
    lines: list[tuple[str, int]], cands: list[Candidate]
) -> None:
    plan = source_order(lines, cands, Policy(max_shipments=3))
    stock = {c.code: c.stock for c in cands}
    taken: dict[tuple[str, str], int] = {}
    for shipment in plan.shipments:
        for sku, qty in shipment.lines:
            assert qty > 0
            taken[(shipment.location, sku)] = taken.get((shipment.location, sku), 0) + qty
    for (location, sku), qty in taken.items():
        assert qty <= stock[location].get(sku, 0)
    assert len(plan.shipments) <= 3
    served = {sku: sum(q for (_, s), q in taken.items() if s == sku) for sku, _ in lines}
    assert all(served[sku] + dict(plan.unserved).get(sku, 0) == qty for sku, qty in lines)

    best = brute_force(lines, cands, 3)
    if best is None:
        assert not plan.complete
    else:
        assert plan.complete
        assert len(plan.shipments) == best[0]
        assert abs(plan.total_distance_km - best[1]) < 1e-9
