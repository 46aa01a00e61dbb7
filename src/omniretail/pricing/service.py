"""Promotions (explicit, visible, audited) and price quotes.

A quote costs a fixed number of queries whatever the cart: the channel and location, the
variants, the active promotions and the presented coupons, one query each (and the tenant's
currency, unless the caller passes it: the API takes it from the principal).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.catalog import service as catalog
from omniretail.channels import service as channels
from omniretail.db import UnitOfWork, UTCDateTime, utcnow
from omniretail.errors import AlreadyExists, NotFound, ValidationFailed
from omniretail.events import record_event
from omniretail.network import service as network
from omniretail.pricing import coupons as coupon_rules
from omniretail.pricing.domain import (
    CartLine,
    Context,
    DiscountKind,
    Priced,
    Rule,
    Scope,
    Stacking,
    price_cart,
)
from omniretail.pricing.models import Coupon, Promotion, PromotionChange
from omniretail.pricing.schemas import (
    Applied,
    DiscountApplied,
    DiscountOut,
    NotApplied,
    PromotionIn,
    PromotionOut,
    PromotionPatch,
    QuoteLineOut,
    QuoteOut,
    ScopeOut,
)
from omniretail.scoped import TENANT, read_in, tenant_statement


def promotion_out(p: Promotion) -> PromotionOut:
    bxgy = p.kind == DiscountKind.BUY_X_GET_Y.value
    return PromotionOut(
        code=p.code,
        title=p.title,
        scope=ScopeOut.model_validate(p.scope or {}),
        discount=DiscountOut(
            kind=DiscountKind(p.kind),
            value=p.value,
            buy=p.buy if bxgy else None,
            get=p.get if bxgy else None,
        ),
        starts_at=p.starts_at,
        ends_at=p.ends_at,
        stacking=Stacking(p.stacking),
        priority=p.priority,
        requires_coupon=p.requires_coupon,
        active=p.active,
    )


def to_rule(p: Promotion | sa.Row[Any] | PromotionRow) -> Rule:
    scope = p.scope or {}

    def part(name: str) -> frozenset[str] | None:
        values = scope.get(name)
        return frozenset(values) if values is not None else None

    return Rule(
        code=p.code,
        title=p.title,
        scope=Scope(
            channels=part("channels"),
            locations=part("locations"),
            skus=part("skus"),
            categories=part("categories"),
            tiers=part("tiers"),
        ),
        kind=DiscountKind(p.kind),
        value=p.value,
        buy=p.buy,
        get=p.get,
        starts_at=p.starts_at,
        ends_at=p.ends_at,
        stacking=Stacking(p.stacking),
        priority=p.priority,
        requires_coupon=p.requires_coupon,
        active=p.active,
    )


async def _check_scope(uow: UnitOfWork, data: PromotionIn) -> None:
    errors: list[dict[str, Any]] = []
    for code in data.scope.channels or []:
        try:
            await channels.channel_ref(uow, code)
        except NotFound:
            errors.append({"field": "scope.channels", "message": f"no channel {code!r}"})
    for code in data.scope.locations or []:
        try:
            await network.location_ref(uow, code)
        except NotFound:
            errors.append({"field": "scope.locations", "message": f"no location {code!r}"})
    if errors:
        raise ValidationFailed("the promotion's scope names what does not exist", errors)


def _audit(
    uow: UnitOfWork, code: str, actor: str, before: dict[str, Any] | None, after: PromotionOut
) -> None:
    snapshot = after.model_dump(mode="json")
    uow.session.add(
        PromotionChange(promotion_code=code, actor=actor, before=before, after=snapshot)
    )
    record_event(
        uow,
        "promotion.updated" if before else "promotion.created",
        aggregate_type="promotion",
        aggregate_id=code,
        payload={"code": code, "actor": actor, "before": before, "after": snapshot},
    )


async def do_create_promotion(uow: UnitOfWork, *, data: PromotionIn, actor: str) -> PromotionOut:
    if await uow.session.scalar(sa.select(Promotion.id).where(Promotion.code == data.code)):
        raise AlreadyExists(f"promotion {data.code!r} already exists", field="code")
    await _check_scope(uow, data)
    promotion = Promotion(
        code=data.code,
        title=data.title,
        scope=data.scope.model_dump(exclude_none=True),
        kind=data.discount.kind.value,
        value=data.discount.value,
        buy=data.discount.buy or 0,
        get=data.discount.get or 0,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        stacking=data.stacking.value,
        priority=data.priority,
        requires_coupon=data.requires_coupon,
        active=True,
    )
    uow.session.add(promotion)
    await uow.flush()
    out = promotion_out(promotion)
    _audit(uow, promotion.code, actor, None, out)
    return out


async def access_promotion(uow: UnitOfWork, code: str) -> Promotion:
    promotion = await uow.session.scalar(sa.select(Promotion).where(Promotion.code == code))
    if promotion is None:
        raise NotFound("promotion", code)
    return promotion


async def do_update_promotion(
    uow: UnitOfWork, *, code: str, patch: PromotionPatch, actor: str
) -> PromotionOut:
    promotion = await access_promotion(uow, code)
    before = promotion_out(promotion).model_dump(mode="json")
    for field, value in patch.model_dump(exclude_unset=True).items():
        if value is None:
            raise ValidationFailed(
                f"{field} cannot be cleared", [{"field": field, "message": "required"}]
            )
        setattr(promotion, field, value)
    if promotion.ends_at <= promotion.starts_at:
        raise ValidationFailed(
            "ends_at must be after starts_at", [{"field": "ends_at", "message": "after starts_at"}]
        )
    await uow.flush()
    out = promotion_out(promotion)
    _audit(uow, code, actor, before, out)
    return out


async def list_promotions(
    uow: UnitOfWork, *, limit: int, after: Any = None, active_at: dt.datetime | None = None
) -> list[PromotionOut]:
    query = sa.select(Promotion).order_by(Promotion.code).limit(limit + 1)
    if after is not None:
        query = query.where(Promotion.code > str(after))
    if active_at is not None:
        query = query.where(
            Promotion.active.is_(True),
            Promotion.starts_at <= active_at,
            Promotion.ends_at > active_at,
        )
    return [promotion_out(p) for p in await uow.session.scalars(query)]


async def promotion_history(uow: UnitOfWork, code: str) -> list[dict[str, Any]]:
    rows = await uow.session.scalars(
        sa.select(PromotionChange)
        .where(PromotionChange.promotion_code == code)
        .order_by(PromotionChange.id)
    )
    return [
        {
            "actor": r.actor,
            "changed_at": r.changed_at.isoformat(),
            "before": r.before,
            "after": r.after,
        }
        for r in rows
    ]


PROMOTIONS = cast(sa.Table, Promotion.__table__)
_ACTIVE_PROMOTIONS = tenant_statement(
    sa.select(PROMOTIONS).where(
        PROMOTIONS.c.tenant_id == sa.bindparam(TENANT),
        PROMOTIONS.c.active.is_(True),
        PROMOTIONS.c.starts_at <= sa.bindparam("at"),
        PROMOTIONS.c.ends_at > sa.bindparam("at"),
    )
)


# What the engine reads of a promotion (:func:`to_rule`), in this order.
_RULE_COLUMNS = (
    "code",
    "title",
    "scope",
    "kind",
    "value",
    "buy",
    "get",
    "starts_at",
    "ends_at",
    "stacking",
    "priority",
    "requires_coupon",
    "active",
)


class PromotionRow(NamedTuple):
    """One promotion as :data:`PROMOTIONS_ACTIVE_AT` carries it (the columns of a rule)."""

    code: str
    title: str
    scope: dict[str, Any] | None
    kind: str
    value: int
    buy: int
    get: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    stacking: str
    priority: int
    requires_coupon: bool
    active: bool


PROMOTIONS_AT = "promotions_at"
PROMOTIONS_ACTIVE_AT: sa.ScalarSelect[Any] = (
    sa.select(
        sa.func.array_agg(
            sa.tuple_(*(PROMOTIONS.c[name] for name in _RULE_COLUMNS)), type_=sa.types.NullType()
        )
    )
    .where(
        PROMOTIONS.c.tenant_id == sa.bindparam(TENANT),
        PROMOTIONS.c.active.is_(True),
        PROMOTIONS.c.starts_at <= sa.bindparam(PROMOTIONS_AT, type_=UTCDateTime),
        PROMOTIONS.c.ends_at > sa.bindparam(PROMOTIONS_AT, type_=UTCDateTime),
    )
    .scalar_subquery()
)
"""PostgreSQL: the promotions active at ``PROMOTIONS_AT`` (as :func:`price` reads them) as one
value, a column another context's statement may carry (``orders.pricing_port``), so a
checkout reads them in a round trip it makes anyway (:class:`CartInputs`)."""


@dataclass(frozen=True, slots=True)
class CartInputs:
    """What :func:`price` reads, read already by the caller in its own unit of work (in a
    statement it makes anyway): the variants of the cart's SKUs, as
    ``catalog.variants_by_sku`` gives them, and the promotions active ``at``
    (:data:`PROMOTIONS_ACTIVE_AT`'s value)."""

    variants: dict[str, catalog.VariantInfo]
    promotions: Sequence[Sequence[Any]] | None
    at: dt.datetime


async def quote(
    uow: UnitOfWork,
    *,
    channel: str,
    lines: Sequence[tuple[str, int]],
    customer_tier: str | None = None,
    customer_id: str | None = None,
    location: str | None = None,
    coupon_codes: Sequence[str] = (),
    at: dt.datetime | None = None,
    currency: str | None = None,
) -> QuoteOut:
    """Price a cart on a channel (read only: coupons are checked, not consumed). The same cart
    costs the same on every channel unless a promotion scoped to one applies; the quote names
    every promotion applied and why the others were not. ``currency``: the tenant's, when the
    caller knows it (a principal carries it; it never changes), else it is read."""
    if currency is None:
        currency = (await auth.tenant_terms(uow)).currency
    priced, presented = await price(
        uow,
        channel=channel,
        lines=lines,
        customer_tier=customer_tier,
        location=location,
        coupon_codes=coupon_codes,
        at=at,
    )
    applied: dict[str, Applied] = {}
    for line in priced.lines:
        for d in line.discounts:
            seen = applied.get(d.promotion)
            applied[d.promotion] = Applied(
                promotion=d.promotion, title=d.title, amount=d.amount + (seen.amount if seen else 0)
            )
    return QuoteOut(
        currency=currency,
        channel=channel,
        location=location,
        customer_tier=customer_tier,
        lines=[
            QuoteLineOut(
                sku=line.sku,
                title=line.title,
                qty=line.qty,
                unit_price=line.unit_price,
                discounts=[
                    DiscountApplied(promotion=d.promotion, title=d.title, amount=d.amount)
                    for d in line.discounts
                ],
                discount=line.discount,
                line_total=line.line_total,
            )
            for line in priced.lines
        ],
        subtotal=priced.subtotal,
        discount_total=priced.discount_total,
        total=priced.total,
        applied=list(applied.values()),
        not_applied=[NotApplied(promotion=c, why=w) for c, w in priced.not_applied],
        coupons=[c.code for c in presented],
    )


async def price(
    uow: UnitOfWork,
    *,
    channel: str,
    lines: Sequence[tuple[str, int]],
    customer_tier: str | None = None,
    location: str | None = None,
    coupon_codes: Sequence[str] = (),
    at: dt.datetime | None = None,
    inputs: CartInputs | None = None,
) -> tuple[Priced, list[Coupon]]:
    """The engine's pricing of the cart and the coupons presented, as :func:`quote` gives
    them (the same checks and refusals), without shaping a response: what checkout needs.
    ``inputs``: the variants and promotions read already by the caller (then ``at`` is
    theirs), instead of reading them here."""
    at = inputs.at if inputs is not None else at or utcnow()
    await _check_place(uow, channel, location)
    variants = (
        inputs.variants
        if inputs is not None
        else await catalog.variants_by_sku(uow, [sku for sku, _ in lines])
    )
    errors = [
        {
            "field": f"lines.{i}.sku",
            "message": f"no sku {sku!r}" if sku not in variants else f"{sku!r} is archived",
        }
        for i, (sku, _) in enumerate(lines)
        if sku not in variants or not variants[sku].active
    ]
    if errors:
        raise ValidationFailed("the cart names SKUs that cannot be sold", errors)
    presented = await coupon_rules.check_coupons(
        uow, codes=coupon_codes, channel=channel, location=location, at=at
    )
    rules = (
        [to_rule(PromotionRow(*p)) for p in inputs.promotions or ()]
        if inputs is not None
        else [to_rule(p) for p in await read_in(uow, _ACTIVE_PROMOTIONS, at=at)]
    )
    ctx = Context(
        channel=channel,
        at=at,
        location=location,
        tier=customer_tier,
        unlocked=frozenset(c.promotion_code for c in presented),
    )
    cart = [
        CartLine(
            sku=sku,
            qty=qty,
            unit_price=variants[sku].price,
            category=variants[sku].category,
            title=variants[sku].title,
        )
        for sku, qty in lines
    ]
    return price_cart(cart, rules, ctx), presented


async def active_promotions(uow: UnitOfWork, *, at: dt.datetime | None = None) -> list[Promotion]:
    at = at or utcnow()
    return list(
        (
            await uow.session.scalars(
                sa.select(Promotion).where(
                    Promotion.active.is_(True), Promotion.starts_at <= at, Promotion.ends_at > at
                )
            )
        ).all()
    )


async def _check_place(uow: UnitOfWork, channel: str, location: str | None) -> None:
    errors = []
    try:
        await channels.channel_ref(uow, channel)
    except NotFound:
        errors.append({"field": "channel", "message": f"no channel {channel!r}"})
    if location is not None:
        try:
            await network.location_ref(uow, location)
        except NotFound:
            errors.append({"field": "location", "message": f"no location {location!r}"})
    if errors:
        raise ValidationFailed("unknown channel or location", errors)


do_redeem_coupons = coupon_rules.do_redeem_coupons
do_release_coupon_redemptions = coupon_rules.do_release_coupon_redemptions


# The newest audited promotion change, as a column another statement can carry: it moves
# whenever any promotion is created or changed, so an earlier quote's promotions still stand
# while it does not move.
PROMOTIONS_VERSION = (
    sa.select(sa.func.max(PromotionChange.id))
    .where(PromotionChange.tenant_id == sa.bindparam(TENANT))
    .scalar_subquery()
)
