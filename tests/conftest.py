"""Fixtures shared by every layer of tests.

``db`` is parametrised over SQLite and PostgreSQL: every test that touches the database runs on
both. Each backend is migrated once per session with ``alembic upgrade heads`` and emptied before
each test. PostgreSQL is required: if it is unreachable the run fails (set
``OMNI_TEST_SKIP_PG=1`` to run SQLite only, never on CI).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from omniretail.app import create_app
from omniretail.config import Settings
from omniretail.db import Database
from omniretail.migrate import upgrade
from omniretail.models import metadata
from tests.factories import SANDBOX_SECRET, STAFF_KEY, Api, TenantHandle, make_tenant
from tests.payment_fakes import FakeAlipay, FakeWeChatPay, serve

PG_HOST = os.environ.get("OMNI_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("OMNI_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("OMNI_TEST_PG_USER", getpass.getuser())
PG_ADMIN_DB = os.environ.get("OMNI_TEST_PG_ADMIN_DB", "test")
SKIP_PG = os.environ.get("OMNI_TEST_SKIP_PG") == "1"


def free_port() -> int:
    """A local TCP port free now, for a server a test starts (`omni serve`)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _recreate_pg_database(name: str) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def backend_urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    urls: dict[str, str] = {}
    sqlite_path = Path(tmp_path_factory.mktemp("sqlite")) / "omni.db"
    urls["sqlite"] = f"sqlite+aiosqlite:///{sqlite_path}"
    upgrade(urls["sqlite"])
    if not SKIP_PG:
        # Separate checkouts on one machine set OMNI_TEST_PG_DB so their runs do not collide;
        # each xdist worker gets its own database under that name.
        name = f"{os.environ.get('OMNI_TEST_PG_DB') or 'omni_test'}_{_worker_suffix()}"
        asyncio.run(_recreate_pg_database(name))
        urls["postgresql"] = _pg_url(name)
        upgrade(urls["postgresql"])
    return urls


BACKENDS = ["sqlite", "postgresql"]


def backend_url(backend_urls: dict[str, str], backend: str) -> str:
    """The URL of one backend, for tests that build their own handles (the CLI's)."""
    if backend not in backend_urls:
        pytest.skip("PostgreSQL disabled with OMNI_TEST_SKIP_PG=1")
    return backend_urls[backend]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``pg_only`` (races that need real parallel connections) run on PostgreSQL
    alone; every other test that uses the database runs on both."""
    if "db" in metafunc.fixturenames:
        pg_only = metafunc.definition.get_closest_marker("pg_only") is not None
        metafunc.parametrize("db", ["postgresql"] if pg_only else BACKENDS, indirect=True)


async def empty_all_tables(db: Database) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            await conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(sa.text(f"DELETE FROM {table}"))


@pytest.fixture
async def db(
    request: pytest.FixtureRequest, backend_urls: dict[str, str]
) -> AsyncIterator[Database]:
    backend: str = request.param
    if backend not in backend_urls:
        pytest.skip("PostgreSQL disabled with OMNI_TEST_SKIP_PG=1")
    database = Database(
        Settings(
            database_url=backend_urls[backend],
            run_dispatcher=False,
            sandbox_payment_secret=SANDBOX_SECRET,
            staff_keys=STAFF_KEY,
        )
    )
    await empty_all_tables(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def app(db: Database) -> FastAPI:
    return create_app(db.settings, db=db)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://omni.test") as http:
        yield http


@pytest.fixture
async def tenant(db: Database) -> TenantHandle:
    return await make_tenant(db, "acme")


@pytest.fixture
async def other_tenant(db: Database) -> TenantHandle:
    return await make_tenant(db, "rival")


@pytest.fixture
def admin(client: httpx.AsyncClient, tenant: TenantHandle) -> Api:
    return Api(client, tenant.admin_key)


@pytest.fixture
def statements(db: Database) -> Iterator[list[str]]:
    """Every statement sent on ``db``'s engine while the test runs."""
    sent: list[str] = []

    def note(*args: Any) -> None:
        sent.append(str(args[2]).lstrip())

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", note)


# The payment gateways' loopback fakes, installed as the app's WeChat Pay and Alipay.
@pytest.fixture
async def wechat(app: FastAPI) -> AsyncIterator[FakeWeChatPay]:
    fake = FakeWeChatPay()
    async with serve(fake.app) as url:
        app.state.payment_providers["wechat_pay"] = fake.provider(url)
        yield fake


@pytest.fixture
async def ali(app: FastAPI) -> AsyncIterator[FakeAlipay]:
    fake = FakeAlipay()
    async with serve(fake.app) as url:
        app.state.payment_providers["alipay"] = fake.provider(f"{url}/gateway.do")
        yield fake
