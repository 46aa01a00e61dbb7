"""SQLite's driver: one thread hop a statement, and every row still there (sqlite_driver.py).

SQLite only: the module is how the engine reaches a SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from omniretail import sqlite_driver
from omniretail.config import Settings
from omniretail.db import Database

COUNT = 3 * sqlite_driver.PREFETCH + 7  # more rows than one prefetch, not a multiple of it
NUMBERS = sa.text(
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < :count) "
    "SELECT x FROM n"
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    db = Database(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}"))
    try:
        yield db.engine
    finally:
        await db.dispose()


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls handed to a connection's thread."""
    seen: list[str] = []
    hop = aiosqlite.Connection._execute

    async def counted(
        self: aiosqlite.Connection, fn: object, *args: object, **kwargs: object
    ) -> object:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await hop(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def test_the_engine_opens_files_with_one_hop_connections(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite_driver.OneHopConnection)


async def test_a_statement_is_one_hop(engine: AsyncEngine, hops: list[str]) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"))
        hops.clear()
        await conn.execute(sa.text("INSERT INTO t (name) VALUES ('a'), ('b')"))
        row = (await conn.execute(sa.text("SELECT count(*), max(name) FROM t"))).one()
        assert tuple(row) == (2, "b")
        # Two statements, two hops: no cursor made, fetched or closed on the driver's thread.
        assert hops == ["_execute_and_fetch", "_execute_and_fetch"]
    # Then the COMMIT; the pool's rollback of the connection given back finds no transaction
    # open and makes no hop.
    assert hops[2:] == ["commit"]
    async with engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar() == 2
        await conn.rollback()
        hops.clear()
        await conn.execute(sa.text("INSERT INTO t (name) VALUES ('c')"))  # BEGIN IMMEDIATE first
        await conn.rollback()  # a transaction open: rolled back on the driver's thread
        assert hops[-1] == "rollback"
        assert (await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar() == 2


async def test_every_row_of_a_big_result_arrives_in_order(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        got = (await conn.execute(NUMBERS, {"count": COUNT})).scalars().all()
        assert got == list(range(1, COUNT + 1))
        streamed = [
            x
            async for x in await conn.stream_scalars(
                NUMBERS.execution_options(yield_per=100), {"count": COUNT}
            )
        ]
        assert streamed == list(range(1, COUNT + 1))
        assert (await conn.execute(NUMBERS, {"count": 0})).scalars().all() == [1]


async def test_fetching_in_pieces_across_the_prefetch(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "PREFETCH", 3)
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert isinstance(raw, sqlite_driver.OneHopConnection)
        async with raw.cursor() as cursor:
            await cursor.execute(NUMBERS.text.replace(":count", "10"))
            assert [r[0] for r in await cursor.fetchmany(2)] == [1, 2]
            assert (await cursor.fetchone())[0] == 3
            assert [r[0] for r in await cursor.fetchmany(4)] == [4, 5, 6, 7]
            assert [r[0] for r in await cursor.fetchall()] == [8, 9, 10]
            assert await cursor.fetchone() is None
            assert await cursor.fetchall() == []
            await cursor.execute("SELECT 1 WHERE 0")
            assert await cursor.fetchall() == []
            await cursor.execute("CREATE TEMP TABLE v (x INTEGER)")
            await cursor.executemany("INSERT INTO v VALUES (?)", [(1,), (2,)])
            assert await cursor.fetchone() is None
            await cursor.execute("SELECT x FROM v ORDER BY x")
            assert [r[0] for r in await cursor.fetchall()] == [1, 2]


async def test_an_error_is_sqlalchemys_and_the_connection_goes_on(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE u (code TEXT PRIMARY KEY)"))
        await conn.execute(sa.text("INSERT INTO u VALUES ('x')"))
    async with engine.connect() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(sa.text("INSERT INTO u VALUES ('x')"))
        await conn.rollback()
        assert (await conn.execute(sa.text("SELECT count(*) FROM u"))).scalar() == 1
