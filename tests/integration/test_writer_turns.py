"""Background writers' turns: a platform push (urgent) goes before the dispatcher (normal), in
one process and, on SQLite, across the processes of one machine (lock files beside the file)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from omniretail.db import Database
from omniretail.jobs import Job, run_due
from omniretail.writer_turns import WriterTurns, background_writes


async def test_on_sqlite_an_urgent_writer_goes_before_normal_ones_queued_earlier() -> None:
    turns = WriterTurns(exclusive=True, path=None)
    order: list[str] = []
    release = asyncio.Event()

    async def writer(name: str, *, urgent: bool, hold: bool = False) -> None:
        async with turns.turn(urgent=urgent):
            order.append(name)
            if hold:
                await release.wait()

    first = asyncio.create_task(writer("normal 1", urgent=False, hold=True))
    await asyncio.sleep(0)
    queued = [asyncio.create_task(writer("normal 2", urgent=False))]
    await asyncio.sleep(0)
    queued += [asyncio.create_task(writer(f"urgent {n}", urgent=True)) for n in (1, 2)]
    await asyncio.sleep(0)
    assert order == ["normal 1"]  # one writer at a time
    release.set()
    await asyncio.gather(first, *queued)
    assert order == ["normal 1", "urgent 1", "urgent 2", "normal 2"]


async def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    turns = WriterTurns(exclusive=True, path=None)
    release = asyncio.Event()
    order: list[str] = []

    async def writer(name: str, *, urgent: bool, hold: bool = False) -> None:
        async with turns.turn(urgent=urgent):
            order.append(name)
            if hold:
                await release.wait()

    first = asyncio.create_task(writer("first", urgent=False, hold=True))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(writer("cancelled", urgent=True))
    last = asyncio.create_task(writer("last", urgent=False))
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await asyncio.gather(first, last)
    assert order == ["first", "last"]


async def test_another_process_sees_an_urgent_writer_pending_through_the_lock_file(
    tmp_path: Path,
) -> None:
    # Two instances on one file stand for two processes: flock locks of two open files
    # conflict as those of two processes do.
    path = str(tmp_path / "omni.db")
    api, worker = WriterTurns(exclusive=True, path=path), WriterTurns(exclusive=True, path=path)
    try:
        assert not worker.urgent_pending()
        inside = asyncio.Event()
        leave = asyncio.Event()

        async def push() -> None:
            async with api.turn(urgent=True):
                inside.set()
                await leave.wait()

        task = asyncio.create_task(push())
        await inside.wait()
        assert worker.urgent_pending()
        leave.set()
        await task
        assert not worker.urgent_pending()
    finally:
        api.close()
        worker.close()


async def test_an_urgent_writer_waits_for_another_process_s_open_transaction(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "omni.db")
    api, worker = WriterTurns(exclusive=True, path=path), WriterTurns(exclusive=True, path=path)
    order: list[str] = []
    try:
        inside = asyncio.Event()
        leave = asyncio.Event()

        async def apply() -> None:
            async with worker.turn(urgent=False):
                inside.set()
                await leave.wait()
                order.append("applied")

        async def push() -> None:
            async with api.turn(urgent=True):
                order.append("pushed")

        applying = asyncio.create_task(apply())
        await inside.wait()
        pushing = asyncio.create_task(push())
        await asyncio.sleep(0.05)
        assert order == []  # the push waits for the worker's transaction to end
        assert worker.urgent_pending()  # and the worker can see it waiting
        leave.set()
        await asyncio.gather(applying, pushing)
        assert order == ["applied", "pushed"]

        # While the push is pending, the worker's next writer lets it go first.
        hold = asyncio.Event()

        async def slow_push() -> None:
            async with api.turn(urgent=True):
                await hold.wait()
                order.append("pushed again")

        async def apply_again() -> None:
            async with worker.turn(urgent=False):
                order.append("applied again")

        pushing = asyncio.create_task(slow_push())
        await asyncio.sleep(0)
        applying = asyncio.create_task(apply_again())
        await asyncio.sleep(0.05)
        hold.set()
        await asyncio.gather(applying, pushing)
        assert order[2:] == ["pushed again", "applied again"]
    finally:
        api.close()
        worker.close()


async def test_a_normal_writer_waits_for_urgent_ones_at_most_max_yield() -> None:
    turns = WriterTurns(exclusive=False, path=None)  # PostgreSQL: no queue, only yielding
    order: list[str] = []
    leave = asyncio.Event()

    async def push() -> None:
        async with turns.turn(urgent=True):
            order.append("push in")
            await leave.wait()
            order.append("push out")

    task = asyncio.create_task(push())
    await asyncio.sleep(0)
    turns.max_yield = 0.01
    async with turns.turn(urgent=False):
        order.append("applied")  # the push never ended: after max_yield, it goes anyway
    leave.set()
    await task
    assert order == ["push in", "applied", "push out"]


async def test_a_background_writer_takes_one_turn_per_outermost_unit_of_work() -> None:
    turns = WriterTurns(exclusive=True, path=None)
    assert turns.background_turn() is None  # a request's unit of work takes none
    with background_writes():
        turn = turns.background_turn()
        assert turn is not None
        async with turn:
            assert turns.background_turn() is None  # nested: it would wait for itself
        assert turns.background_turn() is not None
    assert turns.background_turn() is None


async def test_a_periodic_job_s_writes_go_after_a_waiting_push(db: Database) -> None:
    order: list[str] = []
    leave = asyncio.Event()

    async def push() -> None:
        async with db.writer_turn(urgent=True):
            order.append("push in")
            await leave.wait()
            order.append("push out")

    async def job(db: Database, now: dt.datetime) -> int:
        async with db.uow(unscoped=True, read_only=True) as uow:
            await uow.session.execute(sa.select(1))
            order.append("job read")  # a read takes no turn
        async with db.uow(unscoped=True) as uow:
            await uow.session.execute(sa.select(1))
            order.append("job wrote")
        return 0

    pushing = asyncio.create_task(push())
    await asyncio.sleep(0)
    running = asyncio.create_task(run_due(db, [Job("test", 1, job)], {}, 0.0))
    await asyncio.sleep(0.05)
    assert order == ["push in", "job read"]  # the write waits while the push is pending
    leave.set()
    await asyncio.gather(pushing, running)
    assert order == ["push in", "job read", "push out", "job wrote"]
