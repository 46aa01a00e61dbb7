"""Members whose seat ends without an order.

Group buys whose window ended unfilled: the worker fails each (one conditional update decides,
however many workers run), refunds every member exactly what they paid through the provider
that took it, releases their stock and gives their seat back to the per-customer limit, in one
transaction per group: a refund the provider refuses changes nothing of that group, which is
tried again on the next run (the other groups go on). A transaction holds one group's row at a
time, so the job never waits on a join while holding a row that join waits for.

A member may also leave a group while it is open (:func:`do_leave_group`): refunded, released
and their seat freed the same way, under the group's row lock.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.db import Database, UnitOfWork, utcnow
from omniretail.engagement import groupbuy
from omniretail.engagement.groupbuy_domain import GroupStatus, MemberStatus, amount_text
from omniretail.engagement.groupbuy_models import GroupBuyGroup, GroupBuyMember, GroupBuySeats
from omniretail.engagement.groupbuy_schemas import MemberOut
from omniretail.errors import Conflict, NotFound
from omniretail.events import record_event
from omniretail.inventory import reservations
from omniretail.payments import refunds
from omniretail.payments.providers import PaymentProvider, PaymentStatus


class RefundRefused(Conflict):
    code = "group_buy_refund_refused"
    title = "The payment provider refused the refund"


log = logging.getLogger("omniretail.engagement.groupbuy")


async def due_groups(
    uow: UnitOfWork, *, now: dt.datetime, limit: int = 500
) -> list[tuple[int, int]]:
    """(tenant id, group id) of open groups whose window has ended, oldest first (unscoped)."""
    rows = await uow.session.execute(
        sa.select(GroupBuyGroup.tenant_id, GroupBuyGroup.id)
        .where(GroupBuyGroup.status == GroupStatus.OPEN.value, GroupBuyGroup.closes_at <= now)
        .order_by(GroupBuyGroup.id)
        .limit(limit)
    )
    return [(int(t), int(g)) for t, g in rows]


async def do_fail_group(
    uow: UnitOfWork,
    *,
    group_pk: int,
    providers: dict[str, PaymentProvider],
    now: dt.datetime | None = None,
) -> int:
    """Fail the group if it is still open and its window has ended (1; else 0, changing
    nothing): claimed by a conditional update (one worker decides; a join racing the deadline
    either took its seat first, and is refunded with the rest, or finds the group failed),
    every member refunded exactly what they paid and their stock released."""
    return await _fail(uow, group_pk, providers, now or utcnow())


async def _fail(
    uow: UnitOfWork, group_pk: int, providers: dict[str, PaymentProvider], now: dt.datetime
) -> int:
    claimed = (
        await uow.session.execute(
            sa.update(GroupBuyGroup)
            .where(
                GroupBuyGroup.id == group_pk,
                GroupBuyGroup.status == GroupStatus.OPEN.value,
                GroupBuyGroup.closes_at <= now,
            )
            .values(status=GroupStatus.FAILED.value, settled_at=now)
            .returning(GroupBuyGroup.public_id, GroupBuyGroup.campaign_id)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if claimed is None:
        return 0
    public_id, campaign_id = claimed
    currency = (await auth.get_tenant(uow)).currency
    actor = f"group-buy:{public_id}:failed"
    refunds = []
    for member in await groupbuy.members_of(uow, group_pk):
        if member.status != MemberStatus.HELD.value:
            continue
        await _refund_member(
            uow,
            member,
            campaign_id=campaign_id,
            providers=providers,
            currency=currency,
            actor=actor,
            status=MemberStatus.REFUNDED,
            now=now,
        )
        refunds.append((member.public_id, member.customer_id, member.amount))
    record_event(
        uow,
        "groupbuy.failed",
        aggregate_type="group_buy",
        aggregate_id=public_id,
        payload={
            "group_id": public_id,
            "refunds": [
                {"member_id": m, "customer_id": c, "amount": amount} for m, c, amount in refunds
            ],
            "refunded_total": sum(amount for _, _, amount in refunds),
            "failed_at": now.isoformat(),
        },
    )
    return 1


async def _refund_member(
    uow: UnitOfWork,
    member: GroupBuyMember,
    *,
    campaign_id: int,
    providers: dict[str, PaymentProvider],
    currency: str,
    actor: str,
    status: MemberStatus,
    now: dt.datetime,
) -> None:
    """Refund a held member exactly what they paid, through the provider that took it, release
    their unit and give their seat back to the per-customer limit. A refused refund raises
    :class:`RefundRefused` (the caller's transaction then changes nothing)."""
    # A gateway's refund is recorded here and sent after commit (payments.refunds).
    refunded = await refunds.request_refund(
        uow,
        providers[member.payment_method],
        amount=member.amount,
        total=member.amount,
        currency=currency,
        provider_ref=member.payment_ref,
        reason=f"group buy {member.public_id}",
    )
    if refunded.status is PaymentStatus.DECLINED:
        raise RefundRefused(f"refund of {member.public_id} refused: {refunded.message}")
    member.refunded_amount = member.amount
    member.refund_ref = refunded.provider_ref
    member.status = status.value
    await reservations.do_release_reservation(
        uow, reservation_id=member.reservation_id, actor=actor, now=now
    )
    await uow.session.execute(
        sa.update(GroupBuySeats)
        .where(
            GroupBuySeats.campaign_id == campaign_id,
            GroupBuySeats.customer_id == member.customer_id,
        )
        .values(seats=GroupBuySeats.seats - 1)
        .execution_options(synchronize_session=False)
    )
    await groupbuy.notify_member(
        uow,
        customer_id=member.customer_id,
        template="group_refunded",
        params={"amount": amount_text(member.amount, currency)},
        dedupe_key=f"group:{member.public_id}:refunded",
    )


async def member_scope(uow: UnitOfWork, *, group_id: str, member_id: str) -> tuple[str, str]:
    """The member's channel and pickup store: what a key's scope is checked against before it
    may act for the member (404 for a member of another group or tenant)."""
    found = (
        await uow.session.execute(
            sa.select(GroupBuyMember.channel, GroupBuyMember.location)
            .join(GroupBuyGroup, GroupBuyGroup.id == GroupBuyMember.group_id)
            .where(GroupBuyGroup.public_id == group_id, GroupBuyMember.public_id == member_id)
        )
    ).first()
    if found is None:
        raise NotFound("group member", member_id)
    return str(found[0]), str(found[1])


async def do_leave_group(
    uow: UnitOfWork,
    *,
    group_id: str,
    member_id: str,
    providers: dict[str, PaymentProvider],
    actor: str,
    now: dt.datetime | None = None,
) -> MemberOut:
    """A member leaves a group that is still open: refunded exactly what they paid, their unit
    released, their seat free for someone else and given back to their per-customer limit. The
    group's row is locked first, as a join's seat claim, the fill and the failing job take it
    before any member's, so the member's status is read as it stands: leaving again changes
    nothing and answers the member as it is; 409 ``group_buy_already_filled`` once the group
    filled (the member's order is then cancelled or returned like any other), 409
    ``group_buy_closed`` once it failed. A customer who left cannot take a seat in the same
    group again (``group_buy_already_joined``); another group of the campaign, yes."""
    now = now or utcnow()
    group = await uow.session.scalar(
        sa.select(GroupBuyGroup)
        .where(GroupBuyGroup.public_id == group_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if group is None:
        raise NotFound("group", group_id)
    member = await uow.session.scalar(
        sa.select(GroupBuyMember)
        .where(GroupBuyMember.group_id == group.id, GroupBuyMember.public_id == member_id)
        .execution_options(populate_existing=True)
    )
    if member is None:
        raise NotFound("group member", member_id)
    if member.status == MemberStatus.ORDERED.value:
        raise groupbuy.GroupAlreadyFilled(
            f"group {group.public_id} filled: order {member.order_id} is the member's now"
        )
    if member.status == MemberStatus.REFUNDED.value:
        raise groupbuy.GroupClosed(f"group {group.public_id} did not fill; already refunded")
    if member.status == MemberStatus.HELD.value:
        currency = (await auth.get_tenant(uow)).currency
        await _refund_member(
            uow,
            member,
            campaign_id=group.campaign_id,
            providers=providers,
            currency=currency,
            actor=f"group-buy:{group.public_id}:left",
            status=MemberStatus.LEFT,
            now=now,
        )
        await uow.session.execute(
            sa.update(GroupBuyGroup)
            .where(GroupBuyGroup.id == group.id)
            .values(seats_taken=GroupBuyGroup.seats_taken - 1)
            .execution_options(synchronize_session=False)
        )
        record_event(
            uow,
            "groupbuy.left",
            aggregate_type="group_buy",
            aggregate_id=group.public_id,
            payload={
                "group_id": group.public_id,
                "member_id": member.public_id,
                "customer_id": member.customer_id,
                "refunded": member.amount,
                "actor": actor,
                "left_at": now.isoformat(),
            },
        )
        await uow.flush()
    return groupbuy.member_out(member, group.public_id)


async def fail_due_groups_everywhere(
    db: Database, *, providers: dict[str, PaymentProvider], now: dt.datetime
) -> int:
    """The worker job: every tenant's groups whose window ended unfilled, one transaction
    each."""
    async with db.uow(unscoped=True) as uow:
        due = await due_groups(uow, now=now)
    failed = 0
    for tenant_id, group_pk in due:
        try:
            async with db.uow(tenant_id) as uow:
                failed += await do_fail_group(uow, group_pk=group_pk, providers=providers, now=now)
        except RefundRefused as exc:
            log.warning("group %s not failed yet: %s", group_pk, exc.detail)
    return failed
