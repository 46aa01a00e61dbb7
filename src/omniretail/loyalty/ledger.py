"""Postings on the points ledger: the only code that changes a balance.

Every posting writes one append-only entry under an idempotency key (unique per tenant) and moves
the account's balance in the same transaction. Entries are inserted with ON CONFLICT DO NOTHING,
so a retried POS sync or a concurrent duplicate finds the key taken and replays the first
outcome instead of posting twice. A debit is ONE conditional UPDATE
(``balance = balance - p WHERE balance >= p``) plus a CHECK (balance >= 0): two channels redeeming
at the same moment can never both spend the same points. The account row is the lock that
orders all changes to one customer's lots.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from omniretail.db import UnitOfWork, dialect_insert, utcnow
from omniretail.errors import Conflict, IdempotencyKeyReused
from omniretail.loyalty.domain import consume_fifo
from omniretail.loyalty.models import PointsAccount, PointsEntry


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    title = "Not enough points"


@dataclass(frozen=True, slots=True)
class Posting:
    entry_id: int
    kind: str
    points: int  # signed as in the ledger
    balance: int
    replayed: bool


@dataclass(frozen=True, slots=True)
class Entry:
    """Fields every posting shares."""

    kind: str
    key: str
    reason: str
    actor: str
    order_ref: str | None = None
    channel: str | None = None


async def account_id_for(uow: UnitOfWork, customer_pk: int, *, create: bool) -> int | None:
    query = sa.select(PointsAccount.id).where(PointsAccount.customer_id == customer_pk)
    account_id = await uow.session.scalar(query)
    if account_id is None and create:
        await uow.session.execute(
            dialect_insert(uow, PointsAccount.__table__)
            .values(
                tenant_id=uow.require_tenant(),
                customer_id=customer_pk,
                balance=0,
                updated_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "customer_id"])
        )
        account_id = await uow.session.scalar(query)
    return account_id


async def balance_of(uow: UnitOfWork, account_id: int, *, lock: bool = False) -> int:
    query = sa.select(PointsAccount.balance).where(PointsAccount.id == account_id)
    if lock:
        query = query.with_for_update()
    return int(await uow.session.scalar(query) or 0)


async def _claim(
    uow: UnitOfWork,
    account_id: int,
    entry: Entry,
    points: int,
    *,
    expires_at: dt.datetime | None = None,
) -> int | None:
    """Insert the entry unless its key is taken; returns its id, or None for a replay."""
    inserted = await uow.session.execute(
        dialect_insert(uow, PointsEntry.__table__)
        .values(
            tenant_id=uow.require_tenant(),
            account_id=account_id,
            kind=entry.kind,
            points=points,
            idempotency_key=entry.key,
            order_ref=entry.order_ref,
            reason=entry.reason,
            channel=entry.channel,
            actor=entry.actor,
            remaining=max(points, 0),
            expires_at=expires_at if points > 0 else None,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
        .returning(PointsEntry.__table__.c.id)
    )
    entry_id = inserted.scalar_one_or_none()
    return int(entry_id) if entry_id is not None else None


async def find_by_key(uow: UnitOfWork, key: str) -> PointsEntry | None:
    return await uow.session.scalar(
        sa.select(PointsEntry).where(PointsEntry.idempotency_key == key)
    )


async def _replay(uow: UnitOfWork, account_id: int, entry: Entry, points: int | None) -> Posting:
    first = await find_by_key(uow, entry.key)
    if first is None:
        raise Conflict("a posting with this idempotency key is still in progress")
    same = first.account_id == account_id and first.kind == entry.kind
    if not same or (points is not None and first.points != points):
        raise IdempotencyKeyReused(
            "this idempotency key was used for another points change",
            [{"field": "idempotency_key", "message": "reused with another change"}],
        )
    return Posting(
        first.id, first.kind, first.points, await balance_of(uow, account_id), replayed=True
    )


async def credit(
    uow: UnitOfWork,
    account_id: int,
    entry: Entry,
    points: int,
    *,
    expires_at: dt.datetime | None,
) -> Posting:
    """Add ``points`` (> 0) as a new lot expiring at ``expires_at``."""
    assert points > 0
    entry_id = await _claim(uow, account_id, entry, points, expires_at=expires_at)
    if entry_id is None:
        return await _replay(uow, account_id, entry, points)
    balance = await uow.session.scalar(
        sa.update(PointsAccount)
        .where(PointsAccount.id == account_id)
        .values(balance=PointsAccount.balance + points, updated_at=utcnow())
        .returning(PointsAccount.balance)
    )
    return Posting(entry_id, entry.kind, points, int(balance or 0), replayed=False)


async def debit(
    uow: UnitOfWork,
    account_id: int,
    entry: Entry,
    points: int,
    *,
    prefer_order: str | None = None,
) -> Posting:
    """Take ``points`` (> 0) or raise ``insufficient_points``; lots are used oldest expiry
    first (the lots of ``prefer_order`` before any other)."""
    assert points > 0
    if (await find_by_key(uow, entry.key)) is not None:
        return await _replay(uow, account_id, entry, -points)
    # The guard comes first, so a refused debit writes nothing: a checkout that catches
    # InsufficientPoints and falls back to another tender leaves no trace in the ledger.
    balance = await uow.session.scalar(
        sa.update(PointsAccount)
        .where(PointsAccount.id == account_id, PointsAccount.balance >= points)
        .values(balance=PointsAccount.balance - points, updated_at=utcnow())
        .returning(PointsAccount.balance)
    )
    if balance is None:
        if (await find_by_key(uow, entry.key)) is not None:
            return await _replay(uow, account_id, entry, -points)  # a duplicate won meanwhile
        available = await balance_of(uow, account_id)
        raise InsufficientPoints(
            f"{points} points asked, {available} available", requested=points, balance=available
        )
    entry_id = await _claim(uow, account_id, entry, -points)
    if entry_id is None:
        # A concurrent duplicate took the key after our look-up: undo under the row lock we
        # hold, and answer with its outcome.
        await uow.session.execute(
            sa.update(PointsAccount)
            .where(PointsAccount.id == account_id)
            .values(balance=PointsAccount.balance + points)
        )
        return await _replay(uow, account_id, entry, -points)
    await _consume_lots(uow, account_id, points, prefer_order)
    return Posting(entry_id, entry.kind, -points, int(balance), replayed=False)


async def debit_at_most(
    uow: UnitOfWork,
    account_id: int,
    entry: Entry,
    points: int,
    *,
    prefer_order: str | None = None,
) -> Posting | None:
    """Take up to ``points``, as much as the balance holds (for reversals of points that may
    have been spent already). None when nothing could be taken and nothing was posted before."""
    if (await find_by_key(uow, entry.key)) is not None:
        return await _replay(uow, account_id, entry, None)
    available = await balance_of(uow, account_id, lock=True)
    take = min(points, available)
    if take <= 0:
        return None
    return await debit(uow, account_id, entry, take, prefer_order=prefer_order)


async def _consume_lots(
    uow: UnitOfWork, account_id: int, points: int, prefer_order: str | None
) -> None:
    order_by: list[Any] = []
    if prefer_order is not None:
        order_by.append(sa.case((PointsEntry.order_ref == prefer_order, 0), else_=1))
    order_by += [PointsEntry.expires_at.is_(None), PointsEntry.expires_at, PointsEntry.id]
    lots = (
        await uow.session.execute(
            sa.select(PointsEntry.id, PointsEntry.remaining)
            .where(PointsEntry.account_id == account_id, PointsEntry.remaining > 0)
            .order_by(*order_by)
        )
    ).all()
    taken, uncovered = consume_fifo([(lot_id, remaining) for lot_id, remaining in lots], points)
    if uncovered:
        # The balance said yes, the lots say no: the ledger is inconsistent. Refuse to post.
        raise RuntimeError(f"points lots of account {account_id} are short by {uncovered}")
    for lot_id, take in taken:
        await uow.session.execute(
            sa.update(PointsEntry)
            .where(PointsEntry.id == lot_id)
            .values(remaining=PointsEntry.remaining - take)
            .execution_options(synchronize_session=False)
        )


async def expire_due_lots(uow: UnitOfWork, *, now: dt.datetime, limit: int = 500) -> int:
    """Expire every lot whose date has passed (up to ``limit`` accounts); returns the points.

    Each account is locked before its lots are read, so expiry and a redemption never both
    take the same lot.
    """
    accounts = (
        await uow.session.scalars(
            sa.select(PointsEntry.account_id)
            .where(PointsEntry.remaining > 0, PointsEntry.expires_at <= now)
            .group_by(PointsEntry.account_id)
            .order_by(PointsEntry.account_id)
            .limit(limit)
        )
    ).all()
    total = 0
    for account_id in accounts:
        await balance_of(uow, account_id, lock=True)
        lots = (
            await uow.session.execute(
                sa.select(PointsEntry.id, PointsEntry.remaining, PointsEntry.order_ref)
                .where(
                    PointsEntry.account_id == account_id,
                    PointsEntry.remaining > 0,
                    PointsEntry.expires_at <= now,
                )
                .order_by(PointsEntry.expires_at, PointsEntry.id)
            )
        ).all()
        for lot_id, remaining, order_ref in lots:
            entry = Entry(
                kind="expire",
                key=f"expire:{lot_id}",
                reason=f"points of entry {lot_id} expired",
                actor="system:expiry",
                order_ref=order_ref,
            )
            # The lot named by the key is consumed first: exactly that lot expires.
            posting = await debit(uow, account_id, entry, remaining, prefer_order=None)
            if not posting.replayed:
                total += remaining
    return total
