"""Request and response shapes of engagement."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from omniretail.engagement.domain import CampaignKind, Medium, MessageStatus
from omniretail.schemas import Code, Output

ParamValue = Annotated[str, StringConstraints(max_length=200)]


CUSTOMER_ID = "the customer's id"
MEDIUM = (
    "sms, wechat_template, app_push or miniprogram_subscribe; each needs the customer's consent "
    "on its channel for marketing"
)
TEMPLATE = "the template's code (e.g. tryon_coupon, store_offer, order_ready)"
LOCALE = "the language of the text: zh-CN or en"
DELAY = "minutes after the try-on before the check (no purchase by then: the offer is sent)"
COUPON_DAYS = "days the offered coupon stays valid"
CAP = "most offers a customer receives in 7 days, across campaigns"
HOLDOUT = "percent of customers kept as a control group (nothing sent, results compared)"
QUIET_START = "local hour (0-23) from which no offer is sent"
QUIET_END = "local hour (0-23) from which offers are sent again"
PROMOTION = "a coupon-only promotion: the discount the coupon gives"
SKUS = "only try-ons of these SKUs; null = any"


class OutboundMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description=CUSTOMER_ID
    )
    medium: Medium = Field(description=MEDIUM)
    template: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description=TEMPLATE
    )
    locale: Literal["zh-CN", "en"] = Field("zh-CN", description=LOCALE)
    params: dict[Annotated[str, StringConstraints(max_length=40)], ParamValue] = Field(
        default_factory=dict,
        max_length=20,
        description="the template's {named} parameters; every one it uses is required",
    )


class OutboundMessageOut(Output):
    id: str = Field(description="the message's id (read-only)")
    customer_id: str = Field(description=CUSTOMER_ID)
    medium: Medium = Field(description=MEDIUM)
    template: str = Field(description=TEMPLATE)
    locale: str = Field(description=LOCALE)
    marketing: bool = Field(description="a marketing message (needs consent), not a service notice")
    status: MessageStatus = Field(
        description="pending (queued or retrying), sent, or failed (gave up, or no address)"
    )
    attempts: int = Field(description="delivery attempts so far")
    next_attempt_at: dt.datetime = Field(description="when it is next tried (UTC)")
    last_error: str | None = Field(description="why the latest attempt failed")
    provider_ref: str | None = Field(description="the sender's reference once sent")
    created_at: dt.datetime = Field(description="when it was queued (UTC)")
    sent_at: dt.datetime | None = Field(description="when it was sent (UTC)")


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code = Field(description="the campaign's code")
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="the name staff see"
    )
    kind: CampaignKind = Field(
        CampaignKind.TRYON_NO_PURCHASE,
        description="tryon_no_purchase: an offer to who tried a SKU on and did not buy it",
    )
    skus: Annotated[list[Code], Field(min_length=1, max_length=500)] | None = Field(
        None, description=SKUS
    )
    promotion: Code = Field(description=PROMOTION)
    delay_minutes: Annotated[int, Field(ge=1, le=60 * 24 * 30)] = Field(24 * 60, description=DELAY)
    coupon_days: Annotated[int, Field(ge=1, le=365)] = Field(7, description=COUPON_DAYS)
    frequency_cap: Annotated[int, Field(ge=1, le=100)] = Field(2, description=CAP)
    holdout_percent: Annotated[int, Field(ge=0, le=90)] = Field(0, description=HOLDOUT)
    quiet_start: Annotated[int, Field(ge=0, le=23)] = Field(21, description=QUIET_START)
    quiet_end: Annotated[int, Field(ge=0, le=23)] = Field(9, description=QUIET_END)


class CampaignOut(Output):
    code: str = Field(description="the campaign's code")
    title: str = Field(description="the name staff see")
    kind: CampaignKind = Field(description="tryon_no_purchase")
    skus: list[str] | None = Field(description=SKUS)
    promotion: str = Field(description=PROMOTION)
    delay_minutes: int = Field(description=DELAY)
    coupon_days: int = Field(description=COUPON_DAYS)
    frequency_cap: int = Field(description=CAP)
    holdout_percent: int = Field(description=HOLDOUT)
    quiet_start: int = Field(description=QUIET_START)
    quiet_end: int = Field(description=QUIET_END)
    active: bool = Field(description="a stopped campaign sends nothing more")
    created_at: dt.datetime = Field(description="when it was created (UTC)")


class CampaignResults(BaseModel):
    campaign: str = Field(description="the campaign's code")
    outcomes: dict[str, int] = Field(
        description="checks by outcome: waiting, sent, bought (no offer needed), no_consent, "
        "capped, holdout, ended"
    )
    sent: int = Field(description="offers sent")
    redeemed: int = Field(description="offered coupons used in an order")
    revenue_attributed: int = Field(
        description="minor units: goods value of the offered SKU "
        "bought by offered customers after the offer"
    )
    conversion_offered: float | None = Field(
        description="share of offered customers who bought the SKU after the offer"
    )
    holdout: int = Field(description="customers in the control group")
    conversion_holdout: float | None = Field(
        description="share of the control group who bought the SKU after their check"
    )


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description=CUSTOMER_ID
    )
    lat: Annotated[float, Field(ge=-90, le=90)] = Field(
        description="the customer's latitude, degrees (WGS 84)"
    )
    lng: Annotated[float, Field(ge=-180, le=180)] = Field(
        description="the customer's longitude, degrees (WGS 84)"
    )
    radius_km: Annotated[float, Field(gt=0, le=5)] = Field(
        1.0, description="look for a store this near, km (at most 5)"
    )


class NearbyStore(BaseModel):
    code: str = Field(description="the store's code")
    name: str = Field(description="the store's name")
    distance_km: float = Field(description="from the customer, km")


class StoreOffer(BaseModel):
    promotion: str = Field(description="the promotion's code offered")
    title: str = Field(description="its title, as the customer sees it")


class PresenceOut(BaseModel):
    store: NearbyStore | None = Field(description="the nearest store in the radius, if any")
    offer: StoreOffer | None = Field(description="the store's offer, if one applies")
    message_id: str | None = Field(description="the offer's message, when one was queued")
    reason: str | None = Field(description="why no offer was sent, when none was")


class PairingOut(Output):
    sku: str = Field(description="the paired variant's SKU")
    title: str | None = Field(description="the product's title; null if no longer catalogued")
    score: int = Field(description="3 x co_purchase + co_view: the rank")
    co_purchase: int = Field(description="customers who bought both")
    co_view: int = Field(description="customers who looked at both (viewed, tried, scanned)")
    available: int | None = Field(description="available at the location asked for, else null")


class SkuPairingsOut(Output):
    sku: str = Field(description="the SKU asked about")
    location: str | None = Field(
        description="the store's code whose stock filtered the list; null when none was asked for"
    )
    items: list[PairingOut] = Field(
        description="the SKUs bought or looked at with it, best first by score (ties by SKU), "
        "at most `limit`; with a location, only those available there"
    )


class SuggestionOut(Output):
    sku: str = Field(description="the suggested variant's SKU")
    title: str = Field(description="the product's title")
    price: int = Field(description="list price, integer minor units (fen)")
    score: int = Field(
        description="the evidence: over the basis SKUs it pairs with, 3 x co_purchase + "
        "co_view summed (each basis SKU's 40 strongest pairings of each kind count); 0 for a "
        "best seller filling the list"
    )
    available: int = Field(description="available at the store now (always > 0)")
    because: list[str] = Field(
        description="the customer's SKUs this one pairs with; empty for a best seller"
    )


class SuggestionsOut(Output):
    customer_id: str = Field(
        description="the customer's id (the survivor's, when the id asked for was merged)"
    )
    location: str = Field(description="the store's code whose stock the suggestions are in")
    basis: list[str] = Field(description="what the customer bought or looked at lately")
    items: list[SuggestionOut] = Field(
        description="best first, at most `limit`: pairings seen with 2 customers or more by "
        "similarity (pair count over the geometric mean of the two SKUs' customers, weighted "
        "3 for co-purchase, summed over the basis), then pairings seen once by score, then "
        "best sellers; available at the store, on sale, never a SKU the customer bought; "
        "empty without a basis"
    )
