"""Use cases of loyalty, and the functions other contexts call (orders, returns, checkout,
pricing, messaging). Customer ids are public ids (``cus_…``); a merged id acts on the survivor.

For other contexts:
- ``do_earn_for_order``: on order completion (wired to ``order.completed``).
- ``do_redeem_points``: points as a checkout tender, inside the caller's unit of work.
- ``do_reverse_for_return``: a return's share of earned and redeemed points.
- ``do_release_order_points``: a cancelled order gives back what it redeemed and earned.
- ``benefits_for`` / ``customer_tier``: what checkout and pricing apply.
- ``money_for_points_of`` / ``points_for_money_of``: the tenant's points-to-money rate.
Periodic (``omni worker``): ``do_release_pending_points``, ``do_expire_points``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from omniretail.customers import service as customers
from omniretail.db import UnitOfWork, dialect_insert, utcnow
from omniretail.loyalty import ledger
from omniretail.loyalty.domain import (
    Benefits,
    LoyaltyRules,
    expiry_for,
    money_for_points,
    points_for_money,
    points_for_purchase,
    promotion_multiplier_pct,
    return_share,
    tier_for_spend,
)
from omniretail.loyalty.ledger import Entry, Posting
from omniretail.loyalty.ledger import InsufficientPoints as InsufficientPoints  # for callers
from omniretail.loyalty.models import Membership, OrderPoints, PointsAccount, PointsEntry
from omniretail.loyalty.programme import benefits_of, get_rules, rolling_spend
from omniretail.loyalty.schemas import EntryOut, PointsOut, PostingOut


@dataclass(frozen=True, slots=True)
class Earned:
    customer_id: str
    points: int
    multiplier_pct: int
    promo_pct: int
    replayed: bool
    pending: bool = False  # waiting out the after-sales window


@dataclass(frozen=True, slots=True)
class Redemption:
    customer_id: str
    points: int
    money_value: int  # what the points pay, minor units
    balance: int
    entry_id: int
    replayed: bool


@dataclass(frozen=True, slots=True)
class Reversal:
    customer_id: str
    earned_reversed: int  # points taken back
    redeemed_given_back: int  # points returned to the customer
    shortfall: int  # earned points already spent, that could not be taken back
    replayed: bool


@dataclass(frozen=True, slots=True)
class LedgerCheck:
    balance: int
    ledger_sum: int
    lots_remaining: int

    @property
    def consistent(self) -> bool:
        return self.balance == self.ledger_sum == self.lots_remaining


async def _account(
    uow: UnitOfWork, customer_id: str, *, create: bool
) -> tuple[customers.CustomerRef, int | None]:
    ref = await customers.customer_ref(uow, customer_id)
    return ref, await ledger.account_id_for(uow, ref.id, create=create)


async def do_earn_for_order(
    uow: UnitOfWork,
    *,
    customer_id: str,
    order_ref: str,
    channel: str,
    paid_amount: int,
    at: dt.datetime,
) -> Earned:
    """Award points for a completed order, once per ``order_ref`` (a redelivery replays).

    Points = paid money x points per unit x the better of tier and membership multipliers x
    the best running points promotion for the channel, rounded down. The tier is the one
    reached before this order. With ``pending_days`` the points wait out the after-sales window
    (``pending``) and are posted by :func:`do_release_pending_points`; otherwise they are
    posted now. A lot expires ``expiry_days`` after it is posted.
    """
    ref, account_id = await _account(uow, customer_id, create=True)
    assert account_id is not None
    done = await uow.session.scalar(
        sa.select(OrderPoints).where(
            OrderPoints.order_ref == order_ref, OrderPoints.completed_at.is_not(None)
        )
    )
    if done is not None:
        return Earned(ref.public_id, done.earned, 0, 0, replayed=True, pending=not done.earn_posted)
    rules = await get_rules(uow)
    benefits = await benefits_of(uow, customer_pk=ref.id, account_id=account_id, at=at)
    promo = promotion_multiplier_pct(rules.promotions, channel, at)
    points = points_for_purchase(
        rules,
        paid_amount=paid_amount,
        multiplier_pct=benefits.points_multiplier_pct,
        promo_pct=promo,
    )
    # Lock order everywhere: the account row, then the order's row (as returns and redemptions).
    await ledger.balance_of(uow, account_id, lock=True)
    await _record_order(uow, account_id, order_ref, channel=channel, paid=paid_amount, at=at)
    release_at = at + dt.timedelta(days=rules.pending_days)
    pending = points > 0 and release_at > utcnow()
    await uow.session.execute(
        sa.update(OrderPoints)
        .where(OrderPoints.order_ref == order_ref)
        .values(
            earned=points,
            earn_release_at=release_at if pending else None,
            earn_posted=not pending,
        )
        .execution_options(synchronize_session=False)
    )
    replayed = False
    if points > 0 and not pending:
        posting = await _post_earned(uow, account_id, order_ref, channel, points, at, rules)
        replayed = posting.replayed
    return Earned(
        ref.public_id, points, benefits.points_multiplier_pct, promo, replayed, pending=pending
    )


async def _post_earned(
    uow: UnitOfWork,
    account_id: int,
    order_ref: str,
    channel: str | None,
    points: int,
    at: dt.datetime,
    rules: LoyaltyRules,
) -> Posting:
    entry = Entry("earn", f"order:{order_ref}:earn", f"order {order_ref}", "system:orders",
                  order_ref, channel)  # fmt: skip
    return await ledger.credit(uow, account_id, entry, points, expires_at=expiry_for(rules, at))


async def do_release_pending_points(
    uow: UnitOfWork, *, now: dt.datetime | None = None, limit: int = 500
) -> int:
    """Post the earned points whose after-sales window has passed (less what returns took
    back meanwhile); returns the points posted. Run by ``omni worker``."""
    when = now or utcnow()
    rules = await get_rules(uow)
    due = (
        await uow.session.execute(
            sa.select(OrderPoints.id, OrderPoints.account_id)
            .where(OrderPoints.earn_release_at <= when, OrderPoints.earn_posted.is_(False))
            .order_by(OrderPoints.account_id, OrderPoints.id)
            .limit(limit)
        )
    ).all()
    total = 0
    for row_id, account_id in due:
        await ledger.balance_of(uow, account_id, lock=True)  # account first, then the order
        row = await uow.session.scalar(
            sa.select(OrderPoints)
            .where(OrderPoints.id == row_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is None or row.earn_posted or row.earn_release_at is None:
            continue
        left = row.earned - row.earned_reversed
        if left > 0:
            await _post_earned(
                uow, account_id, row.order_ref, row.channel, left, row.earn_release_at, rules
            )
            total += left
        row.earn_posted, row.earn_release_at = True, None
    await uow.flush()
    return total


async def _record_order(
    uow: UnitOfWork,
    account_id: int,
    order_ref: str,
    *,
    channel: str | None = None,
    paid: int | None = None,
    at: dt.datetime | None = None,
    redeemed: int = 0,
) -> None:
    table = OrderPoints.__table__
    values: dict[str, Any] = {"channel": channel, "paid_amount": paid or 0, "completed_at": at}
    insert = dialect_insert(uow, table).values(
        tenant_id=uow.require_tenant(),
        account_id=account_id,
        order_ref=order_ref,
        redeemed=redeemed,
        return_refs=[],
        **values,
    )
    updates: dict[str, Any] = {"redeemed": table.c.redeemed + redeemed}
    if at is not None:
        updates |= values
    await uow.session.execute(
        insert.on_conflict_do_update(index_elements=["tenant_id", "order_ref"], set_=updates)
    )


async def do_redeem_points(
    uow: UnitOfWork,
    *,
    customer_id: str,
    points: int,
    reason: str,
    order_ref: str | None = None,
    idempotency_key: str,
    channel: str | None = None,
    actor: str = "system",
) -> Redemption:
    """Spend points, e.g. as a checkout tender in the caller's unit of work (it commits or rolls
    back with the order). Raises ``InsufficientPoints`` (409 ``insufficient_points``) beyond the
    balance. The same key again returns the first redemption; it never spends twice."""
    ref, account_id = await _account(uow, customer_id, create=True)
    assert account_id is not None
    rules = await get_rules(uow)  # before the debit: the account row stays locked until commit
    entry = Entry("redeem", f"redeem:{idempotency_key}", reason, actor, order_ref, channel)
    posting = await ledger.debit(uow, account_id, entry, points)
    if order_ref is not None and not posting.replayed:
        await _record_order(uow, account_id, order_ref, redeemed=points)
    return Redemption(
        ref.public_id,
        points,
        money_for_points(rules, points),
        posting.balance,
        posting.entry_id,
        posting.replayed,
    )


async def do_adjust_points(
    uow: UnitOfWork,
    *,
    customer_id: str,
    points: int,
    reason: str,
    idempotency_key: str,
    actor: str,
) -> Posting:
    """A manual correction (admin only at the HTTP edge): positive adds a lot, negative takes
    points and refuses to overdraw."""
    _, account_id = await _account(uow, customer_id, create=True)
    assert account_id is not None
    entry = Entry("adjust", f"adjust:{idempotency_key}", reason, actor)
    if points > 0:
        rules = await get_rules(uow)
        return await ledger.credit(
            uow, account_id, entry, points, expires_at=expiry_for(rules, utcnow())
        )
    return await ledger.debit(uow, account_id, entry, -points)


async def do_reverse_for_return(
    uow: UnitOfWork,
    *,
    customer_id: str,
    order_ref: str,
    return_ref: str,
    returned_value: int,
    order_value: int,
    actor: str = "system:returns",
) -> Reversal:
    """A return's proportional share of the order's points: redeemed points are given back
    and earned points are taken back, in the ratio ``returned_value / order_value`` (goods value
    in minor units, any consistent basis). Shares are computed on the cumulative returned value,
    so several partial returns never reverse more than the order earned or redeemed. Earned
    points already spent are not clawed below zero: that part is reported as ``shortfall``.
    Idempotent per ``return_ref``."""
    ref, account_id = await _account(uow, customer_id, create=True)
    assert account_id is not None
    await ledger.balance_of(uow, account_id, lock=True)  # account first, then the order
    row = await uow.session.scalar(
        sa.select(OrderPoints)
        .where(OrderPoints.order_ref == order_ref)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        return Reversal(ref.public_id, 0, 0, 0, replayed=False)
    if return_ref in (row.return_refs or []):
        return await _replayed_reversal(uow, ref.public_id, return_ref)
    basis = row.order_value or order_value
    share = return_share(
        order_value=basis,
        returned_before=row.returned_value,
        returned_now=returned_value,
        earned=row.earned,
        earned_reversed=row.earned_reversed,
        redeemed=row.redeemed,
        redeemed_given_back=row.redeemed_given_back,
    )
    rules = await get_rules(uow)
    if share.redeemed_to_give_back:
        give = Entry("reverse", f"return:{return_ref}:redeemed", f"return {return_ref}", actor)
        await ledger.credit(
            uow,
            account_id,
            Entry(give.kind, give.key, give.reason, actor, order_ref),
            share.redeemed_to_give_back,
            expires_at=expiry_for(rules, utcnow()),
        )
    taken = 0
    if share.earned_to_reverse and not row.earn_posted:
        taken = share.earned_to_reverse  # still pending: it will simply not be posted
    elif share.earned_to_reverse:
        take = Entry(
            "reverse", f"return:{return_ref}:earned", f"return {return_ref}", actor, order_ref
        )
        posting = await ledger.debit_at_most(
            uow, account_id, take, share.earned_to_reverse, prefer_order=order_ref
        )
        taken = -posting.points if posting else 0
    row.order_value = basis
    row.returned_value = share.returned_value
    row.returned_paid = row.paid_amount * share.returned_value // basis if basis else 0
    row.earned_reversed += share.earned_to_reverse
    row.redeemed_given_back += share.redeemed_to_give_back
    row.return_refs = [*(row.return_refs or []), return_ref]
    await uow.flush()
    return Reversal(
        ref.public_id,
        taken,
        share.redeemed_to_give_back,
        share.earned_to_reverse - taken,
        replayed=False,
    )


async def _replayed_reversal(uow: UnitOfWork, public_id: str, return_ref: str) -> Reversal:
    rows = dict(
        (
            await uow.session.execute(
                sa.select(PointsEntry.idempotency_key, PointsEntry.points).where(
                    PointsEntry.idempotency_key.in_(
                        [f"return:{return_ref}:earned", f"return:{return_ref}:redeemed"]
                    )
                )
            )
        ).all()
    )
    return Reversal(
        public_id,
        -int(rows.get(f"return:{return_ref}:earned", 0)),
        int(rows.get(f"return:{return_ref}:redeemed", 0)),
        0,
        replayed=True,
    )


async def do_release_order_points(
    uow: UnitOfWork, *, customer_id: str, order_ref: str, actor: str = "system:orders"
) -> Reversal:
    """An order cancelled (before or after completion) gives back everything it redeemed and
    takes back everything it earned that is not reversed yet."""
    return await do_reverse_for_return(
        uow,
        customer_id=customer_id,
        order_ref=order_ref,
        return_ref=f"cancel:{order_ref}",
        returned_value=1,
        order_value=1,
        actor=actor,
    )


async def do_expire_points(uow: UnitOfWork, *, now: dt.datetime | None = None) -> int:
    """Expire the lots whose date has passed, oldest first; returns the points expired."""
    return await ledger.expire_due_lots(uow, now=now or utcnow())


async def tenants_with_due_points(uow: UnitOfWork, *, now: dt.datetime) -> list[int]:
    """For the periodic job (an unscoped unit of work): tenants with points to expire or to
    release from the after-sales window."""
    expiring = sa.select(PointsEntry.tenant_id).where(
        PointsEntry.remaining > 0, PointsEntry.expires_at <= now
    )
    releasing = sa.select(OrderPoints.tenant_id).where(
        OrderPoints.earn_release_at <= now, OrderPoints.earn_posted.is_(False)
    )
    rows = await uow.session.scalars(sa.union(expiring, releasing))
    return sorted(set(rows))


async def check_points_ledger(uow: UnitOfWork, *, customer_id: str) -> LedgerCheck:
    """The proof: balance == sum of the ledger == sum of what remains in the lots."""
    _, account_id = await _account(uow, customer_id, create=False)
    if account_id is None:
        return LedgerCheck(0, 0, 0)
    sums = (
        await uow.session.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(PointsEntry.points), 0),
                sa.func.coalesce(sa.func.sum(PointsEntry.remaining), 0),
            ).where(PointsEntry.account_id == account_id)
        )
    ).one()
    return LedgerCheck(await ledger.balance_of(uow, account_id), int(sums[0]), int(sums[1]))


async def points_summary(uow: UnitOfWork, *, customer_id: str) -> PointsOut:
    ref, account_id = await _account(uow, customer_id, create=False)
    rules = await get_rules(uow)
    balance = await ledger.balance_of(uow, account_id) if account_id else 0
    spend = await rolling_spend(uow, account_id, utcnow())
    tier = tier_for_spend(rules.tiers, spend)
    pending = (
        await uow.session.scalar(
            sa.select(sa.func.sum(OrderPoints.earned - OrderPoints.earned_reversed)).where(
                OrderPoints.account_id == account_id, OrderPoints.earn_posted.is_(False)
            )
        )
        if account_id
        else 0
    )
    return PointsOut(
        customer_id=ref.public_id,
        balance=balance,
        pending=int(pending or 0),
        money_value=money_for_points(rules, balance),
        tier=tier.code if tier else None,
        rolling_spend=spend,
    )


async def list_entries(
    uow: UnitOfWork, *, customer_id: str, limit: int, after: Any = None
) -> list[EntryOut]:
    """Newest first."""
    _, account_id = await _account(uow, customer_id, create=False)
    if account_id is None:
        return []
    query = (
        sa.select(PointsEntry)
        .where(PointsEntry.account_id == account_id)
        .order_by(PointsEntry.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(PointsEntry.id < int(after))
    return [EntryOut.model_validate(row) for row in await uow.session.scalars(query)]


def posting_out(customer_id: str, posting: Posting, money_value: int) -> PostingOut:
    return PostingOut(
        customer_id=customer_id,
        entry_id=posting.entry_id,
        kind=posting.kind,
        points=posting.points,
        balance=posting.balance,
        money_value=money_value,
        replayed=posting.replayed,
    )


async def benefits_for(uow: UnitOfWork, *, customer_id: str, at: dt.datetime) -> Benefits:
    """Tier and paid-membership benefits that checkout applies on every channel."""
    ref, account_id = await _account(uow, customer_id, create=False)
    return await benefits_of(uow, customer_pk=ref.id, account_id=account_id, at=at)


async def customer_tier(uow: UnitOfWork, customer_id: str) -> str | None:
    """The customer's tier code now (for pricing's tier-scoped promotions); None if none."""
    return (await benefits_for(uow, customer_id=customer_id, at=utcnow())).tier


async def money_for_points_of(uow: UnitOfWork, points: int) -> int:
    """What ``points`` pay at checkout under the tenant's rate (minor units, rounded down)."""
    return money_for_points(await get_rules(uow), points)


async def points_liability(uow: UnitOfWork) -> tuple[int, int]:
    """Points outstanding over all the tenant's accounts, and what they would pay at checkout
    now (minor units): the programme's liability."""
    points = int(
        await uow.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsAccount.balance), 0)))
        or 0
    )
    return points, await money_for_points_of(uow, points)


async def points_for_money_of(uow: UnitOfWork, amount: int) -> int:
    """Points needed to pay ``amount`` minor units (rounded up)."""
    return points_for_money(await get_rules(uow), amount)


async def do_move_points_on_merge(uow: UnitOfWork, *, survivor_id: str, absorbed_id: str) -> int:
    """After ``customer.merged``: the absorbed customer's account, ledger entries (with their
    lots and expiry dates), order points and memberships move to the survivor, whose balance
    becomes the sum of both. Idempotent: a redelivery finds nothing left to move."""
    survivor = await customers.customer_ref(uow, survivor_id)  # follows later merges too
    absorbed_pk = await customers.customer_pk(uow, absorbed_id)
    await uow.session.execute(
        sa.update(Membership)
        .where(Membership.customer_id == absorbed_pk)
        .values(customer_id=survivor.id)
        .execution_options(synchronize_session=False)
    )
    source = await ledger.account_id_for(uow, absorbed_pk, create=False)
    if source is None or absorbed_pk == survivor.id:
        return 0
    target = await ledger.account_id_for(uow, survivor.id, create=True)
    assert target is not None
    for account_id in sorted((source, target)):
        await ledger.balance_of(uow, account_id, lock=True)
    moved = await ledger.balance_of(uow, source)
    for model in (PointsEntry, OrderPoints):
        await uow.session.execute(
            sa.update(model)
            .where(model.account_id == source)
            .values(account_id=target)
            .execution_options(synchronize_session=False)
        )
    await uow.session.execute(
        sa.update(PointsAccount)
        .where(PointsAccount.id == target)
        .values(balance=PointsAccount.balance + moved, updated_at=utcnow())
    )
    await uow.session.execute(sa.delete(PointsAccount).where(PointsAccount.id == source))
    return moved
