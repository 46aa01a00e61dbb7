"""How the hot reads' row cache reads: concurrent misses share one read, a row in use is read
again by one caller before it expires while the others are answered from it, and a read begun
before this process wrote its table is never joined after the write."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from omniretail.network.models import Location
from omniretail.scoped import ReadCache, tenant_statement

BY_CODE = tenant_statement(
    sa.select(Location.name).where(
        Location.tenant_id == sa.bindparam("tenant_id"), Location.code == sa.bindparam("code")
    ),
    cache_seconds=1.0,
)
PARAMS = (("code", "ST-1"),)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Read:
    """A database read that answers ``row`` once let through (at once unless ``gated``)."""

    def __init__(self, row: Any, *, gated: bool = False) -> None:
        self.row = row
        self.calls = 0
        self.open = asyncio.Event()
        if not gated:
            self.open.set()

    async def __call__(self) -> Any:
        self.calls += 1
        await self.open.wait()
        return self.row


async def started(task: asyncio.Task[Any]) -> asyncio.Task[Any]:
    for _ in range(3):
        await asyncio.sleep(0)
    assert not task.done()
    return task


async def test_concurrent_misses_share_one_read() -> None:
    cache = ReadCache(clock=Clock())
    read = Read("Flagship", gated=True)
    readers = [asyncio.create_task(cache.row(BY_CODE, 1, PARAMS, read)) for _ in range(20)]
    await started(readers[0])
    read.open.set()
    assert set(await asyncio.gather(*readers)) == {"Flagship"}
    assert read.calls == 1
    assert cache.get(BY_CODE, 1, PARAMS) == "Flagship"


async def test_misses_of_two_tenants_never_share_a_read() -> None:
    cache = ReadCache(clock=Clock())
    ours, theirs = Read("Ours", gated=True), Read("Theirs", gated=True)
    first = await started(asyncio.create_task(cache.row(BY_CODE, 1, PARAMS, ours)))
    second = await started(asyncio.create_task(cache.row(BY_CODE, 2, PARAMS, theirs)))
    ours.open.set()
    theirs.open.set()
    assert (await first, await second) == ("Ours", "Theirs")
    assert (ours.calls, theirs.calls) == (1, 1)


async def test_in_its_last_quarter_one_caller_reads_a_row_again_and_the_others_do_not_wait() -> (
    None
):
    clock = Clock()
    cache = ReadCache(clock=clock)
    await cache.row(BY_CODE, 1, PARAMS, Read("Before"))
    clock.now += 0.5
    untouched = Read("never read")
    assert await cache.row(BY_CODE, 1, PARAMS, untouched) == "Before"
    assert untouched.calls == 0
    clock.now += 0.3
    again = Read("After", gated=True)
    refreshing = await started(asyncio.create_task(cache.row(BY_CODE, 1, PARAMS, again)))
    for _ in range(5):  # answered from the row, still within its second, while it is read
        assert await cache.row(BY_CODE, 1, PARAMS, again) == "Before"
    assert again.calls == 1
    again.open.set()
    assert await refreshing == "After"
    clock.now += 0.5  # past the first read's second: the new row answers
    assert await cache.row(BY_CODE, 1, PARAMS, untouched) == "After"
    assert untouched.calls == 0


async def test_a_row_past_its_bound_is_never_answered_while_it_is_read_again() -> None:
    clock = Clock()
    cache = ReadCache(clock=clock)
    await cache.row(BY_CODE, 1, PARAMS, Read("Before"))
    clock.now += 1.0
    again = Read("After", gated=True)
    first = await started(asyncio.create_task(cache.row(BY_CODE, 1, PARAMS, again)))
    second = await started(asyncio.create_task(cache.row(BY_CODE, 1, PARAMS, again)))
    again.open.set()
    assert (await first, await second) == ("After", "After")
    assert again.calls == 1


async def test_a_row_found_gone_when_read_again_is_dropped() -> None:
    clock = Clock()
    cache = ReadCache(clock=clock)
    await cache.row(BY_CODE, 1, PARAMS, Read("Before"))
    clock.now += 0.8
    assert await cache.row(BY_CODE, 1, PARAMS, Read(None)) is None
    assert cache.get(BY_CODE, 1, PARAMS) is None


async def test_a_read_begun_before_a_write_here_is_not_joined_after_it() -> None:
    cache = ReadCache(clock=Clock())
    old = Read("Before", gated=True)
    early = await started(asyncio.create_task(cache.row(BY_CODE, 1, PARAMS, old)))
    connection: dict[str, Any] = {}
    cache.wrote(connection, "locations")  # this process renames the location...
    cache.released(connection)  # ...commits, and answers its client
    late = Read("After")
    async with asyncio.timeout(5):  # joining the early read would wait for it: never
        assert await cache.row(BY_CODE, 1, PARAMS, late) == "After"
    assert late.calls == 1
    old.open.set()
    assert await early == "Before"  # asked before the write: it may see the old row
    assert cache.get(BY_CODE, 1, PARAMS) == "After"  # and does not keep it


async def test_callers_waiting_on_a_cancelled_read_read_again_themselves() -> None:
    cache = ReadCache(clock=Clock())
    stuck = Read("Flagship", gated=True)
    first = await started(asyncio.create_task(cache.row(BY_CODE, 1, PARAMS, stuck)))
    fresh = Read("Flagship")
    waiting = await started(asyncio.create_task(cache.row(BY_CODE, 1, PARAMS, fresh)))
    first.cancel()  # its client went away
    assert await waiting == "Flagship"
    assert fresh.calls == 1
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_failed_shared_read_fails_its_waiters_and_is_not_kept() -> None:
    cache = ReadCache(clock=Clock())

    class Broken(Read):
        async def __call__(self) -> Any:
            await super().__call__()
            raise OSError("connection lost")

    broken = Broken(None, gated=True)
    readers = [asyncio.create_task(cache.row(BY_CODE, 1, PARAMS, broken)) for _ in range(3)]
    await started(readers[0])
    broken.open.set()
    results = await asyncio.gather(*readers, return_exceptions=True)
    assert all(isinstance(result, OSError) for result in results)
    assert broken.calls == 1
    assert await cache.row(BY_CODE, 1, PARAMS, Read("Back")) == "Back"
