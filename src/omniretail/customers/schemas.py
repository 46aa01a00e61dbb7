from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from omniretail.customers.domain import IdentityType
from omniretail.schemas import Code, Input, Instant, Name, Output

IdentityValue = Annotated[str, Field(min_length=1, max_length=255)]
BehaviourLabel = Literal["view", "try_on", "scan", "add_to_cart", "store_visit", "search"]
CustomerId = Annotated[str, Field(min_length=1, max_length=64)]


IDENTITY_TYPE = (
    "phone, email, wechat_unionid, wechat_openid, douyin_openid, xhs_user_id or member_card"
)
IDENTITY_VALUE = "the phone number, address or platform id (normalised: spaces removed, ...)"
CHANNEL = "the channel's code where it happened"
BEHAVIOUR = "view, try_on, scan, add_to_cart, store_visit or search"
CUSTOMER_ID = "the customer's id"
MERGE_REASON = "why the two records are one person, kept in the merge's history"


class IdentityIn(Input):
    type: IdentityType = Field(description=IDENTITY_TYPE)
    value: IdentityValue = Field(description=IDENTITY_VALUE)


class CustomerIn(Input):
    identities: Annotated[list[IdentityIn], Field(max_length=20)] = Field(
        [], description="ways to recognise the customer; each is unique in the tenant"
    )
    name: Name | None = Field(None, description="the customer's name (personal data)")
    channel: Code | None = Field(None, description="the channel's code where they signed up")


class ResolveIn(Input):
    """``identity`` (one) or ``identities`` (several), or both."""

    identity: IdentityIn | None = Field(None, description="one identity to look up")
    identities: Annotated[list[IdentityIn], Field(max_length=20)] = Field(
        [], description="several identities of one person, to look up together"
    )
    create_if_missing: bool = Field(
        False, description="create the customer when no identity is known (201 instead of 404)"
    )
    channel: Code | None = Field(
        None, description="the channel's code, recorded when a customer is created"
    )

    @model_validator(mode="after")
    def _some(self) -> ResolveIn:
        if self.identity is not None:
            self.identities = [self.identity, *self.identities]
            self.identity = None
        if not self.identities:
            raise ValueError("give identity or identities")
        return self


class MergeIn(Input):
    customer_id: CustomerId = Field(description="the customer absorbed into the one in the path")
    reason: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        "same person", description=MERGE_REASON
    )


class ConsentIn(Input):
    granted: bool = Field(description="true: may receive marketing on this channel; false: not")
    source: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="where the customer decided (e.g. 'app settings', 'store form ST-001')"
    )
    at: Instant | None = Field(None, description="when they decided; null = now")


class BehaviourIn(Input):
    type: BehaviourLabel = Field(description=BEHAVIOUR)
    customer_id: CustomerId | None = Field(
        None, description="the customer's id; give this or identity"
    )
    identity: IdentityIn | None = Field(
        None, description="an identity of the customer; give this or customer_id"
    )
    sku: Code | None = Field(None, description="the variant viewed, tried on or scanned")
    query: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="the search text (search)"
    )
    channel: Code = Field(description=CHANNEL)
    location: Code | None = Field(None, description="the store's code, for in-store behaviour")
    lat: Annotated[float, Field(ge=-90, le=90)] | None = Field(
        None, description="latitude, degrees (WGS 84); with lng"
    )
    lng: Annotated[float, Field(ge=-180, le=180)] | None = Field(
        None, description="longitude, degrees (WGS 84); with lat"
    )
    staff: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="the guide who served the customer, e.g. who handed a sample over"
    )
    at: Instant = Field(description="when it happened, with its time zone")

    @model_validator(mode="after")
    def _who(self) -> BehaviourIn:
        if (self.customer_id is None) == (self.identity is None):
            raise ValueError("give either customer_id or identity")
        if (self.lat is None) != (self.lng is None):
            raise ValueError("give both lat and lng, or neither")
        return self


class BehaviourBatchIn(Input):
    events: Annotated[list[BehaviourIn], Field(min_length=1, max_length=1000)] = Field(
        description="1 to 1,000 events, stored together or not at all"
    )


class IdentityOut(Output):
    type: IdentityType = Field(description=IDENTITY_TYPE)
    value: str = Field(description=IDENTITY_VALUE)
    source_channel: str | None = Field(description="the channel's code it was learnt from")
    created_at: dt.datetime = Field(description="when it was linked (UTC)")


class ChannelSeen(Output):
    channel: str = Field(description="the channel's code")
    first_seen_at: dt.datetime = Field(description="first activity on the channel (UTC)")
    last_seen_at: dt.datetime = Field(description="latest activity on the channel (UTC)")


class ChannelSpend(Output):
    orders: int = Field(description="orders placed on the channel")
    spend: int = Field(description="their totals together, integer minor units (fen)")


class ConsentOut(Output):
    channel: str = Field(description="the messaging channel (sms, email, wechat, ...)")
    granted: bool = Field(description="true: may receive marketing there")
    source: str = Field(description="where the customer decided")
    decided_at: dt.datetime = Field(description="when they decided (UTC)")


class BehaviourOut(Output):
    id: int = Field(description="the event's id (read-only)")
    type: BehaviourLabel = Field(description=BEHAVIOUR)
    sku: str | None = Field(description="the variant concerned")
    query: str | None = Field(description="the search text")
    channel: str = Field(description=CHANNEL)
    location: str | None = Field(description="the store's code, for in-store behaviour")
    lat: float | None = Field(description="latitude, degrees (WGS 84)")
    lng: float | None = Field(description="longitude, degrees (WGS 84)")
    staff: str | None = Field(None, description="the guide who served the customer")
    at: dt.datetime = Field(description="when it happened (UTC)")


class PointsSummary(Output):
    balance: int = Field(description="loyalty points available")
    tier: str | None = Field(description="the loyalty tier's code; null when not a member")


class Profile(Output):
    channels: list[ChannelSeen] = Field(description="every channel the customer was active on")
    first_seen_at: dt.datetime | None = Field(description="first activity anywhere (UTC)")
    last_seen_at: dt.datetime | None = Field(description="latest activity anywhere (UTC)")
    orders_by_channel: dict[str, ChannelSpend] = Field(
        description="orders and spend per channel's code"
    )
    order_count: int = Field(description="orders on all channels")
    lifetime_value: int = Field(description="spend on all channels, integer minor units (fen)")
    favourite_store: str | None = Field(description="the store code most of their orders name")
    recent_views: list[BehaviourOut] = Field(description="latest views, newest first")
    recent_try_ons: list[BehaviourOut] = Field(description="latest try-ons, newest first")
    consents: list[ConsentOut] = Field(description="marketing consent per messaging channel")


class CustomerOut(Output):
    id: str = Field(description="the customer's id (read-only)")
    name: str | None = Field(description="the customer's name")
    created_channel: str | None = Field(description="the channel's code where they signed up")
    created_at: dt.datetime = Field(description="when the record was created (UTC)")
    identities: list[IdentityOut] = Field(description="ways to recognise the customer")
    merged_from: list[str] = Field(description="ids of customers merged into this one")
    redirected_from: str | None = Field(
        default=None, description="the id asked for, when it was merged into this customer"
    )
    profile: Profile | None = Field(
        None, description="the single view across channels (on a single customer's read)"
    )
    points: PointsSummary | None = Field(None, description="loyalty balance and tier")


class MergeOut(Output):
    survivor_id: str = Field(description="the customer that remains")
    absorbed_id: str = Field(description="the customer merged in (its id now redirects)")
    actor: str = Field(description="the key or staff member that merged them")
    reason: str = Field(description=MERGE_REASON)
    moved: dict[str, object] = Field(
        description="what moved to the survivor, by kind (identities, orders, points, ...)"
    )
    merged_at: dt.datetime = Field(description="when (UTC)")


class BehaviourAccepted(Output):
    accepted: int = Field(description="events stored")
    customers: list[str] = Field(description="ids of the customers the events were filed under")
