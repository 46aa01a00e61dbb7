from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from omniretail.orders.schemas import AddressIn, FulfilmentIn, LineIn, OrderOut, PaymentIn
from omniretail.schemas import Code, Input, Output


class Condition(StrEnum):
    RESELLABLE = "resellable"
    DAMAGED = "damaged"


FEN = "integer minor units (fen)"
CONDITION = "resellable (back into sellable stock) or damaged (kept out of it)"
ORDER_ID = "the id of the order the goods were bought in"
RETURN_LINES = "what comes back: 1 to 200 lines of the order"
CHANNEL = "the channel's code where the customer asked"
CASE_TYPE = "return, complaint, missing_item or wrong_item"
CASE_STATUS = "open, in_progress, resolved or closed"
OWNER = "the store's code that owns the case; null = head office"


class ReturnLineIn(Input):
    sku: Code = Field(description="the variant's SKU, as in the order")
    qty: Annotated[int, Field(ge=1, le=10_000)] = Field(
        description="units returned, at most those bought and not yet returned"
    )
    condition: Condition = Field(Condition.RESELLABLE, description=CONDITION)


class ReturnIn(Input):
    order_id: Annotated[str, Field(max_length=32)] = Field(description=ORDER_ID)
    lines: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=200)] = Field(
        description=RETURN_LINES
    )
    location: Code | None = Field(default=None, description="where the goods are received")
    courier_pickup: AddressIn | None = Field(
        default=None, description="collect from the customer instead; refunded on receipt"
    )
    channel: Code = Field(description=CHANNEL)

    @model_validator(mode="after")
    def _where(self) -> ReturnIn:
        if (self.location is None) == (self.courier_pickup is None):
            raise ValueError("give either location (received now) or courier_pickup")
        return self


class ReceiveIn(Input):
    location: Code = Field(description="the code of the location that received the goods")


class ReturnLineOut(Output):
    sku: str = Field(description="the variant's SKU")
    qty: int = Field(description="units returned")
    condition: Condition = Field(description=CONDITION)
    refund_amount: int = Field(
        description=f"refund for these units, as paid after discounts, {FEN}"
    )


class RefundOut(Output):
    method: str = Field(description="the tender refunded (the order's payment method)")
    amount: int = Field(description=f"paid back to the customer, {FEN}")
    credited: int = Field(description=f"kept as credit towards an exchange's new order, {FEN}")
    provider_ref: str | None = Field(description="the payment provider's refund reference")


class RestockOut(Output):
    location: str = Field(description="the code of the location whose stock changed")
    sku: str = Field(description="the variant's SKU")
    qty: int = Field(description="units")
    condition: Condition = Field(description=CONDITION)


class ReturnOut(Output):
    id: str = Field(description="the return's id (read-only)")
    order_id: str = Field(description=ORDER_ID)
    channel: str = Field(description=CHANNEL)
    location: str | None = Field(
        description="where the goods were received; null while a courier collects them"
    )
    status: str = Field(
        description="awaiting_receipt (a courier collects; refunded on receipt) or completed"
    )
    lines: list[ReturnLineOut] = Field(description="what came back")
    refund_total: int = Field(description=f"all refunds together, {FEN}")
    refunds: list[RefundOut] = Field(description="one per tender refunded")
    points_reversed: dict[str, int] | None = Field(
        default=None,
        description="earned_reversed, redeemed_returned, shortfall (earned points already spent)",
    )
    restocked: list[RestockOut] = Field(description="stock changes made on receipt")
    created_at: dt.datetime = Field(description="when the return was asked for (UTC)")
    received_at: dt.datetime | None = Field(description="when the goods arrived (UTC)")


class CaseType(StrEnum):
    RETURN = "return"
    COMPLAINT = "complaint"
    MISSING_ITEM = "missing_item"
    WRONG_ITEM = "wrong_item"


class CaseStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class CaseIn(Input):
    order_id: Annotated[str, Field(max_length=32)] = Field(description="the order concerned")
    type: CaseType = Field(description=CASE_TYPE)
    subject: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="one line saying what it is about"
    )
    channel: Code = Field(description="the channel's code where the customer got in touch")
    note: Annotated[str, Field(max_length=4000)] | None = Field(
        None, description="the first note on the timeline"
    )
    owner_location: Code | None = Field(None, description=OWNER)


class CaseNoteIn(Input):
    body: Annotated[str, Field(min_length=1, max_length=4000)] = Field(
        description="the note's text"
    )
    channel: Code | None = Field(None, description="the channel's code it came through, if any")
    status: CaseStatus | None = Field(None, description="move the case to this status")
    owner_location: Code | None = Field(None, description="hand the case to this store")


class CaseNoteOut(Output):
    author: str = Field(description="the key or staff member who wrote it")
    channel: str | None = Field(description="the channel's code it came through")
    body: str = Field(description="the note's text")
    status_change: str | None = Field(description="the status the note moved the case to")
    at: dt.datetime = Field(description="when (UTC)")


class CaseOut(Output):
    id: str = Field(description="the case's id (read-only)")
    order_id: str = Field(description="the order concerned")
    type: CaseType = Field(description=CASE_TYPE)
    status: CaseStatus = Field(description=CASE_STATUS)
    subject: str = Field(description="what it is about")
    opened_channel: str = Field(description="the channel's code where it was opened")
    owner_location: str | None = Field(description=OWNER)
    return_id: str | None = Field(description="the return taken for it, if any")
    timeline: list[CaseNoteOut] = Field(description="notes and status changes, oldest first")
    created_at: dt.datetime = Field(description="when it was opened (UTC)")
    updated_at: dt.datetime = Field(description="latest change (UTC)")


class ExchangeOrderIn(Input):
    """The replacement goods; ``payments`` cover only what the returned goods do not."""

    lines: Annotated[list[LineIn], Field(min_length=1, max_length=200)] = Field(
        description="the replacement goods"
    )
    fulfillment: FulfilmentIn = Field(description="how the customer gets them")
    payments: Annotated[list[PaymentIn], Field(max_length=10)] = Field(
        [], description="tenders for the difference when the new goods cost more"
    )
    attributed_staff: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="the staff member credited with the sale"
    )


class ExchangeIn(Input):
    order_id: Annotated[str, Field(max_length=32)] = Field(description=ORDER_ID)
    channel: Code = Field(description="the channel's code of the new order")
    location: Code = Field(description="where the returned goods are received")
    lines: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=200)] = Field(
        description=RETURN_LINES
    )
    new_order: ExchangeOrderIn = Field(description="what the customer takes instead")


class ExchangeOut(Output):
    returned: ReturnOut = Field(description="the return taken")
    order: OrderOut = Field(description="the new order")
    credit: int = Field(description="refund value that paid for the new order")
    difference_paid: int = Field(description=f"paid on top when the new goods cost more, {FEN}")
    refunded: int = Field(description=f"paid back when they cost less, {FEN}")
