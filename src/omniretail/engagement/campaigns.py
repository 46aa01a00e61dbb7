"""Campaigns: rules that react to events and, after a delay, make an offer.

The first kind, ``tryon_no_purchase``: a customer tries a SKU on in a store (a behaviour event);
``delay_minutes`` later, if no order of theirs contains that SKU, a single-use coupon of the
campaign's promotion is issued and sent through a medium they agreed to. The delayed check runs
in the job runner (``evaluate_due_targets``). One (campaign, customer, SKU) is one target row,
unique in the database, so a redelivered event or a second try-on never makes a second offer;
the check itself is claimed by a conditional update, so two workers never both decide."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.db import Database, UnitOfWork, dialect_insert, utcnow
from omniretail.engagement import messages
from omniretail.engagement.domain import (
    FREQUENCY_WINDOW,
    CampaignKind,
    Medium,
    Outcome,
    in_holdout,
    next_sendable,
)
from omniretail.engagement.models import Campaign, CampaignTarget
from omniretail.engagement.schemas import CampaignIn, CampaignOut, CampaignResults
from omniretail.errors import AlreadyExists, NotFound
from omniretail.orders import queries as orders
from omniretail.orders.domain import OrderStatus
from omniretail.orders.schemas import OrderOut
from omniretail.pricing import coupons
from omniretail.pricing import service as pricing
from omniretail.pricing.schemas import CouponIn

log = logging.getLogger("omniretail.engagement")


def campaign_out(row: Campaign) -> CampaignOut:
    return CampaignOut.model_validate(row)


async def do_create_campaign(uow: UnitOfWork, *, data: CampaignIn) -> CampaignOut:
    """A new, active campaign; its promotion must exist (the coupons are issued from it)."""
    if await uow.session.scalar(sa.select(Campaign.id).where(Campaign.code == data.code)):
        raise AlreadyExists(f"campaign {data.code!r} already exists", field="code")
    await pricing.access_promotion(uow, data.promotion)
    row = Campaign(**data.model_dump(), active=True)
    uow.session.add(row)
    await uow.flush()
    return campaign_out(row)


async def access_campaign(uow: UnitOfWork, code: str) -> Campaign:
    row = await uow.session.scalar(sa.select(Campaign).where(Campaign.code == code))
    if row is None:
        raise NotFound("campaign", code)
    return row


async def get_campaign(uow: UnitOfWork, code: str) -> CampaignOut:
    return campaign_out(await access_campaign(uow, code))


async def list_campaigns(uow: UnitOfWork) -> list[CampaignOut]:
    rows = await uow.session.scalars(sa.select(Campaign).order_by(Campaign.id))
    return [campaign_out(r) for r in rows]


async def do_stop_campaign(uow: UnitOfWork, *, code: str) -> CampaignOut:
    """No new targets; targets still waiting end without an offer at their check."""
    row = await access_campaign(uow, code)
    row.active = False
    await uow.flush()
    return campaign_out(row)


async def note_try_on(
    uow: UnitOfWork, *, customer_id: str, sku: str, location: str | None, at: dt.datetime
) -> int:
    """A try-on starts the clock of every active try-on campaign for that SKU; returns how
    many targets were new (0 for a repeat, whatever the number of deliveries)."""
    campaigns = (
        await uow.session.scalars(
            sa.select(Campaign).where(
                Campaign.active.is_(True), Campaign.kind == CampaignKind.TRYON_NO_PURCHASE.value
            )
        )
    ).all()
    new = 0
    for campaign in campaigns:
        if campaign.skus is not None and sku not in campaign.skus:
            continue
        inserted = await uow.session.execute(
            dialect_insert(uow, CampaignTarget.__table__)
            .values(
                tenant_id=uow.require_tenant(),
                campaign_id=campaign.id,
                customer_id=customer_id,
                subject=sku,
                location=location,
                triggered_at=at,
                due_at=at + dt.timedelta(minutes=campaign.delay_minutes),
                holdout=in_holdout(campaign.code, customer_id, campaign.holdout_percent),
                outcome=Outcome.WAITING.value,
            )
            .on_conflict_do_nothing(
                index_elements=["tenant_id", "campaign_id", "customer_id", "subject"]
            )
        )
        new += inserted.rowcount  # type: ignore[attr-defined]
    return new


def _bought(placed: list[OrderOut], sku: str) -> list[OrderOut]:
    return [
        o
        for o in placed
        if o.status is not OrderStatus.CANCELLED and any(line.sku == sku for line in o.lines)
    ]


async def _orders_with(
    uow: UnitOfWork, customer_id: str, sku: str, since: dt.datetime
) -> list[OrderOut]:
    placed = await orders.list_orders(uow, limit=500, customer_id=customer_id, placed_from=since)
    return _bought([o for _, o in placed], sku)


async def _offer(
    uow: UnitOfWork, campaign: Campaign, target: CampaignTarget, medium: Medium, now: dt.datetime
) -> None:
    code = f"{campaign.code}-{secrets.token_hex(4)}".upper()[:64]
    await coupons.do_create_coupon(
        uow,
        data=CouponIn(
            code=code,
            promotion=campaign.promotion,
            max_redemptions=1,
            per_customer_limit=1,
            starts_at=now,
            ends_at=now + dt.timedelta(days=campaign.coupon_days),
        ),
    )
    message = await messages.do_queue_message(
        uow,
        customer_id=target.customer_id,
        medium=medium,
        template_code="tryon_coupon",
        params={
            "store": target.location or "",
            "sku": target.subject,
            "coupon": code,
            "days": str(campaign.coupon_days),
        },
        dedupe_key=f"campaign:{campaign.code}:{target.customer_id}:{target.subject}",
    )
    target.coupon, target.message_id = code, message.id


async def _decide(uow: UnitOfWork, target: CampaignTarget, now: dt.datetime) -> None:
    campaign = await uow.session.get(Campaign, target.campaign_id)
    assert campaign is not None
    if not campaign.active:
        target.outcome = Outcome.ENDED.value
    elif await _orders_with(uow, target.customer_id, target.subject, target.triggered_at):
        target.outcome = Outcome.BOUGHT.value
    elif target.holdout:
        target.outcome = Outcome.HOLDOUT.value
    else:
        tenant = await auth.get_tenant(uow)
        send_at = next_sendable(now, tenant.timezone, campaign.quiet_start, campaign.quiet_end)
        if send_at > now:
            target.due_at = send_at  # quiet hours: checked again when they end
            return
        medium = await messages.reachable_medium(uow, target.customer_id)
        if medium is None:
            target.outcome = Outcome.NO_CONSENT.value
        elif (
            await messages.count_offers(
                uow, customer_id=target.customer_id, since=now - FREQUENCY_WINDOW
            )
            >= campaign.frequency_cap
        ):
            target.outcome = Outcome.CAPPED.value
        else:
            await _offer(uow, campaign, target, medium, now)
            target.outcome = Outcome.SENT.value
    target.decided_at = now


async def _evaluate(db: Database, tenant_id: int, target_id: int, now: dt.datetime) -> str | None:
    async with db.uow(tenant_id) as uow:
        # The claim: only one worker's update matches; on PostgreSQL the loser waits for the
        # winner's commit and then finds the row no longer waiting, or no longer due.
        claimed = await uow.session.execute(
            sa.update(CampaignTarget)
            .where(
                CampaignTarget.id == target_id,
                CampaignTarget.outcome == Outcome.WAITING.value,
                CampaignTarget.due_at <= now,
            )
            .values(decided_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        target = await uow.session.get(CampaignTarget, target_id, populate_existing=True)
        assert target is not None
        await _decide(uow, target, now)
        await uow.flush()
        return target.outcome


async def evaluate_due_targets(
    db: Database, *, now: dt.datetime | None = None, limit: int = 200
) -> int:
    """Run the delayed checks that are due, in every tenant; returns how many offers were made."""
    when = now or utcnow()
    async with db.uow(unscoped=True) as uow:
        due = (
            await uow.session.execute(
                sa.select(CampaignTarget.tenant_id, CampaignTarget.id)
                .where(
                    CampaignTarget.outcome == Outcome.WAITING.value,
                    CampaignTarget.due_at <= when,
                )
                .order_by(CampaignTarget.due_at, CampaignTarget.id)
                .limit(limit)
            )
        ).all()
    offers = 0
    for tenant_id, target_id in due:
        if await _evaluate(db, tenant_id, target_id, when) == Outcome.SENT.value:
            offers += 1
    return offers


async def campaign_results(uow: UnitOfWork, *, code: str) -> CampaignResults:
    """Outcomes, coupons redeemed, and the offered SKU's sales to offered customers after the
    offer, against the control group's purchases after their check. Reads each decided
    target's orders: a report, not a hot path."""
    campaign = await access_campaign(uow, code)
    targets = (
        await uow.session.scalars(
            sa.select(CampaignTarget).where(CampaignTarget.campaign_id == campaign.id)
        )
    ).all()
    outcomes: dict[str, int] = {}
    redeemed = revenue = offered_bought = holdout_bought = 0
    for t in targets:
        outcomes[t.outcome] = outcomes.get(t.outcome, 0) + 1
        if t.outcome not in (Outcome.SENT.value, Outcome.HOLDOUT.value) or t.decided_at is None:
            continue
        after = await _orders_with(uow, t.customer_id, t.subject, t.decided_at)
        if t.outcome == Outcome.HOLDOUT.value:
            holdout_bought += bool(after)
            continue
        offered_bought += bool(after)
        revenue += sum(line.line_total for o in after for line in o.lines if line.sku == t.subject)
        if t.coupon is not None and (await coupons.get_coupon(uow, t.coupon)).redeemed_count:
            redeemed += 1
    sent = outcomes.get(Outcome.SENT.value, 0)
    held = outcomes.get(Outcome.HOLDOUT.value, 0)
    return CampaignResults(
        campaign=campaign.code,
        outcomes=outcomes,
        sent=sent,
        redeemed=redeemed,
        revenue_attributed=revenue,
        conversion_offered=offered_bought / sent if sent else None,
        holdout=held,
        conversion_holdout=holdout_bought / held if held else None,
    )
