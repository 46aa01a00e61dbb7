"""The principal cache answers a verified key without a load for one second, then reloads."""

from __future__ import annotations

import asyncio

import pytest

from omniretail.auth.cache import PrincipalCache
from omniretail.auth.domain import Principal, Role
from omniretail.errors import Unauthenticated


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def principal(key_id: int = 7) -> Principal:
    return Principal(
        tenant_id=1,
        tenant_slug="acme",
        currency="CNY",
        timezone="Asia/Shanghai",
        key_id=key_id,
        role=Role.ADMIN,
    )


class Loader:
    def __init__(self, result: Principal | Exception) -> None:
        self.result = result
        self.calls = 0

    async def __call__(self) -> Principal:
        self.calls += 1
        await asyncio.sleep(0)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


async def test_a_fresh_entry_is_answered_without_loading_and_a_stale_one_is_reloaded() -> None:
    clock = Clock()
    cache = PrincipalCache(clock=clock)
    load = Loader(principal())
    assert await cache.principal("omk_a", load) == principal()
    clock.now += 0.74
    assert await cache.principal("omk_a", load) == principal()
    assert load.calls == 1
    clock.now += 0.27  # a second old: never trusted without a load
    await cache.principal("omk_a", load)
    assert load.calls == 2


class Gate:
    """A load that waits until it is let through."""

    def __init__(self, result: Principal | Exception) -> None:
        self.result = result
        self.calls = 0
        self.open = asyncio.Event()

    async def __call__(self) -> Principal:
        self.calls += 1
        await self.open.wait()
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


async def test_in_its_last_quarter_one_caller_reloads_an_entry_and_the_others_do_not_wait() -> None:
    clock = Clock()
    cache = PrincipalCache(clock=clock)
    await cache.principal("omk_a", Loader(principal()))
    clock.now += 0.8
    gate = Gate(principal())
    reloading = asyncio.create_task(cache.principal("omk_a", gate))
    await asyncio.sleep(0)
    assert gate.calls == 1
    # The reload is under way: the others are answered from the entry, without a load.
    for _ in range(5):
        assert await cache.principal("omk_a", gate) == principal()
    assert gate.calls == 1
    gate.open.set()
    assert await reloading == principal()
    clock.now += 0.7  # past the first load's second; the reload's entry answers alone
    await cache.principal("omk_a", gate)
    assert gate.calls == 1


async def test_a_reload_that_finds_the_key_revoked_drops_the_entry_at_once() -> None:
    clock = Clock()
    cache = PrincipalCache(clock=clock)
    await cache.principal("omk_a", Loader(principal()))
    clock.now += 0.8
    with pytest.raises(Unauthenticated):
        await cache.principal("omk_a", Loader(Unauthenticated("unknown API key")))
    refused = Loader(Unauthenticated("unknown API key"))
    with pytest.raises(Unauthenticated):  # within the entry's second, yet not served from it
        await cache.principal("omk_a", refused)
    assert refused.calls == 1


async def test_a_key_forgotten_during_a_load_is_not_kept_from_it() -> None:
    cache = PrincipalCache(clock=Clock())
    gate = Gate(principal(7))
    loading = asyncio.create_task(cache.principal("omk_a", gate))
    await asyncio.sleep(0)
    cache.forget_key(7)  # revoked here while the load read the row
    gate.open.set()
    await loading
    again = Loader(principal(7))
    await cache.principal("omk_a", again)
    assert again.calls == 1


async def test_callers_waiting_on_a_cancelled_load_load_again_themselves() -> None:
    cache = PrincipalCache(clock=Clock())
    gate = Gate(principal())
    first = asyncio.create_task(cache.principal("omk_a", gate))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(cache.principal("omk_a", Loader(principal())))
    await asyncio.sleep(0)
    first.cancel()  # its client went away
    assert await waiting == principal()
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_key_revoked_elsewhere_is_refused_once_its_entry_is_a_second_old() -> None:
    clock = Clock()
    cache = PrincipalCache(clock=clock)
    load = Loader(principal())
    await cache.principal("omk_a", load)
    load.result = Unauthenticated("unknown API key")  # revoked by another process
    clock.now += 1.0
    with pytest.raises(Unauthenticated):
        await cache.principal("omk_a", load)


async def test_failures_are_never_cached() -> None:
    cache = PrincipalCache(clock=Clock())
    load = Loader(Unauthenticated("unknown API key"))
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await cache.principal("omk_bad", load)
    assert load.calls == 3


async def test_another_secret_for_the_same_lookup_is_not_a_hit() -> None:
    cache = PrincipalCache(clock=Clock())
    await cache.principal("omk_lookup_secret-one", Loader(principal()))
    forged = Loader(Unauthenticated("unknown API key"))
    with pytest.raises(Unauthenticated):
        await cache.principal("omk_lookup_secret-two", forged)
    assert forged.calls == 1


async def test_forgetting_a_key_drops_its_entries_only() -> None:
    cache = PrincipalCache(clock=Clock())
    first, second = Loader(principal(7)), Loader(principal(8))
    await cache.principal("omk_a", first)
    await cache.principal("omk_b", second)
    cache.forget_key(7)
    await cache.principal("omk_a", first)
    await cache.principal("omk_b", second)
    assert (first.calls, second.calls) == (2, 1)


async def test_concurrent_misses_share_one_load() -> None:
    cache = PrincipalCache(clock=Clock())
    load = Loader(principal())
    results = await asyncio.gather(*(cache.principal("omk_a", load) for _ in range(50)))
    assert set(results) == {principal()}
    assert load.calls == 1


async def test_concurrent_misses_share_a_failure_too() -> None:
    cache = PrincipalCache(clock=Clock())
    load = Loader(Unauthenticated("unknown API key"))
    results = await asyncio.gather(
        *(cache.principal("omk_a", load) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, Unauthenticated) for r in results)
    assert load.calls == 1


async def test_the_oldest_entries_make_room_beyond_the_bound() -> None:
    cache = PrincipalCache(clock=Clock(), max_entries=2)
    loads = [Loader(principal(i)) for i in range(3)]
    for i, load in enumerate(loads):
        await cache.principal(f"omk_{i}", load)
    await cache.principal("omk_0", loads[0])
    await cache.principal("omk_2", loads[2])
    assert [load.calls for load in loads] == [2, 1, 1]
