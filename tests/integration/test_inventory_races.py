"""200 buyers race for 50 units: exactly 50 win, on PostgreSQL with real parallel connections
and on SQLite (BEGIN IMMEDIATE serialises the writers). A watcher reads the positions all along
and never sees on_hand - reserved below zero; the ledger balances at the end."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from omniretail.config import Settings
from omniretail.db import Database, UnitOfWork, utcnow
from omniretail.group_commit import group_commit
from omniretail.inventory import reservations as res
from omniretail.inventory.models import StockPosition
from omniretail.inventory.service import InsufficientStock
from tests.conftest import empty_all_tables
from tests.factories import TenantHandle, make_tenant
from tests.inventory_factories import assert_books_balance, make_location, make_skus, receive

CLIENTS = 200


async def race(
    db: Database,
    tenant_id: int,
    requests: Sequence[list[res.StockLine]],
    *,
    grouped: Sequence[bool] = (),
) -> tuple[int, int, int]:
    """Run every request at once, each in its own unit of work (or, where ``grouped`` says so,
    through the process's group commit, as the HTTP API does for one-position holds); returns
    (won, short, lowest on_hand - reserved the watcher saw)."""
    done = asyncio.Event()
    lowest = 10**9

    async def watch() -> None:
        nonlocal lowest
        while not done.is_set():
            async with db.uow(tenant_id) as uow:
                rows = await uow.session.execute(
                    sa.select(StockPosition.on_hand - StockPosition.reserved)
                )
                lowest = min([lowest, *rows.scalars()])
            await asyncio.sleep(0.005)

    async def buy(lines: list[res.StockLine], together: bool) -> bool:
        def reserve(uow: UnitOfWork) -> Awaitable[Any]:
            return res.do_reserve(uow, lines=lines, ttl_seconds=600, actor="race")

        try:
            if together:
                key = (lines[0].location, lines[0].sku)
                await group_commit(db).run(key, tenant_id=tenant_id, work=reserve)
            else:
                async with db.uow(tenant_id) as uow:
                    await reserve(uow)
            return True
        except InsufficientStock:
            return False

    watcher = asyncio.create_task(watch())
    modes = list(grouped) or [False] * len(requests)
    outcomes = await asyncio.gather(*(buy(ln, g) for ln, g in zip(requests, modes, strict=True)))
    done.set()
    await watcher
    return outcomes.count(True), outcomes.count(False), lowest


async def stock(db: Database, tenant: TenantHandle, spread: dict[str, int]) -> None:
    await make_skus(db, tenant.id, "HOT")
    for code, qty in spread.items():
        await make_location(db, tenant.id, code)
        await receive(db, tenant.id, code, "HOT", qty)


async def reserved_by_location(db: Database, tenant_id: int) -> dict[str, tuple[int, int]]:
    async with db.uow(tenant_id) as uow:
        rows = await uow.session.execute(
            sa.select(StockPosition.location_code, StockPosition.on_hand, StockPosition.reserved)
        )
        return {r.location_code: (r.on_hand, r.reserved) for r in rows}


async def one_location(db: Database, tenant: TenantHandle, *, grouped: bool = False) -> None:
    """With ``grouped``, three in four buyers go through the group commit and the fourth on its
    own (as another process would): both kinds race on the same row."""
    await stock(db, tenant, {"ST-1": 50})
    won, short, lowest = await race(
        db,
        tenant.id,
        [[res.StockLine("HOT", "ST-1", 1)] for _ in range(CLIENTS)],
        grouped=[grouped and i % 4 != 0 for i in range(CLIENTS)],
    )
    assert (won, short) == (50, 150)
    assert lowest >= 0
    assert await reserved_by_location(db, tenant.id) == {"ST-1": (50, 50)}
    await assert_books_balance(db, tenant.id)


async def five_locations(db: Database, tenant: TenantHandle, *, grouped: bool = False) -> None:
    codes = [f"ST-{i}" for i in range(1, 6)]
    await stock(db, tenant, dict.fromkeys(codes, 10))
    won, short, lowest = await race(
        db,
        tenant.id,
        [[res.StockLine("HOT", codes[i % 5], 1)] for i in range(CLIENTS)],
        grouped=[grouped] * CLIENTS,
    )
    assert (won, short) == (50, 150)
    assert lowest >= 0
    assert await reserved_by_location(db, tenant.id) == {code: (10, 10) for code in codes}
    await assert_books_balance(db, tenant.id)


async def two_line_holds(db: Database, tenant: TenantHandle) -> None:
    """Two-line holds in either line order: no deadlock, and no half-held basket survives."""
    await stock(db, tenant, {"ST-A": 30, "ST-B": 20})
    rng = random.Random(4)
    requests = []
    for _ in range(CLIENTS):
        lines = [res.StockLine("HOT", "ST-A", 1), res.StockLine("HOT", "ST-B", 1)]
        rng.shuffle(lines)
        requests.append(lines)
    won, short, lowest = await race(db, tenant.id, requests)
    assert (won, short) == (20, 180)
    assert lowest >= 0
    assert await reserved_by_location(db, tenant.id) == {"ST-A": (30, 20), "ST-B": (20, 20)}
    await assert_books_balance(db, tenant.id)


async def open_connections(db: Database, count: int) -> None:
    """Open the pool's connections before the race. The PostgreSQL server is shared with other
    test runs on this machine: if it is out of connection slots, wait for some rather than fail
    a race that never reached the database. The race itself then connects nothing new."""
    deadline = time.monotonic() + 120
    opened = []
    while len(opened) < count:
        try:
            opened.append(await db.engine.connect())
        except sa.exc.DBAPIError as exc:
            if "too many clients" not in str(exc) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    for conn in opened:
        await conn.close()


@pytest.fixture
async def wide_pg(db: Database) -> AsyncIterator[Database]:
    """The test database with a pool of 50 real connections."""
    wide = Database(
        Settings(database_url=db.url, run_dispatcher=False, db_pool_size=50, db_max_overflow=0)
    )
    await open_connections(wide, 50)
    try:
        yield wide
    finally:
        await wide.dispose()


@pytest.mark.pg_only
async def test_on_postgresql_200_clients_race_for_50_units_at_one_location(
    wide_pg: Database, tenant: TenantHandle
) -> None:
    await one_location(wide_pg, tenant)


@pytest.mark.pg_only
async def test_on_postgresql_200_clients_race_for_50_units_over_five_locations(
    wide_pg: Database, tenant: TenantHandle
) -> None:
    await five_locations(wide_pg, tenant)


@pytest.mark.pg_only
async def test_on_postgresql_two_line_holds_race_without_deadlock_or_half_holds(
    wide_pg: Database, tenant: TenantHandle
) -> None:
    await two_line_holds(wide_pg, tenant)


@pytest.mark.pg_only
async def test_on_postgresql_200_grouped_holds_race_for_50_units_at_one_location(
    wide_pg: Database, tenant: TenantHandle
) -> None:
    await one_location(wide_pg, tenant, grouped=True)
    assert 0 < group_commit(wide_pg).batches < CLIENTS


@pytest.mark.pg_only
async def test_on_postgresql_200_grouped_holds_race_for_50_units_over_five_locations(
    wide_pg: Database, tenant: TenantHandle
) -> None:
    await five_locations(wide_pg, tenant, grouped=True)
    assert 0 < group_commit(wide_pg).batches < CLIENTS


@pytest.fixture
async def sqlite_db(backend_urls: dict[str, str]) -> AsyncIterator[Database]:
    database = Database(Settings(database_url=backend_urls["sqlite"], run_dispatcher=False))
    await empty_all_tables(database)
    try:
        yield database
    finally:
        await database.dispose()


async def test_on_sqlite_200_clients_race_for_50_units_at_one_location(
    sqlite_db: Database,
) -> None:
    await one_location(sqlite_db, await make_tenant(sqlite_db, "race-one"))


async def test_on_sqlite_200_clients_race_for_50_units_over_five_locations(
    sqlite_db: Database,
) -> None:
    await five_locations(sqlite_db, await make_tenant(sqlite_db, "race-five"))


async def test_on_sqlite_200_grouped_holds_race_for_50_units_at_one_location(
    sqlite_db: Database,
) -> None:
    await one_location(sqlite_db, await make_tenant(sqlite_db, "race-one"), grouped=True)
    assert 0 < group_commit(sqlite_db).batches < CLIENTS


async def test_on_sqlite_200_grouped_holds_race_for_50_units_over_five_locations(
    sqlite_db: Database,
) -> None:
    await five_locations(sqlite_db, await make_tenant(sqlite_db, "race-five"), grouped=True)
    assert 0 < group_commit(sqlite_db).batches < CLIENTS


async def test_on_sqlite_two_line_holds_race_without_half_holds(sqlite_db: Database) -> None:
    await two_line_holds(sqlite_db, await make_tenant(sqlite_db, "race-two"))


@pytest.mark.pg_only
async def test_a_hold_waiting_on_an_open_hold_of_the_last_unit_sees_its_outcome(
    wide_pg: Database, tenant: TenantHandle
) -> None:
    """Step by step: A holds the last unit and stays open; B's hold queues on the row. If A
    rolls back, B gets the unit; if A commits, B is refused. Never both."""
    await stock(wide_pg, tenant, {"ST-1": 1})
    line = [res.StockLine("HOT", "ST-1", 1)]

    async def hold_b() -> bool:
        try:
            async with wide_pg.uow(tenant.id) as uow:
                await res.do_reserve(uow, lines=line, ttl_seconds=60, actor="b")
            return True
        except InsufficientStock:
            return False

    for a_commits in (False, True):
        uow_a = wide_pg.uow(tenant.id)
        await uow_a.__aenter__()
        await res.do_reserve(uow_a, lines=line, ttl_seconds=60, actor="a")
        b = asyncio.create_task(hold_b())
        await asyncio.sleep(0.1)  # let B reach the row lock (the outcome does not depend on it)
        if a_commits:
            await uow_a.__aexit__(None, None, None)
        else:
            await uow_a.__aexit__(RuntimeError, RuntimeError("abandon"), None)
        b_won = await b
        assert b_won is not a_commits
        assert await reserved_by_location(wide_pg, tenant.id) == {"ST-1": (1, 1)}
        async with wide_pg.uow(tenant.id) as uow:
            # Give the unit back for the second round.
            assert await res.do_release_expired(uow, utcnow() + dt.timedelta(hours=1)) == 1
    await assert_books_balance(wide_pg, tenant.id)
