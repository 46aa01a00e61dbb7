"""Tables of the customers context."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import Base, BigId, JsonType, TenantScoped, UTCDateTime, utcnow


class Customer(TenantScoped, Base):
    __tablename__ = "customers"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "public_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    created_channel: Mapped[str | None] = mapped_column(sa.String(64))
    # A merged customer stays as a pointer to the survivor, so old ids keep resolving.
    merged_into_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    merged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerIdentity(TenantScoped, Base):
    __tablename__ = "customer_identities"
    # The identity graph's one rule: an identity belongs to at most one customer per tenant.
    __table_args__ = (sa.UniqueConstraint("tenant_id", "type", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(sa.String(32))
    value: Mapped[str] = mapped_column(sa.String(255))
    source_channel: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerChannel(TenantScoped, Base):
    """Where and when a customer was seen: channels used, first and last seen."""

    __tablename__ = "customer_channels"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "customer_id", "channel"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(sa.String(64))
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CustomerOrder(TenantScoped, Base):
    """One row per completed order (from ``order.completed``): spend by channel, LTV."""

    __tablename__ = "customer_orders"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "order_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    order_ref: Mapped[str] = mapped_column(sa.String(64))
    channel: Mapped[str] = mapped_column(sa.String(64))
    location: Mapped[str | None] = mapped_column(sa.String(64))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    completed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Returns net off the spend (``return.completed``); refs make a redelivery count once.
    returned_value: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    returned_amount: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    return_refs: Mapped[list[str]] = mapped_column(JsonType, default=list)


class Consent(TenantScoped, Base):
    """Marketing consent per messaging channel; absent means no consent."""

    __tablename__ = "customer_consents"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "customer_id", "channel"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(sa.String(64))
    granted: Mapped[bool] = mapped_column(sa.Boolean)
    source: Mapped[str] = mapped_column(sa.String(200))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class BehaviourEvent(TenantScoped, Base):
    __tablename__ = "behaviour_events"
    __table_args__ = (sa.Index("ix_behaviour_events_customer_at", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("customers.id", ondelete="CASCADE")
    )
    type: Mapped[int] = mapped_column(sa.SmallInteger)
    sku: Mapped[str | None] = mapped_column(sa.String(64))
    query: Mapped[str | None] = mapped_column(sa.String(200))
    channel: Mapped[str] = mapped_column(sa.String(64))
    location: Mapped[str | None] = mapped_column(sa.String(64))
    lat: Mapped[float | None] = mapped_column(sa.Float)
    lng: Mapped[float | None] = mapped_column(sa.Float)
    # Who served the customer (a guide handing a sample over), when a store says so.
    staff: Mapped[str | None] = mapped_column(sa.String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CustomerMerge(TenantScoped, Base):
    """Why two customers became one, who did it, and what moved: a merge can be explained."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    absorbed_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    absorbed_public_id: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(100))
    reason: Mapped[str] = mapped_column(sa.String(500))
    moved: Mapped[dict[str, Any]] = mapped_column(JsonType)
    merged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
