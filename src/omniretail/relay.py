"""Relaying outbox events to NATS JetStream, for consumers past one machine.

Off unless ``OMNI_NATS_URL`` is set; the in-process handlers stay the default path. The
dispatcher hands every pending event it reads to the relay before delivering it, and marks it
dispatched only after that, so an event is published at least once; JetStream drops the repeats
by ``Nats-Msg-Id`` (the outbox id) within the stream's duplicate window.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError

from omniretail.events import Event

STREAM = "OMNI_EVENTS"
SUBJECT_PREFIX = "omni.events"
# JetStream drops a repeated Nats-Msg-Id within this window (its default, stated here).
DUPLICATE_WINDOW = dt.timedelta(minutes=2)
# How long the stream keeps a message: every delivery of a message, first or redelivered, and
# a new consumer's replay from the start, happen within this age of its publication. The
# consumers' dedupe rows (consumed_events) must outlive it (see consumers.check_retention).
STREAM_MAX_AGE = dt.timedelta(days=7)


def subject_of(event: Event, prefix: str = SUBJECT_PREFIX) -> str:
    """``omni.events.<tenant>.<event type>``: consumers filter by tenant or type."""
    return f"{prefix}.{event.tenant_id}.{event.type}"


def event_of(body: bytes) -> Event:
    """The event a relayed message carries (``body_of`` read back)."""
    data = json.loads(body)
    return Event(
        id=int(data["id"]),
        tenant_id=int(data["tenant_id"]),
        type=str(data["type"]),
        aggregate_type=str(data["aggregate_type"]),
        aggregate_id=str(data["aggregate_id"]),
        payload=dict(data["payload"]),
        occurred_at=dt.datetime.fromisoformat(data["occurred_at"]),
    )


async def declare_stream(
    js: JetStreamContext, stream: str, subject_prefix: str = SUBJECT_PREFIX
) -> None:
    """The stream every relayed event goes to (created, or updated if declared otherwise)."""
    config = StreamConfig(
        name=stream,
        subjects=[f"{subject_prefix}.>"],
        max_age=STREAM_MAX_AGE.total_seconds(),
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


def body_of(event: Event) -> bytes:
    return json.dumps(
        {
            "id": event.id,
            "tenant_id": event.tenant_id,
            "type": event.type,
            "aggregate_type": event.aggregate_type,
            "aggregate_id": event.aggregate_id,
            "payload": event.payload,
            "occurred_at": event.occurred_at.isoformat(),
        },
        ensure_ascii=False,
    ).encode()


class NatsRelay:
    """Publishes to JetStream; connects (and declares the stream) on first use."""

    def __init__(
        self, url: str, *, stream: str = STREAM, subject_prefix: str = SUBJECT_PREFIX
    ) -> None:
        self.url = url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self._client: Client | None = None
        self._js: JetStreamContext | None = None

    async def _jetstream(self) -> JetStreamContext:
        if self._js is None:
            self._client = await nats.connect(self.url, connect_timeout=2, max_reconnect_attempts=2)
            js = self._client.jetstream()
            await declare_stream(js, self.stream, self.subject_prefix)
            self._js = js
        return self._js

    async def publish(self, events: Sequence[Event]) -> None:
        """Publish each event, acknowledged by the stream; raises if NATS is unreachable (the
        events then stay pending and are published again on the next pass)."""
        if not events:
            return
        js = await self._jetstream()
        for event in events:
            await js.publish(
                subject_of(event, self.subject_prefix),
                body_of(event),
                headers={"Nats-Msg-Id": str(event.id)},
            )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.drain()
        self._client, self._js = None, None
