"""Request and response shapes of the connectors API. Credentials go in, never out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints

from omniretail.schemas import Code, Input, Output

Secret = Annotated[str, StringConstraints(min_length=1, max_length=500)]
PlatformSku = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\S+$")]


PLATFORM = "the platform's connector: douyin, xiaohongshu, youzan or wechat (mini shop)"
SHOP_ID = "the shop's id on the platform"
CHANNEL = "the channel's code its orders are placed on"
LOCATIONS = "codes of the locations whose stock the shop sells (pushed as their sum)"
PLATFORM_SKU = "the item's id on the platform"
SKU = "our variant's SKU"


class ConnectionIn(Input):
    platform: Annotated[str, Field(pattern=r"^[a-z_]{2,32}$")] = Field(description=PLATFORM)
    shop_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description=SHOP_ID
    )
    channel: Code = Field(description=CHANNEL)
    locations: Annotated[list[Code], Field(min_length=1, max_length=200)] = Field(
        description=LOCATIONS
    )
    credentials: Annotated[dict[Code, Secret], Field(max_length=10)] = Field(
        description="the platform's keys (app_key, app_secret, ...): stored encrypted, "
        "never returned (write-only)"
    )


class ConnectionOut(Output):
    id: str = Field(description="the connection's id (read-only)")
    platform: str = Field(description=PLATFORM)
    shop_id: str = Field(description=SHOP_ID)
    channel: str = Field(description=CHANNEL)
    locations: list[str] = Field(description=LOCATIONS)
    credential_fields: list[str] = Field(
        description="the names of the credentials given; their values are never returned"
    )
    active: bool = Field(description="an inactive connection neither takes orders nor pushes stock")
    webhook_path: str = Field(
        description="where the platform sends its messages: /hooks/{platform}/{id}"
    )
    created_at: dt.datetime = Field(description="when it was created (UTC)")


class ConnectionCheckOut(Output):
    ok: bool = Field(description="true when the credentials are complete and sign correctly")
    detail: str = Field(description="what was checked, or what is missing")


class MappingIn(Input):
    platform_sku: PlatformSku = Field(description=PLATFORM_SKU)
    sku: Code = Field(description=SKU)


class MappingsIn(Input):
    items: Annotated[list[MappingIn], Field(min_length=1, max_length=5000)] = Field(
        description="1 to 5,000 mappings; an existing platform SKU is re-pointed"
    )


class MappingOut(Output):
    platform_sku: str = Field(description=PLATFORM_SKU)
    sku: str = Field(description=SKU)


class MessageOut(Output):
    id: int = Field(description="the stored message's id (read-only)")
    msg_id: str = Field(description="the platform's message id: a resend is stored once")
    topic: str = Field(description="the platform's message type")
    action: str = Field(
        description="paid (becomes our order), cancelled, refunded or ignored (stored only)"
    )
    platform_order_id: str | None = Field(description="the order's id on the platform")
    status: str = Field(
        description="received (waiting), applied, or parked (could not be applied: see outcome)"
    )
    outcome: str | None = Field(description="what applying it did, or why it was parked")
    order_id: str | None = Field(description="our order's id, once there is one")
    received_at: dt.datetime = Field(description="when it arrived (UTC)")
    applied_at: dt.datetime | None = Field(description="when it was applied (UTC)")


class StockPushOut(Output):
    sku: str = Field(description=SKU)
    platform_sku: str = Field(description=PLATFORM_SKU)
    qty: int = Field(description="units the platform was told it may sell")
    request: dict[str, object] = Field(description="the body sent to the platform")
    pushed_at: dt.datetime = Field(description="when (UTC)")
