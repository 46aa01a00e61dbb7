"""Checkouts racing for scarce stock never oversell and never leave orphan holds; a checkout
that fails half way leaves nothing behind."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from omniretail.auth.cache import principal_cache
from omniretail.db import Database
from omniretail.events import OutboxEvent
from omniretail.inventory import service as inventory
from omniretail.inventory.models import StockMovement
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def test_racing_checkouts_never_oversell_or_orphan_holds(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 4)
    await world.stock("ST-C", "TEE-S", 3)
    results = await asyncio.gather(*(world.order() for _ in range(20)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 7
    assert codes.count(409) == 13
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"insufficient_stock"}
    placed = (await world.admin.get("/v1/orders", limit=100)).json()["items"]
    assert len(placed) == 7
    held = {loc: await world.on_hand(loc, "TEE-S") for loc in ("ST-A", "ST-C")}
    assert held == {"ST-A": {"on_hand": 4, "reserved": 4}, "ST-C": {"on_hand": 3, "reserved": 3}}
    per_location = {"ST-A": 0, "ST-C": 0}
    for order in placed:
        for fulfilment in order["fulfillments"]:
            per_location[fulfilment["location"]] += sum(x["qty"] for x in fulfilment["lines"])
    assert per_location == {"ST-A": 4, "ST-C": 3}


async def test_points_spent_in_a_failed_checkout_are_not_lost(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    customer = (
        await world.admin.post(
            "/v1/customers",
            {"identities": [{"type": "phone", "value": "13800138000"}], "channel": "app"},
        )
    ).json()
    adjusted = await world.admin.post(
        f"/v1/customers/{customer['id']}/points/adjustments", {"points": 1000, "reason": "welcome"}
    )
    assert adjusted.status_code in (200, 201), adjusted.text
    declined = await world.order(
        customer_id=customer["id"],
        points_to_redeem=500,
        payments=[{"method": "sandbox", "amount": 9900 - 500, "token": "decline"}],
    )
    assert declined.status_code == 409, declined.text
    points = (await world.admin.get(f"/v1/customers/{customer['id']}/points")).json()
    assert points["balance"] == 1000
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 0}

    paid = await world.order(
        customer_id=customer["id"],
        points_to_redeem=500,
        payments=[{"method": "sandbox", "amount": 9900 - 500}],
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["totals"]["total"] == 9900
    assert [p["method"] for p in paid.json()["payments"]] == ["points", "sandbox"]
    points = (await world.admin.get(f"/v1/customers/{customer['id']}/points")).json()
    assert points["balance"] == 500


async def test_a_short_line_refuses_the_whole_in_store_sale_and_writes_no_ledger_row(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    """On PostgreSQL the sale and its ledger rows are one statement: a short line leaves every
    position and the ledger as they were; a sale that fits writes one movement a line."""
    for sku, qty in (("TEE-S", 5), ("TEE-M", 1), ("JEANS-32", 5)):
        await world.stock("ST-A", sku, qty)
    sale = {
        "channel": "pos",
        "fulfillment": {"mode": "in_store", "location": "ST-A"},
        "payments": [{"method": "cash", "amount": 9900 * 4 + 29900}],
        "lines": [
            {"sku": "TEE-S", "qty": 1},
            {"sku": "TEE-M", "qty": 3},
            {"sku": "JEANS-32", "qty": 1},
        ],
    }
    refused = await world.order(**sale)
    assert refused.status_code == 409, refused.text
    assert [line["sku"] for line in refused.json()["lines"]] == ["TEE-M"]
    for sku, qty in (("TEE-S", 5), ("TEE-M", 1), ("JEANS-32", 5)):
        assert await world.on_hand("ST-A", sku) == {"on_hand": qty, "reserved": 0}
    sale["lines"][1]["qty"] = 1
    sale["payments"] = [{"method": "cash", "amount": 9900 * 2 + 29900}]
    placed = await world.order(**sale)
    assert placed.status_code == 201, placed.text
    for sku, qty in (("TEE-S", 4), ("TEE-M", 0), ("JEANS-32", 4)):
        assert await world.on_hand("ST-A", sku) == {"on_hand": qty, "reserved": 0}
    async with db.uow(tenant.id) as uow:
        assert await inventory.check_ledger(uow) == []
        sales = await uow.session.scalars(
            sa.select(StockMovement.sku).where(
                StockMovement.reason == "sale", StockMovement.reference == placed.json()["id"]
            )
        )
        assert sorted(sales) == ["JEANS-32", "TEE-M", "TEE-S"]
        # The sale's availability events (written by the sale's own statement on PostgreSQL)
        # say what it changed, and nothing of the refused sale.
        events = await uow.session.scalars(
            sa.select(OutboxEvent.payload)
            .where(
                OutboxEvent.type == "inventory.availability_changed",
                OutboxEvent.aggregate_id.in_(["ST-A/TEE-S", "ST-A/TEE-M", "ST-A/JEANS-32"]),
            )
            .order_by(OutboxEvent.id.desc())
            .limit(3)
        )
        assert sorted(events, key=lambda e: e["sku"]) == [
            {
                "sku": sku,
                "location": "ST-A",
                "available_before": before,
                "available_after": before - 1,
                "on_hand": before - 1,
                "reserved": 0,
            }
            for sku, before in (("JEANS-32", 5), ("TEE-M", 1), ("TEE-S", 5))
        ]


async def test_a_three_line_in_store_sale_issues_a_fixed_number_of_statements(
    world: World, db: Database
) -> None:
    """The till's sale: on PostgreSQL the order (its lines, payment, fulfilment and events),
    its three stock lines, their ledger rows and their availability events are ONE statement
    (orders.placing.carried_by_sale), which locks the stock rows last, and nothing but the
    commit follows it. On SQLite the three stock lines are one UPDATE after the order's
    INSERTs, and the ledger rows and the events go in one INSERT each at the commit; the
    channel and the till's location, found before the write lock, are not read again; and
    once a sale has read them, the process knows their ids (``scoped.read_ref``)."""
    for sku in ("TEE-S", "TEE-M", "JEANS-32"):
        await world.stock("ST-A", sku, 10)
    lines = [{"sku": s, "qty": 1} for s in ("TEE-S", "TEE-M", "JEANS-32")]
    frozen = time.monotonic()
    principal_cache(db).clock = lambda: frozen
    first = await world.order(
        lines=lines,
        channel="pos",
        fulfillment={"mode": "in_store", "location": "ST-A"},
        payments=[{"method": "cash", "amount": 9900 * 2 + 29900}],
    )
    assert first.status_code == 201, first.text
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        placed = await world.order(
            lines=lines,
            channel="pos",
            fulfillment={"mode": "in_store", "location": "ST-A"},
            payments=[{"method": "cash", "amount": 9900 * 2 + 29900}],
        )
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert placed.status_code == 201, placed.text
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    work = [s for s in statements if not s.startswith(control)]
    assert len(work) == {"sqlite": 12, "postgresql": 2}[db.dialect], "\n".join(work)
    stock = [i for i, s in enumerate(work) if "UPDATE stock_positions" in s]
    assert len(stock) == 1
    # The sale's stock rows are locked by the last statements but the writes staged for the
    # commit (the ledger rows and the events): nothing else waits on them meanwhile.
    assert work[stock[-1] + 1 :] == [s for s in work[stock[-1] + 1 :] if s.startswith("INSERT")]
    if db.dialect == "postgresql":  # and there, nothing at all: the sale's statement is last
        assert stock[-1] == len(work) - 1, "\n".join(work)


async def test_a_three_line_checkout_issues_a_fixed_number_of_statements(
    world: World, db: Database
) -> None:
    """Catches N+1 regressions on the hottest path long before a benchmark would."""
    for location in ("ST-A", "ST-B", "ST-C", "WH"):
        for sku in ("TEE-S", "TEE-M", "JEANS-32"):
            await world.stock(location, sku, 10)
    lines = [{"sku": s, "qty": 1} for s in ("TEE-S", "TEE-M", "JEANS-32")]
    # The caller's key, verified just now, stays fresh in the principal cache however slow
    # this machine is: its clock stands still for the test.
    frozen = time.monotonic()
    principal_cache(db).clock = lambda: frozen
    # A first order: the process then knows the channel's and locations' ids (scoped.read_ref).
    assert (await world.order(lines=lines)).status_code == 201
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        placed = await world.order(lines=lines)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert placed.status_code == 201, placed.text
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    work = [s for s in statements if not s.startswith(control)]
    # PostgreSQL writes the order, its lines, payment, fulfilment, fulfilment lines and events
    # in ONE statement (orders.placing); SQLite one INSERT per table, its events staged.
    # SQLite prices and plans before its write lock first, and does not read the channel
    # again under it.
    # On PostgreSQL the hold's reservation, its lines and their ledger rows are one statement.
    # Authentication costs no statement (auth/cache.py); the hold's availability events go in
    # one INSERT at commit (UnitOfWork.stage_insert), on SQLite with the order's.
    assert len(work) == {"sqlite": 19, "postgresql": 9}[db.dialect], "\n".join(work)
    if db.dialect == "sqlite":
        # Under the write lock: confirm the quote and plan (2 reads: the tenant's terms with
        # the prices' and promotions' versions, the locations' capacities; no pricing, no
        # sourcing), then the writes and the reads they need.
        begins = [i for i, s in enumerate(statements) if s.startswith("BEGIN IMMEDIATE")]
        locked = [s for s in statements[begins[-1] :] if not s.startswith(control)]
        assert len(locked) == 14, "\n".join(locked)
