"""Till sales of a group-commit batch that take their stock together, at the batch's close.

Concurrent till checkouts at one store that sell the same SKUs queue on the same stock rows: each
holds them from its conditional UPDATE until its commit. The HTTP API sends them through the
process's group commit (``omniretail.group_commit``, one transaction per batch), with a
:class:`BatchSale` as what the batch shares. Run without savepoints (the usual case), each request
writes its own order (``sales.do_sell_in_store`` writes what the sale carries alone) and only
*draws* its lines; :meth:`BatchSale.close`, the last statement before the commit, takes the sum per
position in ONE conditional statement that also writes each sale's ledger rows (as each sale alone
would have) and one availability event per position for the batch as a whole: the batch commits at
once, so no reader ever sees the figures between two of its sales, and an event per sale would only
announce states that never existed outside the transaction (the consumers keep a position's latest
figure anyway). The store's rows are then locked once per batch, by that statement and the commit
only. If the sum does not fit (or a position is unknown) nothing of the attempt stays and the group
commit runs the batch again with a savepoint per request, in which each sale takes its own stock as
it does alone: exactly the sales that fit one after the other win, and the others get their own 409
(or 422).

PostgreSQL only: on SQLite (one writer) :meth:`BatchSale.open` registers nothing and each sale
takes its own stock in the batch's transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from omniretail.db import UnitOfWork, UTCDateTime, unnested
from omniretail.inventory.domain import Reason
from omniretail.inventory.positions import LEDGER, LEDGER_COLUMNS, availability_events
from omniretail.inventory.sales import register_late_sale, take_in_order
from omniretail.scoped import execute_bound


class BatchSaleShort(Exception):
    """The batch's sales drawn on credit do not fit together (or name an unknown position):
    the group commit rolls the attempt back and runs the batch again the careful way."""


@dataclass(frozen=True, slots=True)
class _Draw:
    location: str
    sku: str
    qty: int
    reference: str | None
    actor: str
    at: dt.datetime


class BatchSale:
    """What a group-commit batch of till sales at ``location`` shares (``group_commit.Shared``):
    the stock its sales drew, taken at :meth:`close`."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.draws: list[_Draw | None] = []  # None once given back (its savepoint rolled back)

    async def open(self, uow: UnitOfWork, total: int, *, late: bool) -> None:
        # From scratch: a batch may be attempted twice (group_commit: late first). Careful
        # (with savepoints), each sale takes its own stock as it does alone.
        self.draws = []
        if late and uow.dialect == "postgresql":
            register_late_sale(uow, self)

    def draw(
        self,
        uow: UnitOfWork,
        merged: dict[tuple[str, str], tuple[int, list[int]]],
        *,
        reference: str | None,
        actor: str,
        now: dt.datetime,
    ) -> None:
        """One sale's lines (merged per position, in (location, SKU) order), taken at
        :meth:`close`; given back if the savepoint open now rolls back."""
        at = len(self.draws)
        self.draws.extend(
            _Draw(loc, sku, qty, reference, actor, now) for (loc, sku), (qty, _) in merged.items()
        )
        count = len(merged)

        def give_back() -> None:
            self.draws[at : at + count] = [None] * count

        uow.on_rollback(give_back)

    async def run_together(self, uow: UnitOfWork, items: list[Any]) -> list[Any]:
        raise NotImplementedError("till sales are never given as data")

    async def close(self, uow: UnitOfWork) -> None:
        register_late_sale(uow, None)
        draws = [d for d in self.draws if d is not None]
        if not draws:
            return
        # What the requests staged goes in before the rows are locked: the stock's statement
        # is then the last before the commit.
        await uow.flush()
        await uow.write_staged()
        positions = {(d.location, d.sku) for d in draws}
        rows = await execute_bound(
            uow,
            _BATCH_SALE,
            "batch_sale_tenant",
            {
                "draws_location": [d.location for d in draws],
                "draws_sku": [d.sku for d in draws],
                "draws_qty": [d.qty for d in draws],
                "draws_reference": [d.reference for d in draws],
                "draws_actor": [d.actor for d in draws],
                "draws_sold_at": [d.at for d in draws],
                "batch_sold_at": max(d.at for d in draws),
                "positions": len(positions),
            },
            rows=True,
        )
        if len(rows) < len(positions):
            raise BatchSaleShort(f"the batch's sales do not fit at {self.location}")
        uow.wrote_events = True


def _batch_sale_statement() -> sa.Select[Any]:
    """PostgreSQL: a batch's till sales (one element of the arrays per sale and position, in the
    order they drew) in ONE statement built once: the rows locked in (location, SKU) order (as every
    multi-line change takes them, so no deadlock), the sum per position taken by a conditional
    UPDATE (``on_hand - reserved >= sum``: stock held for others is never sold), and, only if every
    position had enough, each sale's ledger row per position and one availability event per position
    for the batch's total (the payload ``service.notify_availability`` gives it). Yields a row per
    position sold; fewer than ``positions`` when the batch does not fit (its stock is then moved and
    the caller must roll back)."""
    draws = unnested(
        "draws",
        [
            ("location", sa.String()),
            ("sku", sa.String()),
            ("qty", sa.BigInteger()),
            ("reference", sa.String()),
            ("actor", sa.String()),
            ("sold_at", UTCDateTime()),
        ],
        numbered="ord",
    )
    # Named apart from every column: a bind named like a column would also be SET by the UPDATE.
    tenant_id = sa.bindparam("batch_sale_tenant", type_=sa.BigInteger)
    totals = (
        sa.select(
            draws.c.location,
            draws.c.sku,
            sa.cast(sa.func.sum(draws.c.qty), sa.BigInteger).label("total"),
        )
        .group_by(draws.c.location, draws.c.sku)
        .cte("totals")
    )
    sold = take_in_order(
        tenant_id,
        totals,
        totals.c.total,
        at=sa.bindparam("batch_sold_at", type_=UTCDateTime),
    )
    every_position = sa.select(sa.func.count()).select_from(sold).scalar_subquery() == sa.bindparam(
        "positions", type_=sa.Integer
    )
    steps = (
        sa.select(
            draws.c.ord,
            draws.c.qty,
            draws.c.reference,
            draws.c.actor,
            draws.c.sold_at,
            sold.c.id,
            sold.c.location_code,
            sold.c.sku,
        )
        .select_from(
            sold.join(
                draws,
                sa.and_(draws.c.location == sold.c.location_code, draws.c.sku == sold.c.sku),
            )
        )
        .cte("steps")
    )
    ledger = sa.insert(LEDGER).from_select(
        LEDGER_COLUMNS,
        sa.select(
            tenant_id,
            steps.c.id,
            steps.c.sku,
            steps.c.location_code,
            sa.literal(Reason.SALE.value, sa.String),
            -steps.c.qty,
            sa.literal(0, sa.BigInteger),
            sa.null(),
            steps.c.reference,
            steps.c.actor,
            steps.c.sold_at,
        )
        .where(every_position)
        .order_by(steps.c.ord),
    )
    # A sale that fits never puts a position at risk (on hand stays at or above reserved).
    events = availability_events(
        tenant_id,
        sold,
        at=sa.bindparam("batch_sold_at", type_=UTCDateTime),
        where=every_position,
        order_by=[sold.c.location_code, sold.c.sku],
    )
    return (
        sa.select(sold.c.location_code, sold.c.sku)
        .add_cte(ledger.cte("ledger"))
        .add_cte(events.cte("announced"))
    )


_BATCH_SALE = _batch_sale_statement()
