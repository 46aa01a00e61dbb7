"""Tables of the orders context: orders, lines, payments, fulfilments, pickup attempts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, orm_insert_sentinel, relationship

from omniretail.db import Base, BigId, JsonType, TenantScoped, UTCDateTime, utcnow


class Order(TenantScoped, Base):
    __tablename__ = "orders"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "number"),
        sa.Index("ix_orders_tenant_created", "tenant_id", "id"),
        sa.CheckConstraint("total >= 0 AND paid_amount >= 0", name="money_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    number: Mapped[str] = mapped_column(sa.String(32))
    channel: Mapped[str] = mapped_column(sa.String(64))
    customer_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    status: Mapped[str] = mapped_column(sa.String(24))
    mode: Mapped[str] = mapped_column(sa.String(16))
    placed_at_location: Mapped[str | None] = mapped_column(sa.String(64))
    attributed_location: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    attributed_staff: Mapped[str | None] = mapped_column(sa.String(64))
    # Why the order is credited to that store and staff when a rule did it (an experience
    # store's scan); None when they were named at checkout, or nobody is credited.
    attribution: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    currency: Mapped[str] = mapped_column(sa.String(3))
    subtotal: Mapped[int] = mapped_column(sa.BigInteger)
    discount_total: Mapped[int] = mapped_column(sa.BigInteger)
    delivery_fee: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    total: Mapped[int] = mapped_column(sa.BigInteger)
    points_redeemed: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    paid_amount: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    coupon_codes: Mapped[list[str]] = mapped_column(JsonType, default=list)
    address: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    sourcing: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    lines: Mapped[list[OrderLine]] = relationship(order_by="OrderLine.id", lazy="selectin")
    payments: Mapped[list[Payment]] = relationship(order_by="Payment.id", lazy="selectin")
    fulfilments: Mapped[list[Fulfilment]] = relationship(order_by="Fulfilment.id", lazy="selectin")


class OrderLine(TenantScoped, Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        sa.CheckConstraint("qty > 0", name="qty_positive"),
        sa.CheckConstraint("returned_qty >= 0 AND returned_qty <= qty", name="returned_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(300))
    qty: Mapped[int] = mapped_column(sa.Integer)
    unit_price: Mapped[int] = mapped_column(sa.BigInteger)
    discount: Mapped[int] = mapped_column(sa.BigInteger)
    line_total: Mapped[int] = mapped_column(sa.BigInteger)
    discounts: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    returned_qty: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Lets SQLite take an order's lines in one INSERT ... RETURNING (migration 0030).
    _sentinel: Mapped[int | None] = orm_insert_sentinel()


class Payment(TenantScoped, Base):
    __tablename__ = "order_payments"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name="refund_range"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    method: Mapped[str] = mapped_column(sa.String(32))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(16))
    provider_ref: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    refunded_amount: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Fulfilment(TenantScoped, Base):
    __tablename__ = "fulfilments"
    __table_args__ = (
        sa.Index("ix_fulfilments_location_status", "tenant_id", "location_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    order_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    location_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("locations.id"))
    location_code: Mapped[str] = mapped_column(sa.String(64))
    mode: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    distance_km: Mapped[float | None] = mapped_column(sa.Float)
    promised_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reservation_id: Mapped[str | None] = mapped_column(sa.String(64))
    pickup_code_digest: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # Ship to store: the pickup waits for transfers from these locations.
    transfer_from: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    lines: Mapped[list[FulfilmentLine]] = relationship(
        order_by="FulfilmentLine.id", lazy="selectin"
    )


class FulfilmentLine(TenantScoped, Base):
    __tablename__ = "fulfilment_lines"
    __table_args__ = (sa.CheckConstraint("qty > 0", name="qty_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    fulfilment_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("fulfilments.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(sa.String(64))
    qty: Mapped[int] = mapped_column(sa.Integer)
    # Lets SQLite take a fulfilment's lines in one INSERT ... RETURNING (migration 0030).
    _sentinel: Mapped[int | None] = orm_insert_sentinel()


class PickupAttempt(TenantScoped, Base):
    """Every pickup code tried at a store: the rate limit counts failures, staff can audit."""

    __tablename__ = "pickup_attempts"
    __table_args__ = (sa.Index("ix_pickup_attempts_location_at", "tenant_id", "location_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    location_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("locations.id"))
    key_id: Mapped[int | None] = mapped_column(BigId)
    succeeded: Mapped[bool] = mapped_column(sa.Boolean)
    fulfilment_id: Mapped[int | None] = mapped_column(BigId)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
