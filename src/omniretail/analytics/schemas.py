"""Report shapes of the data hub. Money in minor units; days in the tenant's time zone."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from omniretail.schemas import Output


class SalesBy(StrEnum):
    CHANNEL = "channel"
    LOCATION = "location"
    DAY = "day"
    ATTRIBUTED_LOCATION = "attributed_location"
    ATTRIBUTED_STAFF = "attributed_staff"


class SalesRow(Output):
    key: str | None = Field(description="the channel, store, day or staff the row is for")
    gross: int = Field(description="goods value of completed orders (after discounts)")
    refunds: int = Field(description="refunds of returns completed in the period")
    net: int = Field(description="gross - refunds")
    orders: int = Field(description="completed orders")
    units_sold: int = Field(description="units in those orders")
    units_returned: int = Field(description="units returned in the period")
    average_order_value: int = Field(description="gross / orders, rounded")
    previous_gross: int | None = Field(
        None, description="gross in the period just before (with compare=true)"
    )
    previous_net: int | None = Field(
        None, description="net in the period just before (with compare=true)"
    )


START = "first local day of the period"
END = "last local day of the period, included"


class SalesReport(Output):
    start: dt.date = Field(description=START)
    end: dt.date = Field(description=END)
    by: SalesBy = Field(
        description="what the rows are keyed by: channel, location, day, attributed_location "
        "or attributed_staff"
    )
    rows: list[SalesRow] = Field(description="one row per key")
    total: SalesRow = Field(description="every row together")
    previous_total: SalesRow | None = Field(
        None, description="the period just before, together (with compare=true)"
    )


class AttributionRow(Output):
    location: str = Field(description="the store's code")
    in_store_gross: int = Field(description="sales placed at the store")
    in_store_net: int = Field(description="in_store_gross less their refunds")
    fulfilled_online_gross: int = Field(
        description="online orders the store shipped or handed over"
    )
    fulfilled_online_net: int = Field(description="fulfilled_online_gross less their refunds")
    attributed_online_gross: int = Field(description="online orders credited to the store")
    attributed_online_net: int = Field(description="attributed_online_gross less their refunds")


class AttributionReport(Output):
    start: dt.date = Field(description=START)
    end: dt.date = Field(description=END)
    rows: list[AttributionRow] = Field(description="one row per store")


class ChannelGroupOut(Output):
    channels: str = Field(description="channels bought on in the period: 1, 2 or 3+")
    customers: int = Field(description="customers in the group")
    orders: int = Field(description="their orders in the period")
    repurchase_rate: float = Field(description="share of the group with two orders or more")
    average_order_value: int = Field(description="their sales / orders, minor units")
    lifetime_value: int = Field(description="net sales per customer over the period")


class CustomersReport(Output):
    start: dt.date = Field(description=START)
    end: dt.date = Field(description=END)
    groups: list[ChannelGroupOut] = Field(description="customers by how many channels they used")


class PointsReport(Output):
    points_outstanding: int = Field(
        description="loyalty points earned and not yet spent or expired"
    )
    liability: int = Field(description="what the outstanding points would pay now, minor units")


class FulfilmentBy(StrEnum):
    LOCATION_TYPE = "location_type"
    LOCATION = "location"


class FulfilmentRow(Output):
    mode: str = Field(description="pickup, ship or local_delivery")
    key: str = Field(description="the location type (store, warehouse, dark_store...) or code")
    fulfilments: int = Field(description="fulfilments that reached their milestone in the period")
    orders: int = Field(description="distinct orders those fulfilments belong to")
    share: float = Field(description="share of the mode's fulfilments in the period, 0 to 1")
    average_distance_m: int | None = Field(
        description="mean distance from the location to the customer, metres (None: no address)"
    )
    promised: int = Field(description="fulfilments that carried a promised time")
    promise_kept: int = Field(description="of those, how many reached the milestone on time")
    promise_kept_rate: float | None = Field(description="promise_kept / promised, 0 to 1")
    done: int = Field(description="handed over or delivered by now")
    cancelled: int = Field(description="cancelled after the milestone (e.g. never collected)")


class FulfilmentReport(Output):
    start: dt.date = Field(description="first local day of the period")
    end: dt.date = Field(description="last local day of the period, included")
    by: FulfilmentBy = Field(description="what the rows are keyed by besides the mode")
    milestones: dict[str, str] = Field(
        description="per mode, the status its promise is about and the day is dated by"
    )
    rows: list[FulfilmentRow] = Field(description="one row per mode and key")
    shipments_per_order: dict[str, float] = Field(
        description="per mode, fulfilments per order (1.0: no order was split)"
    )


class InventoryBy(StrEnum):
    LOCATION = "location"
    SKU = "sku"


class InventoryRow(Output):
    key: str = Field(description="the location code or the SKU")
    positions: int = Field(description="location-SKU positions with any movement up to the end")
    opening_on_hand: int = Field(description="units on hand at the start of the first day")
    closing_on_hand: int = Field(description="units on hand at the end of the last day")
    received: int = Field(description="units received or transferred in during the period")
    sold: int = Field(description="units that left to customers (sales, shipments, pickups)")
    turnover: float | None = Field(
        description="units sold / mean of opening and closing on hand (None: no stock held)"
    )
    days_of_cover: float | None = Field(
        description="closing on hand / mean units sold per day (None: nothing sold)"
    )
    stockouts: int = Field(description="times a position's available stock ran down to 0")
    out_of_stock_at_close: int = Field(description="positions with nothing available at the end")
    oversells: int = Field(description="times on hand was driven below 0: must be 0")


class InventoryReport(Output):
    start: dt.date = Field(description="first local day of the period")
    end: dt.date = Field(description="last local day of the period, included")
    by: InventoryBy = Field(description="what the rows are keyed by")
    rows: list[InventoryRow] = Field(description="one row per location or SKU")
    total: InventoryRow = Field(description="every row together")
