"""The pairings taken a group of events at once (the dispatcher's group handler, a rebuild's
batch) equal the same events taken one by one: the same signals (first and last seen), pair
counts and SKU counts, whatever the groups' sizes, with repeats (redeliveries), ties in time,
owners with more signals than ``MAX_PARTNERS`` and merges between them."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import sqlalchemy as sa

from omniretail.db import Database
from omniretail.engagement import pairings
from omniretail.engagement.domain import MAX_PARTNERS
from omniretail.engagement.models import ItemCount, ItemPair, ItemSignal
from omniretail.events import Event
from tests.factories import TenantHandle

START = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)
SKUS = [f"SKU-{n:02d}" for n in range(MAX_PARTNERS + 12)]
PEOPLE = ["cus_a", "cus_b", "cus_c", "cus_d"]


def history(seed: int, count: int) -> list[Event]:
    """``customer.looked_at`` events (a few at the same minute), some delivered twice, and a
    merge now and then."""
    rng = random.Random(seed)
    events: list[Event] = []
    for n in range(count):
        if n % 37 == 36:
            absorbed, survivor = rng.sample(PEOPLE, 2)
            payload: dict[str, Any] = {"absorbed_id": absorbed, "survivor_id": survivor}
            events.append(Event(n, 0, "customer.merged", "customer", absorbed, payload, START))
            continue
        if events and rng.random() < 0.1:
            again = events[rng.randrange(len(events))]
            events.append(Event(n, 0, again.type, again.aggregate_type, "", again.payload, START))
            continue
        items = [
            {
                "type": "view",
                "sku": rng.choice(SKUS),
                "channel": "app",
                "at": (START + dt.timedelta(minutes=rng.randrange(n + 1) // 3)).isoformat(),
            }
            for _ in range(rng.randint(1, 4))
        ]
        payload = {"customer_id": rng.choice(PEOPLE), "items": items}
        events.append(Event(n, 0, "customer.looked_at", "customer", "", payload, START))
    return events


async def pairings_of(db: Database, tenant: TenantHandle) -> dict[str, list[tuple[Any, ...]]]:
    s, p, c = ItemSignal, ItemPair, ItemCount
    reads = {
        "signals": sa.select(s.customer_id, s.kind, s.sku, s.first_at, s.last_at),
        "pairs": sa.select(p.sku, p.kind, p.other, p.customers),
        "counts": sa.select(c.sku, c.kind, c.customers),
    }
    async with db.uow(tenant.id) as uow:
        return {
            name: sorted(tuple(row) for row in await uow.session.execute(read))
            for name, read in reads.items()
        }


async def start_over(db: Database, tenant: TenantHandle) -> None:
    async with db.uow(tenant.id) as uow:
        for model in (ItemPair, ItemCount, ItemSignal):
            await uow.session.execute(sa.delete(model))


async def test_pairings_taken_a_group_at_a_time_equal_those_taken_one_by_one(
    db: Database, tenant: TenantHandle
) -> None:
    events = history(seed=5, count=300)
    for event in events:
        async with db.uow(tenant.id) as uow:
            await pairings.apply_event(uow, event)
    one_by_one = await pairings_of(db, tenant)
    assert len(one_by_one["pairs"]) > 100
    # An owner held more signals than a new one pairs with: the cut-off was exercised.
    owners = [row[0] for row in one_by_one["signals"]]
    assert max(owners.count(owner) for owner in PEOPLE) > MAX_PARTNERS

    rng = random.Random(9)
    for sizes in ([len(events)], [50], [1, 2, 3, 7, 13, 50]):
        await start_over(db, tenant)
        at = 0
        while at < len(events):
            size = rng.choice(sizes)
            async with db.uow(tenant.id) as uow:
                await pairings.apply_events(uow, events[at : at + size])
            at += size
        assert await pairings_of(db, tenant) == one_by_one, sizes

    # The events since the last merge (whose signals are all still where they were put),
    # delivered again as one group, add nothing.
    last_merge = max(i for i, e in enumerate(events) if e.type == "customer.merged")
    async with db.uow(tenant.id) as uow:
        await pairings.apply_events(uow, events[last_merge + 1 :])
    assert await pairings_of(db, tenant) == one_by_one
