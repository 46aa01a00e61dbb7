"""The sourcing engine: which locations fulfil an order. Pure functions, no I/O.

Rule order (as Shopify and HotWax do, and as shoppers feel it): first the fewest shipments,
then the least distance to the customer (the sum over the locations used), then the location
code as a stable tie-breaker. A plan never takes more than a location's available stock and
never uses more than ``max_shipments`` locations.

Search: one location is checked against every candidate (a linear scan). Pairs and triples are
searched exhaustively over a pool (the nearest candidates plus the nearest holders of each SKU),
up to an iteration cap; beyond that a greedy cover is used and the explanation says so.
"""

from __future__ import annotations

import heapq
import itertools
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Candidate:
    """A location that might fulfil: its distance to the destination and what it has."""

    code: str
    distance_km: float
    stock: Mapping[str, int]
    excluded: str | None = None  # why it cannot serve at all (closed, at capacity, ...)


@dataclass(frozen=True, slots=True)
class Shipment:
    location: str
    distance_km: float
    lines: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    location: str
    distance_km: float
    chosen: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    shipments: tuple[Shipment, ...]
    unserved: tuple[tuple[str, int], ...]
    explanation: tuple[Verdict, ...] = ()
    method: str = "exact"

    @property
    def complete(self) -> bool:
        return not self.unserved

    @property
    def total_distance_km(self) -> float:
        return sum(s.distance_km for s in self.shipments)


@dataclass(slots=True)
class Policy:
    max_shipments: int = 3
    pool_size: int = 40
    holders_per_sku: int = 5
    max_combinations: int = 20_000
    explain_top: int = 10
    notes: list[str] = field(default_factory=list)


def merge_lines(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Two lines of one SKU are one demand."""
    wanted: dict[str, int] = {}
    for sku, qty in lines:
        if qty <= 0:
            raise ValueError(f"quantity of {sku} must be positive")
        wanted[sku] = wanted.get(sku, 0) + qty
    return wanted


def source_order(
    lines: Iterable[tuple[str, int]],
    candidates: Sequence[Candidate],
    policy: Policy | None = None,
) -> Plan:
    policy = policy or Policy()
    wanted = merge_lines(lines)
    usable, best = _scan(wanted, candidates)
    method = "exact"
    if best is None and policy.max_shipments >= 2:
        best, method = _best_combination(wanted, _pool(wanted, usable, policy), policy)
    if best is None:
        # Nothing covers within the limits: serve what the greedy cover can, name the rest.
        best = _greedy(wanted, usable, policy.max_shipments)
        method = "greedy"
    shipments = _allocate(wanted, best or [])
    unserved = _unserved(wanted, shipments)
    return Plan(
        shipments=tuple(shipments),
        unserved=unserved,
        explanation=_explain(wanted, candidates, shipments, policy),
        method=method,
    )


def _useful(candidate: Candidate, wanted: Mapping[str, int]) -> bool:
    return any(candidate.stock.get(sku, 0) > 0 for sku in wanted)


def _covers(wanted: Mapping[str, int], combo: Sequence[Candidate]) -> bool:
    return all(sum(c.stock.get(sku, 0) for c in combo) >= qty for sku, qty in wanted.items())


_nearness = operator.attrgetter("distance_km", "code")


def _scan(
    wanted: Mapping[str, int], candidates: Sequence[Candidate]
) -> tuple[list[Candidate], list[Candidate] | None]:
    """One pass (the hot loop at thousands of locations): the candidates holding anything
    wanted, and the nearest one holding everything."""
    items = tuple(wanted.items())
    usable: list[Candidate] = []
    best: Candidate | None = None
    for c in candidates:
        if c.excluded is not None:
            continue
        stock = c.stock
        useful = False
        whole = True
        for sku, qty in items:
            have = stock.get(sku, 0)
            if have > 0:
                useful = True
            if have < qty:
                whole = False
        if not useful:
            continue
        usable.append(c)
        if whole and (best is None or _nearness(c) < _nearness(best)):
            best = c
    return usable, [best] if best is not None else None


def _pool(
    wanted: Mapping[str, int], usable: Sequence[Candidate], policy: Policy
) -> list[Candidate]:
    nearest = heapq.nsmallest(policy.pool_size, usable, key=_nearness)
    chosen: dict[str, Candidate] = {c.code: c for c in nearest}
    for sku in wanted:
        holders = (c for c in usable if c.stock.get(sku, 0) > 0)
        chosen.update(
            (c.code, c) for c in heapq.nsmallest(policy.holders_per_sku, holders, key=_nearness)
        )
    return sorted(chosen.values(), key=_nearness)


def _best_combination(
    wanted: Mapping[str, int], pool: Sequence[Candidate], policy: Policy
) -> tuple[list[Candidate] | None, str]:
    """The cheapest covering combination of the fewest locations in the pool. The method is
    ``exact`` when the search finished, ``capped`` when the iteration cap cut it short."""
    budget = policy.max_combinations
    for size in range(2, min(policy.max_shipments, len(pool)) + 1):
        best: tuple[float, tuple[str, ...], list[Candidate]] | None = None
        for combo in itertools.combinations(pool, size):
            budget -= 1
            if budget < 0:
                return (best[2] if best else None), "capped"
            if _covers(wanted, combo):
                score = (sum(c.distance_km for c in combo), tuple(c.code for c in combo))
                if best is None or score < best[:2]:
                    best = (score[0], score[1], list(combo))
        if best is not None:
            return best[2], "exact"
    return None, "exact"


def _greedy(
    wanted: Mapping[str, int], usable: Sequence[Candidate], max_shipments: int
) -> list[Candidate] | None:
    """Pick the location covering the most remaining units (nearest on ties), repeatedly."""
    remaining = dict(wanted)
    picked: list[Candidate] = []
    left = list(usable)
    while any(remaining.values()) and len(picked) < max_shipments and left:
        gain = max(
            left,
            key=lambda c: (
                sum(min(c.stock.get(s, 0), q) for s, q in remaining.items()),
                -c.distance_km,
            ),
        )
        if sum(min(gain.stock.get(s, 0), q) for s, q in remaining.items()) == 0:
            break
        picked.append(gain)
        left.remove(gain)
        for sku in remaining:
            remaining[sku] -= min(gain.stock.get(sku, 0), remaining[sku])
    return picked or None


def _allocate(wanted: Mapping[str, int], combo: Sequence[Candidate]) -> list[Shipment]:
    """Each SKU from the nearest location of the combination that has it all, else split
    nearest first. SKUs are independent, so a covering combination always allocates."""
    ordered = sorted(combo, key=lambda c: (c.distance_km, c.code))
    per_location: dict[str, list[tuple[str, int]]] = {c.code: [] for c in ordered}
    for sku, qty in wanted.items():
        whole = next((c for c in ordered if c.stock.get(sku, 0) >= qty), None)
        if whole is not None:
            per_location[whole.code].append((sku, qty))
            continue
        left = qty
        for c in ordered:
            take = min(c.stock.get(sku, 0), left)
            if take > 0:
                per_location[c.code].append((sku, take))
                left -= take
            if left == 0:
                break
    return [
        Shipment(location=c.code, distance_km=c.distance_km, lines=tuple(per_location[c.code]))
        for c in ordered
        if per_location[c.code]
    ]


def _unserved(
    wanted: Mapping[str, int], shipments: Sequence[Shipment]
) -> tuple[tuple[str, int], ...]:
    served: dict[str, int] = {}
    for shipment in shipments:
        for sku, qty in shipment.lines:
            served[sku] = served.get(sku, 0) + qty
    return tuple(
        (sku, qty - served.get(sku, 0)) for sku, qty in wanted.items() if served.get(sku, 0) < qty
    )


def _explain(
    wanted: Mapping[str, int],
    candidates: Sequence[Candidate],
    shipments: Sequence[Shipment],
    policy: Policy,
) -> tuple[Verdict, ...]:
    chosen = {s.location for s in shipments}
    verdicts = [
        Verdict(
            s.location,
            s.distance_km,
            True,
            "nearest location holding every line"
            if len(shipments) == 1
            else f"part of the nearest plan with {len(shipments)} shipments",
        )
        for s in shipments
    ]
    others = sorted(
        (c for c in candidates if c.code not in chosen), key=lambda c: (c.distance_km, c.code)
    )
    for c in _worth_explaining(wanted, others, shipments, policy.explain_top):
        verdicts.append(Verdict(c.code, c.distance_km, False, _why_not(c, wanted, shipments)))
    return tuple(verdicts)


def _worth_explaining(
    wanted: Mapping[str, int],
    others: Sequence[Candidate],
    shipments: Sequence[Shipment],
    top: int,
) -> list[Candidate]:
    """The ``top`` nearest locations not chosen, but first those that matter: excluded
    locations that hold a wanted line and are nearer than the plan's farthest shipment (the
    shopper would ask why the nearer store did not send it). Nearest first."""
    farthest = max((s.distance_km for s in shipments), default=float("inf"))
    matter = [
        c
        for c in others
        if c.excluded is not None and c.distance_km <= farthest and _useful(c, wanted)
    ][:top]
    kept = {c.code for c in matter}
    rest = [c for c in others if c.code not in kept][: top - len(matter)]
    return sorted([*matter, *rest], key=_nearness)


def _why_not(c: Candidate, wanted: Mapping[str, int], shipments: Sequence[Shipment]) -> str:
    if c.excluded is not None:
        return c.excluded
    short = [sku for sku, qty in wanted.items() if c.stock.get(sku, 0) < qty]
    if len(short) == len(wanted) and not _useful(c, wanted):
        return "has none of the lines"
    if short:
        nearest = min((s.distance_km for s in shipments), default=0.0)
        if c.distance_km < nearest or len(shipments) > 1:
            return f"short of {', '.join(sorted(short))}"
        return f"short of {', '.join(sorted(short))}; farther than the chosen plan"
    return "farther than the chosen location"


def plan_pickup(
    lines: Iterable[tuple[str, int]],
    store: Candidate,
    others: Sequence[Candidate],
    policy: Policy | None = None,
) -> tuple[Plan, Plan | None, list[Candidate]]:
    """A pickup at ``store``: what it holds itself, a transfer plan (ship to store) for the
    rest from other locations, and the nearby stores that could serve the whole order instead.

    Returns (at the store, transfers into the store or None, whole-order alternatives).
    """
    policy = policy or Policy()
    wanted = merge_lines(lines)
    here = {sku: min(qty, store.stock.get(sku, 0)) for sku, qty in wanted.items()}
    here = {sku: q for sku, q in here.items() if q > 0}
    local = Plan(
        shipments=(Shipment(store.code, store.distance_km, tuple(here.items())),) if here else (),
        unserved=tuple(
            (s, wanted[s] - here.get(s, 0)) for s in wanted if here.get(s, 0) < wanted[s]
        ),
    )
    transfer = None
    if local.unserved and store.excluded is None:
        transfer = source_order(local.unserved, [c for c in others if c.code != store.code], policy)
    whole = [
        c
        for c in sorted(others, key=lambda c: (c.distance_km, c.code))
        if c.code != store.code and c.excluded is None and _covers(wanted, [c])
    ][:5]
    return local, transfer, whole
