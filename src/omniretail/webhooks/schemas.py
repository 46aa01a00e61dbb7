"""Request and response shapes of outgoing webhooks. The secret goes out once, at creation."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints

from omniretail.schemas import SHOWN_ONCE, Input, Output
from omniretail.webhooks.domain import DeliveryStatus, WebhookEvent

EVENTS = (
    "order.placed, fulfillment.status_changed, stock.changed or return.completed "
    "(docs/channels.md lists each one's data)"
)
DELIVERY_STATUS = (
    "pending (waiting for its next try), delivered (a 2xx answer), dead (8 tries failed: given "
    "up) or cancelled (its subscription was deleted before it went out)"
)


class SubscriptionIn(Input):
    url: Annotated[str, StringConstraints(min_length=8, max_length=2000, pattern=r"^\S+$")] = Field(
        description="where we POST each event: http or https, no user:password; every "
        "address its host resolves to must be public (422 webhook_url_refused otherwise)"
    )
    event_types: Annotated[list[WebhookEvent], Field(min_length=1, max_length=4)] = Field(
        description=f"what to send, 1 to 4 of: {EVENTS}"
    )
    description: Annotated[str | None, StringConstraints(max_length=200)] = Field(
        None, description="a note for the merchant (e.g. which system receives it); optional"
    )


class SubscriptionOut(Output):
    id: str = Field(description="the subscription's id (read-only)")
    url: str = Field(description="where each event is POSTed")
    event_types: list[WebhookEvent] = Field(description=f"what is sent: {EVENTS}")
    description: str | None = Field(description="the merchant's note; null when none")
    created_at: dt.datetime = Field(description="when it was subscribed (UTC)")
    secret: Annotated[
        str | None,
        Field(description="the signing secret: in the creating response only, never again"),
        SHOWN_ONCE,
    ] = None


class DeliveryOut(Output):
    id: int = Field(description="the delivery's number (read-only); the log lists the newest first")
    event_id: str = Field(
        description="evt_<n>: the body's id and X-Omni-Event-Id, the same on every try (dedupe "
        "by it: delivery is at least once)"
    )
    event_type: WebhookEvent = Field(description=f"the event sent: {EVENTS}")
    status: DeliveryStatus = Field(description=DELIVERY_STATUS)
    attempts: int = Field(description="tries made so far (the one under way included), at most 8")
    response_code: int | None = Field(description="the HTTP status of the last try, if any")
    last_error: str | None = Field(
        description="why the last try failed (a status, a timeout, a refused address), at most "
        "500 characters; null when it succeeded or none was made"
    )
    next_attempt_at: dt.datetime | None = Field(description="when a pending one is tried next")
    created_at: dt.datetime = Field(description="when the event was recorded for delivery (UTC)")
    delivered_at: dt.datetime | None = Field(
        description="when a receiver answered 2xx (UTC); null until delivered"
    )
