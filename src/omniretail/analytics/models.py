"""Tables of the analytics context: facts written only by its projections."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import Base, BigId, TenantScoped, UTCDateTime


class SalesFact(TenantScoped, Base):
    """One completed order (``sale``, positive) or one completed return (``refund``,
    negative), dated in the tenant's time zone on the day it happened. One row per order or
    return: the unique key makes a redelivered event a no-op."""

    __tablename__ = "sales_facts"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "kind", "ref"),
        sa.Index("ix_sales_facts_tenant_day", "tenant_id", "day"),
        sa.Index("ix_sales_facts_tenant_customer", "tenant_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(8))
    ref: Mapped[str] = mapped_column(sa.String(32))  # the order's or the return's public id
    order_id: Mapped[str] = mapped_column(sa.String(32))
    day: Mapped[dt.date] = mapped_column(sa.Date)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(sa.String(64))
    online: Mapped[bool] = mapped_column(sa.Boolean)
    # Where the sale is credited: the store it was placed at, else the one that fulfilled it.
    location: Mapped[str | None] = mapped_column(sa.String(64))
    fulfilled_from: Mapped[str | None] = mapped_column(sa.String(64))
    attributed_location: Mapped[str | None] = mapped_column(sa.String(64))
    attributed_staff: Mapped[str | None] = mapped_column(sa.String(64))
    customer_id: Mapped[str | None] = mapped_column(sa.String(40))
    amount: Mapped[int] = mapped_column(sa.BigInteger)  # minor units, signed
    units: Mapped[int] = mapped_column(sa.Integer)  # signed
