"""Many one-position holds written together: a group-commit batch's holds on a hot SKU.

The HTTP API sends concurrent holds on one position through the process's group commit
(``omniretail.group_commit``), which runs them in one transaction with a late
:class:`BatchHold` (the position's conditional UPDATE once, for
what they drew, just before the commit). :class:`BatchOfHolds` also writes the batch's holds
that need no Idempotency-Key record in ONE statement on PostgreSQL (:func:`do_reserve_together`):
their reservations, lines and ledger rows, from arrays, instead of one statement (one round
trip and one SQLAlchemy execution) per hold while the transaction is open.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from omniretail.db import UnitOfWork, UTCDateTime, unnested, utcnow
from omniretail.inventory.domain import Reason, ReservationStatus, expiry
from omniretail.inventory.positions import (
    LEDGER_COLUMNS,
    POSITION_COLUMNS,
    Figures,
    StockLine,
    availability_events,
    change_of,
    check_quantities,
    hold_all,
    hold_one,
    move_position,
    register_batch_hold,
    short_lines,
)
from omniretail.inventory.reservations import LINES, MOVES, RESERVATIONS, P, do_reserve
from omniretail.inventory.schemas import ReservationLineOut, ReservationOut
from omniretail.inventory.service import notify_availability
from omniretail.scoped import execute_bound


class BatchShort(Exception):
    """A batch's holds drawn on credit (:meth:`BatchHold.open` ``late``) do not fit together: the
    group commit rolls the attempt back and runs the batch again the careful way."""


class BatchHold:
    """Stock held once for a whole group-commit batch of holds on one position.

    Late (a batch run without savepoints, the usual case): nothing is taken when the batch
    opens; each request's hold on this position draws on credit with no statement
    (``hold_all``), and :meth:`close`, after every request ran and just before the commit, takes
    what they drew in ONE conditional UPDATE (``reserved = reserved + drawn WHERE on_hand -
    reserved - safety_stock >= drawn``) and announces the batch's change of the position in
    one event (the batch commits at once: the figures between two of its holds are never seen
    outside it). So the hot row is locked only by that UPDATE, the events' INSERT and the commit,
    not while the requests' own statements run: another process's batch waits that long only.
    If the sum does not fit, :meth:`close` raises :class:`BatchShort` and nothing of the
    attempt stays.

    Careful (the batch again with a savepoint per request): :meth:`open` runs the conditional
    UPDATE for the sum of the batch's quantities first. If it wins, each request draws from that
    stock with no statement and :meth:`close` gives back, in one UPDATE, what no request drew (a
    replayed or refused request); a request whose savepoint rolls back returns its draw. If the
    sum does not fit, nothing is held and every request runs its own conditional UPDATE as if
    alone, so each gets the outcome it would have had one at a time (a batch that fits as a
    whole fits request by request in any order).
    """

    def __init__(self, location: str, sku: str) -> None:
        self.key = (location, sku)
        self.late = False
        self.figures: Figures | None = None  # careful: after the batch's UPDATE
        self.claimed = 0
        self.draws: list[int] = []  # each draw's quantity, in order (0 once given back)

    @property
    def drawn(self) -> int:
        return sum(self.draws)

    async def open(self, uow: UnitOfWork, total: int, *, late: bool) -> None:
        # From scratch: a batch may be attempted twice (group_commit: late first).
        self.late, self.figures, self.claimed, self.draws = late, None, 0, []
        if late:
            register_batch_hold(uow, self)
            return
        if total < 1:
            return
        row = await hold_one(uow, self.key, total)
        if row is not None:
            self.figures = Figures(row.id, row.on_hand, row.reserved, row.safety_stock)
            self.claimed = total
            register_batch_hold(uow, self)

    def draw(self, uow: UnitOfWork, qty: int) -> tuple[Figures | None, Callable[[], None]] | None:
        """Hold ``qty`` more from the batch's stock: the figures after it (None when late: the
        batch announces the hold at :meth:`close`) and how to give it back; or None if it has
        not that much left (the caller then runs its own conditional UPDATE). A rollback of the
        savepoint open now gives it back by itself."""
        if not self.late and (self.figures is None or self.claimed - self.drawn < qty):
            return None
        at = len(self.draws)
        self.draws.append(qty)

        def give_back() -> None:
            self.draws[at] = 0

        uow.on_rollback(give_back)
        if self.figures is None:
            return None, give_back
        f = self.figures
        reserved = f.reserved - self.claimed + self.drawn
        return Figures(f.id, f.on_hand, reserved, f.safety_stock), give_back

    async def close(self, uow: UnitOfWork) -> None:
        register_batch_hold(uow, None)
        if self.late:
            await self._take_drawn(uow)
        elif self.figures is not None and self.claimed > self.drawn:
            await move_position(uow, self.figures.id, reserved=self.drawn - self.claimed)

    async def _take_drawn(self, uow: UnitOfWork) -> None:
        drawn = self.drawn
        if drawn == 0:
            return
        location, sku = self.key
        if uow.dialect == "postgresql":
            # What the requests staged goes in before the row is locked; the UPDATE and the
            # holds' events are then one statement, and only the commit follows it.
            await uow.write_staged()
            found = await execute_bound(
                uow,
                _LATE_HOLD,
                "batch_tenant",
                {
                    "batch_location": location,
                    "batch_sku": sku,
                    "drawn": drawn,
                    "held_at": utcnow(),
                },
                rows=True,
            )
            if not found:
                raise BatchShort(f"{drawn} not available at {self.key}")
            uow.wrote_events = True
            return
        row = await hold_one(uow, self.key, drawn)
        if row is None:
            raise BatchShort(f"{drawn} not available at {self.key}")
        # The batch's change as a whole, as on PostgreSQL.
        await notify_availability(uow, [change_of(sku, location, row, on_hand=0, reserved=drawn)])


def _late_hold_statement() -> sa.Select[Any]:
    """PostgreSQL: a late batch's conditional UPDATE of what its holds drew (``drawn``, their
    sum) and the batch's ``inventory.availability_changed`` event, with the payload
    ``service.notify_availability`` gives it, in ONE statement built once. Yields the
    position's figures after it, or no row (and writes nothing) if that much is not
    available."""
    # Named apart from every column: a bind named like a column would also be SET by the UPDATE.
    tenant_id = sa.bindparam("batch_tenant", type_=sa.BigInteger)
    drawn = sa.bindparam("drawn", type_=sa.BigInteger)
    held_at = sa.bindparam("held_at", type_=UTCDateTime)
    held = (
        sa.update(P)
        .where(
            P.tenant_id == tenant_id,
            P.location_code == sa.bindparam("batch_location"),
            P.sku == sa.bindparam("batch_sku"),
            P.on_hand - P.reserved - P.safety_stock >= drawn,
        )
        .values(reserved=P.reserved + drawn, updated_at=held_at)
        .returning(*POSITION_COLUMNS, P.location_code, P.sku, drawn.label("qty"))
        .cte("held")
    )
    events = availability_events(tenant_id, held, at=held_at, order_by=[held.c.id])
    return sa.select(held.c.id, held.c.on_hand, held.c.reserved).add_cte(events.cte("announced"))


_LATE_HOLD = _late_hold_statement()


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
    rows = await execute_bound(
        uow,
        _TOGETHER,
        "hold_tenant",
        {
            "location": location,
            "sku": sku,
            "given_qty": quantities,
            "given_status": [status.value for status in statuses],
            "given_reference": [hold.reference for hold in holds],
            "given_channel": [hold.channel for hold in holds],
            "given_actor": [hold.actor for hold in holds],
            "given_expires_at": expiries,
            "held_at": now,
        },
        rows=True,
    )
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
    given = unnested(
        "given",
        [
            ("qty", sa.BigInteger()),
            ("status", sa.String()),
            ("reference", sa.String()),
            ("channel", sa.String()),
            ("actor", sa.String()),
            ("expires_at", UTCDateTime()),
        ],
        numbered="ord",
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
