"""No request holds two pooled connections at once, on both databases.

A request that checks a second connection out while it holds one can deadlock a busy
process: with every connection held by requests each waiting for a second, none gets one until
the pool's timeout. The probe: a pool listener counts, per asyncio task, the connections
checked out and not yet returned, and the broad set of successful requests that the
authorisation matrix builds its world with (orders in every mode, payments, returns, cases,
customers, reservations, connections, group buys, webhooks, coupons, plans, keys) plus racing
holds on one SKU (the group commit) must never make it two. The outbox dispatcher is not run
here: it holds a session-level advisory lock on a connection of its own on PostgreSQL, by
design, while it delivers."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi import FastAPI

from omniretail.connectors.vault import CredentialVault
from omniretail.db import Database
from tests.e2e.test_authorisation_matrix import _side
from tests.factories import Api, TenantHandle
from tests.orders_world import build_world


@contextlib.contextmanager
def second_checkouts(db: Database) -> Iterator[list[str]]:
    """The names of the tasks that checked out a second connection while holding one."""
    held: Counter[asyncio.Task[Any]] = Counter()
    owners: dict[int, asyncio.Task[Any]] = {}
    doubles: list[str] = []

    def checkout(_conn: Any, record: Any, _proxy: Any) -> None:
        task = asyncio.current_task()
        if task is None:
            return
        owners[id(record)] = task
        held[task] += 1
        if held[task] > 1:
            doubles.append(task.get_name())

    def checkin(_conn: Any, record: Any) -> None:
        task = owners.pop(id(record), None)
        if task is not None:
            held[task] -= 1

    # A connection detached from the pool (a hot-read connection, omniretail.scoped) has left
    # it: it never checks in, and the request no longer holds it from the pool.
    engine = db.engine.sync_engine
    sa.event.listen(engine, "checkout", checkout)
    sa.event.listen(engine, "checkin", checkin)
    sa.event.listen(engine, "detach", checkin)
    try:
        yield doubles
    finally:
        sa.event.remove(engine, "checkout", checkout)
        sa.event.remove(engine, "checkin", checkin)
        sa.event.remove(engine, "detach", checkin)


async def test_the_probe_sees_a_unit_of_work_opened_inside_another(
    db: Database, tenant: TenantHandle
) -> None:
    with second_checkouts(db) as doubles:
        # Read-only: on SQLite a second writer in the same task would wait on the first for
        # the busy timeout, the very hazard this guards against.
        async with db.uow(tenant.id, read_only=True) as outer:
            await outer.session.execute(sa.text("SELECT 1"))
            async with db.uow(tenant.id, read_only=True) as inner:
                await inner.session.execute(sa.text("SELECT 1"))
    assert len(doubles) == 1


async def test_no_request_holds_two_pooled_connections_at_once(
    app: FastAPI, admin: Api, db: Database, tenant: TenantHandle
) -> None:
    app.state.connector_vault = CredentialVault([Fernet.generate_key().decode()])
    with second_checkouts(db) as doubles:
        world = await build_world(admin, db, tenant)
        await _side(admin, store="ST-A", channel="douyin", sku="TEE-S", product="BASICS")
        await world.stock("ST-B", "TEE-M", 40)
        holds = await asyncio.gather(
            *(
                admin.post(
                    "/v1/reservations", {"lines": [{"sku": "TEE-M", "location": "ST-B", "qty": 1}]}
                )
                for _ in range(20)
            )
        )
        assert [h.status_code for h in holds] == [201] * 20
    assert doubles == []
