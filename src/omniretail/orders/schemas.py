from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from omniretail.orders.domain import FulfilmentStatus, Mode, OrderStatus, RejectReason
from omniretail.schemas import SHOWN_ONCE, Code, Input, Money, Output

Qty = Annotated[int, Field(ge=1, le=10_000)]


class LineIn(Input):
    sku: Code
    qty: Qty


class AddressIn(Input):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lng: Annotated[float, Field(ge=-180, le=180)]
    name: Annotated[str, Field(max_length=100)] | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None
    line1: Annotated[str, Field(max_length=300)] | None = None
    city: Annotated[str, Field(max_length=100)] | None = None


class FulfilmentIn(Input):
    mode: Mode
    location: Code | None = None
    address: AddressIn | None = None

    @model_validator(mode="after")
    def _needs(self) -> FulfilmentIn:
        if self.mode in (Mode.PICKUP, Mode.IN_STORE) and self.location is None:
            raise ValueError(f"mode {self.mode} needs a location")
        if self.mode in (Mode.SHIP, Mode.LOCAL_DELIVERY) and self.address is None:
            raise ValueError(f"mode {self.mode} needs an address with lat and lng")
        return self


class PaymentIn(Input):
    method: Annotated[str, Field(pattern=r"^[a-z_]{2,32}$")]
    # A tender of nothing is no tender: leave it out (the table refuses amounts below 1).
    amount: Annotated[int, Field(ge=1, le=10**13, description="integer minor units (fen)")]
    token: Annotated[str, Field(max_length=200)] | None = None


class OrderIn(Input):
    channel: Code
    customer_id: Annotated[str, Field(max_length=40)] | None = None
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=200)]
    fulfillment: FulfilmentIn
    payments: Annotated[list[PaymentIn], Field(max_length=10)] = []
    points_to_redeem: Annotated[int, Field(ge=0, le=10**9)] = 0
    coupon_codes: Annotated[list[Code], Field(max_length=10)] = []
    attributed_location: Code | None = None
    attributed_staff: Annotated[str, Field(max_length=64)] | None = None


class OrderLineOut(Output):
    sku: str
    title: str
    qty: int
    unit_price: int
    discounts: list[dict[str, Any]]
    discount: int
    line_total: int
    returned_qty: int


class TotalsOut(Output):
    currency: str
    subtotal: int
    discount_total: int
    delivery_fee: int
    points_redeemed: int
    total: int
    paid: int


class PaymentOut(Output):
    method: str
    amount: int
    status: str
    provider_ref: str | None
    refunded_amount: int


class FulfilmentLineOut(Output):
    sku: str
    qty: int


class FulfilmentOut(Output):
    id: str
    order_id: str
    location: str
    mode: Mode
    status: FulfilmentStatus
    lines: list[FulfilmentLineOut]
    distance_km: float | None
    promised_at: dt.datetime | None
    transfer_from: list[dict[str, Any]] = []
    reason: str | None = None
    pickup_code: Annotated[str | None, SHOWN_ONCE] = Field(
        default=None, description="pickup only; shown once, when issued (null on a replay)"
    )


class AttributionOut(Output):
    """Why the order is credited to ``location`` and ``staff``."""

    rule: Literal["checkout", "experience_scan"] = Field(
        description="checkout: named when the order was placed; experience_scan: the "
        "customer scanned a sample of a SKU of this order in an experience store within "
        "the attribution window"
    )
    reason: str
    location: str | None
    staff: str | None
    sku: str | None = None
    scanned_at: dt.datetime | None = None
    window_days: int | None = None
    credited_at: dt.datetime | None = None


class OrderOut(Output):
    id: str
    number: str
    status: OrderStatus
    channel: str
    customer_id: str | None
    mode: Mode
    placed_at_location: str | None
    attributed_location: str | None
    attributed_staff: str | None
    attribution: AttributionOut | None = None
    lines: list[OrderLineOut]
    totals: TotalsOut
    payments: list[PaymentOut]
    fulfillments: list[FulfilmentOut]
    coupon_codes: list[str]
    sourcing: dict[str, Any]
    created_at: dt.datetime


class RejectIn(Input):
    reason: RejectReason
    lines: Annotated[list[LineIn], Field(max_length=200)] | None = None
    note: Annotated[str, Field(max_length=200)] | None = None


class PickupVerifyIn(Input):
    code: Annotated[str, Field(min_length=1, max_length=32)]
    location: Code


class PaymentCallbackIn(Input):
    provider_ref: Annotated[str, Field(pattern=r"^[A-Za-z0-9:_.-]{1,128}$")]
    status: Annotated[str, Field(pattern=r"^(captured|declined)$")]
    amount: Money
    signature: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class BulkAction(StrEnum):
    """What may be done in bulk: every store action but the hand-over (it needs the code)."""

    ACCEPT = "accept"
    PICK = "pick"
    READY = "ready"
    SHIP = "ship"
    DELIVER = "deliver"
    CANCEL = "cancel"
    REJECT = "reject"


class BulkActionItemIn(Input):
    fulfillment_id: Code
    action: BulkAction
    reason: RejectReason | None = Field(None, description="required with reject, only there")
    note: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _reason_with_reject(self) -> BulkActionItemIn:
        if (self.action is BulkAction.REJECT) != (self.reason is not None):
            raise ValueError("reject needs a reason; other actions take none")
        return self


class BulkActionsIn(Input):
    actions: Annotated[list[BulkActionItemIn], Field(min_length=1, max_length=500)]


class BulkErrorOut(Output):
    status: int
    code: str
    title: str
    detail: str


class BulkResultOut(Output):
    index: int
    fulfillment_id: str
    action: BulkAction
    ok: bool
    fulfillment: FulfilmentOut | None = None
    error: BulkErrorOut | None = None


class BulkActionsOut(Output):
    """One result per item, in the request's order; refused items changed nothing."""

    succeeded: int
    failed: int
    results: list[BulkResultOut]
