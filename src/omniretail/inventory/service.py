"""Use cases of stock positions: reading, bulk movements, counts, the ledger check.

Every change to a position writes movements to the append-only ledger in the same transaction,
so a position always equals the sum of its movements (``check_ledger`` proves it). A movement
batch is validated as a whole against positions it has locked (no network call happens while
they are locked), then applied with relative updates; the DB CHECK constraints are the last
guard. Reservations (the hot path) live in ``reservations.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.catalog import service as catalog
from omniretail.db import UnitOfWork, dialect_insert, utcnow
from omniretail.errors import Conflict, NotFound, ValidationFailed
from omniretail.events import record_event, stage_event
from omniretail.inventory.domain import (
    HOLDING,
    Line,
    Position,
    Reason,
    available,
    line_shape_errors,
    walk_batch,
)
from omniretail.inventory.models import (
    MovementBatch,
    Reservation,
    ReservationLine,
    StockMovement,
    StockPosition,
)
from omniretail.inventory.schemas import (
    MovementBatchOut,
    MovementLineIn,
    PositionOut,
    StockOut,
    StockTotals,
)
from omniretail.network import service as network
from omniretail.network.domain import LocationType

_CHUNK = 1000
POSITIONS = cast(sa.Table, StockPosition.__table__)
MOVEMENTS = cast(sa.Table, StockMovement.__table__)


class BatchIdReused(ValidationFailed):
    code = "batch_id_reused"
    title = "batch_id reused with other lines"


class InsufficientStock(Conflict):
    code = "insufficient_stock"
    title = "Insufficient stock"


@dataclass(frozen=True, slots=True)
class Change:
    """A position before and after one use case: the event and the ledger are built from it."""

    sku: str
    location: str
    available_before: int
    on_hand: int
    reserved: int
    safety_stock: int

    @property
    def available_after(self) -> int:
        return available(self.on_hand, self.reserved, self.safety_stock)


async def notify_availability(uow: UnitOfWork, changes: Iterable[Change]) -> None:
    """``inventory.availability_changed`` for each position whose available figure moved,
    staged with the unit of work's other events (``record_event``: one INSERT at commit)."""
    now = utcnow()
    for change in changes:
        if change.available_before == change.available_after:
            continue
        stage_event(
            uow,
            "inventory.availability_changed",
            aggregate_type="stock",
            aggregate_id=f"{change.location}/{change.sku}"[:64],
            payload={
                "sku": change.sku,
                "location": change.location,
                "available_before": change.available_before,
                "available_after": change.available_after,
                "on_hand": change.on_hand,
                "reserved": change.reserved,
            },
            occurred_at=now,
        )


def position_out(row: Any) -> PositionOut:
    return PositionOut(
        location=row.location_code,
        sku=row.sku,
        on_hand=row.on_hand,
        reserved=row.reserved,
        safety_stock=row.safety_stock,
        available=available(row.on_hand, row.reserved, row.safety_stock),
    )


async def stock_of_sku(uow: UnitOfWork, sku: str) -> StockOut:
    """Every position of one SKU, by location code, and the network totals."""
    if sku not in await catalog.variants_by_sku(uow, [sku]):
        raise NotFound("sku", sku)
    rows = await uow.session.scalars(
        sa.select(StockPosition)
        .where(StockPosition.sku == sku)
        .order_by(StockPosition.location_code)
    )
    positions = [position_out(row) for row in rows]
    return StockOut(
        sku=sku,
        positions=positions,
        totals=StockTotals(
            on_hand=sum(p.on_hand for p in positions),
            reserved=sum(p.reserved for p in positions),
            safety_stock=sum(p.safety_stock for p in positions),
            available=sum(p.available for p in positions),
        ),
    )


async def get_position(uow: UnitOfWork, *, location: str, sku: str) -> PositionOut:
    row = await uow.session.scalar(
        sa.select(StockPosition).where(
            StockPosition.sku == sku, StockPosition.location_code == location
        )
    )
    if row is None:
        await check_stock_keys(uow, [(0, sku, location)])
        return PositionOut(
            location=location, sku=sku, on_hand=0, reserved=0, safety_stock=0, available=0
        )
    return position_out(row)


@dataclass(frozen=True, slots=True)
class StockKeys:
    variant_ids: dict[str, int]
    location_ids: dict[str, int]


async def check_stock_keys(
    uow: UnitOfWork, keys: Sequence[tuple[int, str, str]], *, field: str = "lines"
) -> StockKeys:
    """Resolve (index, sku, location) triples in two queries; each unknown SKU or location, and
    each experience store (it holds samples, never stock), is named by its index."""
    variants = await catalog.variants_by_sku(uow, [sku for _, sku, _ in keys])
    locations = await network.locations_by_code(uow, [loc for _, _, loc in keys])
    errors: list[dict[str, Any]] = []
    for index, sku, code in keys:
        where = f"{field}.{index}"
        if sku not in variants:
            errors.append({"field": where, "index": index, "message": f"unknown sku {sku!r}"})
        location = locations.get(code)
        if location is None:
            errors.append({"field": where, "index": index, "message": f"unknown location {code!r}"})
        elif location.type == LocationType.EXPERIENCE_STORE.value:
            errors.append(
                {
                    "field": where,
                    "index": index,
                    "message": f"{code} is an experience store: it holds no stock",
                }
            )
    if errors:
        raise ValidationFailed(f"{len(errors)} bad line(s); nothing was applied", errors)
    return StockKeys(
        variant_ids={sku: v.id for sku, v in variants.items()},
        location_ids={code: loc.id for code, loc in locations.items()},
    )


async def lock_positions(
    uow: UnitOfWork, pairs: Iterable[tuple[str, str]], keys: StockKeys
) -> dict[tuple[str, str], Any]:
    """Create the (sku, location) positions that do not exist yet and lock them all, in one
    upsert per chunk that returns their current figures.

    Rows are taken in (location, sku) order, the order every writer uses, so batches and holds
    cannot deadlock. SQLite has no row locks: its IMMEDIATE transaction holds the write lock.
    """
    tenant_id = uow.require_tenant()
    now = utcnow()
    ordered = sorted(set(pairs), key=lambda p: (p[1], p[0]))
    rows = [
        {
            "tenant_id": tenant_id,
            "sku": sku,
            "location_code": loc,
            "variant_id": keys.variant_ids[sku],
            "location_id": keys.location_ids[loc],
            "on_hand": 0,
            "reserved": 0,
            "safety_stock": 0,
            "may_go_negative": False,
            "updated_at": now,
        }
        for sku, loc in ordered
    ]
    # DO UPDATE (a no-op) rather than DO NOTHING: it locks the existing row and returns it.
    # Executed as one executemany: SQLAlchemy batches it into multi-row VALUES, in order.
    stmt = (
        dialect_insert(uow, POSITIONS)
        .on_conflict_do_update(
            index_elements=["tenant_id", "sku", "location_code"],
            set_={"updated_at": POSITIONS.c.updated_at},
        )
        .returning(
            POSITIONS.c.id,
            POSITIONS.c.sku,
            POSITIONS.c.location_code,
            POSITIONS.c.on_hand,
            POSITIONS.c.reserved,
            POSITIONS.c.safety_stock,
        )
    )
    result = await uow.session.execute(stmt, rows)
    found = {(row.sku, row.location_code): row for row in result}
    return found


def _fingerprint(lines: Sequence[MovementLineIn]) -> str:
    canonical = json.dumps([line.model_dump() for line in lines], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _claim_batch(uow: UnitOfWork, batch_id: str, fingerprint: str) -> MovementBatchOut | None:
    """Insert the batch id; a replay gets the first result back (the unique index makes a
    concurrent duplicate wait for the first to commit or roll back)."""
    inserted = await uow.session.execute(
        dialect_insert(uow, MovementBatch.__table__)
        .values(
            tenant_id=uow.require_tenant(),
            batch_id=batch_id,
            fingerprint=fingerprint,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "batch_id"])
    )
    if inserted.rowcount == 1:  # type: ignore[attr-defined]
        return None
    row = await uow.session.scalar(
        sa.select(MovementBatch).where(MovementBatch.batch_id == batch_id)
    )
    if row is None or row.result is None:
        raise Conflict(f"batch {batch_id!r} is being applied")
    if row.fingerprint != fingerprint:
        raise BatchIdReused(
            f"batch {batch_id!r} was already applied with other lines",
            [{"field": "batch_id", "message": "already used for another batch"}],
        )
    return MovementBatchOut.model_validate(row.result)


async def do_apply_movements(
    uow: UnitOfWork,
    *,
    lines: Sequence[MovementLineIn],
    actor: str,
    batch_id: str | None = None,
    now: dt.datetime | None = None,
) -> MovementBatchOut:
    """Apply a batch of movements (POS, ERP, RFID) all together or not at all; ``now`` dates
    them in the ledger (a back-office import of yesterday's receipts, the demo's history).

    Every bad line is named by its index: unknown SKU or location, an experience store, a zero
    quantity, a reason that is not ingested, an outbound line that would take on hand below zero
    (unless the tenant setting ``allow_negative_stock`` is on). With a ``batch_id`` the batch is
    applied once: a replay returns the first result and changes nothing.
    """
    if batch_id is not None:
        replay = await _claim_batch(uow, batch_id, _fingerprint(lines))
        if replay is not None:
            return replay
    shape: list[dict[str, Any]] = [
        {"field": f"lines.{i}", "index": i, "message": message}
        for i, line in enumerate(lines)
        for message in line_shape_errors(line.reason, line.qty)
    ]
    try:
        keys = await check_stock_keys(uow, [(i, ln.sku, ln.location) for i, ln in enumerate(lines)])
    except ValidationFailed as exc:
        shape += exc.extra["errors"]
    if shape:
        shape.sort(key=lambda e: e["index"])
        raise ValidationFailed(f"{len(shape)} bad line(s); nothing was applied", shape)
    settings = await auth.tenant_settings(uow)
    allow_negative = bool(settings.get("allow_negative_stock", False))
    parsed = [Line(i, ln.sku, ln.location, Reason(ln.reason), ln.qty) for i, ln in enumerate(lines)]
    pairs = [(ln.sku, ln.location) for ln in parsed]
    locked = await lock_positions(uow, pairs, keys)
    before = {
        key: Position(row.on_hand, row.reserved, row.safety_stock) for key, row in locked.items()
    }
    deltas, errors = walk_batch(parsed, before, allow_negative=allow_negative)
    if errors:
        raise ValidationFailed(f"{len(errors)} bad line(s); nothing was applied", errors)
    movements = [
        {
            "tenant_id": uow.require_tenant(),
            "position_id": locked[(ln.sku, ln.location)].id,
            "location_code": ln.location,
            "sku": ln.sku,
            "reason": ln.reason.value,
            "on_hand_delta": deltas[ln.index],
            "reserved_delta": 0,
            "reference": lines[ln.index].reference,
            "batch_id": batch_id,
            "actor": actor,
            "created_at": now or utcnow(),
        }
        for ln in parsed
        if deltas[ln.index] != 0
    ]
    net: dict[tuple[str, str], int] = defaultdict(int)
    for movement in movements:
        net[(movement["sku"], movement["location_code"])] += movement["on_hand_delta"]
    changes = await _apply_on_hand(uow, locked, net)
    for start in range(0, len(movements), _CHUNK):
        await uow.session.execute(sa.insert(MOVEMENTS), movements[start : start + _CHUNK])
    await notify_availability(uow, changes)
    await notify_at_risk(
        uow, [c for c in changes if c.on_hand < c.reserved and net[(c.sku, c.location)] < 0]
    )
    result = MovementBatchOut(
        batch_id=batch_id,
        lines=len(lines),
        movements=len(movements),
        positions_changed=len(changes),
    )
    if batch_id is not None:
        await uow.session.execute(
            sa.update(MovementBatch)
            .where(MovementBatch.batch_id == batch_id)
            .values(result=result.model_dump(mode="json"))
        )
    return result


async def _apply_on_hand(
    uow: UnitOfWork, locked: dict[tuple[str, str], Any], net: dict[tuple[str, str], int]
) -> list[Change]:
    """Relative updates of locked rows, in lock order; returns the changes for the events."""
    changed = sorted((key for key, delta in net.items() if delta), key=lambda k: (k[1], k[0]))
    going_negative = [locked[k].id for k in changed if locked[k].on_hand + net[k] < 0]
    table = POSITIONS
    if going_negative:
        await uow.session.execute(
            sa.update(table).where(table.c.id.in_(going_negative)).values(may_go_negative=True)
        )
    now = utcnow()
    params = [{"pid": locked[k].id, "delta": net[k], "now": now} for k in changed]
    stmt = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("pid"))
        .values(on_hand=table.c.on_hand + sa.bindparam("delta"), updated_at=sa.bindparam("now"))
    )
    for start in range(0, len(params), _CHUNK):
        await uow.session.execute(stmt, params[start : start + _CHUNK])
    changes = []
    for key in changed:
        row = locked[key]
        changes.append(
            Change(
                sku=key[0],
                location=key[1],
                available_before=available(row.on_hand, row.reserved, row.safety_stock),
                on_hand=row.on_hand + net[key],
                reserved=row.reserved,
                safety_stock=row.safety_stock,
            )
        )
    return changes


async def notify_at_risk(uow: UnitOfWork, changes: Sequence[Change]) -> None:
    """``inventory.reservations_at_risk``: on hand fell below what is reserved (a count found
    less, a sale recorded late); the event names the reservations holding that stock."""
    if not changes:
        return
    pairs = [(c.sku, c.location) for c in changes]
    rows = await uow.session.execute(
        sa.select(ReservationLine.sku, ReservationLine.location_code, Reservation.id)
        .join(Reservation, Reservation.id == ReservationLine.reservation_id)
        .where(
            ReservationLine.state == "held",
            Reservation.status.in_(HOLDING),
            sa.tuple_(ReservationLine.sku, ReservationLine.location_code).in_(pairs),
        )
        .order_by(Reservation.id)
    )
    holders: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row in rows:
        holders[(row.sku, row.location_code)].append(row.id)
    for change in changes:
        record_event(
            uow,
            "inventory.reservations_at_risk",
            aggregate_type="stock",
            aggregate_id=f"{change.location}/{change.sku}"[:64],
            payload={
                "sku": change.sku,
                "location": change.location,
                "on_hand": change.on_hand,
                "reserved": change.reserved,
                "shortfall": change.reserved - change.on_hand,
                "reservations": sorted(set(holders[(change.sku, change.location)])),
            },
        )


async def do_count(
    uow: UnitOfWork,
    *,
    location: str,
    sku: str,
    on_hand: int,
    actor: str,
    safety_stock: int | None = None,
    reference: str | None = None,
) -> PositionOut:
    """A counted quantity sets on hand; the variance is a ``count`` movement. Optionally sets
    the safety stock too. A count below what is reserved raises reservations_at_risk. An
    unknown location or SKU is a NotFound (they are the resource's address)."""
    if sku not in await catalog.variants_by_sku(uow, [sku]):
        raise NotFound("sku", sku)
    if location not in await network.locations_by_code(uow, [location]):
        raise NotFound("location", location)
    line = MovementLineIn(
        sku=sku, location=location, reason=Reason.COUNT.value, qty=on_hand, reference=reference
    )
    await do_apply_movements(uow, lines=[line], actor=actor)
    if safety_stock is not None:
        await _set_safety_stock(uow, location=location, sku=sku, safety_stock=safety_stock)
    return await get_position(uow, location=location, sku=sku)


async def _set_safety_stock(uow: UnitOfWork, *, location: str, sku: str, safety_stock: int) -> None:
    row = (
        await uow.session.execute(
            sa.select(
                StockPosition.id,
                StockPosition.on_hand,
                StockPosition.reserved,
                StockPosition.safety_stock,
            ).where(StockPosition.sku == sku, StockPosition.location_code == location)
        )
    ).one()
    await uow.session.execute(
        sa.update(StockPosition)
        .where(StockPosition.id == row.id)
        .values(safety_stock=safety_stock, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await notify_availability(
        uow,
        [
            Change(
                sku=sku,
                location=location,
                available_before=available(row.on_hand, row.reserved, row.safety_stock),
                on_hand=row.on_hand,
                reserved=row.reserved,
                safety_stock=safety_stock,
            )
        ],
    )


@dataclass(frozen=True, slots=True)
class Drift:
    location: str
    sku: str
    on_hand: int
    ledger_on_hand: int
    reserved: int
    ledger_reserved: int
    held_by_reservations: int


async def check_ledger(uow: UnitOfWork) -> list[Drift]:
    """Positions that differ from the sum of their movements, or whose reserved figure differs
    from the reservation lines still held there. Empty means the books agree."""
    tenant_id = uow.require_tenant()
    ledger = (
        sa.select(
            StockMovement.position_id,
            sa.func.sum(StockMovement.on_hand_delta).label("on_hand"),
            sa.func.sum(StockMovement.reserved_delta).label("reserved"),
        )
        .where(StockMovement.tenant_id == tenant_id)
        .group_by(StockMovement.position_id)
        .subquery()
    )
    held = (
        sa.select(
            ReservationLine.position_id,
            sa.func.sum(ReservationLine.qty).label("qty"),
        )
        .where(ReservationLine.tenant_id == tenant_id, ReservationLine.state == "held")
        .group_by(ReservationLine.position_id)
        .subquery()
    )
    ledger_on_hand = sa.func.coalesce(ledger.c.on_hand, 0)
    ledger_reserved = sa.func.coalesce(ledger.c.reserved, 0)
    held_qty = sa.func.coalesce(held.c.qty, 0)
    rows = await uow.session.execute(
        sa.select(
            StockPosition.location_code,
            StockPosition.sku,
            StockPosition.on_hand,
            StockPosition.reserved,
            ledger_on_hand.label("ledger_on_hand"),
            ledger_reserved.label("ledger_reserved"),
            held_qty.label("held"),
        )
        .outerjoin(ledger, ledger.c.position_id == StockPosition.id)
        .outerjoin(held, held.c.position_id == StockPosition.id)
        .where(
            StockPosition.tenant_id == tenant_id,
            sa.or_(
                StockPosition.on_hand != ledger_on_hand,
                StockPosition.reserved != ledger_reserved,
                StockPosition.reserved != held_qty,
            ),
        )
        .order_by(StockPosition.location_code, StockPosition.sku)
    )
    return [
        Drift(
            location=row.location_code,
            sku=row.sku,
            on_hand=row.on_hand,
            ledger_on_hand=int(row.ledger_on_hand),
            reserved=row.reserved,
            ledger_reserved=int(row.ledger_reserved),
            held_by_reservations=int(row.held),
        )
        for row in rows
    ]
