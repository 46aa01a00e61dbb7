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
    orders: int
    units_sold: int
    units_returned: int
    average_order_value: int
    previous_gross: int | None = None
    previous_net: int | None = None


class SalesReport(Output):
    start: dt.date
    end: dt.date
    by: SalesBy
    rows: list[SalesRow]
    total: SalesRow
    previous_total: SalesRow | None = None


class AttributionRow(Output):
    location: str
    in_store_gross: int = Field(description="sales placed at the store")
    in_store_net: int
    fulfilled_online_gross: int = Field(
        description="online orders the store shipped or handed over"
    )
    fulfilled_online_net: int
    attributed_online_gross: int = Field(description="online orders credited to the store")
    attributed_online_net: int


class AttributionReport(Output):
    start: dt.date
    end: dt.date
    rows: list[AttributionRow]


class ChannelGroupOut(Output):
    channels: str = Field(description="channels bought on in the period: 1, 2 or 3+")
    customers: int
    orders: int
    repurchase_rate: float = Field(description="share of the group with two orders or more")
    average_order_value: int
    lifetime_value: int = Field(description="net sales per customer over the period")


class CustomersReport(Output):
    start: dt.date
    end: dt.date
    groups: list[ChannelGroupOut]


class PointsReport(Output):
    points_outstanding: int
    liability: int = Field(description="what the outstanding points would pay now, minor units")
