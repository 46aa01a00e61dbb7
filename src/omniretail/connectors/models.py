"""Tables of the connectors context: connections, SKU mappings, inbound messages, the
platform orders they describe, and the stock figures pushed out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import Base, BigId, JsonType, TenantScoped, UTCDateTime, utcnow


class Connection(TenantScoped, Base):
    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    platform: Mapped[str] = mapped_column(sa.String(32))
    shop_id: Mapped[str] = mapped_column(sa.String(64))
    channel_code: Mapped[str] = mapped_column(sa.String(64))
    locations: Mapped[list[str]] = mapped_column(JsonType)
    # Fernet token of the JSON credentials; never returned, never logged.
    credentials: Mapped[str] = mapped_column(sa.Text)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SkuMapping(TenantScoped, Base):
    __tablename__ = "connection_sku_mappings"
    __table_args__ = (sa.UniqueConstraint("connection_id", "platform_sku"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("connections.id"))
    platform_sku: Mapped[str] = mapped_column(sa.String(64))
    sku: Mapped[str] = mapped_column(sa.String(64), index=True)


class InboundMessage(TenantScoped, Base):
    __tablename__ = "connection_messages"
    __table_args__ = (sa.UniqueConstraint("connection_id", "msg_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("connections.id"))
    msg_id: Mapped[str] = mapped_column(sa.String(128))
    topic: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(24))
    platform_order_id: Mapped[str | None] = mapped_column(sa.String(64))
    raw: Mapped[str] = mapped_column(sa.Text)
    parsed: Mapped[dict[str, Any]] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(sa.String(16))  # received, applied, parked
    outcome: Mapped[str | None] = mapped_column(sa.String(500))
    order_id: Mapped[str | None] = mapped_column(sa.String(32))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PlatformOrder(TenantScoped, Base):
    """One platform order, whatever the number and order of its messages: the unique key is
    what makes a repeated "paid" create one order only."""

    __tablename__ = "connection_orders"
    __table_args__ = (sa.UniqueConstraint("connection_id", "platform_order_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("connections.id"))
    platform_order_id: Mapped[str] = mapped_column(sa.String(64))
    order_id: Mapped[str | None] = mapped_column(sa.String(32))
    cancelled: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class StockPush(TenantScoped, Base):
    """Each stock figure sent to a platform, with the request body in the platform's shape
    (the recorder that stands in for the platform's stock API on a machine with no network)."""

    __tablename__ = "connection_stock_pushes"
    __table_args__ = (sa.Index("ix_stock_pushes_latest", "connection_id", "sku", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("connections.id"))
    sku: Mapped[str] = mapped_column(sa.String(64))
    platform_sku: Mapped[str] = mapped_column(sa.String(64))
    qty: Mapped[int] = mapped_column(sa.BigInteger)
    request: Mapped[dict[str, Any]] = mapped_column(JsonType)
    pushed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
