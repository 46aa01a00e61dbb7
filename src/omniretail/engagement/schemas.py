"""Request and response shapes of engagement."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from omniretail.engagement.domain import CampaignKind, Medium, MessageStatus
from omniretail.schemas import Code, Output

ParamValue = Annotated[str, StringConstraints(max_length=200)]


class OutboundMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    medium: Medium
    template: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    locale: Literal["zh-CN", "en"] = "zh-CN"
    params: dict[Annotated[str, StringConstraints(max_length=40)], ParamValue] = Field(
        default_factory=dict, max_length=20
    )


class OutboundMessageOut(Output):
    id: str
    customer_id: str
    medium: Medium
    template: str
    locale: str
    marketing: bool
    status: MessageStatus
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    provider_ref: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    kind: CampaignKind = CampaignKind.TRYON_NO_PURCHASE
    skus: Annotated[list[Code], Field(min_length=1, max_length=500)] | None = None
    promotion: Code = Field(description="a coupon-only promotion: the discount the coupon gives")
    delay_minutes: Annotated[int, Field(ge=1, le=60 * 24 * 30)] = 24 * 60
    coupon_days: Annotated[int, Field(ge=1, le=365)] = 7
    frequency_cap: Annotated[int, Field(ge=1, le=100)] = 2
    holdout_percent: Annotated[int, Field(ge=0, le=90)] = 0
    quiet_start: Annotated[int, Field(ge=0, le=23)] = 21
    quiet_end: Annotated[int, Field(ge=0, le=23)] = 9


class CampaignOut(Output):
    code: str
    title: str
    kind: CampaignKind
    skus: list[str] | None
    promotion: str
    delay_minutes: int
    coupon_days: int
    frequency_cap: int
    holdout_percent: int
    quiet_start: int
    quiet_end: int
    active: bool
    created_at: dt.datetime


class CampaignResults(BaseModel):
    campaign: str
    outcomes: dict[str, int]
    sent: int
    redeemed: int
    revenue_attributed: int = Field(
        description="minor units: goods value of the offered SKU "
        "bought by offered customers after the offer"
    )
    conversion_offered: float | None = Field(
        description="share of offered customers who bought the SKU after the offer"
    )
    holdout: int
    conversion_holdout: float | None = Field(
        description="share of the control group who bought the SKU after their check"
    )


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    lat: Annotated[float, Field(ge=-90, le=90)]
    lng: Annotated[float, Field(ge=-180, le=180)]
    radius_km: Annotated[float, Field(gt=0, le=5)] = 1.0


class NearbyStore(BaseModel):
    code: str
    name: str
    distance_km: float


class StoreOffer(BaseModel):
    promotion: str
    title: str


class PresenceOut(BaseModel):
    store: NearbyStore | None
    offer: StoreOffer | None
    message_id: str | None = Field(description="the offer's message, when one was queued")
    reason: str | None = Field(description="why no offer was sent, when none was")


class PairingOut(Output):
    sku: str
    title: str | None = Field(description="the product's title; null if no longer catalogued")
    score: int = Field(description="3 x co_purchase + co_view: the rank")
    co_purchase: int = Field(description="customers who bought both")
    co_view: int = Field(description="customers who looked at both (viewed, tried, scanned)")
    available: int | None = Field(description="available at the location asked for, else null")


class SkuPairingsOut(Output):
    sku: str
    location: str | None
    items: list[PairingOut]


class SuggestionOut(Output):
    sku: str
    title: str
    price: int = Field(description="list price, integer minor units (fen)")
    score: int
    available: int = Field(description="available at the store now (always > 0)")
    because: list[str] = Field(description="the customer's SKUs this one pairs with")


class SuggestionsOut(Output):
    customer_id: str
    location: str
    basis: list[str] = Field(description="what the customer bought or looked at lately")
    items: list[SuggestionOut]
