"""Many one-position holds written together: a group-commit batch's holds on a hot SKU.

The HTTP API sends concurrent holds on one position through the process's group commit
(``omniretail.group_commit``), which runs them in one transaction with a late
:class:`~omniretail.inventory.positions.BatchHold` (the position's conditional UPDATE once, for
what they drew, just before the commit). :class:`BatchOfHolds` also writes the batch's holds
that need no Idempotency-Key record in ONE statement on PostgreSQL (:func:`do_reserve_together`):
their reservations, lines and ledger rows, from arrays, instead of one statement (one round
trip and one SQLAlchemy execution) per hold while the transaction is open.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from omniretail.db import UnitOfWork, UTCDateTime, utcnow
from omniretail.inventory.domain import Reason, ReservationStatus, expiry
from omniretail.inventory.positions import (
    LEDGER_COLUMNS,
    BatchHold,
    StockLine,
    change_of,
    check_quantities,
    hold_all,
    short_lines,
)
from omniretail.inventory.reservations import LINES, MOVES, RESERVATIONS, P, do_reserve
from omniretail.inventory.schemas import ReservationLineOut, ReservationOut
from omniretail.inventory.service import notify_availability


@dataclass(frozen=True, slots=True)
class HoldRequest:
    """One request's hold, as data: ``lines`` all at one position (``do_reserve``'s
    arguments)."""

    lines: Sequence[StockLine]
    ttl_seconds: int | None
    actor: str
    reference: str | None = None
    channel: str | None = None


class BatchOfHolds(BatchHold):
    """A group-commit batch's :class:`BatchHold` that also writes its requests' holds together
    (``GroupCommit``'s ``together``)."""

    async def run_together(self, uow: UnitOfWork, holds: list[HoldRequest]) -> list[Any]:
        return list(await do_reserve_together(uow, self.key, holds))


async def do_reserve_together(
    uow: UnitOfWork,
    key: tuple[str, str],
    holds: Sequence[HoldRequest],
    *,
    now: dt.datetime | None = None,
) -> list[ReservationOut]:
    """Every hold of ``holds`` (each ``lines`` at the one position ``key``: location, sku), as
    ``do_reserve`` would make them one after the other, or none: on the first hold that is
    invalid, unknown or short this raises ``do_reserve``'s error for it and the caller's unit
    of work must roll back (what was written for the others is not undone here)."""
    for hold in holds:
        check_quantities(hold.lines, hold.ttl_seconds)
        if any((line.location, line.sku) != key for line in hold.lines):
            raise ValueError(f"every line of a hold written together is at {key}")
    if uow.dialect != "postgresql":
        return [
            await do_reserve(
                uow,
                lines=hold.lines,
                ttl_seconds=hold.ttl_seconds,
                actor=hold.actor,
                reference=hold.reference,
                channel=hold.channel,
                now=now,
            )
            for hold in holds
        ]
    now = now or utcnow()
    location, sku = key
    quantities = [sum(line.qty for line in hold.lines) for hold in holds]
    statuses = [_status(hold) for hold in holds]
    expiries = [None if h.ttl_seconds is None else expiry(now, h.ttl_seconds) for h in holds]
    rows = (
        await uow.session.execute(
            _TOGETHER,
            {
                "hold_tenant": uow.require_tenant(),
                "location": location,
                "sku": sku,
                "qtys": quantities,
                "statuses": [status.value for status in statuses],
                "refs": [hold.reference for hold in holds],
                "channels": [hold.channel for hold in holds],
                "actors": [hold.actor for hold in holds],
                "expiries": expiries,
                "held_at": now,
            },
        )
    ).all()
    if rows[0].lines < len(holds):  # no such position: name it (422)
        raise await short_lines(uow, {key: (quantities[0], [0])}, [key], only_short=True)
    for qty in quantities:
        merged = {key: (qty, [0])}
        won, short = await hold_all(uow, merged)
        if short:
            raise await short_lines(uow, merged, short)
        if won[key] is not None:  # else the group-commit batch announces it
            await notify_availability(
                uow, [change_of(sku, location, won[key], on_hand=0, reserved=qty)]
            )
    return [
        ReservationOut(
            id=row.id,
            status=status.value,
            reference=hold.reference,
            channel=hold.channel,
            expires_at=expires_at,
            created_at=now,
            lines=[ReservationLineOut(sku=sku, location=location, qty=qty, state="held")],
        )
        for row, hold, status, expires_at, qty in zip(
            rows, holds, statuses, expiries, quantities, strict=True
        )
    ]


def _status(hold: HoldRequest) -> ReservationStatus:
    return ReservationStatus.CONFIRMED if hold.ttl_seconds is None else ReservationStatus.ACTIVE


def _together_statement() -> sa.Select[Any]:
    """PostgreSQL: the reservations of many holds at one position (one per element of the
    arrays, ``unnest`` into ``wanted``, their ids drawn from the reservations' sequence first so
    that the lines can name them), a held line each and a ``reserve`` ledger row per line, in
    one statement built once (the same SQL text whatever the number of holds: compiled and
    prepared once). Yields each hold's reservation id in the arrays' order, with the number of
    lines written (fewer than the holds when the position does not exist)."""
    given = (
        sa.func.unnest(
            sa.bindparam("qtys", type_=postgresql.ARRAY(sa.BigInteger)),
            sa.bindparam("statuses", type_=postgresql.ARRAY(sa.String)),
            sa.bindparam("refs", type_=postgresql.ARRAY(sa.String)),
            sa.bindparam("channels", type_=postgresql.ARRAY(sa.String)),
            sa.bindparam("actors", type_=postgresql.ARRAY(sa.String)),
            sa.bindparam("expiries", type_=postgresql.ARRAY(UTCDateTime)),
        )
        .table_valued(
            sa.column("qty", sa.BigInteger),
            sa.column("status", sa.String),
            sa.column("reference", sa.String),
            sa.column("channel", sa.String),
            sa.column("actor", sa.String),
            sa.column("expires_at", UTCDateTime),
            with_ordinality="ord",
        )
        .render_derived(name="given")
    )
    # Named apart from every column (as in the sale's statement).
    tenant_id = sa.bindparam("hold_tenant", type_=sa.BigInteger)
    held_at = sa.bindparam("held_at", type_=UTCDateTime)
    sequence = sa.func.pg_get_serial_sequence(
        sa.literal_column("'reservations'"), sa.literal_column("'id'")
    )
    wanted = (
        sa.select(sa.func.nextval(sequence).label("id"), *given.c)
        .cte("wanted")
        .prefix_with("MATERIALIZED")
    )
    reservations = sa.insert(RESERVATIONS).from_select(
        [
            "id",
            "tenant_id",
            "status",
            "reference",
            "channel_code",
            "actor",
            "expires_at",
            "created_at",
        ],
        sa.select(
            wanted.c.id,
            tenant_id,
            wanted.c.status,
            wanted.c.reference,
            wanted.c.channel,
            wanted.c.actor,
            wanted.c.expires_at,
            held_at,
        ).order_by(wanted.c.ord),
    )
    position = (
        sa.select(P.id, P.sku, P.location_code)
        .where(
            P.tenant_id == tenant_id,
            P.location_code == sa.bindparam("location"),
            P.sku == sa.bindparam("sku"),
        )
        .cte("position")
    )
    held = (
        sa.insert(LINES)
        .from_select(
            ["tenant_id", "reservation_id", "position_id", "sku", "location_code", "qty", "state"],
            sa.select(
                tenant_id,
                wanted.c.id,
                position.c.id,
                position.c.sku,
                position.c.location_code,
                wanted.c.qty,
                sa.literal("held"),
            )
            .select_from(wanted.join(position, sa.true()))
            .order_by(wanted.c.ord),
        )
        .returning(LINES.c.reservation_id, LINES.c.position_id, LINES.c.qty)
        .cte("held")
    )
    ledger = sa.insert(MOVES).from_select(
        LEDGER_COLUMNS,
        sa.select(
            tenant_id,
            held.c.position_id,
            position.c.sku,
            position.c.location_code,
            sa.literal(Reason.RESERVE.value),
            sa.literal(0, sa.Integer),
            held.c.qty,
            held.c.reservation_id,
            wanted.c.reference,
            wanted.c.actor,
            held_at,
        )
        .select_from(
            held.join(wanted, wanted.c.id == held.c.reservation_id).join(
                position, position.c.id == held.c.position_id
            )
        )
        .order_by(wanted.c.ord),
    )
    lines = sa.select(sa.func.count()).select_from(held).scalar_subquery()
    return (
        sa.select(wanted.c.id, lines.label("lines"))
        .order_by(wanted.c.ord)
        .add_cte(reservations.cte("reserved"))
        .add_cte(ledger.cte("ledger"))
    )


_TOGETHER = _together_statement()
