"""Group buys whose window ended unfilled: the worker fails each (one conditional update
decides, however many workers run), refunds every member exactly what they paid through the
provider that took it, releases their stock and gives their seat back to the per-customer
limit, in one transaction per group: a refund the provider refuses changes nothing of that
group, which is tried again on the next run (the other groups go on). A transaction holds one
group's row at a time, so the job never waits on a join while holding a row that join waits
for."""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.db import Database, UnitOfWork, utcnow
from omniretail.engagement import groupbuy
from omniretail.engagement.groupbuy_domain import GroupStatus, MemberStatus, amount_text
from omniretail.engagement.groupbuy_models import GroupBuyGroup, GroupBuySeats
from omniretail.errors import Conflict
from omniretail.events import record_event
from omniretail.inventory import reservations
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
        refunded = providers[member.payment_method].refund(
            amount=member.amount, currency=currency, provider_ref=member.payment_ref
        )
        if refunded.status is PaymentStatus.DECLINED:
            # Nothing of this group is changed: the job tries again on its next run.
            raise RefundRefused(f"refund of {member.public_id} refused: {refunded.message}")
        member.refunded_amount = member.amount
        member.refund_ref = refunded.provider_ref
        member.status = MemberStatus.REFUNDED.value
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
