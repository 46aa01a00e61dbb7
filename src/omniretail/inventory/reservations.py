"""Reservations: holding stock for a cart or an order, and letting it go or leave.

A hold is ONE conditional UPDATE per position (``reserved = reserved + q WHERE on_hand -
reserved - safety_stock >= q``): the database serialises racing holds on the row, and the row
count tells each racer whether it won, on PostgreSQL and SQLite alike, with no lock kept beyond
the statement's own row lock until commit. Lines are held in (location, sku) order so two
multi-line holds cannot deadlock. All lines or none: the holds already taken are undone in the
same transaction when one line is short.

Every change of state first claims rows with a conditional UPDATE (the reservation's status, a
line's ``held`` state), so a release, a consumption, a confirmation and the expiry worker can
race without doing anything twice. These functions run in the caller's unit of work (orders
call them inside the order's transaction) and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa

from omniretail.db import BigId, UnitOfWork, UTCDateTime, utcnow
from omniretail.errors import Conflict, NotFound, ValidationFailed
from omniretail.events import record_event
from omniretail.inventory.domain import (
    CONSUMING,
    HOLDING,
    Reason,
    ReservationStatus,
    expiry,
)
from omniretail.inventory.models import (
    Reservation,
    ReservationLine,
    StockMovement,
    StockPosition,
)
from omniretail.inventory.positions import (
    LEDGER_COLUMNS,
    StockLine,
    change_of,
    check_quantities,
    hold_all,
    merge_lines,
    move_position,
    short_lines,
    take_out,
    write_ledger,
)
from omniretail.inventory.schemas import ReservationLineOut, ReservationOut
from omniretail.inventory.service import InsufficientStock, notify_availability

P = StockPosition
RESERVATIONS = cast(sa.Table, Reservation.__table__)
LINES = cast(sa.Table, ReservationLine.__table__)
MOVES = cast(sa.Table, StockMovement.__table__)


class ReservationExpired(Conflict):
    code = "reservation_expired"
    title = "Reservation expired"


class ReservationClosed(Conflict):
    code = "reservation_closed"
    title = "Reservation already consumed or released"


async def do_reserve(
    uow: UnitOfWork,
    *,
    lines: Sequence[StockLine],
    ttl_seconds: int | None,
    actor: str,
    reference: str | None = None,
    channel: str | None = None,
    now: dt.datetime | None = None,
) -> ReservationOut:
    """Hold every line at its named location, or none (409 ``insufficient_stock`` naming each
    short line; 422 for an unknown SKU or location). ``ttl_seconds`` None means held for an
    order with no expiry (status ``confirmed``); otherwise it expires after the TTL unless
    confirmed. Safe to call inside the caller's unit of work: on failure nothing stays held or
    written. The held rows stay locked until the caller commits: call it late in a transaction.
    """
    check_quantities(lines, ttl_seconds)
    merged = merge_lines(lines)
    now = now or utcnow()
    # Everything that needs no lock is written first, so that the hot rows are locked only by
    # the holds themselves, the events and the commit (ANCHORS: the WAL flush under the lock).
    # The lines and the ledger read the positions' ids themselves (INSERT ... SELECT): no
    # separate read of the positions.
    status = ReservationStatus.CONFIRMED if ttl_seconds is None else ReservationStatus.ACTIVE
    expires_at = None if ttl_seconds is None else expiry(now, ttl_seconds)
    if uow.dialect == "postgresql":
        # The reservation, its lines and their ledger rows in ONE statement (CTEs): a hold in a
        # group-commit batch runs while the batch's hot row is locked.
        reservation_id, found = await _insert_together(
            uow,
            merged,
            status=status.value,
            reference=reference,
            channel=channel,
            actor=actor,
            expires_at=expires_at,
            now=now,
        )
    else:
        reservation_id = await _insert_reservation(
            uow,
            status=status.value,
            reference=reference,
            channel=channel,
            actor=actor,
            expires_at=expires_at,
            now=now,
        )
        found = await _insert_lines(uow, reservation_id, merged)
        if len(found) == len(merged):
            await _insert_ledger(uow, reservation_id, reference=reference, actor=actor, now=now)
    if len(found) < len(merged):
        # A line has no position at all: tell every line that cannot be held now (on
        # PostgreSQL the found lines' ledger rows were written with them: they go too).
        if uow.dialect == "postgresql":
            await uow.session.execute(
                sa.delete(MOVES).where(MOVES.c.reservation_id == reservation_id)
            )
        await uow.session.execute(
            sa.delete(RESERVATIONS).where(RESERVATIONS.c.id == reservation_id)
        )
        raise await short_lines(uow, merged, list(merged), only_short=True)
    keyed = [(key, qty) for key, (qty, _) in merged.items()]
    won, short = await hold_all(uow, merged)
    if short:
        await uow.session.execute(sa.delete(MOVES).where(MOVES.c.reservation_id == reservation_id))
        await uow.session.execute(
            sa.delete(RESERVATIONS).where(RESERVATIONS.c.id == reservation_id)
        )
        raise await short_lines(uow, merged, short)
    await notify_availability(
        uow,
        [
            change_of(sku, loc, won[(loc, sku)], on_hand=0, reserved=qty)
            for (loc, sku), qty in keyed
            if won[(loc, sku)] is not None  # else its group-commit batch announces it
        ],
    )
    return ReservationOut(
        id=reservation_id,
        status=status.value,
        reference=reference,
        channel=channel,
        expires_at=expires_at,
        created_at=now,
        lines=[
            ReservationLineOut(sku=sku, location=loc, qty=qty, state="held")
            for (loc, sku), qty in keyed
        ],
    )


_LINE_COLUMNS = ["tenant_id", "reservation_id", "position_id", "sku", "location_code", "qty"]


def _lines_from(positions: sa.Select[Any]) -> sa.Insert:
    return (
        sa.insert(LINES)
        .from_select([*_LINE_COLUMNS, "state"], positions.order_by(P.location_code, P.sku))
        .returning(LINES.c.location_code, LINES.c.sku)
    )


def _positions(qty: Any) -> sa.Select[Any]:
    # Core INSERT ... SELECT: the session's tenant criteria do not reach it, so it names the
    # tenant itself.
    return sa.select(
        sa.bindparam("tenant_id", type_=BigId),
        sa.bindparam("reservation_id", type_=BigId),
        P.id,
        P.sku,
        P.location_code,
        qty,
        sa.literal("held"),
    ).where(P.tenant_id == sa.bindparam("tenant_id", type_=BigId))


# Built once: the one-position hold (every hot-SKU hold) hits the compiled cache.
_ONE_LINE = _lines_from(
    _positions(sa.bindparam("qty", type_=sa.Integer)).where(
        P.location_code == sa.bindparam("location"), P.sku == sa.bindparam("sku")
    )
)


async def _insert_lines(
    uow: UnitOfWork, reservation_id: int, merged: dict[tuple[str, str], tuple[int, list[int]]]
) -> set[tuple[str, str]]:
    """One held line per (location, sku) that has a position, its id read by the INSERT
    itself; returns the keys written (a missing position writes no line)."""
    ids = {"tenant_id": uow.require_tenant(), "reservation_id": reservation_id}
    if len(merged) == 1:
        [((location, sku), (qty, _))] = merged.items()
        statement = _ONE_LINE
        params: dict[str, Any] = {**ids, "location": location, "sku": sku, "qty": qty}
    else:
        quantities = sa.case(
            *(
                (sa.and_(P.location_code == loc, P.sku == sku), q)
                for (loc, sku), (q, _) in merged.items()
            )
        )
        statement = _lines_from(
            _positions(quantities).where(sa.tuple_(P.location_code, P.sku).in_(list(merged)))
        )
        params = ids
    rows = await uow.session.execute(statement, params)
    return {(r.location_code, r.sku) for r in rows}


def _reserve_ledger(lines: Any) -> sa.Select[Any]:
    """The ledger rows of held lines (``lines``: the reservation lines table, or the hold's
    CTE of the lines it inserted), one ``reserve`` row each."""
    return sa.select(
        lines.c.tenant_id,
        lines.c.position_id,
        lines.c.sku,
        lines.c.location_code,
        sa.literal(Reason.RESERVE.value),
        sa.literal(0, sa.Integer),
        lines.c.qty,
        lines.c.reservation_id,
        sa.bindparam("reference", type_=sa.String),
        sa.bindparam("actor", type_=sa.String),
        sa.bindparam("created_at", type_=UTCDateTime),
    )


_LEDGER = sa.insert(MOVES).from_select(
    LEDGER_COLUMNS,
    _reserve_ledger(LINES).where(
        LINES.c.tenant_id == sa.bindparam("tenant_id", type_=BigId),
        LINES.c.reservation_id == sa.bindparam("reservation_id", type_=BigId),
    ),
)


async def _insert_ledger(
    uow: UnitOfWork, reservation_id: int, *, reference: str | None, actor: str, now: dt.datetime
) -> None:
    """A ``reserve`` movement for each line of the reservation, copied from its lines."""
    await uow.session.execute(
        _LEDGER,
        {
            "tenant_id": uow.require_tenant(),
            "reservation_id": reservation_id,
            "reference": reference,
            "actor": actor,
            "created_at": now,
        },
    )


_NEW_RESERVATION = (
    sa.insert(RESERVATIONS)
    .values(
        tenant_id=sa.bindparam("tenant_id", type_=BigId),
        status=sa.bindparam("status", type_=sa.String),
        reference=sa.bindparam("reference", type_=sa.String),
        channel_code=sa.bindparam("channel", type_=sa.String),
        actor=sa.bindparam("actor", type_=sa.String),
        expires_at=sa.bindparam("expires_at", type_=UTCDateTime),
        created_at=sa.bindparam("created_at", type_=UTCDateTime),
    )
    .returning(RESERVATIONS.c.id)
    .cte("new_reservation")
)


def _together(positions: sa.Select[Any]) -> sa.Select[Any]:
    """PostgreSQL: the reservation (``_NEW_RESERVATION``), one held line per position of
    ``positions`` (which names ``_NEW_RESERVATION``'s id) and a ``reserve`` ledger row per line,
    in one statement; yields the reservation's id with each line written (one row with no line
    when no position matched)."""
    held = (
        sa.insert(LINES)
        .from_select([*_LINE_COLUMNS, "state"], positions.order_by(P.location_code, P.sku))
        .returning(*(LINES.c[name] for name in _LINE_COLUMNS))
        .cte("held")
    )
    ledger = sa.insert(MOVES).from_select(LEDGER_COLUMNS, _reserve_ledger(held))
    return (
        sa.select(_NEW_RESERVATION.c.id, held.c.location_code, held.c.sku)
        .select_from(_NEW_RESERVATION.outerjoin(held, sa.true()))
        .add_cte(ledger.cte("ledger"))
    )


def _positions_of_new(qty: Any) -> sa.Select[Any]:
    # Core INSERT ... SELECT: the session's tenant criteria do not reach it, so it names the
    # tenant itself.
    return (
        sa.select(
            sa.bindparam("tenant_id", type_=BigId),
            _NEW_RESERVATION.c.id,
            P.id,
            P.sku,
            P.location_code,
            qty,
            sa.literal("held"),
        )
        .select_from(_NEW_RESERVATION.join(P, sa.true()))
        .where(P.tenant_id == sa.bindparam("tenant_id", type_=BigId))
    )


# Built once: the one-position hold (every hot-SKU hold) hits the compiled cache.
_ONE_TOGETHER = _together(
    _positions_of_new(sa.bindparam("qty", type_=sa.Integer)).where(
        P.location_code == sa.bindparam("location"), P.sku == sa.bindparam("sku")
    )
)


async def _insert_together(
    uow: UnitOfWork,
    merged: dict[tuple[str, str], tuple[int, list[int]]],
    *,
    status: str,
    reference: str | None,
    channel: str | None,
    actor: str,
    expires_at: dt.datetime | None,
    now: dt.datetime,
) -> tuple[int, set[tuple[str, str]]]:
    """The reservation, its lines and their ledger rows in one statement (PostgreSQL); returns
    the reservation's id and the keys with a line (a missing position writes no line)."""
    params: dict[str, Any] = {
        "tenant_id": uow.require_tenant(),
        "status": status,
        "reference": reference,
        "channel": channel,
        "actor": actor,
        "expires_at": expires_at,
        "created_at": now,
    }
    if len(merged) == 1:
        [((location, sku), (qty, _))] = merged.items()
        statement = _ONE_TOGETHER
        params |= {"location": location, "sku": sku, "qty": qty}
    else:
        quantities = sa.case(
            *(
                (sa.and_(P.location_code == loc, P.sku == sku), q)
                for (loc, sku), (q, _) in merged.items()
            )
        )
        statement = _together(
            _positions_of_new(quantities).where(sa.tuple_(P.location_code, P.sku).in_(list(merged)))
        )
    rows = (await uow.session.execute(statement, params)).all()
    found = {(r.location_code, r.sku) for r in rows if r.location_code is not None}
    return int(rows[0].id), found


async def _insert_reservation(
    uow: UnitOfWork,
    *,
    status: str,
    reference: str | None,
    channel: str | None,
    actor: str,
    expires_at: dt.datetime | None,
    now: dt.datetime,
) -> int:
    new_id = await uow.session.scalar(
        sa.insert(RESERVATIONS)
        .values(
            tenant_id=uow.require_tenant(),
            status=status,
            reference=reference,
            channel_code=channel,
            actor=actor,
            expires_at=expires_at,
            created_at=now,
        )
        .returning(RESERVATIONS.c.id)
    )
    assert new_id is not None
    return int(new_id)


async def get_reservation(uow: UnitOfWork, reservation_id: int) -> ReservationOut:
    reservation = await uow.session.get(Reservation, reservation_id)
    if reservation is None or reservation.tenant_id != uow.require_tenant():
        raise NotFound("reservation", reservation_id)
    lines = await uow.session.scalars(
        sa.select(ReservationLine)
        .where(ReservationLine.reservation_id == reservation_id)
        .order_by(ReservationLine.location_code, ReservationLine.sku)
    )
    return ReservationOut(
        id=reservation.id,
        status=reservation.status,
        reference=reservation.reference,
        channel=reservation.channel_code,
        expires_at=reservation.expires_at,
        created_at=reservation.created_at,
        lines=[
            ReservationLineOut(sku=ln.sku, location=ln.location_code, qty=ln.qty, state=ln.state)
            for ln in lines
        ],
    )


async def _claim_reservation(
    uow: UnitOfWork, reservation_id: int, now: dt.datetime, *, unexpired: bool
) -> None:
    """Lock a holding reservation by a no-op conditional update, or say why it cannot act."""
    conditions = [Reservation.id == reservation_id, Reservation.status.in_(HOLDING)]
    if unexpired:
        conditions.append(sa.or_(Reservation.expires_at.is_(None), Reservation.expires_at > now))
    claimed = await uow.session.execute(
        sa.update(Reservation)
        .where(*conditions)
        .values(status=Reservation.status)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount == 1:  # type: ignore[attr-defined]
        return
    status = await uow.session.scalar(
        sa.select(Reservation.status).where(Reservation.id == reservation_id)
    )
    if status is None:
        raise NotFound("reservation", reservation_id)
    if status in HOLDING or status == ReservationStatus.EXPIRED.value:
        raise ReservationExpired(f"reservation {reservation_id} has expired")
    raise ReservationClosed(f"reservation {reservation_id} is {status}")


async def do_confirm_reservation(
    uow: UnitOfWork,
    *,
    reservation_id: int,
    reference: str | None = None,
    now: dt.datetime | None = None,
) -> ReservationOut:
    """The hold becomes part of an order: it no longer expires. Confirming twice is harmless;
    an expired hold is a 409 ``reservation_expired`` (reserve again)."""
    now = now or utcnow()
    values: dict[str, Any] = {"status": ReservationStatus.CONFIRMED.value, "expires_at": None}
    if reference is not None:
        values["reference"] = reference
    confirmed = await uow.session.execute(
        sa.update(Reservation)
        .where(
            Reservation.id == reservation_id,
            sa.or_(
                Reservation.status == ReservationStatus.CONFIRMED.value,
                sa.and_(
                    Reservation.status == ReservationStatus.ACTIVE.value,
                    Reservation.expires_at > now,
                ),
            ),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if confirmed.rowcount != 1:  # type: ignore[attr-defined]
        await _claim_reservation(uow, reservation_id, now, unexpired=True)
    return await get_reservation(uow, reservation_id)


async def _claim_lines(
    uow: UnitOfWork, reservation_ids: Sequence[int], *, location: str | None, state: str
) -> list[Any]:
    conditions = [
        ReservationLine.reservation_id.in_(reservation_ids),
        ReservationLine.state == "held",
    ]
    if location is not None:
        conditions.append(ReservationLine.location_code == location)
    rows = await uow.session.execute(
        sa.update(ReservationLine)
        .where(*conditions)
        .values(state=state)
        .returning(
            ReservationLine.reservation_id,
            ReservationLine.position_id,
            ReservationLine.sku,
            ReservationLine.location_code,
            ReservationLine.qty,
        )
        .execution_options(synchronize_session=False)
    )
    return sorted(rows.all(), key=lambda r: (r.location_code, r.sku, r.reservation_id))


async def _close_if_done(uow: UnitOfWork, reservation_id: int, now: dt.datetime) -> None:
    states = set(
        await uow.session.scalars(
            sa.select(ReservationLine.state)
            .where(ReservationLine.reservation_id == reservation_id)
            .distinct()
        )
    )
    if "held" in states:
        return
    final = ReservationStatus.CONSUMED if "consumed" in states else ReservationStatus.RELEASED
    await uow.session.execute(
        sa.update(Reservation)
        .where(Reservation.id == reservation_id)
        .values(status=final.value, closed_at=now)
        .execution_options(synchronize_session=False)
    )


async def do_release_reservation(
    uow: UnitOfWork,
    *,
    reservation_id: int,
    actor: str,
    location: str | None = None,
    now: dt.datetime | None = None,
) -> ReservationOut:
    """Give the held stock back (all lines, or the lines at ``location`` only, e.g. a store
    rejected its part). Releasing what is already released or consumed changes nothing."""
    now = now or utcnow()
    try:
        await _claim_reservation(uow, reservation_id, now, unexpired=False)
    except (ReservationClosed, ReservationExpired):
        return await get_reservation(uow, reservation_id)
    lines = await _claim_lines(uow, [reservation_id], location=location, state="released")
    changes = []
    for line in lines:
        row = await move_position(uow, line.position_id, reserved=-line.qty)
        write_ledger(
            uow,
            position_id=line.position_id,
            sku=line.sku,
            location=line.location_code,
            reason=Reason.RELEASE,
            reserved=-line.qty,
            reservation_id=reservation_id,
            reference=None,
            actor=actor,
            at=now,
        )
        changes.append(change_of(line.sku, line.location_code, row, on_hand=0, reserved=-line.qty))
    await notify_availability(uow, changes)
    await _close_if_done(uow, reservation_id, now)
    return await get_reservation(uow, reservation_id)


async def do_consume_reservation(
    uow: UnitOfWork,
    *,
    reservation_id: int,
    actor: str,
    reason: Reason = Reason.SHIPMENT,
    location: str | None = None,
    reference: str | None = None,
    now: dt.datetime | None = None,
) -> ReservationOut:
    """Stock leaves (``shipment``, ``pickup`` handover, in-store ``sale``): on hand and
    reserved both drop by the held lines (all, or those at ``location``). An expired hold is a
    409 ``reservation_expired``. If a count found less on hand than the hold, this raises
    ``insufficient_stock`` and the caller's unit of work must roll back."""
    if reason not in CONSUMING:
        raise ValidationFailed(
            "invalid reason",
            [{"field": "reason", "message": f"one of {sorted(r.value for r in CONSUMING)}"}],
        )
    now = now or utcnow()
    await _claim_reservation(uow, reservation_id, now, unexpired=True)
    lines = await _claim_lines(uow, [reservation_id], location=location, state="consumed")
    changes = []
    for line in lines:
        row = await take_out(uow, line.position_id, line.qty, reserved=-line.qty)
        if row is None:
            raise InsufficientStock(
                f"{line.sku} at {line.location_code}: less on hand than held (a count found less)",
                lines=[{"sku": line.sku, "location": line.location_code, "requested": line.qty}],
            )
        write_ledger(
            uow,
            position_id=line.position_id,
            sku=line.sku,
            location=line.location_code,
            reason=reason,
            on_hand=-line.qty,
            reserved=-line.qty,
            reservation_id=reservation_id,
            reference=reference,
            actor=actor,
            at=now,
        )
        changes.append(
            change_of(line.sku, line.location_code, row, on_hand=-line.qty, reserved=-line.qty)
        )
    await notify_availability(uow, changes)
    await _close_if_done(uow, reservation_id, now)
    return await get_reservation(uow, reservation_id)


async def do_release_expired(uow: UnitOfWork, now: dt.datetime, *, limit: int = 500) -> int:
    """Release up to ``limit`` holds of this tenant whose expiry has passed; returns how many.
    Claims them with a conditional update, so several workers never release one twice."""
    candidates = list(
        await uow.session.scalars(
            sa.select(Reservation.id)
            .where(
                Reservation.status == ReservationStatus.ACTIVE.value,
                Reservation.expires_at <= now,
            )
            .order_by(Reservation.expires_at, Reservation.id)
            .limit(limit)
        )
    )
    if not candidates:
        return 0
    claimed = list(
        (
            await uow.session.execute(
                sa.update(Reservation)
                .where(
                    Reservation.id.in_(candidates),
                    Reservation.status == ReservationStatus.ACTIVE.value,
                    Reservation.expires_at <= now,
                )
                .values(status=ReservationStatus.EXPIRED.value, closed_at=now)
                .returning(Reservation.id, Reservation.reference)
                .execution_options(synchronize_session=False)
            )
        ).all()
    )
    if not claimed:
        return 0
    lines = await _claim_lines(uow, [r.id for r in claimed], location=None, state="expired")
    per_position: dict[int, int] = defaultdict(int)
    keys: dict[int, tuple[str, str]] = {}
    for line in lines:
        per_position[line.position_id] += line.qty
        keys[line.position_id] = (line.sku, line.location_code)
        write_ledger(
            uow,
            position_id=line.position_id,
            sku=line.sku,
            location=line.location_code,
            reason=Reason.EXPIRE,
            reserved=-line.qty,
            reservation_id=line.reservation_id,
            reference=None,
            actor="system:expiry",
            at=now,
        )
    changes = []
    for position_id in sorted(per_position, key=lambda p: (keys[p][1], keys[p][0])):
        qty = per_position[position_id]
        row = await move_position(uow, position_id, reserved=-qty)
        sku, location = keys[position_id]
        changes.append(change_of(sku, location, row, on_hand=0, reserved=-qty))
    await notify_availability(uow, changes)
    for reservation in claimed:
        record_event(
            uow,
            "inventory.reservation_expired",
            aggregate_type="reservation",
            aggregate_id=reservation.id,
            payload={"id": reservation.id, "reference": reservation.reference},
        )
    return len(claimed)
