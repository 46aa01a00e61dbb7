"""Fulfilment actions in bulk: a store or a warehouse moves hundreds of fulfilments along in
one request, with the same rules and scope as one action at a time.

Each item runs in its own savepoint: a refused item (another store's fulfilment, a wrong
state, an unpaid order) changes nothing and is reported, the others go through. Items are
applied in fulfilment id order, so two overlapping batches lock rows in the same order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from omniretail.db import UnitOfWork, utcnow
from omniretail.errors import DomainError, ValidationFailed
from omniretail.orders import fulfilment
from omniretail.orders.domain import Action, RejectReason
from omniretail.orders.schemas import FulfilmentOut

MAX_ITEMS = 500


@dataclass(frozen=True, slots=True)
class BulkItem:
    fulfilment_id: str
    action: Action
    reason: RejectReason | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    index: int
    item: BulkItem
    result: FulfilmentOut | None = None
    error: DomainError | None = None


async def do_bulk_actions(
    uow: UnitOfWork,
    *,
    items: Sequence[BulkItem],
    actor: str,
    caller_location: str | None,
    now: dt.datetime | None = None,
) -> list[BulkOutcome]:
    """Apply every item that may be applied; one outcome per item, in the items' order.
    ``hand-over`` is not a bulk action (it needs the customer's pickup code)."""
    now = now or utcnow()
    order = sorted(range(len(items)), key=lambda i: (items[i].fulfilment_id, i))
    outcomes: dict[int, BulkOutcome] = {}
    for index in order:
        item = items[index]
        try:
            async with uow.session.begin_nested():
                result = await _apply(
                    uow, item, actor=actor, caller_location=caller_location, now=now
                )
        except DomainError as exc:
            outcomes[index] = BulkOutcome(index, item, error=exc)
        else:
            outcomes[index] = BulkOutcome(index, item, result=result)
    return [outcomes[i] for i in range(len(items))]


async def _apply(
    uow: UnitOfWork,
    item: BulkItem,
    *,
    actor: str,
    caller_location: str | None,
    now: dt.datetime,
) -> FulfilmentOut:
    if item.action is Action.HAND_OVER:
        raise ValidationFailed(
            "a pickup is handed over with its code, one at a time",
            [{"field": "action", "message": "not a bulk action"}],
        )
    if item.action is Action.REJECT:
        if item.reason is None:
            raise ValidationFailed(
                "a rejection needs a reason", [{"field": "reason", "message": "required"}]
            )
        return await fulfilment.do_reject(
            uow,
            fulfilment_id=item.fulfilment_id,
            reason=item.reason,
            note=item.note,
            actor=actor,
            caller_location=caller_location,
            now=now,
        )
    return await fulfilment.do_fulfilment_action(
        uow,
        fulfilment_id=item.fulfilment_id,
        action=item.action,
        actor=actor,
        caller_location=caller_location,
        now=now,
    )
