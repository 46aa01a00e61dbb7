from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from omniretail.db import Base, BigId, JsonType, TenantScoped, UTCDateTime, utcnow


class Product(TenantScoped, Base):
    __tablename__ = "products"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(300))
    category: Mapped[str] = mapped_column(sa.String(200), index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", order_by="Variant.id", lazy="selectin"
    )


class Variant(TenantScoped, Base):
    __tablename__ = "variants"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "sku"),
        sa.UniqueConstraint("tenant_id", "barcode"),
        sa.CheckConstraint("price >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(sa.String(64))
    barcode: Mapped[str | None] = mapped_column(sa.String(14))
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # The tenant's one list price (EDLP), in minor units; promotions are separate, visible rules.
    price: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    product: Mapped[Product] = relationship(back_populates="variants", lazy="raise")


class PriceChange(TenantScoped, Base):
    """Audit log: who changed which list price, when, from what to what."""

    __tablename__ = "price_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    variant_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("variants.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(sa.String(64))
    old_price: Mapped[int | None] = mapped_column(sa.BigInteger)
    new_price: Mapped[int] = mapped_column(sa.BigInteger)
    actor: Mapped[str] = mapped_column(sa.String(100))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
