"""Tables of the auth context: tenants and API keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import Base, BigId, JsonType, TenantScoped, UTCDateTime, utcnow


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(63), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    currency: Mapped[str] = mapped_column(sa.String(3))
    timezone: Mapped[str] = mapped_column(sa.String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(TenantScoped, Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lookup: Mapped[str] = mapped_column(sa.String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    role: Mapped[str] = mapped_column(sa.String(16))
    label: Mapped[str | None] = mapped_column(sa.String(200))
    # Location and channel codes are immutable addresses, so keeping them here saves a join on
    # every authenticated request.
    location_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("locations.id", ondelete="CASCADE")
    )
    location_code: Mapped[str | None] = mapped_column(sa.String(64))
    channel_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("channels.id", ondelete="CASCADE")
    )
    channel_code: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class TenantSettingChange(TenantScoped, Base):
    """The audit log of tenant settings: who changed what, from what, to what."""

    __tablename__ = "tenant_setting_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor: Mapped[str] = mapped_column(sa.String(100))
    changed: Mapped[list[str]] = mapped_column(JsonType)
    before: Mapped[dict[str, Any]] = mapped_column(JsonType)
    after: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
