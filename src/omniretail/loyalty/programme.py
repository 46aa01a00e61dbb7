"""The tenant's programme: earning rules, tiers from rolling spend, paid membership, benefits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.auth.domain import minor_digits
from omniretail.customers import service as customers
from omniretail.db import UnitOfWork, utcnow
from omniretail.errors import AlreadyExists, NotFound
from omniretail.events import record_event
from omniretail.loyalty.domain import (
    ROLLING_SPEND_WINDOW,
    Benefits,
    LoyaltyRules,
    PlanBenefits,
    PointsPromotion,
    Tier,
    combine_benefits,
    tier_for_spend,
)
from omniretail.loyalty.models import LoyaltyProgram, Membership, MembershipPlan, OrderPoints
from omniretail.loyalty.schemas import (
    MembershipOut,
    PlanIn,
    PlanOut,
    PromotionIn,
    RulesIn,
    RulesOut,
    TierIn,
)


async def get_rules(uow: UnitOfWork) -> LoyaltyRules:
    """The tenant's rules, or the defaults when it never set any."""
    tenant = await auth.get_tenant(uow)
    digits = minor_digits(tenant.currency)
    row = await uow.session.scalar(sa.select(LoyaltyProgram))
    if row is None:
        return LoyaltyRules(minor_digits=digits)
    data = RulesIn.model_validate(row.rules)
    return LoyaltyRules(
        points_per_unit=data.points_per_unit,
        redeem_points_per_unit=data.redeem_points_per_unit,
        expiry_days=data.expiry_days,
        pending_days=data.pending_days,
        minor_digits=digits,
        tiers=tuple(
            Tier(
                t.code,
                t.min_spend,
                t.points_multiplier_pct,
                t.free_delivery,
                t.free_pickup,
                t.priority_pickup,
            )
            for t in data.tiers
        ),
        promotions=tuple(
            PointsPromotion(p.code, p.multiplier_pct, p.starts_at, p.ends_at, tuple(p.channels))
            for p in data.promotions
        ),
    )


def rules_out(rules: LoyaltyRules) -> RulesOut:
    return RulesOut(
        points_per_unit=rules.points_per_unit,
        redeem_points_per_unit=rules.redeem_points_per_unit,
        expiry_days=rules.expiry_days,
        pending_days=rules.pending_days,
        tiers=[
            TierIn(
                code=t.code,
                min_spend=t.min_spend,
                points_multiplier_pct=t.points_multiplier_pct,
                free_delivery=t.free_delivery,
                free_pickup=t.free_pickup,
                priority_pickup=t.priority_pickup,
            )
            for t in rules.tiers
        ],
        promotions=[
            PromotionIn(
                code=p.code,
                multiplier_pct=p.multiplier_pct,
                starts_at=p.starts_at,
                ends_at=p.ends_at,
                channels=list(p.channels),
            )
            for p in rules.promotions
        ],
    )


async def do_set_rules(uow: UnitOfWork, *, rules: RulesIn, actor: str) -> RulesOut:
    """Replace the tenant's rules; they apply to points earned from now on."""
    row = await uow.session.scalar(sa.select(LoyaltyProgram))
    data: dict[str, Any] = rules.model_dump(mode="json")
    if row is None:
        uow.session.add(LoyaltyProgram(rules=data, updated_at=utcnow()))
    else:
        row.rules, row.updated_at = data, utcnow()
    await uow.flush()
    record_event(
        uow,
        "loyalty.rules_changed",
        aggregate_type="loyalty",
        aggregate_id="rules",
        payload={"actor": actor},
    )
    return rules_out(await get_rules(uow))


async def rolling_spend(uow: UnitOfWork, account_id: int | None, at: dt.datetime) -> int:
    """Spend of completed orders in the 12 months up to ``at``, net of returns."""
    if account_id is None:
        return 0
    total = await uow.session.scalar(
        sa.select(sa.func.sum(OrderPoints.paid_amount - OrderPoints.returned_paid)).where(
            OrderPoints.account_id == account_id,
            OrderPoints.completed_at > at - ROLLING_SPEND_WINDOW,
            OrderPoints.completed_at <= at,
        )
    )
    return int(total or 0)


async def active_plan(
    uow: UnitOfWork, customer_pk: int, at: dt.datetime
) -> tuple[PlanBenefits, dt.datetime] | None:
    row = (
        await uow.session.execute(
            sa.select(MembershipPlan, Membership.ends_at)
            .join(Membership, Membership.plan_id == MembershipPlan.id)
            .where(
                Membership.customer_id == customer_pk,
                Membership.starts_at <= at,
                Membership.ends_at > at,
            )
            .order_by(MembershipPlan.points_multiplier_pct.desc(), Membership.ends_at.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    plan, ends_at = row
    return (
        PlanBenefits(
            plan.code,
            plan.points_multiplier_pct,
            plan.free_delivery,
            plan.free_pickup,
            plan.priority_pickup,
        ),
        ends_at,
    )


async def benefits_of(
    uow: UnitOfWork, *, customer_pk: int, account_id: int | None, at: dt.datetime
) -> Benefits:
    rules = await get_rules(uow)
    tier = tier_for_spend(rules.tiers, await rolling_spend(uow, account_id, at))
    plan = await active_plan(uow, customer_pk, at)
    return combine_benefits(tier, plan[0] if plan else None, plan[1] if plan else None)


def plan_out(row: MembershipPlan) -> PlanOut:
    return PlanOut.model_validate(row)


async def do_create_plan(uow: UnitOfWork, *, data: PlanIn) -> PlanOut:
    exists = await uow.session.scalar(
        sa.select(MembershipPlan.id).where(MembershipPlan.code == data.code)
    )
    if exists is not None:
        raise AlreadyExists(f"membership plan {data.code!r} already exists", field="code")
    row = MembershipPlan(**data.model_dump(), active=True)
    uow.session.add(row)
    await uow.flush()
    return plan_out(row)


async def list_plans(uow: UnitOfWork) -> list[PlanOut]:
    rows = await uow.session.scalars(sa.select(MembershipPlan).order_by(MembershipPlan.code))
    return [plan_out(row) for row in rows]


async def do_start_membership(
    uow: UnitOfWork,
    *,
    customer_id: str,
    plan: str,
    starts_at: dt.datetime | None = None,
    payment_ref: str | None = None,
) -> MembershipOut:
    """Start (or renew) a paid membership. A renewal starts when the current term ends, so no
    paid day is lost. Raises ``membership.started`` with the fee for payments to collect."""
    customer = await customers.access_customer(uow, customer_id)
    row = await uow.session.scalar(
        sa.select(MembershipPlan).where(MembershipPlan.code == plan, MembershipPlan.active)
    )
    if row is None:
        raise NotFound("membership plan", plan)
    start = starts_at or utcnow()
    current_end = await uow.session.scalar(
        sa.select(sa.func.max(Membership.ends_at)).where(
            Membership.customer_id == customer.id,
            Membership.plan_id == row.id,
            Membership.ends_at > start,
        )
    )
    if current_end is not None and current_end > start:
        start = current_end
    membership = Membership(
        customer_id=customer.id,
        plan_id=row.id,
        starts_at=start,
        ends_at=start + dt.timedelta(days=row.term_days),
        fee_paid=row.fee,
        payment_ref=payment_ref,
    )
    uow.session.add(membership)
    await uow.flush()
    out = MembershipOut(
        customer_id=customer.public_id,
        plan=row.code,
        starts_at=membership.starts_at,
        ends_at=membership.ends_at,
        fee_paid=membership.fee_paid,
        payment_ref=payment_ref,
    )
    record_event(
        uow,
        "membership.started",
        aggregate_type="customer",
        aggregate_id=customer.public_id,
        payload=out.model_dump(mode="json"),
    )
    return out


async def list_memberships(uow: UnitOfWork, customer_id: str) -> list[MembershipOut]:
    customer = await customers.access_customer(uow, customer_id)
    rows = await uow.session.execute(
        sa.select(Membership, MembershipPlan.code)
        .join(MembershipPlan, MembershipPlan.id == Membership.plan_id)
        .where(Membership.customer_id == customer.id)
        .order_by(Membership.starts_at)
    )
    return [
        MembershipOut(
            customer_id=customer.public_id,
            plan=code,
            starts_at=m.starts_at,
            ends_at=m.ends_at,
            fee_paid=m.fee_paid,
            payment_ref=m.payment_ref,
        )
        for m, code in rows
    ]
