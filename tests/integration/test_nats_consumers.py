"""NATS JetStream consumers (against the local NATS that scripts/ensure-services starts): each
relayed event is handled once per consumer even when JetStream delivers it again, a failing
handler's event is redelivered until it succeeds, and only then acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa

from omniretail.consumers import (
    DEFAULT_RETENTION,
    ConsumedEvent,
    NatsConsumers,
    durable_name,
    purge_consumed_events,
)
from omniretail.db import Database, UnitOfWork, utcnow
from omniretail.events import Dispatcher, Event, HandlerRegistry, record_event
from omniretail.relay import NatsRelay, body_of, subject_of
from omniretail.wiring import build_registry, nats_groups
from tests.factories import TenantHandle

NATS_URL = "nats://127.0.0.1:4222"


class Nats:
    """A stream and subject prefix of this test's own (tests share the server)."""

    def __init__(self) -> None:
        tag = secrets.token_hex(4)
        self.stream = f"OMNI_TEST_{tag.upper()}"
        self.prefix = f"omnitest{tag}.events"
        self.relay = NatsRelay(NATS_URL, stream=self.stream, subject_prefix=self.prefix)

    def consumers(self, db: Database, groups: dict[str, HandlerRegistry]) -> NatsConsumers:
        return NatsConsumers(
            NATS_URL, db, groups, stream=self.stream, subject_prefix=self.prefix, max_deliver=5
        )


@pytest.fixture
async def bus() -> AsyncIterator[Nats]:
    found = Nats()
    yield found
    js = await found.relay._jetstream()
    await js.delete_stream(found.stream)
    await found.relay.close()


@contextlib.asynccontextmanager
async def running(consumers: NatsConsumers) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(consumers.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def until(check: Callable[[], object], what: str) -> None:
    """Wait for an outcome that arrives asynchronously (a deadline, not a speed claim)."""
    for _ in range(600):
        if await check() if asyncio.iscoroutinefunction(check) else check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


class Recorder:
    """A handler that writes a row per call (rolled back with a failure) and can fail first."""

    def __init__(self, fail_times: int = 0) -> None:
        self.fail_times = fail_times
        self.calls: list[int] = []

    async def __call__(self, uow: UnitOfWork, event: Event) -> None:
        record_event(uow, "thing.noted", aggregate_type="thing", aggregate_id="n", payload={})
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("downstream is down")
        self.calls.append(event.id)


async def _record(db: Database, tenant: TenantHandle, count: int) -> None:
    async with db.uow(tenant.id) as uow:
        for n in range(count):
            record_event(
                uow, "thing.changed", aggregate_type="thing", aggregate_id=str(n), payload={"n": n}
            )


async def _pending(bus: Nats, name: str) -> tuple[int, int]:
    js = await bus.relay._jetstream()
    info = await js.consumer_info(bus.stream, name)
    return info.num_pending, info.num_ack_pending


async def test_a_relayed_event_is_handled_once_even_when_delivered_again(
    db: Database, tenant: TenantHandle, bus: Nats
) -> None:
    await _record(db, tenant, 3)
    await Dispatcher(db, HandlerRegistry(), relay=bus.relay).run_until_idle()
    recorder = Recorder()
    group = HandlerRegistry()
    group.subscribe("thing.changed", recorder)
    name = durable_name("things", "thing.changed")
    async with running(bus.consumers(db, {"things": group})):
        await until(lambda: len(recorder.calls) == 3, "three events handled")
        # Past JetStream's duplicate window an event can be published again under another
        # message id: the consumer's own record makes it a no-op.
        first = Event(recorder.calls[0], tenant.id, "thing.changed", "thing", "0", {}, utcnow())
        js = await bus.relay._jetstream()
        await js.publish(subject_of(first, bus.prefix), body_of(first), headers={"x": "again"})

        async def settled() -> bool:
            return await _pending(bus, name) == (0, 0)

        await until(settled, "every message acknowledged")
    assert sorted(recorder.calls) == sorted(set(recorder.calls))
    assert len(recorder.calls) == 3
    async with db.uow(tenant.id) as uow:
        marks = (await uow.session.scalars(sa.select(ConsumedEvent.consumer))).all()
    assert marks == [name] * 3


async def test_a_failing_handler_is_retried_and_its_writes_kept_only_once(
    db: Database, tenant: TenantHandle, bus: Nats
) -> None:
    await _record(db, tenant, 1)
    await Dispatcher(db, HandlerRegistry(), relay=bus.relay).run_until_idle()
    recorder = Recorder(fail_times=2)
    group = HandlerRegistry()
    group.subscribe("thing.changed", recorder)
    async with running(bus.consumers(db, {"things": group})):
        await until(lambda: len(recorder.calls) == 1, "handled after two failures")

        async def settled() -> bool:
            return await _pending(bus, durable_name("things", "thing.changed")) == (0, 0)

        await until(settled, "acknowledged")
    async with db.uow(tenant.id) as uow:
        noted = await uow.session.scalar(
            sa.text("SELECT count(*) FROM outbox_events WHERE type = 'thing.noted'")
        )
    assert noted == 1  # the two failed attempts' writes were rolled back


async def test_a_batch_handler_gets_each_tenant_batch_once(
    db: Database, tenant: TenantHandle, bus: Nats
) -> None:
    await _record(db, tenant, 5)
    seen: list[int] = []

    async def together(uow: UnitOfWork, events: list[Event]) -> None:
        assert {e.tenant_id for e in events} == {tenant.id}
        seen.extend(e.id for e in events)

    group = HandlerRegistry()
    group.subscribe_batch("thing.changed", together)
    await Dispatcher(db, HandlerRegistry(), relay=bus.relay).run_until_idle()
    async with running(bus.consumers(db, {"batch": group})):
        await until(lambda: len(seen) == 5, "five events handled")
    assert len(set(seen)) == 5


def test_with_nats_the_in_process_registry_leaves_the_consumers_handlers_out() -> None:
    owned = {t for group in nats_groups().values() for t in group.event_types()}
    assert "inventory.availability_changed" in owned
    assert "order.placed" in owned
    local, everything = build_registry(nats=True), build_registry()
    assert local.batch_handler_for("inventory.availability_changed") is None
    assert everything.batch_handler_for("inventory.availability_changed") is not None
    # Orders in stay in-process (in order per platform order); webhooks' order.placed does not.
    assert local.handlers_for("connector.message_received")
    assert (
        len(everything.handlers_for("order.placed")) == len(local.handlers_for("order.placed")) + 1
    )


async def test_a_redelivery_after_the_retention_purge_is_still_ignored(
    db: Database, tenant: TenantHandle, bus: Nats
) -> None:
    await _record(db, tenant, 2)
    await Dispatcher(db, HandlerRegistry(), relay=bus.relay).run_until_idle()
    recorder = Recorder()
    group = HandlerRegistry()
    group.subscribe("thing.changed", recorder)
    name = durable_name("things", "thing.changed")

    async def settled() -> bool:
        return await _pending(bus, name) == (0, 0)

    async with running(bus.consumers(db, {"things": group})):
        await until(lambda: len(recorder.calls) == 2, "two events handled")
        await until(settled, "every message acknowledged")
        # Ten days on (past the stream's max age, inside the retention) the purge keeps the
        # rows; the same event published again as a new message is still a repeat.
        async with db.uow(tenant.id) as uow:
            await uow.session.execute(
                sa.update(ConsumedEvent).values(consumed_at=utcnow() - dt.timedelta(days=10))
            )
        assert await purge_consumed_events(db, retention=DEFAULT_RETENTION) == 0
        first = Event(recorder.calls[0], tenant.id, "thing.changed", "thing", "0", {}, utcnow())
        js = await bus.relay._jetstream()
        await js.publish(subject_of(first, bus.prefix), body_of(first), headers={"x": "again"})
        await until(settled, "the repeat acknowledged")
    assert len(recorder.calls) == 2
