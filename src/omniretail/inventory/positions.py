"""Statements on stock positions shared by the reservation use cases, and the in-store sale.

Every change here is a single conditional or relative UPDATE of one position row (see
``reservations`` for why), followed by its ledger movement and its availability event.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from omniretail.auth import service as auth
from omniretail.db import TenantScopeError, UnitOfWork, UTCDateTime, utcnow
from omniretail.errors import ValidationFailed
from omniretail.events import OUTBOX, OUTBOX_INSERT_COLUMNS
from omniretail.inventory.domain import MAX_TTL_SECONDS, Reason, available
from omniretail.inventory.models import StockMovement, StockPosition
from omniretail.inventory.service import (
    Change,
    InsufficientStock,
    check_stock_keys,
    notify_at_risk,
    notify_availability,
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


async def do_sell_in_store(
    uow: UnitOfWork,
    *,
    location: str,
    lines: Sequence[tuple[str, int]],
    actor: str,
    reference: str | None = None,
    now: dt.datetime | None = None,
    settings: dict[str, Any] | None = None,
    carrying: CarriedSale | None = None,
) -> list[Change]:
    """An in-store sale without a reservation ((sku, qty) lines, e.g. scan to buy): stock leaves
    at once. Each line is one conditional UPDATE that may use safety stock but never stock held
    for others (``on_hand - reserved >= qty``); all lines or none (409 naming the short lines).
    A tenant with ``allow_negative_stock`` records the sale even beyond what is on hand.
    ``settings``: the tenant's settings when the caller has read them already in this unit of
    work (no second read). ``carrying``: the caller's writes to run in the sale's statement
    (only where :func:`can_carry`). In a group-commit batch of till sales run without
    savepoints (``batch_sales.BatchSale``, only where :func:`can_carry`) the caller's writes
    are made now and the stock is only drawn: the batch takes it, writes the ledger rows and
    announces the changes in one statement at its close; no changes are returned then."""
    stock_lines = [StockLine(sku=sku, location=location, qty=qty) for sku, qty in lines]
    check_quantities(stock_lines, None)
    merged = merge_lines(stock_lines)
    if settings is None:
        settings = await auth.tenant_settings(uow)
    allow_negative = bool(settings.get("allow_negative_stock", False))
    now = now or utcnow()
    won: dict[tuple[str, str], Any] = {}
    short: list[tuple[str, str]] = []
    together = can_carry(uow, settings) and (len(merged) > 1 or carrying is not None)
    if carrying is not None and not together:
        raise ValueError("this sale cannot carry the caller's writes (see can_carry)")
    late = late_sale_for(uow, location) if together else None
    if late is not None:
        # A group-commit batch's sale: the caller's rows now, the stock at the batch's close.
        await _write_carried(uow, carrying)
        late.draw(uow, merged, reference=reference, actor=actor, now=now)
        return []
    if together:
        # What the unit of work holds or staged goes in before the rows are locked: the
        # sale's statement is then the last before the commit.
        await uow.flush()
        await uow.write_staged()
        won = await _sell_together(
            uow, merged, now, actor=actor, reference=reference, carrying=carrying
        )
        short = [key for key in merged if key not in won]
    at_once = uow.dialect == "sqlite" and not allow_negative and len(merged) > 1
    if at_once:
        won = await _sell_at_once(uow, merged, now)
        short = [key for key in merged if key not in won]
    for (loc, sku), (qty, _) in () if together or at_once else merged.items():
        guard = [P.sku == sku, P.location_code == loc]
        values: dict[str, Any] = {"on_hand": P.on_hand - qty, "updated_at": now}
        if allow_negative:
            values["may_go_negative"] = sa.or_(P.may_go_negative, P.on_hand - qty < 0)
        else:
            guard.append(P.on_hand - P.reserved >= qty)
        row = (
            await uow.session.execute(
                sa.update(P)
                .where(*guard)
                .values(**values)
                .returning(*POSITION_COLUMNS)
                .execution_options(synchronize_session=False)
            )
        ).first()
        if row is None:
            short.append((loc, sku))
        else:
            won[(loc, sku)] = row
    if short:
        for key, row in won.items():
            await move_position(uow, row.id, on_hand=merged[key][0])
        raise await short_lines(uow, merged, short)
    changes = []
    tenant_id = uow.require_tenant()
    for (loc, sku), (qty, _) in merged.items():
        row = won[(loc, sku)]
        changes.append(change_of(sku, loc, row, on_hand=-qty, reserved=0))
        if together:
            continue  # its ledger rows were written by the sale's own statement
        # Staged: written with the events in one INSERT each at the commit, not flushed while
        # the sold rows are locked.
        uow.stage_insert(
            LEDGER,
            {
                "tenant_id": tenant_id,
                "position_id": row.id,
                "sku": sku,
                "location_code": loc,
                "reason": Reason.SALE.value,
                "on_hand_delta": -qty,
                "reserved_delta": 0,
                "reservation_id": None,
                "reference": reference,
                "actor": actor,
                "created_at": now,
            },
        )
    if together:
        uow.wrote_events = True  # its availability events were written by the sale's statement
        return changes
    await notify_availability(uow, changes)
    await notify_at_risk(uow, [c for c in changes if c.on_hand < c.reserved])
    return changes


def take_in_order(tenant_id: Any, wanted: Any, qty: Any, *, at: Any) -> Any:
    """PostgreSQL: the CTE ``sold``. The positions ``wanted`` names (its ``location`` and
    ``sku``) are locked in (location, SKU) order, as every multi-line change takes them (so no
    deadlock), then ``qty`` is taken from each by a conditional UPDATE (``on_hand - reserved
    >= qty``: stock held for others is never sold). A row per position taken: its location,
    SKU and figures after, and what was taken as ``qty``; fewer rows than positions wanted
    when one did not have enough."""
    locked = (
        sa.select(P.id)
        .where(
            P.tenant_id == tenant_id,
            sa.tuple_(P.location_code, P.sku).in_(sa.select(wanted.c.location, wanted.c.sku)),
        )
        .order_by(P.location_code, P.sku)
        .with_for_update()
        .cte("locked")
        .prefix_with("MATERIALIZED")
    )
    return (
        sa.update(P)
        .where(
            P.tenant_id == tenant_id,
            P.id == locked.c.id,
            P.location_code == wanted.c.location,
            P.sku == wanted.c.sku,
            P.on_hand - P.reserved >= qty,
        )
        .values(on_hand=P.on_hand - qty, updated_at=at)
        .returning(P.location_code, P.sku, *POSITION_COLUMNS, qty.label("qty"))
        .cte("sold")
    )


def sale_statement(tenant_id: sa.BindParameter[Any]) -> sa.Select[Any]:
    """PostgreSQL: every line of an in-store sale, its ledger rows and its availability events
    in ONE statement, built
    once (the lines come as three arrays, ``unnest`` into ``wanted``, so every sale has the
    same SQL text: compiled and prepared once, whatever its lines). ``tenant_id``: the
    parameter the statement's tenant is bound to (by :func:`do_sell_in_store`, from the unit
    of work); a caller may add its own CTEs to it (:class:`CarriedSale`)."""
    wanted = (
        sa.func.unnest(
            sa.bindparam("locations", type_=postgresql.ARRAY(sa.String)),
            sa.bindparam("skus", type_=postgresql.ARRAY(sa.String)),
            sa.bindparam("qtys", type_=postgresql.ARRAY(sa.BigInteger)),
        )
        .table_valued(
            sa.column("location", sa.String),
            sa.column("sku", sa.String),
            sa.column("qty", sa.BigInteger),
        )
        .render_derived(name="wanted")
    )
    sold_at = sa.bindparam("sold_at", type_=UTCDateTime)
    sold = take_in_order(tenant_id, wanted, wanted.c.qty, at=sold_at)
    # Written only when every line had enough: a short sale writes nothing.
    every_line = sa.select(sa.func.count()).select_from(sold).scalar_subquery() == sa.bindparam(
        "lines", type_=sa.Integer
    )
    ledger = sa.insert(LEDGER).from_select(
        LEDGER_COLUMNS,
        sa.select(
            tenant_id,
            sold.c.id,
            sold.c.sku,
            sold.c.location_code,
            sa.literal(Reason.SALE.value, sa.String),
            -sold.c.qty,
            sa.literal(0, sa.BigInteger),
            sa.null(),
            sa.bindparam("reference", type_=sa.String),
            sa.bindparam("actor", type_=sa.String),
            sold_at,
        )
        .where(every_line)
        .order_by(sold.c.location_code, sold.c.sku),
    )
    # ``inventory.availability_changed`` for each line whose available figure moved, with the
    # payload ``service.notify_availability`` gives it (a sale that fits never puts a position
    # at risk: on hand stays at or above reserved), so nothing is left to write after the rows
    # are locked but the commit.
    events = availability_events(
        tenant_id,
        sold,
        at=sold_at,
        where=every_line,
        order_by=[sold.c.location_code, sold.c.sku],
    )
    return (
        sa.select(
            sold.c.location_code,
            sold.c.sku,
            sold.c.id,
            sold.c.on_hand,
            sold.c.reserved,
            sold.c.safety_stock,
        )
        .add_cte(ledger.cte("ledger"))
        .add_cte(events.cte("announced"))
    )


# Named apart from every column: a bind named like a column would also be SET by the UPDATE.
_SALE_TENANT = "sale_tenant"
_SALE = sale_statement(sa.bindparam(_SALE_TENANT, type_=sa.BigInteger))


_BATCH_SALE = "omni_batch_sale"


class LateSale(Protocol):
    """A group-commit batch's till sales at one location that take their stock together at
    the batch's close (``inventory.batch_sales.BatchSale``)."""

    location: str

    def draw(
        self,
        uow: UnitOfWork,
        merged: dict[tuple[str, str], tuple[int, list[int]]],
        *,
        reference: str | None,
        actor: str,
        now: dt.datetime,
    ) -> None:
        """One sale's merged lines, taken at the close (given back if its savepoint rolls
        back)."""


def register_late_sale(uow: UnitOfWork, sale: LateSale | None) -> None:
    """Sales at ``sale.location`` in ``uow`` draw on ``sale`` from now on (None: no more)."""
    if sale is None:
        uow.session.info.pop(_BATCH_SALE, None)
    else:
        uow.session.info[_BATCH_SALE] = sale


def late_sale_for(uow: UnitOfWork, location: str) -> LateSale | None:
    found: LateSale | None = uow.session.info.get(_BATCH_SALE)
    return found if found is not None and found.location == location else None


async def _write_carried(uow: UnitOfWork, carrying: CarriedSale | None) -> None:
    """The caller's rows of a sale whose stock its batch takes: written alone, now."""
    if carrying is None:
        return
    if carrying.alone is None:
        raise ValueError("this sale's writes cannot be made without it (CarriedSale.alone)")
    if carrying.tenant_bind in carrying.parameters:
        raise TenantScopeError("the tenant is bound by the unit of work, never by its caller")
    await uow.flush()
    await uow.session.execute(
        carrying.alone, carrying.parameters | {carrying.tenant_bind: uow.require_tenant()}
    )
    uow.wrote_events = True


@dataclass(frozen=True, slots=True)
class CarriedSale:
    """A statement built once on :func:`sale_statement` with the caller's own writes added as
    CTEs (a till's order), run in place of the sale's own: the caller's rows and the sale are
    one round trip, and nothing follows the sale but the commit. ``tenant_bind`` names its
    tenant parameter, bound by :func:`do_sell_in_store` from the unit of work (never among
    ``parameters``); the caller's rows are written whether or not the stock suffices (a short
    sale raises, and the caller's transaction or savepoint must roll back, as for any write
    before it)."""

    statement: sa.Select[Any]
    tenant_bind: str
    parameters: dict[str, Any]
    # The caller's writes without the sale (same parameters), for a sale whose stock its
    # group-commit batch takes (``LateSale``).
    alone: sa.Select[Any] | None = None


def can_carry(uow: UnitOfWork, settings: dict[str, Any]) -> bool:
    """Whether :func:`do_sell_in_store` takes a :class:`CarriedSale` for this tenant: on
    PostgreSQL, unless the tenant allows negative stock (that sale is a statement a line)."""
    return uow.dialect == "postgresql" and not settings.get("allow_negative_stock", False)


async def _sell_together(
    uow: UnitOfWork,
    merged: dict[tuple[str, str], tuple[int, list[int]]],
    now: dt.datetime,
    *,
    actor: str,
    reference: str | None,
    carrying: CarriedSale | None = None,
) -> dict[tuple[str, str], Any]:
    """Every line of an in-store sale in ONE statement (PostgreSQL, ``_SALE``): one round trip
    while the rows are locked instead of one per line, its ledger rows and availability events
    included, so nothing but the commit follows it (the caller's staged rows are written
    before it, in ``do_sell_in_store``). The rows are
    first locked in (location, SKU) order by a materialised ``SELECT ... ORDER BY ... FOR
    UPDATE``, the order every multi-line change takes them in, so two sales of overlapping
    SKUs cannot deadlock; the guard (``on_hand - reserved >= qty``) is then checked on each
    row's latest version. The ledger rows (``sale``, one a line) are written by the same
    statement only if every line had enough (a short sale writes none). Returns the rows that
    had enough, by (location, SKU)."""
    keys = list(merged)
    statement, tenant_bind, theirs = (
        (_SALE, _SALE_TENANT, {})
        if carrying is None
        else (carrying.statement, carrying.tenant_bind, carrying.parameters)
    )
    if tenant_bind in theirs:
        raise TenantScopeError("the tenant is bound by the unit of work, never by its caller")
    rows = await uow.session.execute(
        statement,
        theirs
        | {
            tenant_bind: uow.require_tenant(),
            "locations": [loc for loc, _ in keys],
            "skus": [sku for _, sku in keys],
            "qtys": [merged[key][0] for key in keys],
            "sold_at": now,
            "reference": reference,
            "actor": actor,
            "lines": len(keys),
        },
    )
    return {(row.location_code, row.sku): row for row in rows}


def _sale_at_once_statement() -> sa.Update:
    """SQLite: every line of an in-store sale in ONE ``UPDATE ... FROM json_each(...)``, built
    once (the lines come as one JSON array, so every sale has the same SQL text). SQLite has
    one writer, so there is no lock order to keep; the ledger rows and events are staged."""
    each = sa.func.json_each(sa.bindparam("sale_lines", type_=sa.String)).table_valued("value")
    wanted = sa.select(
        sa.func.json_extract(each.c.value, sa.literal_column("'$[0]'")).label("location"),
        sa.func.json_extract(each.c.value, sa.literal_column("'$[1]'")).label("sku"),
        sa.func.json_extract(each.c.value, sa.literal_column("'$[2]'")).label("qty"),
    ).subquery("wanted")
    return (
        sa.update(P)
        .where(
            P.tenant_id == sa.bindparam(_SALE_TENANT, type_=sa.BigInteger),
            P.location_code == wanted.c.location,
            P.sku == wanted.c.sku,
            P.on_hand - P.reserved >= wanted.c.qty,
        )
        .values(
            on_hand=P.on_hand - wanted.c.qty,
            updated_at=sa.bindparam("sold_at", type_=UTCDateTime),
        )
        .returning(P.location_code, P.sku, *POSITION_COLUMNS)
        .execution_options(synchronize_session=False)
    )


_SALE_AT_ONCE = _sale_at_once_statement()


async def _sell_at_once(
    uow: UnitOfWork, merged: dict[tuple[str, str], tuple[int, list[int]]], now: dt.datetime
) -> dict[tuple[str, str], Any]:
    """The rows of the lines that had enough (``_SALE_AT_ONCE``), by (location, SKU)."""
    lines = [[loc, sku, qty] for (loc, sku), (qty, _) in merged.items()]
    rows = await uow.session.execute(
        _SALE_AT_ONCE,
        {_SALE_TENANT: uow.require_tenant(), "sale_lines": json.dumps(lines), "sold_at": now},
    )
    return {(row.location_code, row.sku): row for row in rows}


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
