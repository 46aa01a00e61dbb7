"""Events are written with the change and delivered at least once, in order per aggregate."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from typing import cast

import pytest
import sqlalchemy as sa

from omniretail.channels.schemas import ChannelKind
from omniretail.channels.service import do_create_channel
from omniretail.db import Database, UnitOfWork
from omniretail.events import Dispatcher, Event, HandlerRegistry, OutboxEvent, record_event
from tests.factories import TenantHandle


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.seen: list[tuple[str, str, int]] = []
        self.fail_times = fail_times

    async def __call__(self, uow: UnitOfWork, event: Event) -> None:
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("downstream is down")
        self.seen.append((event.aggregate_id, event.type, event.payload.get("n", 0)))


def registry_with(handler: Recorder, event_type: str = "*") -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.subscribe(event_type, handler)
    return registry


async def pending(db: Database) -> int:
    async with db.uow(unscoped=True) as uow:
        return int(
            await uow.session.scalar(
                sa.select(sa.func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.dispatched_at.is_(None), OutboxEvent.dead_at.is_(None))
            )
            or 0
        )


async def test_a_rolled_back_change_leaves_no_event(db: Database, tenant: TenantHandle) -> None:
    with pytest.raises(RuntimeError):
        async with db.uow(tenant.id) as uow:
            await do_create_channel(uow, code="app", kind=ChannelKind.APP, name="App")
            raise RuntimeError("abort")
    assert await pending(db) == 0


@contextlib.contextmanager
def statements(db: Database, starting: str) -> Iterator[list[str]]:
    """The SQL sent on ``db``'s engine within the block that starts with ``starting``."""
    seen: list[str] = []

    def note(*args: object) -> None:
        if str(args[2]).startswith(starting):
            seen.append(str(args[2]))

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", note)


async def test_a_units_events_are_written_in_one_insert_less_those_of_rolled_back_savepoints(
    db: Database, tenant: TenantHandle
) -> None:
    def note(uow: UnitOfWork, name: str) -> None:
        record_event(uow, "test.noted", aggregate_type="t", aggregate_id=name, payload={})

    with statements(db, "INSERT INTO outbox_events") as inserts:
        async with db.uow(tenant.id) as uow:
            note(uow, "before")
            async with uow.session.begin_nested():
                note(uow, "kept-savepoint")
            with pytest.raises(RuntimeError):
                async with uow.session.begin_nested():
                    note(uow, "dropped")
                    async with uow.session.begin_nested():
                        note(uow, "dropped-inner-released")
                    raise RuntimeError("this request fails")
            savepoint = await uow.session.begin_nested()
            note(uow, "dropped-by-explicit-rollback")
            await savepoint.rollback()
            note(uow, "after")
            assert inserts == []  # staged, not yet written
    assert len(inserts) == 1
    async with db.uow(tenant.id) as uow:
        written = await uow.session.scalars(
            sa.select(OutboxEvent.aggregate_id)
            .where(OutboxEvent.type == "test.noted")
            .order_by(OutboxEvent.id)
        )
        assert list(written) == ["before", "kept-savepoint", "after"]


async def test_committed_events_are_delivered_once_in_order(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        for n in range(3):
            record_event(
                uow, "thing.changed", aggregate_type="thing", aggregate_id="a", payload={"n": n}
            )
    recorder = Recorder()
    dispatcher = Dispatcher(db, registry_with(recorder))
    assert await dispatcher.run_until_idle() == 3
    assert await dispatcher.run_until_idle() == 0
    assert recorder.seen == [
        ("a", "thing.changed", 0),
        ("a", "thing.changed", 1),
        ("a", "thing.changed", 2),
    ]


async def test_a_failing_event_holds_back_its_aggregate_only(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        record_event(
            uow, "thing.changed", aggregate_type="thing", aggregate_id="a", payload={"n": 1}
        )
        record_event(
            uow, "thing.changed", aggregate_type="thing", aggregate_id="b", payload={"n": 1}
        )
        record_event(
            uow, "thing.changed", aggregate_type="thing", aggregate_id="a", payload={"n": 2}
        )
    recorder = Recorder(fail_times=1)
    dispatcher = Dispatcher(db, registry_with(recorder))
    await dispatcher.run_once()
    assert recorder.seen == [("b", "thing.changed", 1)]
    await dispatcher.run_until_idle()
    assert recorder.seen == [
        ("b", "thing.changed", 1),
        ("a", "thing.changed", 1),
        ("a", "thing.changed", 2),
    ]


async def test_a_handler_that_keeps_failing_is_dead_lettered(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        record_event(uow, "thing.changed", aggregate_type="thing", aggregate_id="a", payload={})
    dispatcher = Dispatcher(db, registry_with(Recorder(fail_times=99)), max_attempts=3)
    for _ in range(3):
        await dispatcher.run_once()
    async with db.uow(unscoped=True) as uow:
        row = await uow.session.scalar(sa.select(OutboxEvent))
    assert row is not None
    assert row.attempts == 3
    assert row.dead_at is not None
    assert "downstream is down" in (row.last_error or "")


async def test_a_handlers_writes_roll_back_with_its_failure(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        record_event(uow, "thing.changed", aggregate_type="thing", aggregate_id="a", payload={})

    async def half_done(uow: UnitOfWork, event: Event) -> None:
        await do_create_channel(uow, code="side-effect", kind=ChannelKind.WEB, name="x")
        raise RuntimeError("crash after a write")

    registry = HandlerRegistry()
    registry.subscribe("thing.changed", half_done)
    await Dispatcher(db, registry).run_once()
    async with db.uow(tenant.id) as uow:
        count = await uow.session.scalar(sa.text("SELECT count(*) FROM channels"))
    assert count == 0
    assert await pending(db) == 1


CRASHING_WRITER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from omniretail.config import Settings
    from omniretail.db import Database
    from omniretail.auth import service as auth
    from omniretail.channels.schemas import ChannelKind
    from omniretail.channels.service import do_create_channel

    async def main() -> None:
        db = Database(Settings(database_url=sys.argv[1], run_dispatcher=False))
        async with db.uow(unscoped=True) as uow:
            tenant_id = await auth.tenant_id_by_slug(uow, "acme")
        async with db.uow(tenant_id) as uow:
            await do_create_channel(uow, code="app", kind=ChannelKind.APP, name="App")
        # Committed; die before any dispatcher could deliver the event.
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


async def test_killing_the_process_after_commit_loses_no_event(
    db: Database, tenant: TenantHandle
) -> None:
    proc = subprocess.run(  # noqa: ASYNC221 (a real separate process is the point)
        [sys.executable, "-c", CRASHING_WRITER, db.url],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    recorder = Recorder()
    assert await Dispatcher(db, registry_with(recorder, "channel.created")).run_until_idle() == 1
    assert recorder.seen == [("app", "channel.created", 0)]


async def test_a_batch_handler_gets_a_burst_in_one_delivery_and_retries_it_whole(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        for n in range(5):
            record_event(
                uow, "stock.moved", aggregate_type="stock", aggregate_id=f"s{n % 2}", payload={}
            )
        record_event(uow, "thing.changed", aggregate_type="thing", aggregate_id="a", payload={})
    deliveries: list[int] = []
    failures = [1]

    async def burst(uow: UnitOfWork, events: list[Event]) -> None:
        await do_create_channel(
            uow, code=f"burst-{len(deliveries)}", kind=ChannelKind.WEB, name="x"
        )
        if failures:
            failures.pop()
            raise RuntimeError("platform down")
        deliveries.append(len(events))

    recorder = Recorder()
    registry = HandlerRegistry()
    registry.subscribe("thing.changed", recorder)
    registry.subscribe_batch("stock.moved", burst)
    dispatcher = Dispatcher(db, registry)
    assert await dispatcher.run_once() == 1  # the batch failed and rolled back as a whole
    assert await pending(db) == 5
    await dispatcher.run_until_idle()
    assert await pending(db) == 0
    assert deliveries == [5]
    assert recorder.seen == [("a", "thing.changed", 0)]
    async with db.uow(tenant.id) as uow:
        codes = list(await uow.session.scalars(sa.text("SELECT code FROM channels")))
    assert codes == ["burst-0"]


def test_a_batch_handler_refuses_a_type_with_per_event_handlers() -> None:
    registry = HandlerRegistry()
    registry.subscribe("stock.moved", Recorder())

    async def burst(uow: UnitOfWork, events: list[Event]) -> None:
        return None

    with pytest.raises(ValueError, match="per-event"):
        registry.subscribe_batch("stock.moved", burst)
    with pytest.raises(ValueError, match="batch handlers"):
        both = HandlerRegistry()
        both.subscribe_batch("stock.moved", burst)
        both.subscribe("stock.moved", Recorder())


async def test_two_batch_handlers_of_one_type_share_the_burst_and_its_transaction(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        for n in range(3):
            record_event(
                uow, "stock.moved", aggregate_type="stock", aggregate_id=f"s{n}", payload={}
            )
    seen: list[tuple[str, int]] = []
    failures = [1]

    def handler(name: str) -> Callable[[UnitOfWork, list[Event]], Awaitable[None]]:
        async def burst(uow: UnitOfWork, events: list[Event]) -> None:
            await do_create_channel(uow, code=f"{name}-{len(seen)}", kind=ChannelKind.WEB, name="x")
            if name == "second" and failures:
                failures.pop()
                raise RuntimeError("receiver down")
            seen.append((name, len(events)))

        return burst

    registry = HandlerRegistry()
    registry.subscribe_batch("stock.moved", handler("first"))
    registry.subscribe_batch("stock.moved", handler("second"))
    dispatcher = Dispatcher(db, registry)
    assert await dispatcher.run_once() == 0  # the second failed: the first's writes roll back
    assert await pending(db) == 3
    await dispatcher.run_until_idle()
    assert await pending(db) == 0
    async with db.uow(tenant.id) as uow:
        codes = sorted(await uow.session.scalars(sa.text("SELECT code FROM channels")))
    assert codes == ["first-1", "second-2"]


async def test_a_pass_woken_by_a_commit_starts_over_so_a_new_batch_event_goes_first(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        for n in range(3):
            record_event(uow, "slow.thing", aggregate_type="t", aggregate_id=str(n), payload={})
    order: list[str] = []
    registry = HandlerRegistry()
    dispatcher = Dispatcher(db, registry)
    dispatcher.restart_after_seconds = 0  # any wake restarts: the test needs no clock
    dispatcher.group_size = 1  # a pass restarts between groups; here each event is one

    async def slow(uow: UnitOfWork, event: Event) -> None:
        order.append(f"slow {event.aggregate_id}")
        if event.aggregate_id == "0":
            # A sale commits a stock change while the pass is under way, and wakes it.
            async with db.uow(tenant.id) as other:
                record_event(other, "stock.moved", aggregate_type="s", aggregate_id="s", payload={})
            dispatcher.wake()

    async def stock(uow: UnitOfWork, events: list[Event]) -> None:
        order.append("stock")

    registry.subscribe("slow.thing", slow)
    registry.subscribe_batch("stock.moved", stock)
    assert await dispatcher.run_once() == 1  # stopped after the first delivery
    await dispatcher.run_until_idle()
    assert order == ["slow 0", "stock", "slow 1", "slow 2"]


async def test_batched_events_behind_a_backlog_are_delivered_in_the_first_pass(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        for n in range(3):
            record_event(uow, "slow.thing", aggregate_type="t", aggregate_id=str(n), payload={})
        record_event(uow, "stock.moved", aggregate_type="s", aggregate_id="s", payload={})
    order: list[str] = []

    async def slow(uow: UnitOfWork, event: Event) -> None:
        order.append(f"slow {event.aggregate_id}")

    async def stock(uow: UnitOfWork, events: list[Event]) -> None:
        order.append("stock")

    registry = HandlerRegistry()
    registry.subscribe("slow.thing", slow)
    registry.subscribe_batch("stock.moved", stock)
    dispatcher = Dispatcher(db, registry, batch_size=2)  # the backlog fills the first read
    assert await dispatcher.run_once() == 3
    assert order == ["stock", "slow 0", "slow 1"]
    await dispatcher.run_until_idle()
    assert order == ["stock", "slow 0", "slow 1", "slow 2"]


class Transactions:
    """Transactions begun on ``db``'s engine while the block runs."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.count = 0

    def begin(self, conn: sa.Connection) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            self.count += 1

    def __enter__(self) -> Transactions:
        sa.event.listen(self.db.engine.sync_engine, "begin", self.begin)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.db.engine.sync_engine, "begin", self.begin)


async def test_a_tenants_events_share_one_transaction_and_a_failure_keeps_only_its_own_out(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        for aggregate in ("a", "b", "c", "d"):
            record_event(
                uow, "thing.changed", aggregate_type="thing", aggregate_id=aggregate, payload={}
            )

    async def write_or_fail(uow: UnitOfWork, event: Event) -> None:
        await do_create_channel(
            uow, code=f"from-{event.aggregate_id}", kind=ChannelKind.WEB, name="x"
        )
        if event.aggregate_id == "b":
            raise RuntimeError("crash after a write")

    registry = HandlerRegistry()
    registry.subscribe("thing.changed", write_or_fail)
    with Transactions(db) as transactions:
        assert await Dispatcher(db, registry).run_once() == 3
    # The read of the pending events and the one group, not one transaction per event; on
    # PostgreSQL also the advisory lock's connection, and the group's first try without
    # savepoints, rolled back by the failure before the careful pass.
    assert transactions.count == (4 if db.dialect == "postgresql" else 2)
    async with db.uow(tenant.id) as uow:
        codes = (await uow.session.scalars(sa.text("SELECT code FROM channels"))).all()
        failed = await uow.session.scalar(
            sa.select(OutboxEvent).where(OutboxEvent.aggregate_id == "b")
        )
    assert sorted(codes) == ["from-a", "from-c", "from-d"]
    assert failed is not None
    assert failed.dispatched_at is None
    assert failed.attempts == 1
    assert "crash after a write" in (failed.last_error or "")
    async with db.uow(unscoped=True) as uow:
        left = await uow.session.scalars(
            sa.select(OutboxEvent.aggregate_id).where(
                OutboxEvent.type == "thing.changed", OutboxEvent.dispatched_at.is_(None)
            )
        )
        assert left.all() == ["b"]


async def test_on_postgresql_a_group_that_does_not_fail_takes_no_savepoint(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        for aggregate in ("a", "b", "c"):
            record_event(
                uow, "thing.changed", aggregate_type="thing", aggregate_id=aggregate, payload={}
            )

    async def write(uow: UnitOfWork, event: Event) -> None:
        await do_create_channel(
            uow, code=f"from-{event.aggregate_id}", kind=ChannelKind.WEB, name="x"
        )

    registry = HandlerRegistry()
    registry.subscribe("thing.changed", write)
    with statements(db, "SAVEPOINT") as savepoints:
        assert await Dispatcher(db, registry).run_once() == 3
    # SQLite keeps a savepoint per event: a platform push may cut an event short there.
    assert len(savepoints) == (0 if db.dialect == "postgresql" else 3)
    async with db.uow(tenant.id) as uow:
        codes = (await uow.session.scalars(sa.text("SELECT code FROM channels"))).all()
    assert sorted(codes) == ["from-a", "from-b", "from-c"]


async def test_a_group_that_fails_as_a_whole_is_delivered_event_by_event(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        for aggregate in ("a", "b"):
            record_event(
                uow, "thing.changed", aggregate_type="thing", aggregate_id=aggregate, payload={}
            )
    calls: list[str] = []

    async def poison_the_group(uow: UnitOfWork, event: Event) -> None:
        calls.append(event.aggregate_id)
        if len(calls) == 1:
            # Written at the group's commit, outside any event's savepoint: the commit fails.
            uow.stage_insert(
                cast(sa.Table, OutboxEvent.__table__), {"tenant_id": uow.require_tenant()}
            )

    registry = HandlerRegistry()
    registry.subscribe("thing.changed", poison_the_group)
    assert await Dispatcher(db, registry).run_once() == 2
    # Both again on their own after the group's transaction failed, and neither counted twice.
    assert calls == ["a", "b", "a", "b"]
    assert await pending(db) == 0
    async with db.uow(unscoped=True) as uow:
        attempts = (await uow.session.scalars(sa.select(OutboxEvent.attempts))).all()
    assert attempts == [1, 1]


async def test_a_group_ends_between_two_events_when_a_platform_push_waits_for_its_turn(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        for n in range(3):
            record_event(uow, "slow.thing", aggregate_type="t", aggregate_id=str(n), payload={})
    order: list[str] = []
    pushes: list[asyncio.Task[None]] = []

    async def push() -> None:
        # A push's group commit: on SQLite it waits for the write lock's turn; on PostgreSQL it
        # writes at once, and the dispatcher waits while it is pending.
        async with db.writer_turn(urgent=True):
            await asyncio.sleep(0.05)
            order.append("push")

    async def slow(uow: UnitOfWork, event: Event) -> None:
        order.append(f"slow {event.aggregate_id}")
        if event.aggregate_id == "0":
            pushes.append(asyncio.create_task(push()))
            await asyncio.sleep(0)

    registry = HandlerRegistry()
    registry.subscribe("slow.thing", slow)
    dispatcher = Dispatcher(db, registry)  # all three fit one group
    assert await dispatcher.run_once() == 3
    await asyncio.gather(*pushes)
    # The group committed "slow 0" and let the push go before delivering the rest.
    assert order == ["slow 0", "push", "slow 1", "slow 2"]
    assert await pending(db) == 0


async def test_on_sqlite_a_waiting_push_cuts_the_event_being_delivered_short_once(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        for n in range(2):
            record_event(uow, "slow.thing", aggregate_type="t", aggregate_id=str(n), payload={})
    order: list[str] = []
    pushes: list[asyncio.Task[None]] = []

    async def push() -> None:
        async with db.writer_turn(urgent=True):
            await asyncio.sleep(0.05)
            order.append("push")

    async def slow(uow: UnitOfWork, event: Event) -> None:
        order.append(f"slow {event.aggregate_id}")
        if event.aggregate_id == "0" and len(pushes) < 2:
            pushes.append(asyncio.create_task(push()))
            await asyncio.sleep(0)  # the push now waits for its turn
        await uow.session.execute(sa.select(1))  # where a waiting push cuts it short
        await do_create_channel(
            uow, code=f"c{event.aggregate_id}", kind=ChannelKind.APP, name="Written once"
        )
        order.append(f"applied {event.aggregate_id}")

    registry = HandlerRegistry()
    registry.subscribe("slow.thing", slow)
    assert await Dispatcher(db, registry).run_once() == 2
    await asyncio.gather(*pushes)
    if db.is_sqlite:
        # The push waited for the write lock: "slow 0" was rolled back at its next statement
        # and delivered after the push, then not cut short by the second push (which went
        # between the two events instead).
        assert order == ["slow 0", "push", "slow 0", "applied 0", "push", "slow 1", "applied 1"]
    else:
        # No write lock to wait for: nothing is cut short, the push goes between the events.
        assert [step for step in order if step != "push"] == [
            "slow 0",
            "applied 0",
            "slow 1",
            "applied 1",
        ]
        assert order.index("push") < order.index("slow 1")
    async with db.uow(unscoped=True) as uow:
        slow_events = (
            await uow.session.execute(
                sa.select(OutboxEvent.attempts, OutboxEvent.dispatched_at)
                .where(OutboxEvent.type == "slow.thing")
                .order_by(OutboxEvent.id)
            )
        ).all()
        channels = (await uow.session.scalars(sa.text("select code from channels"))).all()
    # Both delivered, and being cut short is no failure.
    assert [(attempts, at is not None) for attempts, at in slow_events] == [(1, True)] * 2
    assert sorted(channels) == ["c0", "c1"]


async def test_an_event_cut_short_then_delivered_elsewhere_is_forgotten(
    db: Database, tenant: TenantHandle
) -> None:
    # Another process (or the one-by-one fallback) delivered an event this dispatcher had cut
    # short: the next pass does not read it, and the dispatcher lets go of it.
    async with db.uow(tenant.id) as uow:
        record_event(uow, "slow.thing", aggregate_type="t", aggregate_id="0", payload={})
    seen: list[str] = []

    async def handler(uow: UnitOfWork, event: Event) -> None:
        seen.append(event.aggregate_id)

    registry = HandlerRegistry()
    registry.subscribe("slow.thing", handler)
    dispatcher = Dispatcher(db, registry)
    dispatcher._preempted.add(10**9)  # an id no pending event has
    assert await dispatcher.run_once() == 1
    assert seen == ["0"]
    assert dispatcher._preempted == set()
