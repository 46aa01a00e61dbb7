"""Tables of returns and after-sales: returns, their lines and refunds; cases and notes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from omniretail.db import Base, BigId, JsonType, TenantScoped, UTCDateTime, utcnow


class Return(TenantScoped, Base):
    __tablename__ = "returns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    order_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("orders.id"), index=True)
    order_public_id: Mapped[str] = mapped_column(sa.String(32))
    channel: Mapped[str] = mapped_column(sa.String(64))
    location_code: Mapped[str | None] = mapped_column(sa.String(64))
    courier_pickup: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(sa.String(24))
    refund_total: Mapped[int] = mapped_column(sa.BigInteger)
    points_reversed: Mapped[dict[str, int] | None] = mapped_column(JsonType)
    actor: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    lines: Mapped[list[ReturnLine]] = relationship(order_by="ReturnLine.id", lazy="selectin")
    refunds: Mapped[list[Refund]] = relationship(order_by="Refund.id", lazy="selectin")


class ReturnLine(TenantScoped, Base):
    __tablename__ = "return_lines"
    __table_args__ = (sa.CheckConstraint("qty > 0", name="qty_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("returns.id", ondelete="CASCADE"), index=True
    )
    order_line_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("order_lines.id"))
    sku: Mapped[str] = mapped_column(sa.String(64))
    qty: Mapped[int] = mapped_column(sa.Integer)
    condition: Mapped[str] = mapped_column(sa.String(16))
    refund_amount: Mapped[int] = mapped_column(sa.BigInteger)


class Refund(TenantScoped, Base):
    __tablename__ = "refunds"
    __table_args__ = (sa.CheckConstraint("amount >= 0 AND credited >= 0", name="not_negative"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("returns.id", ondelete="CASCADE"), index=True
    )
    payment_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("order_payments.id"))
    method: Mapped[str] = mapped_column(sa.String(32))
    amount: Mapped[int] = mapped_column(sa.BigInteger)  # back to the customer's tender
    credited: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # kept for an exchange
    provider_ref: Mapped[str | None] = mapped_column(sa.String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Case(TenantScoped, Base):
    """One after-sales desk: any channel opens a case on any order and sees it through."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    order_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("orders.id"), index=True)
    order_public_id: Mapped[str] = mapped_column(sa.String(32))
    type: Mapped[str] = mapped_column(sa.String(24))
    status: Mapped[str] = mapped_column(sa.String(16))
    subject: Mapped[str] = mapped_column(sa.String(200))
    opened_channel: Mapped[str] = mapped_column(sa.String(64))
    owner_location: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    return_public_id: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    notes: Mapped[list[CaseNote]] = relationship(order_by="CaseNote.id", lazy="selectin")


class CaseNote(TenantScoped, Base):
    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(sa.String(100))
    channel: Mapped[str | None] = mapped_column(sa.String(64))
    body: Mapped[str] = mapped_column(sa.Text)
    status_change: Mapped[str | None] = mapped_column(sa.String(32))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
