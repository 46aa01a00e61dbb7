"""Tables of pricing: promotions and their audit log, coupons and their redemptions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import Base, BigId, JsonType, TenantScoped, UTCDateTime, utcnow


class Promotion(TenantScoped, Base):
    __tablename__ = "promotions"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "code"),
        sa.Index("ix_promotions_window", "tenant_id", "active", "ends_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(200))
    scope: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    kind: Mapped[str] = mapped_column(sa.String(16))
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    buy: Mapped[int] = mapped_column(sa.Integer, default=0)
    get: Mapped[int] = mapped_column(sa.Integer, default=0)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    stacking: Mapped[str] = mapped_column(sa.String(16))
    priority: Mapped[int] = mapped_column(sa.Integer, default=100)
    requires_coupon: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PromotionChange(TenantScoped, Base):
    """Audit log: who created or changed which promotion, when, from what to what."""

    __tablename__ = "promotion_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    promotion_code: Mapped[str] = mapped_column(sa.String(64), index=True)
    actor: Mapped[str] = mapped_column(sa.String(100))
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    after: Mapped[dict[str, Any]] = mapped_column(JsonType)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Coupon(TenantScoped, Base):
    __tablename__ = "coupons"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "code"),
        # The last guard against a double spend: the count can never pass the limit.
        sa.CheckConstraint(
            "redeemed_count >= 0 AND redeemed_count <= max_redemptions",
            name="redemptions_within_limit",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    promotion_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("promotions.id"), index=True)
    promotion_code: Mapped[str] = mapped_column(sa.String(64))
    max_redemptions: Mapped[int] = mapped_column(sa.Integer)
    per_customer_limit: Mapped[int | None] = mapped_column(sa.Integer)
    redeemed_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    channels: Mapped[list[str] | None] = mapped_column(JsonType)
    locations: Mapped[list[str] | None] = mapped_column(JsonType)
    starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CouponRedemption(TenantScoped, Base):
    __tablename__ = "coupon_redemptions"
    __table_args__ = (sa.UniqueConstraint("coupon_id", "order_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    coupon_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("coupons.id", ondelete="CASCADE"), index=True
    )
    order_ref: Mapped[str] = mapped_column(sa.String(64), index=True)
    customer_id: Mapped[str | None] = mapped_column(sa.String(40))
    channel: Mapped[str] = mapped_column(sa.String(64))
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CouponCustomerUse(TenantScoped, Base):
    """Uses per customer: one conditional update on this row guards the per-customer limit."""

    __tablename__ = "coupon_customer_uses"
    __table_args__ = (
        sa.UniqueConstraint("coupon_id", "customer_id"),
        sa.CheckConstraint("uses >= 0", name="uses_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    coupon_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("coupons.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(sa.String(40))
    uses: Mapped[int] = mapped_column(sa.Integer, default=0)
