"""The in-store sale: stock leaves a till at once, in one statement that locks the store's
positions last (``do_sell_in_store``); on PostgreSQL it may carry the order's own rows
(:class:`CarriedSale`) or, in a group commit, leave its stock to the batch's close
(:class:`LateSale`, ``inventory.batch_sales``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from omniretail.auth import service as auth
from omniretail.db import TenantScopeError, UnitOfWork, UTCDateTime, utcnow
from omniretail.inventory.domain import Reason
from omniretail.inventory.positions import (
    LEDGER,
    LEDGER_COLUMNS,
    POSITION_COLUMNS,
    P,
    StockLine,
    availability_events,
    change_of,
    check_quantities,
    merge_lines,
    move_position,
    short_lines,
)
from omniretail.inventory.service import (
    Change,
    notify_at_risk,
    notify_availability,
)
from omniretail.scoped import execute_bound


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
    await execute_bound(uow, carrying.alone, carrying.tenant_bind, carrying.parameters)
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
