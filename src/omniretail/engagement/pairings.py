"""Item-to-item pair counts, kept up to date from the outbox.

Each completed order adds ``bought`` signals for its customer (a guest order is a basket of its
own), each ``customer.looked_at`` event ``looked`` signals. A signal is one row per (customer,
kind, SKU); only a row that is new adds to the pair counts, pairing the SKU with the customer's
:data:`~omniretail.engagement.domain.MAX_PARTNERS` most recent signals of the same kind, in both
directions, and counts one more customer for the SKU itself (its popularity, which suggestions
weigh a pairing against). So a count is "how many customers bought (looked at) both", a
redelivered event adds nothing, and :func:`do_rebuild_pairings` replaying the kept outbox in
order gives the same counts.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping

import sqlalchemy as sa

from omniretail.db import UnitOfWork, dialect_insert
from omniretail.engagement.domain import MAX_PARTNERS, Signal, signal_owner
from omniretail.engagement.models import ExperienceScan, ItemCount, ItemPair, ItemSignal
from omniretail.errors import NotFound
from omniretail.events import Event, kept_events
from omniretail.orders import queries as orders

# The events the pairings are made of, for a rebuild.
FED_BY = ("order.completed", "customer.looked_at", "customer.merged")


async def _raise_last_at(
    uow: UnitOfWork, owner: str, kind: Signal, sku: str, at: dt.datetime
) -> None:
    await uow.session.execute(
        sa.update(ItemSignal)
        .where(
            ItemSignal.customer_id == owner,
            ItemSignal.kind == kind.value,
            ItemSignal.sku == sku,
            ItemSignal.last_at < at,
        )
        .values(last_at=at)
        .execution_options(synchronize_session=False)
    )


async def _add_pairs(uow: UnitOfWork, kind: Signal, pairs: Counter[tuple[str, str]]) -> None:
    """Add to the pair counts in one statement (a multi-row upsert)."""
    if not pairs:
        return
    table = ItemPair.__table__
    tenant_id = uow.require_tenant()
    rows = [
        {"tenant_id": tenant_id, "sku": a, "kind": kind.value, "other": b, "customers": n}
        for (a, b), n in sorted(pairs.items())
    ]
    insert = dialect_insert(uow, table)
    await uow.session.execute(
        insert.on_conflict_do_update(
            index_elements=["tenant_id", "sku", "kind", "other"],
            set_={"customers": table.c.customers + insert.excluded.customers},
        ),
        rows,
    )


async def _add_counts(uow: UnitOfWork, kind: Signal, skus: list[str]) -> None:
    """One more customer for each of these SKUs (their new signals), in one upsert."""
    if not skus:
        return
    table = ItemCount.__table__
    tenant_id = uow.require_tenant()
    insert = dialect_insert(uow, table)
    await uow.session.execute(
        insert.on_conflict_do_update(
            index_elements=["tenant_id", "sku", "kind"],
            set_={"customers": table.c.customers + insert.excluded.customers},
        ),
        [
            {"tenant_id": tenant_id, "sku": sku, "kind": kind.value, "customers": 1}
            for sku in sorted(skus)
        ],
    )


async def do_note_signals(
    uow: UnitOfWork, *, owner: str, kind: Signal, seen: Mapping[str, dt.datetime]
) -> int:
    """Record that ``owner`` bought or looked at these SKUs (at these times); returns how many
    pairs were counted (0 when every SKU was already known: a repeat or a redelivery)."""
    if not seen:
        return 0
    known = dict(
        (
            await uow.session.execute(
                sa.select(ItemSignal.sku, ItemSignal.last_at).where(
                    ItemSignal.customer_id == owner,
                    ItemSignal.kind == kind.value,
                    ItemSignal.sku.in_(list(seen)),
                )
            )
        ).all()
    )
    for sku, at in seen.items():
        if sku in known and at > known[sku]:
            await _raise_last_at(uow, owner, kind, sku, at)
    new = sorted(((at, sku) for sku, at in seen.items() if sku not in known))
    if not new:
        return 0
    partners = list(
        await uow.session.scalars(
            sa.select(ItemSignal.sku)
            .where(ItemSignal.customer_id == owner, ItemSignal.kind == kind.value)
            .order_by(ItemSignal.last_at.desc(), ItemSignal.id.desc())
            .limit(MAX_PARTNERS)
        )
    )
    pairs: Counter[tuple[str, str]] = Counter()
    counted: list[str] = []
    for at, sku in new:
        inserted = await uow.session.execute(
            dialect_insert(uow, ItemSignal.__table__)
            .values(
                tenant_id=uow.require_tenant(),
                customer_id=owner,
                kind=kind.value,
                sku=sku,
                first_at=at,
                last_at=at,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "customer_id", "kind", "sku"])
        )
        if inserted.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another delivery of the same event got there first
        counted.append(sku)
        for partner in partners[:MAX_PARTNERS]:
            pairs[(sku, partner)] += 1
            pairs[(partner, sku)] += 1
        partners.insert(0, sku)
    await _add_pairs(uow, kind, pairs)
    await _add_counts(uow, kind, counted)
    return len(pairs) // 2


async def do_note_order(uow: UnitOfWork, *, order_id: str, completed_at: dt.datetime) -> int:
    """A completed order's SKUs become its customer's ``bought`` signals. An order this
    database does not hold (announced from elsewhere) pairs nothing."""
    try:
        order = await orders.get_order(uow, order_id)
    except NotFound:
        return 0
    seen = {line.sku: completed_at for line in order.lines}
    owner = signal_owner(order.customer_id, order.id)
    return await do_note_signals(uow, owner=owner, kind=Signal.BOUGHT, seen=seen)


async def do_note_looked_at(
    uow: UnitOfWork, *, customer_id: str, items: list[tuple[str, dt.datetime]]
) -> int:
    seen: dict[str, dt.datetime] = {}
    for sku, at in items:
        seen[sku] = max(seen.get(sku, at), at)
    return await do_note_signals(uow, owner=customer_id, kind=Signal.LOOKED, seen=seen)


async def _move_signals(uow: UnitOfWork, absorbed_id: str, survivor_id: str) -> None:
    rows = (
        await uow.session.scalars(
            sa.select(ItemSignal).where(ItemSignal.customer_id == absorbed_id)
        )
    ).all()
    for row in rows:
        await uow.session.execute(
            dialect_insert(uow, ItemSignal.__table__)
            .values(
                tenant_id=uow.require_tenant(),
                customer_id=survivor_id,
                kind=row.kind,
                sku=row.sku,
                first_at=row.first_at,
                last_at=row.last_at,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "customer_id", "kind", "sku"])
        )
        await _raise_last_at(uow, survivor_id, Signal(row.kind), row.sku, row.last_at)
    await uow.session.execute(sa.delete(ItemSignal).where(ItemSignal.customer_id == absorbed_id))


async def _move_scans(uow: UnitOfWork, absorbed_id: str, survivor_id: str) -> None:
    scans = (
        await uow.session.scalars(
            sa.select(ExperienceScan).where(ExperienceScan.customer_id == absorbed_id)
        )
    ).all()
    for scan in scans:
        await uow.session.execute(
            dialect_insert(uow, ExperienceScan.__table__)
            .values(
                tenant_id=uow.require_tenant(),
                customer_id=survivor_id,
                sku=scan.sku,
                location=scan.location,
                staff=scan.staff,
                scanned_at=scan.scanned_at,
            )
            .on_conflict_do_nothing(
                index_elements=["tenant_id", "customer_id", "sku", "location", "scanned_at"]
            )
        )
    await uow.session.execute(
        sa.delete(ExperienceScan).where(ExperienceScan.customer_id == absorbed_id)
    )


async def do_move_customer(uow: UnitOfWork, *, absorbed_id: str, survivor_id: str) -> None:
    """A merge: the absorbed customer's signals and experience scans become the survivor's.
    The pair counts stay as they are (each person was counted as they were seen)."""
    await _move_signals(uow, absorbed_id, survivor_id)
    await _move_scans(uow, absorbed_id, survivor_id)


async def apply_event(uow: UnitOfWork, event: Event) -> None:
    """Replay one event of :data:`FED_BY` into the signals and pair counts (a rebuild)."""
    payload = event.payload
    if event.type == "order.completed":
        await do_note_order(
            uow,
            order_id=str(payload["order_id"]),
            completed_at=dt.datetime.fromisoformat(str(payload["completed_at"])),
        )
    elif event.type == "customer.looked_at":
        await do_note_looked_at(
            uow,
            customer_id=str(payload["customer_id"]),
            items=[
                (str(i["sku"]), dt.datetime.fromisoformat(str(i["at"]))) for i in payload["items"]
            ],
        )
    elif event.type == "customer.merged":
        # Scans are not rebuilt (they are credits already given): a replay moves signals only.
        await _move_signals(uow, str(payload["absorbed_id"]), str(payload["survivor_id"]))


async def do_rebuild_pairings(uow: UnitOfWork, *, batch: int = 2000) -> int:
    """Drop the tenant's signals, pair counts and SKU counts and replay every kept event that
    feeds them, in order. Returns how many events were replayed. (Experience scans are not
    rebuilt: they are credits already given, explained on the orders.)"""
    await uow.session.execute(sa.delete(ItemPair))
    await uow.session.execute(sa.delete(ItemCount))
    await uow.session.execute(sa.delete(ItemSignal))
    count = 0
    async for events in kept_events(uow, FED_BY, batch=batch):
        for event in events:
            await apply_event(uow, event)
        count += len(events)
    return count
