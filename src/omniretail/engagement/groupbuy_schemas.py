"""Request and response shapes of group buying (拼团)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field

from omniretail.engagement.groupbuy_domain import (
    DEFAULT_GROUP_WINDOW_MINUTES,
    GroupStatus,
    MemberStatus,
)
from omniretail.schemas import SHOWN_ONCE, Code, Input, Instant, Money, Name, Output


class GroupBuyIn(Input):
    code: Code
    title: Name
    sku: Code
    group_size: Annotated[int, Field(ge=2, le=100)]
    group_price: Annotated[int, Field(ge=1, le=10**13, description="integer minor units (fen)")]
    starts_at: Instant
    ends_at: Instant
    group_window_minutes: Annotated[int, Field(ge=1, le=60 * 24 * 30)] = (
        DEFAULT_GROUP_WINDOW_MINUTES
    )
    pickup_locations: Annotated[list[Code], Field(min_length=1, max_length=200)]
    per_customer_limit: Annotated[int, Field(ge=1, le=100)] = 1


class GroupBuyOut(Output):
    code: str
    title: str
    sku: str
    group_size: int
    group_price: Money
    starts_at: dt.datetime
    ends_at: dt.datetime
    group_window_minutes: int
    pickup_locations: list[str]
    per_customer_limit: int


class SeatPaymentIn(Input):
    method: Annotated[str, Field(pattern=r"^[a-z_]{2,32}$")]
    amount: Annotated[int, Field(ge=1, le=10**13, description="integer minor units (fen)")]
    token: Annotated[str, Field(max_length=200)] | None = None


class SeatIn(Input):
    """A customer taking a seat: through which channel, picked up where, paid how."""

    channel: Code
    customer_id: Annotated[str, Field(min_length=1, max_length=40)]
    pickup_location: Code
    payment: SeatPaymentIn


class GroupOut(Output):
    id: str
    campaign: str
    status: GroupStatus
    size: int
    seats_taken: int
    seats_left: int
    opened_at: dt.datetime
    closes_at: dt.datetime
    settled_at: dt.datetime | None


class MemberOut(Output):
    id: str
    group_id: str
    customer_id: str
    channel: str
    pickup_location: str
    status: MemberStatus
    amount: Money
    payment_method: str
    payment_ref: str
    refunded_amount: Money
    order_id: str | None
    pickup_code: Annotated[str | None, SHOWN_ONCE] = Field(
        default=None,
        description="shown once, when the seat is taken (null on a replay); redeemable at "
        "the pickup store once the group has filled",
    )


class SeatOut(Output):
    group: GroupOut
    member: MemberOut


class RedeemIn(Input):
    location: Code
    code: Annotated[str, Field(min_length=1, max_length=32)]
