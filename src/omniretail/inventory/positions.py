"""Statements on stock positions shared by the reservation use cases, and the in-store sale.

Every change here is a single conditional or relative UPDATE of one position row (see
``reservations`` for why), followed by its ledger movement and its availability event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import sqlalchemy as sa

from omniretail.db import UnitOfWork, utcnow
from omniretail.errors import ValidationFailed
from omniretail.events import OUTBOX, OUTBOX_INSERT_COLUMNS
from omniretail.inventory.domain import MAX_TTL_SECONDS, Reason, available
from omniretail.inventory.models import StockMovement, StockPosition
from omniretail.inventory.service import (
    Change,
    InsufficientStock,
    check_stock_keys,
)
from omniretail.scoped import TENANT, read_in, tenant_bound, tenant_statement

P = StockPosition
LEDGER = cast(sa.Table, StockMovement.__table__)

# The stock ledger's columns in the order the set-based writers (the in-store sale here, the
# holds in ``reservations``) select them.
LEDGER_COLUMNS = [
    "tenant_id",
    "position_id",
    "sku",
    "location_code",
    "reason",
    "on_hand_delta",
    "reserved_delta",
    "reservation_id",
    "reference",
    "actor",
    "created_at",
]


@dataclass(frozen=True, slots=True)
class StockLine:
    """One requested line: ``qty`` units of ``sku`` at location ``location``."""

    sku: str
    location: str
    qty: int


POSITION_COLUMNS = (P.id, P.on_hand, P.reserved, P.safety_stock)


def merge_lines(lines: Sequence[StockLine]) -> dict[tuple[str, str], tuple[int, list[int]]]:
    """Same (location, sku) twice is one hold of the sum; remembers the indexes to name."""
    merged: dict[tuple[str, str], tuple[int, list[int]]] = {}
    for index, line in enumerate(lines):
        key = (line.location, line.sku)
        qty, indexes = merged.get(key, (0, []))
        merged[key] = (qty + line.qty, [*indexes, index])
    return dict(sorted(merged.items()))


def check_quantities(lines: Sequence[StockLine], ttl_seconds: int | None) -> None:
    errors: list[dict[str, Any]] = [
        {"field": f"lines.{i}.qty", "index": i, "message": "must be at least 1"}
        for i, line in enumerate(lines)
        if line.qty < 1
    ]
    if not lines:
        errors.append({"field": "lines", "message": "at least one line"})
    if ttl_seconds is not None and not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        errors.append({"field": "ttl_seconds", "message": f"between 1 and {MAX_TTL_SECONDS}"})
    if errors:
        raise ValidationFailed("invalid reservation", errors)


async def short_lines(
    uow: UnitOfWork,
    merged: dict[tuple[str, str], tuple[int, list[int]]],
    short: list[tuple[str, str]],
    *,
    only_short: bool = False,
) -> InsufficientStock:
    """Name each short line with what is available there now (unknown keys are a 422).
    With ``only_short`` the candidates that could be held now are left out."""
    await check_stock_keys(
        uow, [(merged[key][1][0], key[1], key[0]) for key in short], field="lines"
    )
    rows = await uow.session.execute(
        sa.select(P.sku, P.location_code, P.on_hand, P.reserved, P.safety_stock).where(
            sa.tuple_(P.sku, P.location_code).in_([(sku, loc) for loc, sku in short])
        )
    )
    now_available = {
        (r.location_code, r.sku): available(r.on_hand, r.reserved, r.safety_stock) for r in rows
    }
    if only_short:
        short = [key for key in short if now_available.get(key, 0) < merged[key][0]]
    named = [
        {
            "index": merged[key][1][0],
            "indexes": merged[key][1],
            "sku": key[1],
            "location": key[0],
            "requested": merged[key][0],
            "available": now_available.get(key, 0),
        }
        for key in short
    ]
    described = ", ".join(f"{n['sku']} at {n['location']}" for n in named)
    return InsufficientStock(f"not enough stock for {described}", lines=named)


@dataclass(frozen=True, slots=True)
class Figures:
    """A position's figures after a change, as an UPDATE ... RETURNING gives them."""

    id: int
    on_hand: int
    reserved: int
    safety_stock: int


_BATCH_HOLD = "omni_batch_hold"


class HoldDraws(Protocol):
    """A group-commit batch's stock held once for its holds on one position
    (``inventory.batch_holds.BatchHold``): :func:`hold_all` draws on it instead of running
    its own conditional UPDATE."""

    key: tuple[str, str]

    def draw(self, uow: UnitOfWork, qty: int) -> tuple[Figures | None, Callable[[], None]] | None:
        """Hold ``qty`` more from the batch's stock: the figures after it (None when the batch
        announces the hold itself) and how to give it back; or None if the batch has not that
        much (the caller then runs its own conditional UPDATE)."""


def register_batch_hold(uow: UnitOfWork, batch: HoldDraws | None) -> None:
    """Holds at ``batch.key`` in ``uow`` draw on ``batch`` from now on (None: no more)."""
    if batch is None:
        uow.session.info.pop(_BATCH_HOLD, None)
    else:
        uow.session.info[_BATCH_HOLD] = batch


def availability_events(
    tenant_id: sa.ColumnElement[Any],
    moved: Any,
    *,
    at: sa.ColumnElement[Any],
    order_by: list[sa.ColumnElement[Any]],
    where: sa.ColumnElement[bool] | None = None,
) -> sa.Insert:
    """An INSERT of ``inventory.availability_changed`` for each row of ``moved`` (a CTE with
    location_code, sku, on_hand, reserved, safety_stock as they are after the change, and qty,
    what the change took) whose available figure moved, with the payload
    ``service.notify_availability`` gives it: the statement that moves stock announces it too,
    so nothing is left to write after the rows are locked but the commit."""
    free = moved.c.on_hand - moved.c.reserved - moved.c.safety_stock
    before = sa.func.greatest(0, free + moved.c.qty)
    after = sa.func.greatest(0, free)
    return sa.insert(OUTBOX).from_select(
        OUTBOX_INSERT_COLUMNS,
        sa.select(
            tenant_id,
            sa.literal_column("'inventory.availability_changed'"),
            sa.literal_column("'stock'"),
            sa.func.left(moved.c.location_code + sa.literal_column("'/'") + moved.c.sku, 64),
            sa.func.jsonb_build_object(
                sa.literal_column("'sku'"),
                moved.c.sku,
                sa.literal_column("'location'"),
                moved.c.location_code,
                sa.literal_column("'available_before'"),
                before,
                sa.literal_column("'available_after'"),
                after,
                sa.literal_column("'on_hand'"),
                moved.c.on_hand,
                sa.literal_column("'reserved'"),
                moved.c.reserved,
            ),
            at,
            sa.literal_column("0"),
        )
        .where(before != after, *([] if where is None else [where]))
        .order_by(*order_by),
    )


def batch_hold_for(uow: UnitOfWork, key: tuple[str, str]) -> HoldDraws | None:
    found: HoldDraws | None = uow.session.info.get(_BATCH_HOLD)
    return found if found is not None and found.key == key else None


POSITIONS = cast(sa.Table, StockPosition.__table__)
_PC = POSITIONS.c
_POSITION_TENANT = "position_tenant"
_RETURNED = (_PC.id, _PC.on_hand, _PC.reserved, _PC.safety_stock)
# Built once, binding their tenant themselves (checked when built), run on the unit of work's
# connection: no ORM statement, criteria or cache key worked out per hold.
_HOLD = tenant_bound(
    sa.update(POSITIONS)
    .where(
        _PC.tenant_id == sa.bindparam(_POSITION_TENANT),
        _PC.sku == sa.bindparam("hold_sku"),
        _PC.location_code == sa.bindparam("hold_location"),
        _PC.on_hand - _PC.reserved - _PC.safety_stock >= sa.bindparam("hold_qty"),
    )
    .values(reserved=_PC.reserved + sa.bindparam("hold_qty"), updated_at=sa.bindparam("at"))
    .returning(*_RETURNED),
    bind=_POSITION_TENANT,
)
_MOVE = tenant_bound(
    sa.update(POSITIONS)
    .where(_PC.tenant_id == sa.bindparam(_POSITION_TENANT), _PC.id == sa.bindparam("move_id"))
    .values(
        on_hand=_PC.on_hand + sa.bindparam("move_on_hand"),
        reserved=_PC.reserved + sa.bindparam("move_reserved"),
        updated_at=sa.bindparam("at"),
    )
    .returning(*_RETURNED),
    bind=_POSITION_TENANT,
)


async def hold_one(uow: UnitOfWork, key: tuple[str, str], qty: int) -> Any:
    """The conditional UPDATE of a hold: ``qty`` more reserved at ``key`` (location, sku) if
    that much is available; the position's figures after it, or None."""
    location, sku = key
    connection = await uow.connection()
    found = await connection.execute(
        _HOLD,
        {
            _POSITION_TENANT: uow.require_tenant(),
            "hold_sku": sku,
            "hold_location": location,
            "hold_qty": qty,
            "at": utcnow(),
        },
    )
    return found.first()


async def hold_all(
    uow: UnitOfWork, merged: dict[tuple[str, str], tuple[int, list[int]]]
) -> tuple[dict[tuple[str, str], Any], list[tuple[str, str]]]:
    """One conditional UPDATE per position, in (location, sku) order (none for a position
    whose batch holds it, see :class:`BatchHold`); on a short line the holds already taken are
    undone (the rows are still ours) and the short lines returned. A held position's figures
    after the hold are None when its batch announces the hold itself."""
    won: dict[tuple[str, str], Any] = {}
    short: list[tuple[str, str]] = []
    give_back: dict[tuple[str, str], Callable[[], None]] = {}
    for key, (qty, _) in merged.items():
        batch = batch_hold_for(uow, key)
        drawn = batch.draw(uow, qty) if batch is not None else None
        if drawn is not None:
            won[key], give_back[key] = drawn
            continue
        row = await hold_one(uow, key, qty)
        if row is None:
            short.append(key)
        else:
            won[key] = row
    if short:
        for key, row in won.items():
            if key in give_back:
                give_back[key]()
            else:
                await move_position(uow, row.id, reserved=-merged[key][0])
    return won, short


async def move_position(
    uow: UnitOfWork, position_id: int, *, on_hand: int = 0, reserved: int = 0
) -> Any:
    """Relative change of a position already claimed by the caller; returns the new figures."""
    connection = await uow.connection()
    moved = await connection.execute(
        _MOVE,
        {
            _POSITION_TENANT: uow.require_tenant(),
            "move_id": position_id,
            "move_on_hand": on_hand,
            "move_reserved": reserved,
            "at": utcnow(),
        },
    )
    return moved.one()


def write_ledger(
    uow: UnitOfWork,
    *,
    position_id: int,
    sku: str,
    location: str,
    reason: Reason,
    on_hand: int = 0,
    reserved: int = 0,
    reservation_id: int | None,
    reference: str | None,
    actor: str,
    at: dt.datetime | None = None,
) -> None:
    """One ledger entry, dated ``at`` (the moment the service acted for; now by default)."""
    uow.session.add(
        StockMovement(
            position_id=position_id,
            sku=sku,
            location_code=location,
            reason=reason.value,
            on_hand_delta=on_hand,
            reserved_delta=reserved,
            reservation_id=reservation_id,
            reference=reference,
            actor=actor,
            created_at=at or utcnow(),
        )
    )


def change_of(sku: str, location: str, row: Any, *, on_hand: int, reserved: int) -> Change:
    """``row`` holds the figures after a change of (on_hand, reserved) by the given deltas."""
    return Change(
        sku=sku,
        location=location,
        available_before=available(
            row.on_hand - on_hand, row.reserved - reserved, row.safety_stock
        ),
        on_hand=row.on_hand,
        reserved=row.reserved,
        safety_stock=row.safety_stock,
    )


async def take_out(uow: UnitOfWork, position_id: int, qty: int, *, reserved: int) -> Any:
    """Stock leaves: on hand drops by ``qty`` unless that would go below zero on a position
    that may not (the CHECK would refuse it anyway; this names the line instead)."""
    return (
        await uow.session.execute(
            sa.update(P)
            .where(P.id == position_id, sa.or_(P.on_hand >= qty, P.may_go_negative))
            .values(on_hand=P.on_hand - qty, reserved=P.reserved + reserved, updated_at=utcnow())
            .returning(*POSITION_COLUMNS)
            .execution_options(synchronize_session=False)
        )
    ).first()


_HOLDERS = sa.select(P.location_id, P.sku, P.on_hand, P.reserved, P.safety_stock).where(
    P.tenant_id == sa.bindparam(TENANT),
    P.sku.in_(sa.bindparam("skus", expanding=True)),
    P.on_hand - P.reserved - P.safety_stock > 0,
)
_AVAILABLE = tenant_statement(_HOLDERS)
_AVAILABLE_AT = tenant_statement(
    _HOLDERS.where(P.location_id.in_(sa.bindparam("locations", expanding=True)))
)


def available_here(name: str = "available_here") -> sa.Subquery:
    """``(sku, available)`` of the positions with something available at the location whose
    code is bound as ``location``, limited to the bound ``tenant_id``: for another context's
    statement built once at import (:func:`omniretail.scoped.tenant_statement`) to join on
    SKU, so that its stock filter stays inventory's rule. One lookup per SKU on the (tenant,
    sku, location) key."""
    free = P.on_hand - P.reserved - P.safety_stock
    return (
        sa.select(P.sku, free.label("available"))
        .where(
            P.tenant_id == sa.bindparam(TENANT),
            P.location_code == sa.bindparam("location"),
            free > 0,
        )
        .subquery(name)
    )


async def available_by_location(
    uow: UnitOfWork, skus: Sequence[str], *, location_ids: Sequence[int] | None = None
) -> dict[int, dict[str, int]]:
    """{location id: {sku: available}} for the SKUs over the locations holding any of them
    (positions with nothing available are left out), in one query on the (tenant, sku) index:
    its cost follows the holders of these SKUs, not the size of the network. With
    ``location_ids`` only those locations are read."""
    wanted = list(dict.fromkeys(skus))
    if not wanted:
        return {}
    if location_ids is None:
        rows = await read_in(uow, _AVAILABLE, skus=wanted)
    else:
        rows = await read_in(uow, _AVAILABLE_AT, skus=wanted, locations=list(location_ids))
    out: dict[int, dict[str, int]] = {}
    for row in rows:
        qty = available(row.on_hand, row.reserved, row.safety_stock)
        if qty > 0:
            out.setdefault(row.location_id, {})[row.sku] = qty
    return out


async def available_at(uow: UnitOfWork, location_code: str, skus: Sequence[str]) -> dict[str, int]:
    """{sku: available} at one location for the SKUs with something available there: one
    point lookup per SKU on the (tenant, sku, location) key, however big the network."""
    wanted = list(dict.fromkeys(skus))
    if not wanted:
        return {}
    rows = await uow.session.execute(
        sa.select(P.sku, P.on_hand, P.reserved, P.safety_stock).where(
            P.location_code == location_code, P.sku.in_(wanted)
        )
    )
    held = {row.sku: available(row.on_hand, row.reserved, row.safety_stock) for row in rows}
    return {sku: qty for sku, qty in held.items() if qty > 0}
