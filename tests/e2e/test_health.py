from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from omniretail.app import create_app
from omniretail.db import Database
from omniretail.problems import install_error_handlers
from tests.factories import make_tenant


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_the_openapi_document_lists_the_contract(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in ("/v1/channels", "/v1/locations", "/v1/locations/{code}", "/v1/keys"):
        assert path in spec["paths"]


async def test_liveness_is_answered_before_routing_and_other_methods_still_reach_the_route(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="omniretail.access")
    live = await client.get("/healthz")
    assert live.status_code == 200
    assert live.headers["content-type"] == "application/json"
    assert live.json() == {"status": "ok"}
    assert len(live.headers["x-request-id"]) == 32
    # Answered first by observability.Front: the routed app never saw it.
    assert not [r for r in caplog.records if r.name == "omniretail.access"]
    refused = await client.post("/healthz")
    assert refused.status_code == 405
    assert [r.status for r in caplog.records if r.name == "omniretail.access"] == [405]  # type: ignore[attr-defined]


async def test_an_exhausted_pool_is_503_busy_and_never_500(db: Database) -> None:
    # One pooled connection, taken: the request waits the pool's timeout and is told to retry.
    settings = db.settings.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout_seconds": 0.2}
    )
    tight = Database(settings)
    try:
        tenant = await make_tenant(tight, "pool")
        app = create_app(settings, db=tight)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://omni.test") as http,
            tight.engine.connect(),
        ):
            busy = await http.get(
                "/v1/locations", headers={"Authorization": f"Bearer {tenant.admin_key}"}
            )
        assert busy.status_code == 503
        assert busy.headers["content-type"].startswith("application/problem+json")
        assert busy.json()["code"] == "database_busy"
        assert busy.headers["retry-after"] == "1"
    finally:
        await tight.dispose()


@pytest.mark.pg_only  # SQLite has one writer and no row locks: it cannot deadlock
async def test_a_deadlock_the_database_broke_is_503_conflict_and_never_500(db: Database) -> None:
    # Two requests lock two rows in opposite orders: PostgreSQL rolls one of them back.
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE deadlock_probe (id int PRIMARY KEY, n int)"))
        await conn.execute(sa.text("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)"))
    locked = {1: asyncio.Event(), 2: asyncio.Event()}
    app = FastAPI()
    install_error_handlers(app)
    bump = sa.text("UPDATE deadlock_probe SET n = n + 1 WHERE id = :id")

    @app.post("/lock/{first}/{second}")
    async def lock(first: int, second: int) -> dict[str, int]:
        async with db.engine.begin() as conn:
            await conn.execute(bump, {"id": first})
            locked[first].set()
            await locked[second].wait()
            await conn.execute(bump, {"id": second})
        return {"first": first}

    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://omni.test") as http:
            answers = await asyncio.gather(http.post("/lock/1/2"), http.post("/lock/2/1"))
        assert sorted(a.status_code for a in answers) == [200, 503]
        broken = next(a for a in answers if a.status_code == 503)
        assert broken.headers["content-type"].startswith("application/problem+json")
        assert broken.json()["code"] == "database_conflict"
        assert broken.headers["retry-after"] == "1"
        async with db.engine.connect() as conn:  # the winner's two updates, none of the loser's
            counts = (await conn.execute(sa.text("SELECT n FROM deadlock_probe"))).scalars()
            assert sorted(counts) == [1, 1]
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(sa.text("DROP TABLE deadlock_probe"))
