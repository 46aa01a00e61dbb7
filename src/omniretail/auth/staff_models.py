"""Table of staff users: people who sign in to the console (API keys are for machines)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import Base, BigId, JsonType, TenantScoped, UTCDateTime, utcnow


class StaffUser(TenantScoped, Base):
    __tablename__ = "staff_users"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "email"),
        sa.UniqueConstraint("tenant_id", "phone"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str | None] = mapped_column(sa.String(255))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(24))
    # Store roles act for these locations only (codes: immutable addresses).
    locations: Mapped[list[str]] = mapped_column(JsonType, default=list)
    language: Mapped[str] = mapped_column(sa.String(8), default="zh-CN")
    # Sealed with OMNI_STAFF_KEYS (auth/seeds.py): a Fernet token, never the seed itself.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(255))
    failed_signins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    session_version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
