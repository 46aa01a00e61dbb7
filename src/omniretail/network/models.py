from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import Base, BigId, JsonType, TenantScoped, UTCDateTime, utcnow


class Location(TenantScoped, Base):
    __tablename__ = "locations"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "code"),
        sa.CheckConstraint("lat BETWEEN -90 AND 90", name="lat_range"),
        sa.CheckConstraint("lng BETWEEN -180 AND 180", name="lng_range"),
        sa.CheckConstraint("daily_capacity IS NULL OR daily_capacity >= 0", name="capacity"),
        sa.Index("ix_locations_tenant_lat", "tenant_id", "lat"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    type: Mapped[str] = mapped_column(sa.String(32))
    lat: Mapped[float] = mapped_column(sa.Float)
    lng: Mapped[float] = mapped_column(sa.Float)
    address: Mapped[str | None] = mapped_column(sa.String(500))
    can_ship: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    can_pickup: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    can_local_delivery: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    sells_online: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    delivery_radius_km: Mapped[float | None] = mapped_column(sa.Float)
    daily_capacity: Mapped[int | None] = mapped_column(sa.Integer)
    opening_hours: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
