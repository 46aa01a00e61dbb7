"""The hot reads' row cache and connections: a cached row is kept for one tenant only, a write in
this process is seen at once, one from another process within the statement's bound; the
PostgreSQL hot-read connections queue past their size and replace a broken connection."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
import sqlalchemy as sa
from asyncpg.exceptions import InternalClientError

from omniretail.config import Settings
from omniretail.db import Database, TenantScopeError
from omniretail.errors import NotFound
from omniretail.network import service as network
from omniretail.network.models import Location
from omniretail.network.schemas import LocationIn, LocationOut, LocationPatch
from omniretail.scoped import ReadCache, TenantRead, hot_connections, read_cache, tenant_statement
from tests.factories import TenantHandle, location_body


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def create(db: Database, tenant_id: int, code: str, name: str) -> LocationOut:
    async with db.uow(tenant_id) as uow:
        data = LocationIn.model_validate(location_body(code, name=name))
        return await network.do_create_location(uow, data=data)


async def rename(db: Database, tenant_id: int, code: str, name: str) -> None:
    async with db.uow(tenant_id) as uow:
        row = await network.access_location(uow, code)
        await network.do_update_location(uow, row=row, patch=LocationPatch(name=name))


UNCACHED = tenant_statement(
    sa.select(Location.name).where(
        Location.tenant_id == sa.bindparam("tenant_id"), Location.code == sa.bindparam("code")
    )
)


async def read_uncached(db: Database, tenant_id: int, code: str) -> str:
    async with TenantRead(db, tenant_id) as hot:
        return str((await hot.first(UNCACHED, code=code)).name)


async def read(db: Database, tenant_id: int, code: str) -> LocationOut:
    async with TenantRead(db, tenant_id) as hot:
        return await network.read_location(hot, code)


def test_a_cache_key_without_a_tenant_cannot_be_made() -> None:
    scoped = tenant_statement(
        sa.select(Location.code).where(Location.tenant_id == sa.bindparam("tenant_id")),
        cache_seconds=1.0,
    )
    cache = ReadCache()
    for missing in (None, "1", True):
        with pytest.raises(TenantScopeError):
            cache.get(scoped, missing, ())  # type: ignore[arg-type]
        with pytest.raises(TenantScopeError):
            cache.put(scoped, missing, (), "row", read_at=0.0, generation=())  # type: ignore[arg-type]


async def test_a_cached_location_is_never_another_tenants_answer(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    await create(db, tenant.id, "SAME-1", "Ours")
    await create(db, other_tenant.id, "SAME-1", "Theirs")
    await create(db, other_tenant.id, "ONLY-THEIRS", "Rival flagship")
    assert (await read(db, other_tenant.id, "SAME-1")).name == "Theirs"
    assert (await read(db, other_tenant.id, "ONLY-THEIRS")).name == "Rival flagship"
    # Both rows are now cached for the other tenant: ours still reads its own, or nothing.
    assert (await read(db, tenant.id, "SAME-1")).name == "Ours"
    with pytest.raises(NotFound):
        await read(db, tenant.id, "ONLY-THEIRS")
    assert (await read(db, other_tenant.id, "SAME-1")).name == "Theirs"


async def test_a_write_in_this_process_is_seen_by_the_next_read(
    db: Database, tenant: TenantHandle
) -> None:
    await create(db, tenant.id, "RYW-1", "Before")
    read_cache(db).clock = Clock()  # frozen: only the write can make the row go
    assert (await read(db, tenant.id, "RYW-1")).name == "Before"
    await rename(db, tenant.id, "RYW-1", "After")
    assert (await read(db, tenant.id, "RYW-1")).name == "After"


async def test_a_read_while_this_process_writes_is_not_kept(
    db: Database, tenant: TenantHandle
) -> None:
    await create(db, tenant.id, "RYW-2", "Before")
    read_cache(db).clock = Clock()
    assert (await read(db, tenant.id, "RYW-2")).name == "Before"
    async with db.uow(tenant.id) as uow:
        row = await network.access_location(uow, "RYW-2")
        await network.do_update_location(uow, row=row, patch=LocationPatch(name="After"))
        await uow.session.flush()
        if not db.is_sqlite:  # SQLite's one writer: a reader here would wait for the commit
            # Not committed yet: the read goes to the database, sees the old row, keeps nothing.
            assert (await read(db, tenant.id, "RYW-2")).name == "Before"
    assert (await read(db, tenant.id, "RYW-2")).name == "After"


async def test_a_write_from_another_process_is_seen_once_the_row_is_a_second_old(
    db: Database, tenant: TenantHandle
) -> None:
    await create(db, tenant.id, "XP-1", "Before")
    clock = read_cache(db).clock = Clock()
    assert (await read(db, tenant.id, "XP-1")).name == "Before"
    other = Database(Settings(database_url=db.settings.database_url, run_dispatcher=False))
    try:  # another process: its own engine, its own cache
        await rename(other, tenant.id, "XP-1", "After")
    finally:
        await other.dispose()
    assert (await read(db, tenant.id, "XP-1")).name == "Before"  # within the bound
    clock.now += network.LOCATION_CACHE_SECONDS
    assert (await read(db, tenant.id, "XP-1")).name == "After"


@pytest.mark.pg_only
async def test_hot_reads_past_the_pool_size_wait_their_turn(
    db: Database, tenant: TenantHandle
) -> None:
    await create(db, tenant.id, "Q-1", "Queued")
    pool = hot_connections(db)
    pool.size = 2
    found = await asyncio.gather(*(read_uncached(db, tenant.id, "Q-1") for _ in range(40)))
    assert set(found) == {"Queued"}
    assert len(pool._idle) <= 2


@pytest.mark.pg_only
async def test_a_broken_hot_read_connection_is_replaced(db: Database, tenant: TenantHandle) -> None:
    await create(db, tenant.id, "BRK-1", "Sturdy")
    assert await read_uncached(db, tenant.id, "BRK-1") == "Sturdy"
    pool = hot_connections(db)
    pids = [connection.get_server_pid() for connection in pool._idle]
    async with db.engine.connect() as admin:
        for pid in pids:
            await admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    assert pids
    # Each dead connection fails at most the one read that finds it dead, then is replaced.
    failures = 0
    for _ in range(len(pids) + 1):
        try:
            name = await read_uncached(db, tenant.id, "BRK-1")
        except (asyncpg.PostgresError, asyncpg.InterfaceError, InternalClientError, OSError):
            failures += 1
            continue
        assert name == "Sturdy"
        break
    else:
        pytest.fail("no read succeeded after the connections broke")
    assert failures <= len(pids)
    assert all(not connection.is_closed() for connection in pool._idle)


async def test_a_hot_read_after_the_database_was_disposed_opens_anew(
    db: Database, tenant: TenantHandle
) -> None:
    await create(db, tenant.id, "DSP-1", "Again")
    assert await read_uncached(db, tenant.id, "DSP-1") == "Again"
    await db.dispose()  # as an app's shutdown does; the engine, too, may be used after it
    assert await read_uncached(db, tenant.id, "DSP-1") == "Again"
