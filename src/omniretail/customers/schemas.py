from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from omniretail.customers.domain import IdentityType
from omniretail.schemas import Code, Input, Instant, Name, Output

IdentityValue = Annotated[str, Field(min_length=1, max_length=255)]
BehaviourLabel = Literal["view", "try_on", "scan", "add_to_cart", "store_visit", "search"]
CustomerId = Annotated[str, Field(min_length=1, max_length=64)]


class IdentityIn(Input):
    type: IdentityType
    value: IdentityValue


class CustomerIn(Input):
    identities: Annotated[list[IdentityIn], Field(max_length=20)] = []
    name: Name | None = None
    channel: Code | None = None


class ResolveIn(Input):
    """``identity`` (one) or ``identities`` (several), or both."""

    identity: IdentityIn | None = None
    identities: Annotated[list[IdentityIn], Field(max_length=20)] = []
    create_if_missing: bool = False
    channel: Code | None = None

    @model_validator(mode="after")
    def _some(self) -> ResolveIn:
        if self.identity is not None:
            self.identities = [self.identity, *self.identities]
            self.identity = None
        if not self.identities:
            raise ValueError("give identity or identities")
        return self


class MergeIn(Input):
    customer_id: CustomerId
    reason: Annotated[str, Field(min_length=1, max_length=500)] = "same person"


class ConsentIn(Input):
    granted: bool
    source: Annotated[str, Field(min_length=1, max_length=200)]
    at: Instant | None = None


class BehaviourIn(Input):
    type: BehaviourLabel
    customer_id: CustomerId | None = None
    identity: IdentityIn | None = None
    sku: Code | None = None
    query: Annotated[str, Field(max_length=200)] | None = None
    channel: Code
    location: Code | None = None
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lng: Annotated[float, Field(ge=-180, le=180)] | None = None
    staff: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="the guide who served the customer, e.g. who handed a sample over"
    )
    at: Instant

    @model_validator(mode="after")
    def _who(self) -> BehaviourIn:
        if (self.customer_id is None) == (self.identity is None):
            raise ValueError("give either customer_id or identity")
        if (self.lat is None) != (self.lng is None):
            raise ValueError("give both lat and lng, or neither")
        return self


class BehaviourBatchIn(Input):
    events: Annotated[list[BehaviourIn], Field(min_length=1, max_length=1000)]


class IdentityOut(Output):
    type: IdentityType
    value: str
    source_channel: str | None
    created_at: dt.datetime


class ChannelSeen(Output):
    channel: str
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


class ChannelSpend(Output):
    orders: int
    spend: int


class ConsentOut(Output):
    channel: str
    granted: bool
    source: str
    decided_at: dt.datetime


class BehaviourOut(Output):
    id: int
    type: BehaviourLabel
    sku: str | None
    query: str | None
    channel: str
    location: str | None
    lat: float | None
    lng: float | None
    staff: str | None = None
    at: dt.datetime


class PointsSummary(Output):
    balance: int
    tier: str | None


class Profile(Output):
    channels: list[ChannelSeen]
    first_seen_at: dt.datetime | None
    last_seen_at: dt.datetime | None
    orders_by_channel: dict[str, ChannelSpend]
    order_count: int
    lifetime_value: int
    favourite_store: str | None
    recent_views: list[BehaviourOut]
    recent_try_ons: list[BehaviourOut]
    consents: list[ConsentOut]


class CustomerOut(Output):
    id: str
    name: str | None
    created_channel: str | None
    created_at: dt.datetime
    identities: list[IdentityOut]
    merged_from: list[str]
    redirected_from: str | None = Field(
        default=None, description="the id asked for, when it was merged into this customer"
    )
    profile: Profile | None = None
    points: PointsSummary | None = None


class MergeOut(Output):
    survivor_id: str
    absorbed_id: str
    actor: str
    reason: str
    moved: dict[str, object]
    merged_at: dt.datetime


class BehaviourAccepted(Output):
    accepted: int
    customers: list[str]
