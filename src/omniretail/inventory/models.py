"""Tables of the inventory context: positions, the movement ledger, reservations, batches,
channel buffers.

A position carries the codes of its location and SKU next to their ids: codes are immutable
addresses, so the hot paths (a hold, an availability read) find a position by the codes a client
sends without a query into another context.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import Base, BigId, JsonType, TenantScoped, UTCDateTime, utcnow


class StockPosition(TenantScoped, Base):
    __tablename__ = "stock_positions"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "sku", "location_code"),
        # A location's positions in SKU order: the stock list and export of one store.
        sa.Index("ix_stock_positions_location_sku", "tenant_id", "location_code", "sku"),
        # The last guard under every code path: holds and releases can never drive these below 0.
        sa.CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        sa.CheckConstraint("safety_stock >= 0", name="safety_not_negative"),
        sa.CheckConstraint("on_hand >= 0 OR may_go_negative", name="on_hand_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    location_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("locations.id", ondelete="CASCADE"), index=True
    )
    location_code: Mapped[str] = mapped_column(sa.String(64))
    variant_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("variants.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(sa.String(64))
    on_hand: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    safety_stock: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # Set once a tenant that allows negative stock (POS sales of unrecorded stock) drove it below
    # zero; lifts the CHECK for this position only.
    may_go_negative: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockMovement(TenantScoped, Base):
    """Append-only: nothing updates or deletes a movement. The position is the sum of these."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    position_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("stock_positions.id", ondelete="CASCADE"), index=True
    )
    location_code: Mapped[str] = mapped_column(sa.String(64))
    sku: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.String(24))
    on_hand_delta: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    reserved_delta: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    reference: Mapped[str | None] = mapped_column(sa.String(200))
    reservation_id: Mapped[int | None] = mapped_column(BigId)
    batch_id: Mapped[str | None] = mapped_column(sa.String(100))
    actor: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reservation(TenantScoped, Base):
    __tablename__ = "reservations"
    __table_args__ = (
        sa.Index(
            "ix_reservations_expiring",
            "expires_at",
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # active (held, expires) -> confirmed (held for an order, no expiry) -> consumed / released;
    # active -> expired (the worker released it).
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    reference: Mapped[str | None] = mapped_column(sa.String(200))
    channel_code: Mapped[str | None] = mapped_column(sa.String(64))
    actor: Mapped[str] = mapped_column(sa.String(100))
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ReservationLine(TenantScoped, Base):
    __tablename__ = "reservation_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reservation_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("reservations.id", ondelete="CASCADE"), index=True
    )
    position_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("stock_positions.id", ondelete="CASCADE"), index=True
    )
    location_code: Mapped[str] = mapped_column(sa.String(64))
    sku: Mapped[str] = mapped_column(sa.String(64))
    qty: Mapped[int] = mapped_column(sa.BigInteger)
    # held -> consumed / released / expired; only held lines count in the position's reserved.
    state: Mapped[str] = mapped_column(sa.String(16), default="held")


class MovementBatch(TenantScoped, Base):
    """One row per applied batch: the replay of a batch id returns ``result`` and does nothing."""

    __tablename__ = "stock_movement_batches"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "batch_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[str] = mapped_column(sa.String(100))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelBuffer(TenantScoped, Base):
    """Units held back from one channel's network available-to-sell; ``sku`` '' is the default."""

    __tablename__ = "channel_stock_buffers"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "channel_code", "sku"),
        sa.CheckConstraint("units >= 0", name="units_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_code: Mapped[str] = mapped_column(sa.String(64))
    sku: Mapped[str] = mapped_column(sa.String(64), default="")
    units: Mapped[int] = mapped_column(sa.BigInteger)
