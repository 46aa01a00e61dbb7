"""With a relay, the outbox also publishes every event to NATS JetStream, once per event id
even when a pass is repeated (against the local NATS that scripts/ensure-services starts)."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator

import nats
import pytest
from nats.errors import NoServersError

from omniretail.db import Database
from omniretail.events import Dispatcher, Event, HandlerRegistry, record_event
from omniretail.relay import SUBJECT_PREFIX, NatsRelay
from tests.factories import TenantHandle

NATS_URL = "nats://127.0.0.1:4222"


class FailingOnce:
    """A handler that fails the first time, so the dispatcher reads its event twice."""

    def __init__(self) -> None:
        self.failed = False

    async def __call__(self, uow: object, event: Event) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("downstream is down")


@pytest.fixture
async def relay() -> AsyncIterator[NatsRelay]:
    stream = f"OMNI_TEST_{secrets.token_hex(4).upper()}"
    found = NatsRelay(NATS_URL, stream=stream)
    yield found
    js = await found._jetstream()
    await js.delete_stream(stream)
    await found.close()


async def test_every_event_is_relayed_once_with_its_id_as_the_message_id(
    db: Database, tenant: TenantHandle, relay: NatsRelay
) -> None:
    async with db.uow(tenant.id) as uow:
        for n in range(3):
            record_event(
                uow, "thing.changed", aggregate_type="thing", aggregate_id="a", payload={"n": n}
            )
    registry = HandlerRegistry()
    registry.subscribe("thing.changed", FailingOnce())
    dispatcher = Dispatcher(db, registry, relay=relay)
    await dispatcher.run_once()  # the first event fails: all three stay pending and are read again
    await dispatcher.run_until_idle()

    client = await nats.connect(NATS_URL)
    try:
        js = client.jetstream()
        info = await js.stream_info(relay.stream)
        assert info.state.messages == 3
        sub = await js.pull_subscribe(f"{SUBJECT_PREFIX}.{tenant.id}.>", stream=relay.stream)
        messages = await sub.fetch(3, timeout=5)
        bodies = [json.loads(m.data) for m in messages]
        assert [b["payload"]["n"] for b in bodies] == [0, 1, 2]
        assert [m.headers["Nats-Msg-Id"] for m in messages if m.headers] == [
            str(b["id"]) for b in bodies
        ]
        assert {m.subject for m in messages} == {f"{SUBJECT_PREFIX}.{tenant.id}.thing.changed"}
    finally:
        await client.close()


async def test_an_unreachable_nats_leaves_the_events_pending(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        record_event(uow, "thing.changed", aggregate_type="thing", aggregate_id="a", payload={})
    seen: list[int] = []

    async def record(uow: object, event: Event) -> None:
        seen.append(event.id)

    registry = HandlerRegistry()
    registry.subscribe("thing.changed", record)
    dispatcher = Dispatcher(db, registry, relay=NatsRelay("nats://127.0.0.1:1"))
    with pytest.raises(NoServersError):
        await dispatcher.run_once()
    assert seen == []
    assert await Dispatcher(db, registry).run_until_idle() == 1
