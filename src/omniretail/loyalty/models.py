"""Tables of the loyalty context."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import Base, BigId, JsonType, TenantScoped, UTCDateTime, utcnow


class LoyaltyProgram(TenantScoped, Base):
    """The tenant's earning, redemption, expiry and tier rules (absent: the defaults)."""

    __tablename__ = "loyalty_programs"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JsonType)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsAccount(TenantScoped, Base):
    """The balance is derived from the ledger and kept here, in the same transaction as each
    entry, so that a redemption is one conditional UPDATE and can never overdraw."""

    __tablename__ = "points_accounts"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "customer_id"),
        sa.CheckConstraint("balance >= 0", name="balance_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("customers.id", ondelete="CASCADE")
    )
    balance: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsEntry(TenantScoped, Base):
    """Append-only ledger. A credit (earn, positive adjust, give-back) is also a lot: its
    ``remaining`` points are consumed oldest-expiry first and expire at ``expires_at``."""

    __tablename__ = "points_entries"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "idempotency_key"),
        sa.CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        sa.CheckConstraint("kind IN ('earn','redeem','reverse','expire','adjust')", name="kind"),
        sa.Index("ix_points_entries_account_id_id", "account_id", "id"),
        sa.Index("ix_points_entries_lots", "account_id", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("points_accounts.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(sa.String(8))
    points: Mapped[int] = mapped_column(sa.BigInteger)  # signed: credits > 0, debits < 0
    idempotency_key: Mapped[str] = mapped_column(sa.String(255))
    order_ref: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    reason: Mapped[str] = mapped_column(sa.String(500))
    channel: Mapped[str | None] = mapped_column(sa.String(64))
    actor: Mapped[str] = mapped_column(sa.String(100))
    remaining: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderPoints(TenantScoped, Base):
    """Points per order: what was earned and redeemed, and what returns have reversed so far,
    so partial returns never reverse more than the order moved. Also the spend behind tiers."""

    __tablename__ = "order_points"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "order_ref"),
        sa.Index("ix_order_points_account_completed", "account_id", "completed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("points_accounts.id", ondelete="CASCADE")
    )
    order_ref: Mapped[str] = mapped_column(sa.String(64))
    channel: Mapped[str | None] = mapped_column(sa.String(64))
    paid_amount: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    returned_paid: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    earned: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    redeemed: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    earned_reversed: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    redeemed_given_back: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    order_value: Mapped[int | None] = mapped_column(sa.BigInteger)
    returned_value: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    return_refs: Mapped[list[str]] = mapped_column(JsonType, default=list)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Earned points wait out the after-sales window (rules.pending_days) before they are
    # posted and spendable; a return inside the window only shrinks what will be posted.
    earn_release_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    earn_posted: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class MembershipPlan(TenantScoped, Base):
    __tablename__ = "membership_plans"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    fee: Mapped[int] = mapped_column(sa.BigInteger)
    term_days: Mapped[int] = mapped_column(sa.Integer)
    points_multiplier_pct: Mapped[int] = mapped_column(sa.Integer, default=100)
    free_delivery: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    free_pickup: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    priority_pickup: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Membership(TenantScoped, Base):
    __tablename__ = "memberships"
    __table_args__ = (sa.Index("ix_memberships_customer_ends", "customer_id", "ends_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("customers.id", ondelete="CASCADE")
    )
    plan_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("membership_plans.id", ondelete="CASCADE")
    )
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    fee_paid: Mapped[int] = mapped_column(sa.BigInteger)
    payment_ref: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
