"""Coupons: checked for a quote, redeemed inside the checkout's transaction so that two
racing checkouts can never both take the last use, released when an order is cancelled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from omniretail.db import UnitOfWork, dialect_insert, utcnow
from omniretail.errors import AlreadyExists, Conflict, NotFound, ValidationFailed
from omniretail.events import record_event
from omniretail.pricing.models import Coupon, CouponCustomerUse, CouponRedemption, Promotion
from omniretail.pricing.schemas import CouponIn, CouponOut


class CouponNotFound(ValidationFailed):
    code = "coupon_not_found"
    title = "No such coupon"


class CouponExpired(ValidationFailed):
    code = "coupon_expired"
    title = "The coupon has expired"


class CouponNotApplicable(ValidationFailed):
    code = "coupon_not_applicable"
    title = "The coupon does not apply here"


class CouponUsedUp(Conflict):
    code = "coupon_used_up"
    title = "The coupon has been used up"


class CouponLimitReached(Conflict):
    code = "coupon_limit_reached"
    title = "This customer has used the coupon as often as allowed"


def coupon_out(coupon: Coupon) -> CouponOut:
    return CouponOut(
        code=coupon.code,
        promotion=coupon.promotion_code,
        max_redemptions=coupon.max_redemptions,
        per_customer_limit=coupon.per_customer_limit,
        redeemed_count=coupon.redeemed_count,
        channels=coupon.channels,
        locations=coupon.locations,
        starts_at=coupon.starts_at,
        ends_at=coupon.ends_at,
    )


async def do_create_coupon(uow: UnitOfWork, *, data: CouponIn) -> CouponOut:
    promotion = await uow.session.scalar(
        sa.select(Promotion).where(Promotion.code == data.promotion)
    )
    if promotion is None:
        raise ValidationFailed(
            "unknown promotion", [{"field": "promotion", "message": "no such promotion"}]
        )
    if await uow.session.scalar(sa.select(Coupon.id).where(Coupon.code == data.code)):
        raise AlreadyExists(f"coupon {data.code!r} already exists", field="code")
    coupon = Coupon(
        code=data.code,
        promotion_id=promotion.id,
        promotion_code=promotion.code,
        max_redemptions=data.max_redemptions,
        per_customer_limit=data.per_customer_limit,
        redeemed_count=0,
        channels=data.channels,
        locations=data.locations,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
    )
    uow.session.add(coupon)
    await uow.flush()
    record_event(
        uow,
        "coupon.created",
        aggregate_type="coupon",
        aggregate_id=coupon.code,
        payload={
            "code": coupon.code,
            "promotion": promotion.code,
            "max_redemptions": coupon.max_redemptions,
        },
    )
    return coupon_out(coupon)


async def list_coupons(
    uow: UnitOfWork, *, promotion: str, limit: int, after: str | None = None
) -> list[CouponOut]:
    """One promotion's coupons by code, ``limit + 1`` of them (the extra says more follow)."""
    query = (
        sa.select(Coupon)
        .where(Coupon.promotion_code == promotion)
        .order_by(Coupon.code)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(Coupon.code > after)
    return [coupon_out(c) for c in await uow.session.scalars(query)]


async def get_coupon(uow: UnitOfWork, code: str) -> CouponOut:
    coupon = await uow.session.scalar(sa.select(Coupon).where(Coupon.code == code))
    if coupon is None:
        raise NotFound("coupon", code)
    return coupon_out(coupon)


async def check_coupons(
    uow: UnitOfWork,
    *,
    codes: Sequence[str],
    channel: str,
    location: str | None,
    at: dt.datetime,
) -> list[Coupon]:
    """The coupons presented, each valid here and now (one query); refuses the first bad one.
    Another tenant's coupon is simply not found."""
    if not codes:
        return []
    found = {
        c.code: c
        for c in await uow.session.scalars(sa.select(Coupon).where(Coupon.code.in_(list(codes))))
    }
    out = []
    for code in dict.fromkeys(codes):
        coupon = found.get(code)
        if coupon is None:
            raise CouponNotFound(f"no coupon {code!r}", coupon=code)
        if (coupon.ends_at is not None and at >= coupon.ends_at) or (
            coupon.starts_at is not None and at < coupon.starts_at
        ):
            raise CouponExpired(f"coupon {code!r} is not valid now", coupon=code)
        if coupon.channels is not None and channel not in coupon.channels:
            raise CouponNotApplicable(f"coupon {code!r} is not for channel {channel}", coupon=code)
        if coupon.locations is not None and location not in coupon.locations:
            raise CouponNotApplicable(f"coupon {code!r} is for other stores", coupon=code)
        if coupon.redeemed_count >= coupon.max_redemptions:
            raise CouponUsedUp(f"coupon {code!r} has been used up", coupon=code)
        out.append(coupon)
    return out


async def do_redeem_coupons(
    uow: UnitOfWork,
    *,
    codes: Sequence[str],
    customer_id: str | None,
    order_ref: str,
    channel: str,
    location: str | None,
    at: dt.datetime | None = None,
) -> list[str]:
    """Take one use of each coupon for ``order_ref``, in the caller's transaction. Each use is
    one conditional UPDATE (``redeemed_count < max_redemptions``): of two racing checkouts for
    the last use, exactly one's update matches a row. The same order redeeming again is a
    no-op."""
    at = at or utcnow()
    coupons = await check_coupons(uow, codes=codes, channel=channel, location=location, at=at)
    tenant_id = uow.require_tenant()
    taken = []
    for coupon in coupons:
        fresh = await uow.session.execute(
            dialect_insert(uow, CouponRedemption.__table__)
            .values(
                tenant_id=tenant_id,
                coupon_id=coupon.id,
                order_ref=order_ref,
                customer_id=customer_id,
                channel=channel,
                at=at,
            )
            .on_conflict_do_nothing(index_elements=["coupon_id", "order_ref"])
        )
        if fresh.rowcount == 0:  # type: ignore[attr-defined]
            taken.append(coupon.code)
            continue
        won = await uow.session.execute(
            sa.update(Coupon)
            .where(Coupon.id == coupon.id, Coupon.redeemed_count < Coupon.max_redemptions)
            .values(redeemed_count=Coupon.redeemed_count + 1)
            .execution_options(synchronize_session=False)
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            raise CouponUsedUp(f"coupon {coupon.code!r} has been used up", coupon=coupon.code)
        if coupon.per_customer_limit is not None:
            if customer_id is None:
                raise CouponNotApplicable(
                    f"coupon {coupon.code!r} is for known customers", coupon=coupon.code
                )
            await _take_customer_use(uow, coupon, customer_id)
        record_event(
            uow,
            "coupon.redeemed",
            aggregate_type="coupon",
            aggregate_id=coupon.code,
            payload={
                "code": coupon.code,
                "order_ref": order_ref,
                "customer_id": customer_id,
                "channel": channel,
            },
        )
        taken.append(coupon.code)
    return taken


async def _take_customer_use(uow: UnitOfWork, coupon: Coupon, customer_id: str) -> None:
    assert coupon.per_customer_limit is not None
    await uow.session.execute(
        dialect_insert(uow, CouponCustomerUse.__table__)
        .values(
            tenant_id=uow.require_tenant(), coupon_id=coupon.id, customer_id=customer_id, uses=0
        )
        .on_conflict_do_nothing(index_elements=["coupon_id", "customer_id"])
    )
    won = await uow.session.execute(
        sa.update(CouponCustomerUse)
        .where(
            CouponCustomerUse.coupon_id == coupon.id,
            CouponCustomerUse.customer_id == customer_id,
            CouponCustomerUse.uses < coupon.per_customer_limit,
        )
        .values(uses=CouponCustomerUse.uses + 1)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        raise CouponLimitReached(
            f"coupon {coupon.code!r} allows {coupon.per_customer_limit} use(s) per customer",
            coupon=coupon.code,
        )


async def do_release_coupon_redemptions(
    uow: UnitOfWork, *, order_ref: str, at: dt.datetime | None = None
) -> int:
    """A cancelled order gives its coupon uses back; releasing twice gives back nothing more."""
    at = at or utcnow()
    rows = (
        await uow.session.scalars(
            sa.select(CouponRedemption)
            .where(CouponRedemption.order_ref == order_ref, CouponRedemption.released_at.is_(None))
            .with_for_update()
        )
    ).all()
    for row in rows:
        row.released_at = at
        await uow.session.execute(
            sa.update(Coupon)
            .where(Coupon.id == row.coupon_id, Coupon.redeemed_count > 0)
            .values(redeemed_count=Coupon.redeemed_count - 1)
            .execution_options(synchronize_session=False)
        )
        if row.customer_id is not None:
            await uow.session.execute(
                sa.update(CouponCustomerUse)
                .where(
                    CouponCustomerUse.coupon_id == row.coupon_id,
                    CouponCustomerUse.customer_id == row.customer_id,
                    CouponCustomerUse.uses > 0,
                )
                .values(uses=CouponCustomerUse.uses - 1)
                .execution_options(synchronize_session=False)
            )
    return len(rows)
