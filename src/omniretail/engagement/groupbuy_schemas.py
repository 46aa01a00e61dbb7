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

UTC = "(UTC)"
WINDOW = "minutes a new group has to fill, from its first seat; never past the campaign's ends_at"
GROUP_STATUS = (
    "open (seats left, its window not ended), filled (every seat taken: each member has a "
    "pickup order) or failed (the window ended first: every member refunded, stock released)"
)
MEMBER_STATUS = (
    "held (paid, a unit held at the pickup store), ordered (the group filled: the member's "
    "pickup order exists), refunded (the group failed: the payment refunded in full) or left "
    "(the member left while the group was open: refunded in full, the seat free again)"
)
PAYMENT_METHOD = (
    "a public online method that authorises at once (sandbox); not cash or card_present, and "
    "not wechat_pay or alipay, whose money comes later by the gateway's notification"
)


class GroupBuyIn(Input):
    code: Code = Field(
        description="the campaign's code, unique in the tenant (409 when taken); letters, "
        "digits, '.', '_' and '-'"
    )
    title: Name = Field(description="what customers see, e.g. 'Linen shirt for 3'")
    sku: Code = Field(description="the variant's SKU sold at the group price (must exist)")
    group_size: Annotated[int, Field(ge=2, le=100)] = Field(
        description="members a group needs to fill, 2 to 100"
    )
    group_price: Annotated[int, Field(ge=1, le=10**13, description="integer minor units (fen)")]
    starts_at: Instant = Field(
        description="from when groups may be opened (with its zone; stored in UTC)"
    )
    ends_at: Instant = Field(
        description="after starts_at: no group opens from then, and open groups close by then "
        "(with its zone; stored in UTC)"
    )
    group_window_minutes: Annotated[int, Field(ge=1, le=60 * 24 * 30)] = Field(
        DEFAULT_GROUP_WINDOW_MINUTES, description=f"{WINDOW}; 1 to 43200, default 1440 (a day)"
    )
    pickup_locations: Annotated[list[Code], Field(min_length=1, max_length=200)] = Field(
        description="codes of the stores members collect from, each once; each must offer pickup"
    )
    per_customer_limit: Annotated[int, Field(ge=1, le=100)] = Field(
        1,
        description="seats one customer may hold in the campaign, across its groups; a "
        "failed group's seat is given back",
    )


class GroupBuyOut(Output):
    code: str = Field(description="the campaign's code (read-only)")
    title: str = Field(description="what customers see")
    sku: str = Field(description="the variant's SKU sold at the group price")
    group_size: int = Field(description="members a group needs to fill")
    group_price: Money
    starts_at: dt.datetime = Field(description=f"from when groups may be opened {UTC}")
    ends_at: dt.datetime = Field(
        description=f"no group opens from then, and open groups close by then {UTC}"
    )
    group_window_minutes: int = Field(description=WINDOW)
    pickup_locations: list[str] = Field(description="codes of the stores members collect from")
    per_customer_limit: int = Field(
        description="seats one customer may hold in the campaign, across its groups"
    )


class SeatPaymentIn(Input):
    method: Annotated[str, Field(pattern=r"^[a-z_]{2,32}$")] = Field(description=PAYMENT_METHOD)
    amount: Annotated[int, Field(ge=1, le=10**13, description="integer minor units (fen)")]
    token: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="the provider's payment token, when the method takes one"
    )


class SeatIn(Input):
    """A customer taking a seat: through which channel, picked up where, paid how."""

    channel: Code = Field(
        description="the channel's code the customer joins through (a channel key: its own)"
    )
    customer_id: Annotated[str, Field(min_length=1, max_length=40)] = Field(
        description="the customer's id (a merged customer's id stands for the survivor)"
    )
    pickup_location: Code = Field(
        description="one of the campaign's pickup_locations (a store key: its own store)"
    )
    payment: SeatPaymentIn = Field(
        description="the group price, authorised when the seat is taken: amount must equal "
        "group_price (422 payment_mismatch otherwise)"
    )


class GroupOut(Output):
    id: str = Field(description="the group's id, grp_... (read-only)")
    campaign: str = Field(description="the campaign's code")
    status: GroupStatus = Field(description=GROUP_STATUS)
    size: int = Field(description="seats in the group (the campaign's group_size when opened)")
    seats_taken: int = Field(description="seats taken so far, the opener's included")
    seats_left: int = Field(description="size - seats_taken; 0 once filled")
    opened_at: dt.datetime = Field(description=f"when its first seat was taken {UTC}")
    closes_at: dt.datetime = Field(
        description=f"when an unfilled group fails: opened_at + the window, at most the "
        f"campaign's ends_at {UTC}"
    )
    settled_at: dt.datetime | None = Field(
        description=f"when it filled or failed {UTC}; null while open"
    )


class MemberOut(Output):
    id: str = Field(description="the member's id, gbm_... (read-only)")
    group_id: str = Field(description="the group's id")
    customer_id: str = Field(description="the customer's id")
    channel: str = Field(description="the channel's code the customer joined through")
    pickup_location: str = Field(description="the store's code where the member collects")
    status: MemberStatus = Field(description=MEMBER_STATUS)
    amount: Money
    payment_method: str = Field(description="the method that took the payment (e.g. sandbox)")
    payment_ref: str = Field(
        description="the payment provider's reference of the authorisation; the order's "
        "payment and any refund use it"
    )
    refunded_amount: Money
    order_id: str | None = Field(
        description="the member's pickup order; null until the group fills"
    )
    pickup_code: Annotated[str | None, SHOWN_ONCE] = Field(
        default=None,
        description="shown once, when the seat is taken (null on a replay); redeemable at "
        "the pickup store once the group has filled",
    )


class SeatOut(Output):
    group: GroupOut = Field(description="the group after this seat (filled if it was the last)")
    member: MemberOut = Field(description="the new member, with their pickup code")


class RedeemIn(Input):
    location: Code = Field(description="the pickup store's code (a store key: its own store)")
    code: Annotated[str, Field(min_length=1, max_length=32)] = Field(
        description="the member's pickup code: 409 group_buy_not_complete until the group "
        "has filled, then the checks of /v1/pickups/verify"
    )
