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


class ItemSignal(TenantScoped, Base):
    """A customer bought (``bought``) or looked at (``looked``: viewed, tried on, scanned,
    put in the cart) a SKU: one row per (customer, kind, SKU). Its insert is the guard of the
    pair counts: only a new row adds to them, so a redelivered event adds nothing. A guest
    order's basket is its own "customer" (``order:<id>``)."""

    __tablename__ = "engagement_item_signals"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "customer_id", "kind", "sku"),
        sa.Index("ix_engagement_item_signals_recent", "tenant_id", "customer_id", "last_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(sa.String(48))
    kind: Mapped[str] = mapped_column(sa.String(8))
    sku: Mapped[str] = mapped_column(sa.String(64))
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ItemPair(TenantScoped, Base):
    """How many customers bought (or looked at) both ``sku`` and ``other``; kept in both
    directions, so the pairings of a SKU are one index range."""

    __tablename__ = "engagement_item_pairs"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "sku", "kind", "other"),
        # A SKU's strongest pairings of a kind, read from the top (suggestions); ``other``
        # in it breaks ties without a sort and without a visit to the table.
        sa.Index(
            "ix_engagement_item_pairs_strongest", "tenant_id", "sku", "kind", "customers", "other"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sku: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(8))
    other: Mapped[str] = mapped_column(sa.String(64))
    customers: Mapped[int] = mapped_column(sa.Integer)


class ItemCount(TenantScoped, Base):
    """How many customers bought (or looked at) ``sku``: the signals' count, kept beside the
    pair counts by the same inserts, so that a pairing can be weighed against the popularity
    of both its SKUs (suggestions) and the best sellers are one index range."""

    __tablename__ = "engagement_item_counts"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "sku", "kind"),
        sa.Index("ix_engagement_item_counts_most", "tenant_id", "kind", "customers", "sku"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sku: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(8))
    customers: Mapped[int] = mapped_column(sa.Integer)


class ExperienceScan(TenantScoped, Base):
    """A sample scanned by a customer in an experience store, and the guide who showed it:
    it credits that customer's orders of the SKU within the attribution window."""

    __tablename__ = "engagement_experience_scans"
    __table_args__ = (
        sa.UniqueConstraint(
            "tenant_id",
            "customer_id",
            "sku",
            "location",
            "scanned_at",
            name="uq_engagement_experience_scans_once",
        ),
        sa.Index("ix_engagement_experience_scans_customer", "tenant_id", "customer_id", "sku"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(sa.String(32))
    sku: Mapped[str] = mapped_column(sa.String(64))
    location: Mapped[str] = mapped_column(sa.String(64))
    staff: Mapped[str | None] = mapped_column(sa.String(64))
    scanned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
