"""The table of refunds owed through remote gateways: each one a request recorded with the
change that owes it, sent after commit, its outcome kept."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import Base, BigId, TenantScoped, UTCDateTime, utcnow


class GatewayRefund(TenantScoped, Base):
    __tablename__ = "gateway_refunds"
    __table_args__ = (
        sa.CheckConstraint("amount > 0 AND amount <= total", name="amount_range"),
        sa.Index("ix_gateway_refunds_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Names the refund at the gateway (WeChat Pay's out_refund_no, Alipay's out_request_no):
    # every try sends the same one, so the gateway pays it back once.
    out_refund_no: Mapped[str] = mapped_column(sa.String(64), unique=True)
    method: Mapped[str] = mapped_column(sa.String(32))
    provider_ref: Mapped[str] = mapped_column(sa.String(128), index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    total: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    reason: Mapped[str] = mapped_column(sa.String(80))
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    gateway_refund_id: Mapped[str | None] = mapped_column(sa.String(64))
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
