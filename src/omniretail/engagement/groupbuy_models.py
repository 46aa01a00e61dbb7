"""Tables of group buying (拼团): campaigns, their groups, the members, and each customer's
seats per campaign (the per-customer limit)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import Base, BigId, JsonType, TenantScoped, UTCDateTime, utcnow


class GroupBuy(TenantScoped, Base):
    """A group-buy campaign: ``sku`` at ``group_price`` (fen) for groups of ``group_size``,
    opened between ``starts_at`` and ``ends_at``, picked up at one of ``pickup_locations``."""

    __tablename__ = "group_buys"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(200))
    sku: Mapped[str] = mapped_column(sa.String(64))
    group_size: Mapped[int] = mapped_column(sa.Integer)
    group_price: Mapped[int] = mapped_column(sa.BigInteger)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    group_window_minutes: Mapped[int] = mapped_column(sa.Integer)
    pickup_locations: Mapped[list[str]] = mapped_column(JsonType)
    per_customer_limit: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupBuyGroup(TenantScoped, Base):
    """One group. ``seats_taken`` only grows by a conditional update that also requires a seat
    left and the group open: two callers racing for the last seat cannot both win."""

    __tablename__ = "group_buy_groups"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "public_id"),
        sa.CheckConstraint("seats_taken <= size", name="no_overfill"),
        sa.Index("ix_group_buy_groups_due", "status", "closes_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32))
    campaign_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("group_buys.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    size: Mapped[int] = mapped_column(sa.Integer)
    seats_taken: Mapped[int] = mapped_column(sa.Integer, default=0)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class GroupBuyMember(TenantScoped, Base):
    """One seat: who, through which channel, picked up where, what was paid and how, the stock
    held for it, and, once the group filled, the order. The pickup code is kept as the same
    digest a fulfilment keeps, bound to the pickup store."""

    __tablename__ = "group_buy_members"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "public_id"),
        sa.UniqueConstraint("tenant_id", "group_id", "customer_id"),
        sa.Index("ix_group_buy_members_code", "tenant_id", "location_id", "pickup_code_digest"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32))
    group_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("group_buy_groups.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[str] = mapped_column(sa.String(32))
    channel: Mapped[str] = mapped_column(sa.String(64))
    location: Mapped[str] = mapped_column(sa.String(64))
    location_id: Mapped[int] = mapped_column(BigId)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    payment_method: Mapped[str] = mapped_column(sa.String(32))
    payment_ref: Mapped[str] = mapped_column(sa.String(128))
    reservation_id: Mapped[int] = mapped_column(BigId)
    pickup_code_digest: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default="held")
    order_id: Mapped[str | None] = mapped_column(sa.String(32))
    refunded_amount: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    refund_ref: Mapped[str | None] = mapped_column(sa.String(128))
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class GroupBuySeats(TenantScoped, Base):
    """How many seats a customer holds in a campaign (open or filled groups): raised by a
    conditional update below the campaign's per-customer limit, lowered when a group fails."""

    __tablename__ = "group_buy_seats"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "campaign_id", "customer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("group_buys.id", ondelete="CASCADE")
    )
    customer_id: Mapped[str] = mapped_column(sa.String(32))
    seats: Mapped[int] = mapped_column(sa.Integer, default=0)
