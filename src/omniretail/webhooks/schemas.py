"""Request and response shapes of outgoing webhooks. The secret goes out once, at creation."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints

from omniretail.schemas import SHOWN_ONCE, Input, Output
from omniretail.webhooks.domain import DeliveryStatus, WebhookEvent


class SubscriptionIn(Input):
    url: Annotated[str, StringConstraints(min_length=8, max_length=2000, pattern=r"^\S+$")]
    event_types: Annotated[list[WebhookEvent], Field(min_length=1, max_length=4)]
    description: Annotated[str | None, StringConstraints(max_length=200)] = None


class SubscriptionOut(Output):
    id: str
    url: str
    event_types: list[WebhookEvent]
    description: str | None
    created_at: dt.datetime
    secret: Annotated[
        str | None,
        Field(description="the signing secret: in the creating response only, never again"),
        SHOWN_ONCE,
    ] = None


class DeliveryOut(Output):
    id: int
    event_id: str
    event_type: WebhookEvent
    status: DeliveryStatus
    attempts: int
    response_code: int | None = Field(description="the HTTP status of the last try, if any")
    last_error: str | None
    next_attempt_at: dt.datetime | None = Field(description="when a pending one is tried next")
    created_at: dt.datetime
    delivered_at: dt.datetime | None
