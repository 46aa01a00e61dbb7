"""Request and response shapes of the connectors API. Credentials go in, never out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints

from omniretail.schemas import Code, Input, Output

Secret = Annotated[str, StringConstraints(min_length=1, max_length=500)]
PlatformSku = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\S+$")]


class ConnectionIn(Input):
    platform: Annotated[str, Field(pattern=r"^[a-z_]{2,32}$")]
    shop_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    channel: Code
    locations: Annotated[list[Code], Field(min_length=1, max_length=200)]
    credentials: Annotated[dict[Code, Secret], Field(max_length=10)]


class ConnectionOut(Output):
    id: str
    platform: str
    shop_id: str
    channel: str
    locations: list[str]
    credential_fields: list[str]  # which were given; their values are never returned
    active: bool
    webhook_path: str
    created_at: dt.datetime


class ConnectionCheckOut(Output):
    ok: bool
    detail: str


class MappingIn(Input):
    platform_sku: PlatformSku
    sku: Code


class MappingsIn(Input):
    items: Annotated[list[MappingIn], Field(min_length=1, max_length=5000)]


class MappingOut(Output):
    platform_sku: str
    sku: str


class MessageOut(Output):
    id: int
    msg_id: str
    topic: str
    action: str
    platform_order_id: str | None
    status: str
    outcome: str | None
    order_id: str | None
    received_at: dt.datetime
    applied_at: dt.datetime | None


class StockPushOut(Output):
    sku: str
    platform_sku: str
    qty: int
    request: dict[str, object]
    pushed_at: dt.datetime
