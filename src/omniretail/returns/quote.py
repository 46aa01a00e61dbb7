"""A return's exact refund before it is taken: the same checks and arithmetic as the return
itself, run inside a savepoint that is rolled back, so the desk shows what a confirm will do."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from omniretail.db import UnitOfWork, utcnow
from omniretail.payments.providers import PaymentStatus
from omniretail.returns import service
from omniretail.returns.domain import Tender, split_refund
from omniretail.returns.schemas import ReturnIn


@dataclass(frozen=True, slots=True)
class QuotedLine:
    sku: str
    qty: int
    condition: str
    refund_amount: int


@dataclass(frozen=True, slots=True)
class ReturnQuote:
    order_id: str
    lines: list[QuotedLine]
    refund_total: int
    tenders: list[tuple[str, int]]  # (method, amount back to it), in the order's tender order


async def quote_return(
    uow: UnitOfWork,
    *,
    data: ReturnIn,
    actor: str,
    caller_location: str | None,
    caller_channels: Collection[str] | None = None,
    now: dt.datetime | None = None,
) -> ReturnQuote:
    """What :func:`service.do_create_return` would refund, line by line and tender by tender,
    without writing anything: the return is opened in a savepoint and rolled back. Raises the
    same errors as the return itself (window closed, more than was bought, another store)."""
    savepoint = await uow.session.begin_nested()
    try:
        ret, order = await service.open_return(
            uow,
            data=data,
            actor=actor,
            caller_location=caller_location,
            caller_channels=caller_channels,
            now=now or utcnow(),
        )
        paid = [p for p in order.payments if p.status == PaymentStatus.CAPTURED.value]
        shares = split_refund(
            ret.refund_total,
            [Tender(p.method, p.amount, p.refunded_amount) for p in paid],
            order.total - order.delivery_fee,
        )
        quote = ReturnQuote(
            order_id=order.public_id,
            lines=[
                QuotedLine(line.sku, line.qty, line.condition, line.refund_amount)
                for line in ret.lines
            ],
            refund_total=ret.refund_total,
            tenders=[(p.method, s) for p, s in zip(paid, shares, strict=True) if s],
        )
    finally:
        await savepoint.rollback()
    return quote
