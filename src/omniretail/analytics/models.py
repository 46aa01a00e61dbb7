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
        # A store's customers over loose days group its own facts (no spans per store).
        sa.Index("ix_sales_facts_tenant_location_day", "tenant_id", "location", "day"),
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


class FulfilmentFact(TenantScoped, Base):
    """One fulfilment of an order placed for pickup, shipping or local delivery, written when
    it reaches the milestone its promise is about (ready for pickup, shipped, delivered to the
    door) and dated on that local day. ``outcome`` follows it to the end (done, cancelled,
    rejected). One row per fulfilment: a redelivered event is a no-op."""

    __tablename__ = "fulfilment_facts"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "ref"),
        sa.Index("ix_fulfilment_facts_tenant_day", "tenant_id", "day"),
        sa.Index("ix_fulfilment_facts_tenant_order", "tenant_id", "order_id"),
        sa.Index("ix_fulfilment_facts_tenant_split_day", "tenant_id", "split", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ref: Mapped[str] = mapped_column(sa.String(32))  # the fulfilment's public id
    order_id: Mapped[str] = mapped_column(sa.String(32))
    day: Mapped[dt.date] = mapped_column(sa.Date)
    channel: Mapped[str] = mapped_column(sa.String(64))
    mode: Mapped[str] = mapped_column(sa.String(16))
    location: Mapped[str] = mapped_column(sa.String(64))
    location_type: Mapped[str] = mapped_column(sa.String(32))
    # Metres (an integer, so sums and averages are exact); None when no address was given.
    distance_m: Mapped[int | None] = mapped_column(sa.BigInteger)
    promised_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    milestone_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    promise_kept: Mapped[bool | None] = mapped_column(sa.Boolean)
    outcome: Mapped[str] = mapped_column(sa.String(16), default="open")
    # The order has more than one fulfilment of this mode: its distinct count is taken from
    # these (few) facts directly; every other fulfilment is one order in the rollups.
    split: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())


class FulfilmentRollup(TenantScoped, Base):
    """``fulfilment_facts`` summed per local day, month or year (``grain`` d, m, y), mode and
    location, kept with the facts: every fulfilment's counts, and ``single_orders``, the
    fulfilments that are their order's only one of the mode (one order each)."""

    __tablename__ = "fulfilment_rollups"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "grain", "day", "mode", "location", "location_type"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    grain: Mapped[str] = mapped_column(sa.String(1))
    day: Mapped[dt.date] = mapped_column(sa.Date)
    mode: Mapped[str] = mapped_column(sa.String(16))
    location: Mapped[str] = mapped_column(sa.String(64))
    location_type: Mapped[str] = mapped_column(sa.String(32))
    fulfilments: Mapped[int] = mapped_column(sa.BigInteger)
    single_orders: Mapped[int] = mapped_column(sa.BigInteger)
    distance_m: Mapped[int] = mapped_column(sa.BigInteger)
    measured: Mapped[int] = mapped_column(sa.BigInteger)
    promised: Mapped[int] = mapped_column(sa.BigInteger)
    kept: Mapped[int] = mapped_column(sa.BigInteger)
    done: Mapped[int] = mapped_column(sa.BigInteger)
    cancelled: Mapped[int] = mapped_column(sa.BigInteger)


class StockFact(TenantScoped, Base):
    """The inventory ledger summed per local day, location and SKU: what came in, what was
    sold, the net change of on hand and reserved, how often the position ran out
    (available reached 0) and how often it was oversold (on hand below reserved or below 0:
    must read 0). Projected from the ledger in ledger order; ``StockProjectionMark`` is how
    far, so a rerun counts nothing twice."""

    __tablename__ = "stock_facts"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "day", "location", "sku"),
        sa.Index("ix_stock_facts_tenant_location_sku", "tenant_id", "location", "sku"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[dt.date] = mapped_column(sa.Date)
    location: Mapped[str] = mapped_column(sa.String(64))
    sku: Mapped[str] = mapped_column(sa.String(64))
    received: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    sold: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    on_hand_delta: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    reserved_delta: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    stockouts: Mapped[int] = mapped_column(sa.Integer, default=0)
    oversells: Mapped[int] = mapped_column(sa.Integer, default=0)
    # 1 on the position's first day. ``out_delta``: how the position's "out of stock at
    # close" (on hand - reserved <= 0 at the day's end) changed since its previous day (+1,
    # 0, -1), so that how many positions were out at any close is a plain sum.
    new_position: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    out_delta: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")


class StockRollup(TenantScoped, Base):
    """``stock_facts`` summed per day, month or year (``grain`` d, m, y) and per location or SKU
    (``dim``), for the whole tenant (``scope`` ``*``) and per SKU within each location
    (``scope`` is the location): kept by the stock projection with the facts, so a year's
    inventory report reads a few rows per location or SKU, not every position's every day."""

    __tablename__ = "stock_rollups"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "dim", "scope", "grain", "day", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    grain: Mapped[str] = mapped_column(sa.String(1))
    dim: Mapped[str] = mapped_column(sa.String(8))
    scope: Mapped[str] = mapped_column(sa.String(64))
    day: Mapped[dt.date] = mapped_column(sa.Date)
    key: Mapped[str] = mapped_column(sa.String(64))
    received: Mapped[int] = mapped_column(sa.BigInteger)
    sold: Mapped[int] = mapped_column(sa.BigInteger)
    on_hand_delta: Mapped[int] = mapped_column(sa.BigInteger)
    reserved_delta: Mapped[int] = mapped_column(sa.BigInteger)
    stockouts: Mapped[int] = mapped_column(sa.BigInteger)
    oversells: Mapped[int] = mapped_column(sa.BigInteger)
    new_positions: Mapped[int] = mapped_column(sa.BigInteger)
    out_delta: Mapped[int] = mapped_column(sa.BigInteger)


class StockProjectionMark(TenantScoped, Base):
    """The last ledger entry projected into ``stock_facts`` for the tenant."""

    __tablename__ = "stock_projection_marks"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    last_entry_id: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class SalesRollup(TenantScoped, Base):
    """``sales_facts`` summed per local day or month and report dimension, kept by the
    projection in the same transaction as the facts (only for facts it actually inserted, so a
    redelivery adds nothing). A year's report reads twelve monthly rows per key, not every sale.

    ``grain`` is ``d`` (``day`` is the day) or ``m`` (``day`` is the month's first day).
    ``scope`` is ``*`` for the whole tenant, or the store the facts are credited to (what a
    store key may see). ``key`` is the dimension's value, ``''`` for none."""

    __tablename__ = "sales_rollups"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "dim", "scope", "grain", "day", "key", "kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    grain: Mapped[str] = mapped_column(sa.String(1))
    dim: Mapped[str] = mapped_column(sa.String(24))
    scope: Mapped[str] = mapped_column(sa.String(64))
    day: Mapped[dt.date] = mapped_column(sa.Date)
    key: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(8))
    amount: Mapped[int] = mapped_column(sa.BigInteger)  # minor units, signed
    facts: Mapped[int] = mapped_column(sa.BigInteger)  # how many orders or returns
    units: Mapped[int] = mapped_column(sa.BigInteger)  # signed


class CustomerGroupRollup(TenantScoped, Base):
    """Per month and year and scope, the totals of each group of customers by channels
    bought on ("1", "2", "3+"): adjusted whenever a customer's row changes (a customer who
    buys on a new channel leaves one group and joins the next), so a whole month or year is
    answered from three rows."""

    __tablename__ = "customer_group_rollups"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "scope", "grain", "day", "channel_group"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    grain: Mapped[str] = mapped_column(sa.String(1))
    scope: Mapped[str] = mapped_column(sa.String(64))
    day: Mapped[dt.date] = mapped_column(sa.Date)
    channel_group: Mapped[str] = mapped_column(sa.String(4))
    customers: Mapped[int] = mapped_column(sa.BigInteger)
    orders: Mapped[int] = mapped_column(sa.BigInteger)
    repeat_customers: Mapped[int] = mapped_column(sa.BigInteger)
    gross: Mapped[int] = mapped_column(sa.BigInteger)
    net: Mapped[int] = mapped_column(sa.BigInteger)


class CustomerSpanRollup(TenantScoped, Base):
    """The customers' spans (``domain.customer_spans``) summed per group and pair of first
    and last day, each end kept per day (``d``) and per month (``m``, its first day): a
    period's customers by channels is the sum of the spans inside it, read as whole months
    where it has them and days at its loose ends. Kept by the projection with the facts.
    ``scope`` is ``*`` (the whole tenant): a store's own periods are grouped from its facts."""

    __tablename__ = "customer_span_rollups"
    __table_args__ = (
        sa.UniqueConstraint(
            "tenant_id",
            "scope",
            "first_grain",
            "first",
            "last_grain",
            "last",
            "channel_group",
            name="uq_customer_span_rollups_key",  # the convention's name is too long
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(64))
    first_grain: Mapped[str] = mapped_column(sa.String(1))
    first: Mapped[dt.date] = mapped_column(sa.Date)
    last_grain: Mapped[str] = mapped_column(sa.String(1))
    last: Mapped[dt.date] = mapped_column(sa.Date)
    channel_group: Mapped[str] = mapped_column(sa.String(4))
    customers: Mapped[int] = mapped_column(sa.BigInteger)
    orders: Mapped[int] = mapped_column(sa.BigInteger)
    repeat_customers: Mapped[int] = mapped_column(sa.BigInteger)
    gross: Mapped[int] = mapped_column(sa.BigInteger)
    net: Mapped[int] = mapped_column(sa.BigInteger)


class FulfilmentSplitSpan(TenantScoped, Base):
    """The items of the orders split over several fulfilments of a mode
    (``domain.split_spans``), summed per grouping (``dim``: location, location type or the
    mode alone), mode, key and pair of first and last day, each end per day (``d``) and per
    month (``m``): a period's split orders are the sum of the items inside it."""

    __tablename__ = "fulfilment_split_spans"
    __table_args__ = (
        sa.UniqueConstraint(
            "tenant_id",
            "dim",
            "mode",
            "key",
            "first_grain",
            "first",
            "last_grain",
            "last",
            name="uq_fulfilment_split_spans_key",  # the convention's name is too long
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dim: Mapped[str] = mapped_column(sa.String(16))
    mode: Mapped[str] = mapped_column(sa.String(16))
    key: Mapped[str] = mapped_column(sa.String(64))
    first_grain: Mapped[str] = mapped_column(sa.String(1))
    first: Mapped[dt.date] = mapped_column(sa.Date)
    last_grain: Mapped[str] = mapped_column(sa.String(1))
    last: Mapped[dt.date] = mapped_column(sa.Date)
    orders: Mapped[int] = mapped_column(sa.BigInteger)
