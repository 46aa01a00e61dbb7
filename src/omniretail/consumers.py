"""Durable NATS JetStream consumers: the handlers that run past one machine.

When ``OMNI_NATS_URL`` is set, the outbox relays every event to JetStream (``omniretail.relay``)
and the handlers of the groups in ``wiring.nats_groups`` (the connectors' stock out, the outgoing
webhooks) are left out of the in-process dispatcher's registry: they run here instead, in
``omni worker`` (and ``omni serve`` when it runs the background work), one durable pull
consumer per (group, event type), shared by every process that runs them.

Exactly once in effect: a message is handled in one transaction together with a
``consumed_events`` row keyed by (consumer, outbox event id); a redelivered message whose row
exists is acknowledged without running the handler again. The message is acknowledged only
after that transaction commits; a crash in between means a redelivery, which the row absorbs.
A failing handler's message is redelivered with a growing delay and, after ``max_deliver``
attempts, terminated and logged (JetStream's dead letter).

The rows are kept for ``OMNI_CONSUMED_EVENTS_RETENTION_DAYS`` (14 by default), then deleted in
bounded batches by the worker's jobs or ``omni consumers purge``. The retention must be longer
than the stream keeps a message (``relay.STREAM_MAX_AGE``, 7 days) plus JetStream's duplicate
window: a message older than that is gone from the stream, so nothing can deliver it again and
its row has nothing left to catch.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping
from typing import cast

import nats
import sqlalchemy as sa
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import Base, BigId, Database, TenantScoped, UnitOfWork, UTCDateTime, utcnow
from omniretail.events import BatchHandler, Event, Handler, HandlerRegistry
from omniretail.relay import (
    DUPLICATE_WINDOW,
    STREAM,
    STREAM_MAX_AGE,
    SUBJECT_PREFIX,
    declare_stream,
    event_of,
)
from omniretail.writer_turns import background_writes

log = logging.getLogger("omniretail.consumers")

FETCH_BATCH = 200
# How long one fetch waits for messages: also how long a stop waits for the consumers.
FETCH_WAIT_SECONDS = 1.0


class ConsumedEvent(TenantScoped, Base):
    """One outbox event handled by one NATS consumer (what makes a redelivery harmless)."""

    __tablename__ = "consumed_events"
    __table_args__ = (sa.UniqueConstraint("consumer", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer: Mapped[str] = mapped_column(sa.String(120))
    event_id: Mapped[int] = mapped_column(sa.BigInteger)
    # Indexed for the retention purge, which deletes by age.
    consumed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


_CONSUMED = cast(sa.Table, ConsumedEvent.__table__)
_MARK = {
    dialect: insert(_CONSUMED)
    .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
    .returning(_CONSUMED.c.event_id)
    for dialect, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


async def mark_consumed(uow: UnitOfWork, consumer: str, events: list[Event]) -> set[int]:
    """Record ``events`` as handled by ``consumer`` in the unit of work's transaction; returns
    the ids not handled before (the others are repeats to skip)."""
    now = utcnow()
    rows = [
        {"tenant_id": e.tenant_id, "consumer": consumer, "event_id": e.id, "consumed_at": now}
        for e in events
    ]
    return {int(event_id) for (event_id,) in await uow.session.execute(_MARK[uow.dialect], rows)}


DEFAULT_RETENTION = dt.timedelta(days=14)
PURGE_BATCH = 1000


def check_retention(retention: dt.timedelta) -> None:
    """Refuse a retention under which a redelivered message could outlive its dedupe row."""
    floor = STREAM_MAX_AGE + DUPLICATE_WINDOW
    if retention <= floor:
        raise ValueError(
            f"consumed events must be kept longer than the stream keeps messages plus the "
            f"duplicate window ({floor}); {retention} is too short"
        )


async def purge_consumed_batch(uow: UnitOfWork, *, before: dt.datetime, limit: int) -> int:
    """Delete at most ``limit`` rows consumed before ``before`` (one bounded statement)."""
    due = sa.select(_CONSUMED.c.id).where(_CONSUMED.c.consumed_at < before).limit(limit)
    result = await uow.session.execute(sa.delete(_CONSUMED).where(_CONSUMED.c.id.in_(due)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def purge_consumed_events(
    db: Database,
    *,
    retention: dt.timedelta,
    now: dt.datetime | None = None,
    batch: int = PURGE_BATCH,
) -> int:
    """Delete every row older than ``retention``, ``batch`` rows per transaction so that no
    transaction holds many locks or a long write; returns how many went."""
    check_retention(retention)
    before = (now or utcnow()) - retention
    deleted = 0
    while True:
        async with db.uow(unscoped=True) as uow:
            done = await purge_consumed_batch(uow, before=before, limit=batch)
        deleted += done
        if done < batch:
            return deleted


def durable_name(group: str, event_type: str) -> str:
    """A JetStream consumer name (no dots): ``webhooks--order_placed``."""
    return f"{group}--{event_type.replace('.', '_')}"


class NatsConsumers:
    """Runs each group's handlers from JetStream until stopped."""

    def __init__(
        self,
        url: str,
        db: Database,
        groups: Mapping[str, HandlerRegistry],
        *,
        stream: str = STREAM,
        subject_prefix: str = SUBJECT_PREFIX,
        max_deliver: int = 10,
        ack_wait_seconds: float = 60,
    ) -> None:
        self.url = url
        self.db = db
        self.groups = groups
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.max_deliver = max_deliver
        self.ack_wait_seconds = ack_wait_seconds

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``; an unreachable NATS is retried, never the end of the worker
        (the events wait in the stream, and the relay keeps them pending in the outbox). Its
        units of work take turns behind the platform pushes, as the periodic jobs' do."""
        while not stop.is_set():
            try:
                with background_writes():
                    await self._run(stop)
            except Exception:
                log.exception("NATS consumers stopped; reconnecting")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=2)

    async def _run(self, stop: asyncio.Event) -> None:
        client = await nats.connect(self.url, connect_timeout=2)
        try:
            js = client.jetstream()
            await declare_stream(js, self.stream, self.subject_prefix)
            loops = [
                asyncio.create_task(self._consume(js, group, registry, event_type, stop))
                for group, registry in self.groups.items()
                for event_type in registry.event_types()
            ]
            await asyncio.gather(*loops)
        finally:
            await _close(client)

    async def _consume(
        self,
        js: JetStreamContext,
        group: str,
        registry: HandlerRegistry,
        event_type: str,
        stop: asyncio.Event,
    ) -> None:
        name = durable_name(group, event_type)
        subscription = await js.pull_subscribe(
            f"{self.subject_prefix}.*.{event_type}",
            durable=name,
            stream=self.stream,
            config=ConsumerConfig(
                durable_name=name,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self.ack_wait_seconds,
                max_deliver=self.max_deliver,
            ),
        )
        while not stop.is_set():
            try:
                messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_WAIT_SECONDS)
            except NatsTimeout:
                continue
            except Exception:
                log.exception("fetching %s failed; retrying", name)
                await asyncio.sleep(FETCH_WAIT_SECONDS)
                continue
            try:
                await self.handle(name, registry, event_type, messages)
            except Exception:
                # Unacknowledged messages come back after ack_wait.
                log.exception("%s: a batch could not be handled", name)

    async def handle(
        self, consumer: str, registry: HandlerRegistry, event_type: str, messages: list[Msg]
    ) -> None:
        """Handle one fetched batch, then acknowledge what was committed."""
        events = [(message, event_of(message.data)) for message in messages]
        batch_handler = registry.batch_handler_for(event_type)
        if batch_handler is not None:
            by_tenant: dict[int, list[tuple[Msg, Event]]] = {}
            for message, event in events:
                by_tenant.setdefault(event.tenant_id, []).append((message, event))
            for tenant_events in by_tenant.values():
                await self._handle_together(consumer, batch_handler, tenant_events)
            return
        handlers = registry.handlers_for(event_type)
        for message, event in events:
            await self._handle_one(consumer, handlers, message, event)

    async def _handle_together(
        self,
        consumer: str,
        handler: BatchHandler,
        items: list[tuple[Msg, Event]],
    ) -> None:
        events = [event for _, event in items]
        try:
            async with self.db.uow(events[0].tenant_id) as uow:
                fresh = await mark_consumed(uow, consumer, events)
                todo = [event for event in events if event.id in fresh]
                if todo:
                    await handler(uow, todo)
        except Exception as exc:
            log.warning("%s: %s events failed together: %r", consumer, len(events), exc)
            for message, _ in items:
                await self._failed(consumer, message)
            return
        for message, _ in items:
            await message.ack()

    async def _handle_one(
        self, consumer: str, handlers: list[Handler], message: Msg, event: Event
    ) -> None:
        try:
            async with self.db.uow(event.tenant_id) as uow:
                if await mark_consumed(uow, consumer, [event]):
                    for handler in handlers:
                        await handler(uow, event)
        except Exception as exc:
            log.warning("%s: event %s failed: %r", consumer, event.id, exc)
            await self._failed(consumer, message)
            return
        await message.ack()

    async def _failed(self, consumer: str, message: Msg) -> None:
        delivered = message.metadata.num_delivered or 1
        if delivered >= self.max_deliver:
            # Dead letter: kept in the stream for an operator, no longer redelivered.
            log.error(
                "%s: message %s terminated after %s deliveries", consumer, message.reply, delivered
            )
            await message.term()
            return
        await message.nak(delay=min(60.0, 0.5 * 2 ** (delivered - 1)))


async def _close(client: Client) -> None:
    # Close, not drain: every message handled was acknowledged already, and draining waits
    # for the pull requests still open on the server (up to its 30 s timeout).
    with contextlib.suppress(Exception):
        await client.close()
