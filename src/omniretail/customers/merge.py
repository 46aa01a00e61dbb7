"""Merging two customers into one: the identity graph's hardest operation.

Both customer rows are locked in id order inside the caller's transaction, so two merges or links
racing on the same customers queue instead of losing identities. Everything this context owns
moves to the survivor here; other contexts (loyalty points, orders) move theirs on
``customer.merged``, which is recorded in the same transaction.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from omniretail.customers.models import (
    BehaviourEvent,
    Consent,
    Customer,
    CustomerChannel,
    CustomerIdentity,
    CustomerMerge,
    CustomerOrder,
)
from omniretail.db import UnitOfWork, utcnow
from omniretail.events import record_event

_MAX_CHAIN = 50


async def live_customer(uow: UnitOfWork, pk: int, *, lock: bool = False) -> Customer | None:
    """The customer behind ``pk`` after following merges (None if there is no such customer)."""
    for _ in range(_MAX_CHAIN):
        query = (
            sa.select(Customer).where(Customer.id == pk).execution_options(populate_existing=True)
        )
        if lock:
            query = query.with_for_update()
        customer = await uow.session.scalar(query)
        if customer is None or customer.merged_into_id is None:
            return customer
        pk = customer.merged_into_id
    raise RuntimeError(f"merge chain from customer {pk} is too long")


async def _lock_pair(uow: UnitOfWork, a: int, b: int) -> tuple[Customer, Customer] | None:
    """Lock both live customers in id order; None when they turn out to be one already.

    The live pair is found without locks, then locked lowest id first, each row checked as soon
    as it is locked. A row that a concurrent merge absorbed meanwhile sends us round again, after
    rolling back to a savepoint: that releases the lock on the dead row, which the merge that
    absorbed it may need in order to re-point it (holding it would deadlock).
    ``FOR NO KEY UPDATE`` does not block inserts that merely reference the customers.
    """
    for _ in range(_MAX_CHAIN):
        first, second = await live_customer(uow, a), await live_customer(uow, b)
        if first is None or second is None:
            raise RuntimeError("customer vanished during a merge")
        if first.id == second.id:
            return None
        savepoint = await uow.session.begin_nested()
        locked: dict[int, Customer] = {}
        for pk in sorted((first.id, second.id)):
            row = await uow.session.scalar(
                sa.select(Customer)
                .where(Customer.id == pk)
                .with_for_update(key_share=True)
                .execution_options(populate_existing=True)
            )
            if row is None or row.merged_into_id is not None:
                break
            locked[pk] = row
        if len(locked) == 2:
            await savepoint.commit()
            return locked[first.id], locked[second.id]
        await savepoint.rollback()
        a, b = first.id, second.id
    raise RuntimeError("could not lock the customers to merge")


async def merge_rows(
    uow: UnitOfWork, *, survivor_pk: int, absorbed_pk: int, actor: str, reason: str
) -> tuple[Customer, CustomerMerge | None]:
    """Merge ``absorbed`` into ``survivor``; returns the live survivor and the merge record
    (None when both were already one customer)."""
    pair = await _lock_pair(uow, survivor_pk, absorbed_pk)
    if pair is None:
        survivor = await live_customer(uow, survivor_pk)
        assert survivor is not None
        return survivor, None
    survivor, absorbed = pair
    moved = await _move_everything(uow, survivor, absorbed)
    now = utcnow()
    absorbed.merged_into_id = survivor.id
    absorbed.merged_at = now
    if survivor.name is None:
        survivor.name = absorbed.name
    record = CustomerMerge(
        survivor_id=survivor.id,
        absorbed_id=absorbed.id,
        absorbed_public_id=absorbed.public_id,
        actor=actor,
        reason=reason,
        moved=moved,
        merged_at=now,
    )
    uow.session.add(record)
    await uow.flush()
    record_event(
        uow,
        "customer.merged",
        aggregate_type="customer",
        aggregate_id=survivor.public_id,
        payload={
            "survivor_id": survivor.public_id,
            "absorbed_id": absorbed.public_id,
            "merged_at": now.isoformat(),
            "reason": reason,
        },
    )
    return survivor, record


async def _repoint(uow: UnitOfWork, model: Any, survivor: int, absorbed: int) -> int:
    result = await uow.session.execute(
        sa.update(model)
        .where(model.customer_id == absorbed)
        .values(customer_id=survivor)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _move_everything(
    uow: UnitOfWork, survivor: Customer, absorbed: Customer
) -> dict[str, Any]:
    identities = (
        await uow.session.execute(
            sa.select(CustomerIdentity.type, CustomerIdentity.value).where(
                CustomerIdentity.customer_id == absorbed.id
            )
        )
    ).all()
    await _repoint(uow, CustomerIdentity, survivor.id, absorbed.id)
    events = await _repoint(uow, BehaviourEvent, survivor.id, absorbed.id)
    orders = await _repoint(uow, CustomerOrder, survivor.id, absorbed.id)
    channels = await _merge_channels(uow, survivor.id, absorbed.id)
    consents = await _merge_consents(uow, survivor.id, absorbed.id)
    # Customers merged earlier into the absorbed one now point straight at the survivor.
    await uow.session.execute(
        sa.update(Customer)
        .where(Customer.merged_into_id == absorbed.id)
        .values(merged_into_id=survivor.id)
        .execution_options(synchronize_session=False)
    )
    return {
        "identities": [{"type": t, "value": v} for t, v in identities],
        "behaviour_events": events,
        "orders": orders,
        "channels": channels,
        "consents": consents,
    }


async def _merge_channels(uow: UnitOfWork, survivor: int, absorbed: int) -> list[str]:
    theirs = (
        await uow.session.scalars(
            sa.select(CustomerChannel).where(CustomerChannel.customer_id == absorbed)
        )
    ).all()
    mine = {
        row.channel: row
        for row in await uow.session.scalars(
            sa.select(CustomerChannel).where(CustomerChannel.customer_id == survivor)
        )
    }
    for row in theirs:
        kept = mine.get(row.channel)
        if kept is None:
            row.customer_id = survivor
            continue
        kept.first_seen_at = min(kept.first_seen_at, row.first_seen_at)
        kept.last_seen_at = max(kept.last_seen_at, row.last_seen_at)
        await uow.session.delete(row)
    await uow.flush()
    return sorted(row.channel for row in theirs)


async def _merge_consents(uow: UnitOfWork, survivor: int, absorbed: int) -> list[str]:
    """Per messaging channel the most recent decision wins, opt-in or opt-out."""
    theirs = (
        await uow.session.scalars(sa.select(Consent).where(Consent.customer_id == absorbed))
    ).all()
    mine = {
        row.channel: row
        for row in await uow.session.scalars(
            sa.select(Consent).where(Consent.customer_id == survivor)
        )
    }
    for row in theirs:
        kept = mine.get(row.channel)
        if kept is None:
            row.customer_id = survivor
            continue
        if row.decided_at > kept.decided_at:
            kept.granted, kept.source, kept.decided_at = row.granted, row.source, row.decided_at
        await uow.session.delete(row)
    await uow.flush()
    return sorted(row.channel for row in theirs)
