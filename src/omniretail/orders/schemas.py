from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from omniretail.orders.domain import FulfilmentStatus, Mode, OrderStatus, RejectReason
from omniretail.schemas import SHOWN_ONCE, Code, Input, Money, Output

Qty = Annotated[int, Field(ge=1, le=10_000, description="units, a whole number from 1")]
SKU = "the variant's SKU"
FEN = "integer minor units (fen)"
MODE = (
    "ship (parcel from a warehouse or store), pickup (collected at `location`), "
    "local_delivery (courier from a nearby store) or in_store (sold at the till)"
)
LOCATION = "a location's code"


class LineIn(Input):
    sku: Code = Field(description=SKU)
    qty: Qty


class AddressIn(Input):
    lat: Annotated[float, Field(ge=-90, le=90)] = Field(
        description="latitude of the delivery address, degrees (WGS 84)"
    )
    lng: Annotated[float, Field(ge=-180, le=180)] = Field(
        description="longitude of the delivery address, degrees (WGS 84)"
    )
    name: Annotated[str, Field(max_length=100)] | None = Field(
        None, description="the recipient's name (personal data: redacted in logs)"
    )
    phone: Annotated[str, Field(max_length=32)] | None = Field(
        None, description="the recipient's phone (personal data: redacted in logs)"
    )
    line1: Annotated[str, Field(max_length=300)] | None = Field(
        None, description="street and number, free text"
    )
    city: Annotated[str, Field(max_length=100)] | None = Field(None, description="city")


class FulfilmentIn(Input):
    mode: Mode = Field(description=MODE)
    location: Code | None = Field(
        None, description="the store's code; required for pickup and in_store"
    )
    address: AddressIn | None = Field(
        None, description="where to deliver; required for ship and local_delivery"
    )

    @model_validator(mode="after")
    def _needs(self) -> FulfilmentIn:
        if self.mode in (Mode.PICKUP, Mode.IN_STORE) and self.location is None:
            raise ValueError(f"mode {self.mode} needs a location")
        if self.mode in (Mode.SHIP, Mode.LOCAL_DELIVERY) and self.address is None:
            raise ValueError(f"mode {self.mode} needs an address with lat and lng")
        return self


class PaymentIn(Input):
    method: Annotated[str, Field(pattern=r"^[a-z_]{2,32}$")] = Field(
        description="sandbox, wechat_pay or alipay (when configured), cash or card_present "
        "(at a till)"
    )
    # A tender of nothing is no tender: leave it out (the table refuses amounts below 1).
    amount: Annotated[int, Field(ge=1, le=10**13, description="integer minor units (fen)")]
    token: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="the provider's payment token, when the method takes one"
    )


class OrderIn(Input):
    channel: Code = Field(description="the channel's code the order comes from (app, jd, pos...)")
    customer_id: Annotated[str, Field(max_length=40)] | None = Field(
        None, description="the customer's id; null for a guest"
    )
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=200)] = Field(
        description="what is bought: 1 to 200 lines"
    )
    fulfillment: FulfilmentIn = Field(description="how the customer gets the goods")
    payments: Annotated[list[PaymentIn], Field(max_length=10)] = Field(
        [], description="tenders; none leaves the order pending_payment"
    )
    points_to_redeem: Annotated[int, Field(ge=0, le=10**9)] = Field(
        0, description="loyalty points the customer spends on this order (needs a customer)"
    )
    coupon_codes: Annotated[list[Code], Field(max_length=10)] = Field(
        [], description="coupon codes to apply, at most 10"
    )
    attributed_location: Code | None = Field(
        None, description="the store credited with the sale (e.g. a guide's store), if any"
    )
    attributed_staff: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="the staff member credited with the sale, if any"
    )


class OrderLineOut(Output):
    sku: str = Field(description=SKU)
    title: str = Field(description="the product's title when the order was placed")
    qty: int = Field(description="units ordered")
    unit_price: int = Field(description=f"price of one unit before discounts, {FEN}")
    discounts: list[dict[str, Any]] = Field(
        description="each discount applied to the line: the promotion or coupon and its amount"
    )
    discount: int = Field(description=f"the line's discounts together, {FEN}")
    line_total: int = Field(description=f"qty x unit_price - discount, {FEN}")
    returned_qty: int = Field(description="units of the line returned so far")


class TotalsOut(Output):
    currency: str = Field(description="ISO 4217 code of every amount in the order (e.g. CNY)")
    subtotal: int = Field(description=f"the lines before discounts, {FEN}")
    discount_total: int = Field(description=f"all discounts, {FEN}")
    delivery_fee: int = Field(description=f"delivery fee charged, {FEN}")
    points_redeemed: int = Field(description="loyalty points spent on the order")
    total: int = Field(description=f"what the customer owes, {FEN}")
    paid: int = Field(description=f"captured so far, {FEN}")


class PaymentOut(Output):
    method: str = Field(
        description="sandbox, wechat_pay, alipay, cash, card_present, or exchange_credit and "
        "platform (set by the server: an exchange's credit, a marketplace's payment)"
    )
    amount: int = Field(description=f"the tender's amount, {FEN}")
    status: str = Field(
        description="pending (waiting for the provider), captured, declined or voided"
    )
    provider_ref: str | None = Field(
        description="the payment provider's reference, to match its callback; null for cash"
    )
    refunded_amount: int = Field(description=f"refunded from this tender so far, {FEN}")


class FulfilmentLineOut(Output):
    sku: str = Field(description=SKU)
    qty: int = Field(description="units this location fulfils")


class FulfilmentOut(Output):
    id: str = Field(description="the fulfilment's id (read-only)")
    order_id: str = Field(description="the order it belongs to")
    location: str = Field(description="the code of the location that fulfils it")
    mode: Mode = Field(description=MODE)
    status: FulfilmentStatus = Field(
        description="pending -> accepted -> picking -> ready -> shipped / handed_over -> "
        "delivered; or rejected, cancelled"
    )
    lines: list[FulfilmentLineOut] = Field(description="what this location sends or hands over")
    distance_km: float | None = Field(
        description="from the location to the delivery address, km; null without an address"
    )
    promised_at: dt.datetime | None = Field(
        description="when the customer was promised the goods (UTC); null when no promise"
    )
    transfer_from: list[dict[str, Any]] = Field(
        [],
        description="pickup only: other locations that send missing lines to the store first "
        "(each `location` with its `lines` as [sku, qty])",
    )
    reason: str | None = Field(None, description="why it was rejected or cancelled")
    pickup_code: Annotated[str | None, SHOWN_ONCE] = Field(
        default=None, description="pickup only; shown once, when issued (null on a replay)"
    )


REJECT_REASON = (
    "not_in_stock (the position is counted to zero), damaged (the units leave sellable stock), "
    "mismatch (on hand is reduced by the rejected units) or no_variance (no stock change)"
)


class AttributionOut(Output):
    """Why the order is credited to ``location`` and ``staff``."""

    rule: Literal["checkout", "experience_scan"] = Field(
        description="checkout: named when the order was placed; experience_scan: the "
        "customer scanned a sample of a SKU of this order in an experience store within "
        "the attribution window"
    )
    reason: str = Field(description="the rule's explanation, in words a clerk can read")
    location: str | None = Field(description="the store credited (its code)")
    staff: str | None = Field(description="the guide credited (their staff code)")
    sku: str | None = Field(None, description="experience_scan: the sample's SKU")
    scanned_at: dt.datetime | None = Field(
        None, description="experience_scan: when the sample was scanned (UTC)"
    )
    window_days: int | None = Field(
        None, description="experience_scan: the attribution window in days at the time"
    )
    credited_at: dt.datetime | None = Field(None, description="when the credit was given (UTC)")


class OrderOut(Output):
    id: str = Field(description="the order's id (read-only)")
    number: str = Field(
        description="YYMMDD-XXXXX-XXXXX, dated in the tenant's time zone; what a customer quotes"
    )
    status: OrderStatus = Field(
        description="pending_payment, confirmed, partially_fulfilled, completed, cancelled, "
        "or needs_attention (lines no location can serve after a rejection)"
    )
    channel: str = Field(description="the channel's code the order came from")
    customer_id: str | None = Field(description="the customer's id; null for a guest")
    mode: Mode = Field(description=MODE)
    placed_at_location: str | None = Field(
        description="the store whose key placed it (a till, a guide); null for other keys"
    )
    attributed_location: str | None = Field(description="the store credited with the sale")
    attributed_staff: str | None = Field(description="the staff member credited with the sale")
    attribution: AttributionOut | None = Field(
        None, description="why the order is credited to its store and staff; null when it is not"
    )
    lines: list[OrderLineOut] = Field(description="what was bought, with prices as charged")
    totals: TotalsOut = Field(description="the order's amounts")
    payments: list[PaymentOut] = Field(description="tenders, in the order they were given")
    fulfillments: list[FulfilmentOut] = Field(
        description="one per location that serves part of the order"
    )
    coupon_codes: list[str] = Field(description="coupons applied")
    sourcing: dict[str, Any] = Field(
        description="why these locations were chosen: mode, chosen, reason or decisions "
        "(each location's distance and why it was or was not used)"
    )
    created_at: dt.datetime = Field(description="when the order was placed (UTC)")


class RejectIn(Input):
    reason: RejectReason = Field(description=REJECT_REASON)
    lines: Annotated[list[LineIn], Field(max_length=200)] | None = Field(
        None, description="the lines rejected; null rejects the whole fulfilment"
    )
    note: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="a note for the order's history"
    )


class PickupVerifyIn(Input):
    code: Annotated[str, Field(min_length=1, max_length=32)] = Field(
        description="the pickup code the customer shows"
    )
    location: Code = Field(description="the code of the store handing the goods over")


class PaymentCallbackIn(Input):
    provider_ref: Annotated[str, Field(pattern=r"^[A-Za-z0-9:_.-]{1,128}$")] = Field(
        description="the payment's provider reference, as in the order's payments"
    )
    status: Annotated[str, Field(pattern=r"^(captured|declined)$")] = Field(
        description="captured or declined"
    )
    amount: Money = Field(description=f"the amount captured, {FEN}")
    signature: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] = Field(
        description="hex HMAC-SHA256 of the callback with the sandbox secret (docs/api.md)"
    )


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
    fulfillment_id: Code = Field(description="the fulfilment to act on")
    action: BulkAction = Field(description="accept, pick, ready, ship, deliver, cancel or reject")
    reason: RejectReason | None = Field(None, description="required with reject, only there")
    note: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="a note for the order's history"
    )

    @model_validator(mode="after")
    def _reason_with_reject(self) -> BulkActionItemIn:
        if (self.action is BulkAction.REJECT) != (self.reason is not None):
            raise ValueError("reject needs a reason; other actions take none")
        return self


class BulkActionsIn(Input):
    actions: Annotated[list[BulkActionItemIn], Field(min_length=1, max_length=500)] = Field(
        description="1 to 500 actions, each done or refused on its own"
    )


class BulkErrorOut(Output):
    status: int = Field(description="the HTTP status the action alone would have answered")
    code: str = Field(description="machine-readable error code, as in a Problem")
    title: str = Field(description="short summary")
    detail: str = Field(description="what went wrong with this item")


class BulkResultOut(Output):
    index: int = Field(description="the item's position in the request, from 0")
    fulfillment_id: str = Field(description="the fulfilment acted on")
    action: BulkAction = Field(description="the action asked for")
    ok: bool = Field(description="true when done; false when refused (nothing changed)")
    fulfillment: FulfilmentOut | None = Field(None, description="the fulfilment after the action")
    error: BulkErrorOut | None = Field(None, description="why it was refused")


class BulkActionsOut(Output):
    """One result per item, in the request's order; refused items changed nothing."""

    succeeded: int = Field(description="items done")
    failed: int = Field(description="items refused")
    results: list[BulkResultOut] = Field(description="one per item, in the request's order")
