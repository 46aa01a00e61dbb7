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
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa

from omniretail.db import UnitOfWork, add_up, dialect_insert
from omniretail.engagement.domain import MAX_PARTNERS, Signal, is_guest_basket, signal_owner
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
    tenant_id = uow.require_tenant()
    rows = [
        {"tenant_id": tenant_id, "sku": a, "kind": kind.value, "other": b, "customers": n}
        for (a, b), n in sorted(pairs.items())
    ]
    await add_up(
        uow,
        ItemPair.__table__,
        rows,
        key=("tenant_id", "sku", "kind", "other"),
        measures=("customers",),
    )


async def _add_counts(uow: UnitOfWork, kind: Signal, skus: Mapping[str, int]) -> None:
    """So many more customers for each of these SKUs (their new signals), in one upsert."""
    tenant_id = uow.require_tenant()
    rows = [
        {"tenant_id": tenant_id, "sku": sku, "kind": kind.value, "customers": n}
        for sku, n in sorted(skus.items())
    ]
    await add_up(
        uow, ItemCount.__table__, rows, key=("tenant_id", "sku", "kind"), measures=("customers",)
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
    await _add_counts(uow, kind, Counter(counted))
    return len(pairs) // 2


@dataclass(slots=True)
class _Owned:
    """What one (owner, kind) has, as far as a set of signals needs it: the rows of the SKUs
    they bring and the owner's most recent ones, each as [last_at, id]."""

    rows: dict[str, list[Any]] = field(default_factory=dict)

    def recent(self) -> list[str]:
        ranked = sorted(self.rows.items(), key=lambda item: (item[1][0], item[1][1]))
        return [sku for sku, _ in reversed(ranked[-MAX_PARTNERS:])]


Noted = tuple[str, Signal, Mapping[str, dt.datetime]]  # owner, kind, SKUs seen at


async def _owned(uow: UnitOfWork, noted: list[Noted]) -> dict[tuple[str, str], _Owned]:
    """Per (owner, kind): the rows of the SKUs they bring now and their ``MAX_PARTNERS``
    most recent rows (two reads for any number of owners). A row not among these can only
    rank below them, unless its SKU is brought now, and then it is here."""
    wanted = {(owner, kind.value, sku) for owner, kind, seen in noted for sku in seen}
    keys = {(owner, kind.value) for owner, kind, _ in noted}
    # A guest basket is its order's alone and is noted once: it has no rows to read. (One
    # noted again, a redelivery, finds its rows at the insert and goes owner by owner.)
    owners = sorted({owner for owner, _ in keys if not is_guest_basket(owner)})
    skus = sorted({sku for _, _, sku in wanted})
    out = {key: _Owned() for key in keys}
    s = ItemSignal
    columns = (s.customer_id, s.kind, s.sku, s.last_at, s.id)
    mine = s.tenant_id == uow.require_tenant()
    rank = sa.func.row_number().over(
        partition_by=(s.customer_id, s.kind), order_by=(s.last_at.desc(), s.id.desc())
    )
    for start in range(0, len(owners), 500):
        some = owners[start : start + 500]
        ranked = sa.select(*columns, rank.label("rank")).where(mine, s.customer_id.in_(some))
        recent = ranked.subquery()
        reads = [
            sa.select(*columns).where(
                mine, s.customer_id.in_(some), s.sku.in_(skus[at : at + 2000])
            )
            for at in range(0, len(skus), 2000)
        ]
        reads.append(
            sa.select(*(recent.c[c.key] for c in columns)).where(recent.c.rank <= MAX_PARTNERS)
        )
        for read in reads:
            for owner, kind, sku, last_at, row_id in await uow.session.execute(read):
                owned = out.get((owner, kind))
                if owned is not None and (read is reads[-1] or (owner, kind, sku) in wanted):
                    owned.rows[sku] = [last_at, row_id]
    return out


class _Raced(Exception):
    """Another transaction inserted one of the signals first."""


async def do_note_many_signals(uow: UnitOfWork, noted: list[Noted]) -> None:
    """:func:`do_note_signals` for many (owner, kind, SKUs) in their order, in a few
    statements whatever their number: what the owners have is read once, each signal worked
    out in memory as the one-by-one path would (the same pairs, counts and ``last_at``), then
    written with one insert of the new signals (the guard: a redelivery finds them and adds
    nothing), one update of the raised ones and one upsert per kind of pairs and of counts.
    If another transaction inserted one of the signals meanwhile, it falls back to one
    owner at a time."""
    noted = [item for item in noted if item[2]]
    if not noted:
        return
    try:
        async with uow.session.begin_nested():
            await _note_many(uow, noted)
        return
    except _Raced:
        pass
    for owner, kind, seen in noted:
        await do_note_signals(uow, owner=owner, kind=kind, seen=seen)


async def _note_many(uow: UnitOfWork, noted: list[Noted]) -> None:
    owned = await _owned(uow, noted)
    tenant_id = uow.require_tenant()
    fresh: dict[tuple[str, str, str], dict[str, Any]] = {}  # new rows, in insert order
    raised: dict[int, dt.datetime] = {}  # existing rows' new last_at, by id
    pairs: dict[Signal, Counter[tuple[str, str]]] = {}
    counts: dict[Signal, Counter[str]] = {}
    next_id = _AFTER_EVERY_ROW
    for owner, kind, seen in noted:
        state = owned[(owner, kind.value)]
        for sku, at in seen.items():
            row = state.rows.get(sku)
            if row is not None and at > row[0]:
                row[0] = at
                if row[1] >= _AFTER_EVERY_ROW:
                    fresh[(owner, kind.value, sku)]["last_at"] = at
                else:
                    raised[row[1]] = at
        new = sorted((at, sku) for sku, at in seen.items() if sku not in state.rows)
        if not new:
            continue
        partners = state.recent()
        mine_pairs = pairs.setdefault(kind, Counter())
        for at, sku in new:
            fresh[(owner, kind.value, sku)] = {
                "tenant_id": tenant_id,
                "customer_id": owner,
                "kind": kind.value,
                "sku": sku,
                "first_at": at,
                "last_at": at,
            }
            state.rows[sku] = [at, next_id]
            next_id += 1
            counts.setdefault(kind, Counter())[sku] += 1
            for partner in partners[:MAX_PARTNERS]:
                mine_pairs[(sku, partner)] += 1
                mine_pairs[(partner, sku)] += 1
            partners.insert(0, sku)
    table = cast(sa.Table, ItemSignal.__table__)
    if raised:
        await uow.session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("row_id"), table.c.last_at < sa.bindparam("at"))
            .values(last_at=sa.bindparam("at")),
            [{"row_id": row_id, "at": at} for row_id, at in sorted(raised.items())],
        )
    if fresh:
        inserted = await uow.session.execute(
            dialect_insert(uow, table)
            .on_conflict_do_nothing(index_elements=["tenant_id", "customer_id", "kind", "sku"])
            .returning(table.c.id),
            list(fresh.values()),
        )
        if len(inserted.all()) != len(fresh):
            raise _Raced
    for kind, counted in pairs.items():
        await _add_pairs(uow, kind, counted)
    for kind, skus in counts.items():
        await _add_counts(uow, kind, skus)


# Ids given in memory to signals not inserted yet: after every stored row, in insert order.
_AFTER_EVERY_ROW = 1 << 62


async def _order_lines(uow: UnitOfWork, events: list[Event]) -> dict[str, tuple[str, list[str]]]:
    """Completed orders' signal owners and SKUs, by order (one read for all; orders this
    database does not hold are not in it)."""
    found = await orders.skus_by_order(uow, {str(e.payload["order_id"]) for e in events})
    return {
        order_id: (signal_owner(customer_id, order_id), skus)
        for order_id, (customer_id, skus) in found.items()
    }


def _looked(payload: Mapping[str, Any]) -> Noted:
    seen: dict[str, dt.datetime] = {}
    for item in payload["items"]:
        sku, at = str(item["sku"]), dt.datetime.fromisoformat(str(item["at"]))
        seen[sku] = max(seen.get(sku, at), at)
    return (str(payload["customer_id"]), Signal.LOOKED, seen)


async def _note_run(uow: UnitOfWork, events: list[Event]) -> None:
    lines = await _order_lines(uow, [e for e in events if e.type == "order.completed"])
    noted: list[Noted] = []
    for event in events:
        if event.type == "order.completed":
            order = lines.get(str(event.payload["order_id"]))
            if order is not None:
                at = dt.datetime.fromisoformat(str(event.payload["completed_at"]))
                noted.append((order[0], Signal.BOUGHT, dict.fromkeys(order[1], at)))
        else:
            noted.append(_looked(event.payload))
    await do_note_many_signals(uow, noted)


async def apply_events(uow: UnitOfWork, events: list[Event]) -> None:
    """Events of :data:`FED_BY` in their order into the signals and pair counts, set-based:
    the dispatcher's group handler and a rebuild's batch. The same as :func:`apply_event`
    for each in turn; a merge moves the signals between the runs of other events."""
    run: list[Event] = []
    for event in events:
        if event.type != "customer.merged":
            run.append(event)
            continue
        if run:
            await _note_run(uow, run)
            run = []
        await _move_signals(
            uow, str(event.payload["absorbed_id"]), str(event.payload["survivor_id"])
        )
    if run:
        await _note_run(uow, run)


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
            # In the order they were made: the survivor's new rows keep it (ties in time
            # rank by id), however the database happens to store them.
            sa.select(ItemSignal)
            .where(ItemSignal.customer_id == absorbed_id)
            .order_by(ItemSignal.id)
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


async def do_move_scans(uow: UnitOfWork, *, absorbed_id: str, survivor_id: str) -> None:
    """The absorbed customer's experience scans become the survivor's."""
    await _move_scans(uow, absorbed_id, survivor_id)


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
        await apply_events(uow, events)
        count += len(events)
    return count
