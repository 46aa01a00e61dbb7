"""Tables of the engagement context."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import Base, BigId, JsonType, TenantScoped, UTCDateTime, utcnow


class OutboundMessage(TenantScoped, Base):
    """One message to one customer on one medium: the outbox of the messaging senders.

    The recipient's address is not stored: the sender looks it up in the customer's
    identities when it sends, so an erased or changed phone number is never sent to or kept."""

    __tablename__ = "engagement_messages"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "public_id"),
        sa.UniqueConstraint("tenant_id", "dedupe_key"),
        sa.Index("ix_engagement_messages_due", "status", "next_attempt_at"),
        sa.Index("ix_engagement_messages_customer", "tenant_id", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32))
    customer_id: Mapped[str] = mapped_column(sa.String(32))
    medium: Mapped[str] = mapped_column(sa.String(32))
    template: Mapped[str] = mapped_column(sa.String(64))
    locale: Mapped[str] = mapped_column(sa.String(8))
    params: Mapped[dict[str, Any]] = mapped_column(JsonType)
    marketing: Mapped[bool] = mapped_column(sa.Boolean)
    # A caller's key for "this message once": a campaign's (campaign, customer, subject).
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    provider_ref: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Campaign(TenantScoped, Base):
    """A rule reacting to events: "tried on a SKU, no order containing it within
    ``delay_minutes`` → a single-use coupon of ``promotion`` valid ``coupon_days`` days"."""

    __tablename__ = "engagement_campaigns"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(32))
    title: Mapped[str] = mapped_column(sa.String(200))
    skus: Mapped[list[str] | None] = mapped_column(JsonType)  # None: every SKU
    promotion: Mapped[str] = mapped_column(sa.String(64))
    delay_minutes: Mapped[int] = mapped_column(sa.Integer)
    coupon_days: Mapped[int] = mapped_column(sa.Integer)
    frequency_cap: Mapped[int] = mapped_column(sa.Integer)  # offers per customer per 7 days
    holdout_percent: Mapped[int] = mapped_column(sa.Integer, default=0)
    quiet_start: Mapped[int] = mapped_column(sa.SmallInteger)  # local hour, tenant's zone
    quiet_end: Mapped[int] = mapped_column(sa.SmallInteger)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignTarget(TenantScoped, Base):
    """One (campaign, customer, subject): unique, so a redelivered event or a second try-on of
    the same SKU makes no second offer. ``outcome`` is what the delayed check decided."""

    __tablename__ = "engagement_campaign_targets"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "campaign_id", "customer_id", "subject"),
        sa.Index("ix_engagement_campaign_targets_due", "outcome", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("engagement_campaigns.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[str] = mapped_column(sa.String(32))
    subject: Mapped[str] = mapped_column(sa.String(64))  # the SKU tried on
    location: Mapped[str | None] = mapped_column(sa.String(64))
    triggered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    holdout: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    outcome: Mapped[str] = mapped_column(sa.String(16), default="waiting")
    coupon: Mapped[str | None] = mapped_column(sa.String(64))
    message_id: Mapped[str | None] = mapped_column(sa.String(32))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PresenceCheck(TenantScoped, Base):
    """When a customer last reported presence: the per-customer rate limit of
    ``POST /v1/presence`` (one conditional update decides, however many arrive at once)."""

    __tablename__ = "engagement_presence_checks"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "customer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(sa.String(32))
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
