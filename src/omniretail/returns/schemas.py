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


class ReturnLineIn(Input):
    sku: Code
    qty: Annotated[int, Field(ge=1, le=10_000)]
    condition: Condition = Condition.RESELLABLE


class ReturnIn(Input):
    order_id: Annotated[str, Field(max_length=32)]
    lines: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=200)]
    location: Code | None = Field(default=None, description="where the goods are received")
    courier_pickup: AddressIn | None = Field(
        default=None, description="collect from the customer instead; refunded on receipt"
    )
    channel: Code

    @model_validator(mode="after")
    def _where(self) -> ReturnIn:
        if (self.location is None) == (self.courier_pickup is None):
            raise ValueError("give either location (received now) or courier_pickup")
        return self


class ReceiveIn(Input):
    location: Code


class ReturnLineOut(Output):
    sku: str
    qty: int
    condition: Condition
    refund_amount: int


class RefundOut(Output):
    method: str
    amount: int
    credited: int
    provider_ref: str | None


class RestockOut(Output):
    location: str
    sku: str
    qty: int
    condition: Condition


class ReturnOut(Output):
    id: str
    order_id: str
    channel: str
    location: str | None
    status: str
    lines: list[ReturnLineOut]
    refund_total: int
    refunds: list[RefundOut]
    points_reversed: dict[str, int] | None = Field(
        default=None,
        description="earned_reversed, redeemed_returned, shortfall (earned points already spent)",
    )
    restocked: list[RestockOut]
    created_at: dt.datetime
    received_at: dt.datetime | None


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
    order_id: Annotated[str, Field(max_length=32)]
    type: CaseType
    subject: Annotated[str, Field(min_length=1, max_length=200)]
    channel: Code
    note: Annotated[str, Field(max_length=4000)] | None = None
    owner_location: Code | None = None


class CaseNoteIn(Input):
    body: Annotated[str, Field(min_length=1, max_length=4000)]
    channel: Code | None = None
    status: CaseStatus | None = None
    owner_location: Code | None = None


class CaseNoteOut(Output):
    author: str
    channel: str | None
    body: str
    status_change: str | None
    at: dt.datetime


class CaseOut(Output):
    id: str
    order_id: str
    type: CaseType
    status: CaseStatus
    subject: str
    opened_channel: str
    owner_location: str | None
    return_id: str | None
    timeline: list[CaseNoteOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class ExchangeOrderIn(Input):
    """The replacement goods; ``payments`` cover only what the returned goods do not."""

    lines: Annotated[list[LineIn], Field(min_length=1, max_length=200)]
    fulfillment: FulfilmentIn
    payments: Annotated[list[PaymentIn], Field(max_length=10)] = []
    attributed_staff: Annotated[str, Field(max_length=64)] | None = None


class ExchangeIn(Input):
    order_id: Annotated[str, Field(max_length=32)]
    channel: Code
    location: Code = Field(description="where the returned goods are received")
    lines: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=200)]
    new_order: ExchangeOrderIn


class ExchangeOut(Output):
    returned: ReturnOut
    order: OrderOut
    credit: int = Field(description="refund value that paid for the new order")
    difference_paid: int
    refunded: int
