"""Till sales of the same SKUs at one store, sent at once: on PostgreSQL they share a group
commit (one transaction per batch, the stock taken by one statement just before its commit,
``inventory.batch_sales``); on SQLite each takes its own. Either way exactly the sales that fit
one after the other win, each with its whole order, and the others get their own error and
write nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from omniretail.db import Database
from omniretail.events import OutboxEvent
from omniretail.group_commit import group_commit
from omniretail.inventory import service as inventory
from omniretail.inventory.models import StockMovement
from omniretail.orders.models import Order
from tests.factories import Api, TenantHandle
from tests.orders_world import PRICES, World, build_world, numbers_drawn

SKUS = ("TEE-S", "TEE-M", "JEANS-32")
Send = Callable[[], Awaitable[httpx.Response]]


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


def till_sale(
    world: World, qty: dict[str, int], *, key: str | None = None, **overrides: Any
) -> Send:
    lines = [{"sku": sku, "qty": n} for sku, n in qty.items()]
    body: dict[str, Any] = {
        "channel": "pos",
        "lines": lines,
        "fulfillment": {"mode": "in_store", "location": "ST-A"},
        "payments": [{"method": "cash", "amount": sum(PRICES[s] * n for s, n in qty.items())}],
    } | overrides
    headers = {"Idempotency-Key": key} if key else None
    return lambda: world.keys["pos_a"].post("/v1/orders", body, headers=headers)


async def _until(ready: Callable[[], bool]) -> None:
    for _ in range(2000):
        if ready():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the requests never queued")


@asynccontextmanager
async def _rows_locked(db: Database, sku: str) -> AsyncIterator[None]:
    """PostgreSQL: ST-A's position of ``sku`` locked by another transaction meanwhile."""
    async with db.engine.connect() as conn:
        await conn.execute(
            sa.text(
                "SELECT id FROM stock_positions WHERE location_code = 'ST-A' AND sku = :sku"
                " FOR UPDATE"
            ),
            {"sku": sku},
        )
        yield
        await conn.rollback()


async def in_one_batch(
    db: Database, opener: Send, sends: list[Send], *, batches_after: int = 1
) -> list[httpx.Response]:
    """``opener`` then ``sends`` at once; on PostgreSQL ``sends`` are all one batch of the
    group commit (queued while the opener's batch, the only one let in flight, waits on a
    stock row held elsewhere), followed by ``batches_after`` - 1 more (requests sent again).
    Returns the responses of ``sends``."""
    if db.is_sqlite:
        await opener()
        return list(await asyncio.gather(*(send() for send in sends)))
    group = group_commit(db)
    batches, depth = group.batches, group.depth
    group.depth = 1  # one batch in flight, so that the others queue behind it
    try:
        async with _rows_locked(db, "TEE-S"):
            first = asyncio.ensure_future(opener())
            await _until(lambda: group.writing() == 1 and group.waiting() == 0)
            rest = [asyncio.ensure_future(send()) for send in sends]
            await _until(lambda: group.waiting() == len(sends))
        assert (await first).status_code == 201
        responses = list(await asyncio.gather(*rest))
    finally:
        group.depth = depth
    assert group.batches - batches == 1 + batches_after  # the opener's, then the others'
    return responses


async def _sale_rows(db: Database, tenant_id: int, reference: str) -> list[tuple[str, int]]:
    async with db.uow(tenant_id) as uow:
        rows = await uow.session.execute(
            sa.select(StockMovement.sku, StockMovement.on_hand_delta)
            .where(StockMovement.reason == "sale", StockMovement.reference == reference)
            .order_by(StockMovement.sku)
        )
        return [(r.sku, r.on_hand_delta) for r in rows]


async def _steps(db: Database, tenant_id: int, sku: str) -> list[tuple[int, int]]:
    """ST-A's availability events of ``sku``: (before, after), in the order written."""
    async with db.uow(tenant_id) as uow:
        payloads = await uow.session.scalars(
            sa.select(OutboxEvent.payload)
            .where(
                OutboxEvent.type == "inventory.availability_changed",
                OutboxEvent.aggregate_id == f"ST-A/{sku}",
            )
            .order_by(OutboxEvent.id)
        )
        return [(p["available_before"], p["available_after"]) for p in payloads]


async def _order_types(db: Database, tenant_id: int, order_id: str) -> list[str]:
    async with db.uow(tenant_id) as uow:
        return list(
            await uow.session.scalars(
                sa.select(OutboxEvent.type)
                .where(OutboxEvent.aggregate_type == "order", OutboxEvent.aggregate_id == order_id)
                .order_by(OutboxEvent.id)
            )
        )


async def _orders(db: Database, tenant_id: int) -> int:
    async with db.uow(tenant_id) as uow:
        return int(await uow.session.scalar(sa.select(sa.func.count()).select_from(Order)) or 0)


async def test_concurrent_till_sales_sell_exactly_what_fits_and_each_winner_is_whole(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    await world.stock("ST-A", "TEE-S", 8)
    for sku in ("TEE-M", "JEANS-32"):
        await world.stock("ST-A", sku, 40)
    one_each = dict.fromkeys(SKUS, 1)
    responses = await in_one_batch(
        db, till_sale(world, one_each), [till_sale(world, one_each) for _ in range(24)]
    )
    won = [r for r in responses if r.status_code == 201]
    lost = [r for r in responses if r.status_code != 201]
    assert len(won) == 7
    assert {(r.status_code, r.json()["code"]) for r in lost} == {(409, "insufficient_stock")}
    assert {r.json()["lines"][0]["sku"] for r in lost} == {"TEE-S"}
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 0, "reserved": 0}
    for sku in ("TEE-M", "JEANS-32"):
        assert await world.on_hand("ST-A", sku) == {"on_hand": 32, "reserved": 0}
    assert await _orders(db, tenant.id) == 8  # the opener and the winners; no loser's
    async with db.uow(tenant.id) as uow:
        assert await inventory.check_ledger(uow) == []
    for response in won:
        answered = response.json()
        assert await _sale_rows(db, tenant.id, answered["id"]) == [
            ("JEANS-32", -1),
            ("TEE-M", -1),
            ("TEE-S", -1),
        ]
        read = (await world.admin.get(f"/v1/orders/{answered['id']}")).json()
        assert read == answered
        assert await _order_types(db, tenant.id, answered["id"]) == [
            "order.placed",
            "fulfillment.created",
            "order.completed",
        ]
    # Each sale announced its own step, one after the other.
    assert (await _steps(db, tenant.id, "TEE-S"))[-8:] == [(n, n - 1) for n in range(8, 0, -1)]


async def test_till_sales_in_two_batches_in_flight_at_once_sell_exactly_what_fits(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    await world.stock("ST-A", "TEE-S", 8)
    for sku in ("TEE-M", "JEANS-32"):
        await world.stock("ST-A", sku, 40)
    one_each = dict.fromkeys(SKUS, 1)
    opener, sends = till_sale(world, one_each), [till_sale(world, one_each) for _ in range(24)]
    if db.is_sqlite:
        assert (await opener()).status_code == 201
        responses = list(await asyncio.gather(*(send() for send in sends)))
    else:
        group = group_commit(db)
        depth, group.depth = group.depth, 2  # not the default (``group_commit.DEPTH``)
        try:
            async with _rows_locked(db, "TEE-S"):
                first = asyncio.ensure_future(opener())
                await _until(lambda: group.in_flight() == 1 and group.waiting() == 0)
                rest = [asyncio.ensure_future(send()) for send in sends]
                # A second batch of the same key begun while the first waits on the row.
                await _until(lambda: group.in_flight() == 2)
            assert (await first).status_code == 201
            responses = list(await asyncio.gather(*rest))
        finally:
            group.depth = depth
    won = [r for r in responses if r.status_code == 201]
    assert len(won) == 7
    assert {r.status_code for r in responses if r.status_code != 201} == {409}
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 0, "reserved": 0}
    for sku in ("TEE-M", "JEANS-32"):
        assert await world.on_hand("ST-A", sku) == {"on_hand": 32, "reserved": 0}
    assert await _orders(db, tenant.id) == 8
    async with db.uow(tenant.id) as uow:
        assert await inventory.check_ledger(uow) == []
    assert (await _steps(db, tenant.id, "TEE-S"))[-8:] == [(n, n - 1) for n in range(8, 0, -1)]


async def test_a_batch_that_fits_takes_its_stock_in_one_statement_just_before_the_commit(
    world: World, db: Database, tenant: TenantHandle, statements: list[str]
) -> None:
    for sku in SKUS:
        await world.stock("ST-A", sku, 20)
    sales = [till_sale(world, {"TEE-S": n, "TEE-M": 1, "JEANS-32": 1}) for n in (1, 2, 3, 1)]
    statements.clear()
    responses = await in_one_batch(db, till_sale(world, dict.fromkeys(SKUS, 1)), sales)
    sent = [s for s in statements if not s.startswith("SELECT id FROM stock_positions")]
    assert [r.status_code for r in responses] == [201] * 4
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 12, "reserved": 0}
    assert await world.on_hand("ST-A", "TEE-M") == {"on_hand": 15, "reserved": 0}
    assert await world.on_hand("ST-A", "JEANS-32") == {"on_hand": 15, "reserved": 0}
    async with db.uow(tenant.id) as uow:
        assert await inventory.check_ledger(uow) == []
    for response, n in zip(responses, (1, 2, 3, 1), strict=True):
        assert await _sale_rows(db, tenant.id, response.json()["id"]) == [
            ("JEANS-32", -1),
            ("TEE-M", -1),
            ("TEE-S", -n),
        ]
    # Every row the batch's statement wrote is the tenant's (read unscoped).
    references = [r.json()["id"] for r in responses]
    async with db.uow(None, unscoped=True) as uow:
        ledger = await uow.session.scalars(
            sa.select(StockMovement.tenant_id).where(StockMovement.reference.in_(references))
        )
        events = await uow.session.scalars(
            sa.select(OutboxEvent.tenant_id).where(
                OutboxEvent.type == "inventory.availability_changed"
            )
        )
        assert (set(ledger), set(events)) == ({tenant.id}, {tenant.id})
    # The changes chain, one after the other. On PostgreSQL the batch announces its change of
    # each position once (its sales commit at once: the figures between two of them are never
    # seen outside it); on SQLite each sale announces its own.
    steps = await _steps(db, tenant.id, "TEE-S")
    assert [before for before, _ in steps[1:]] == [after for _, after in steps[:-1]]
    if db.is_sqlite:  # the opener's sale, then each of the others in the order sold
        assert sorted(before - after for before, after in steps[-4:]) == [1, 1, 2, 3]
    else:  # the opener's sale, then the batch's
        assert [before - after for before, after in steps[-2:]] == [1, 7]
    assert steps[-1][1] == 12
    if db.is_sqlite:
        return
    # The batch: no savepoint, and the stock rows touched by its last statement only (the
    # opener's sale, then the batch's; the other transaction's lock apart).
    stock = [i for i, s in enumerate(sent) if "stock_positions" in s]
    assert not any(s.startswith("SAVEPOINT") for s in sent)
    assert [sent[i].split()[:2] for i in stock] == [["WITH", "locked"], ["WITH", "totals"]]
    assert stock[-1] == len(sent) - 1


async def test_one_failing_sale_in_a_batch_does_not_fail_the_others(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    for sku in SKUS:
        await world.stock("ST-A", sku, 10)
    good = dict.fromkeys(SKUS, 1)
    too_many = {"TEE-S": 50, "TEE-M": 1, "JEANS-32": 1}
    wrong_amount = [{"method": "cash", "amount": 1}]
    responses = await in_one_batch(
        db,
        till_sale(world, good),
        [
            till_sale(world, good),
            till_sale(world, too_many),
            till_sale(world, good),
            till_sale(world, good, payments=wrong_amount),
            till_sale(world, good),
        ],
    )
    assert [r.status_code for r in responses] == [201, 409, 201, 422, 201]
    assert responses[1].json()["lines"][0]["requested"] == 50
    assert responses[3].json()["code"] == "payment_mismatch"
    for sku in SKUS:
        assert await world.on_hand("ST-A", sku) == {"on_hand": 6, "reserved": 0}
    assert await _orders(db, tenant.id) == 4
    async with db.uow(tenant.id) as uow:
        assert await inventory.check_ledger(uow) == []
    # The next batch on these SKUs still sells.
    again = await in_one_batch(db, till_sale(world, good), [till_sale(world, good)] * 2)
    assert [r.status_code for r in again] == [201, 201]


async def test_an_idempotent_replay_in_the_same_batch_returns_the_same_order(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    for sku in SKUS:
        await world.stock("ST-A", sku, 10)
    good = dict.fromkeys(SKUS, 1)
    responses = await in_one_batch(
        db,
        till_sale(world, good),
        [
            till_sale(world, good, key="till-1"),
            till_sale(world, good),
            till_sale(world, good, key="till-1"),
            till_sale(world, good, key="till-1"),
        ],
    )
    assert [r.status_code for r in responses] == [201] * 4
    keyed = [responses[i] for i in (0, 2, 3)]
    assert len({r.json()["id"] for r in keyed}) == 1
    replayed = [r.headers.get("Idempotent-Replayed") for r in keyed]
    if db.is_sqlite:  # sent at once, no batch: whichever takes the key first is the original
        assert sorted(replayed, key=str) == [None, "true", "true"]
    else:  # the batch runs its requests in arrival order
        assert replayed == [None, "true", "true"]
    assert keyed[1].json() == keyed[0].json() == keyed[2].json()
    for sku in SKUS:  # the opener, the keyed sale once, the other
        assert await world.on_hand("ST-A", sku) == {"on_hand": 7, "reserved": 0}
    assert await _orders(db, tenant.id) == 3
    assert len(await _sale_rows(db, tenant.id, keyed[0].json()["id"])) == 3
    # And replayed after the batch, too.
    later = await till_sale(world, good, key="till-1")()
    assert later.json() == keyed[0].json()
    assert later.headers.get("Idempotent-Replayed") == "true"


@pytest.mark.parametrize(
    "collision", ["with_an_earlier_order", "within_the_batch", "again_in_the_careful_run"]
)
async def test_a_sale_whose_order_number_is_taken_is_sold_under_another_in_its_batch(
    world: World,
    db: Database,
    tenant: TenantHandle,
    monkeypatch: pytest.MonkeyPatch,
    collision: str,
) -> None:
    for sku in SKUS:
        await world.stock("ST-A", sku, 10)
    good = dict.fromkeys(SKUS, 1)
    earlier = await till_sale(world, good)()
    assert earlier.status_code == 201, earlier.text
    # Draw 0 is the opener's; 1 and 2 the batch's first two sales'. On PostgreSQL the
    # batch's first attempt fails at the taken number and the batch is run again carefully,
    # a savepoint per sale, each sale drawing again.
    taken = earlier.json()["number"]
    twice = "261128-TWICE-DRAWN"
    script = {
        "with_an_earlier_order": {1: taken},
        "within_the_batch": {1: twice, 2: twice},
        # On PostgreSQL the batch's careful run draws the same taken number for that sale
        # again: that one sale is sent again, in a batch of its own.
        "again_in_the_careful_run": {1: taken, 2: taken},
    }[collision]
    drawn = numbers_drawn(monkeypatch, script)
    # On PostgreSQL (``in_one_batch`` checks) the batch's careful run recovered and no sale
    # was sent again on its own, unless its number was taken there too.
    again = collision == "again_in_the_careful_run"
    responses = await in_one_batch(
        db, till_sale(world, good), [till_sale(world, good)] * 3, batches_after=1 + again
    )

    assert [r.status_code for r in responses] == [201] * 3, [r.text for r in responses]
    numbers = [r.json()["number"] for r in responses]
    assert taken not in numbers
    assert len(set(numbers)) == 3
    assert len(drawn) > 4  # the opener, the colliding draws, then new ones
    for sku in SKUS:  # the earlier sale, the opener, the batch's three: each sold once
        assert await world.on_hand("ST-A", sku) == {"on_hand": 5, "reserved": 0}
    assert await _orders(db, tenant.id) == 5
    async with db.uow(tenant.id) as uow:
        assert await inventory.check_ledger(uow) == []
    for response in responses:
        answered = response.json()
        assert len(await _sale_rows(db, tenant.id, answered["id"])) == 3
        assert await _order_types(db, tenant.id, answered["id"]) == [
            "order.placed",
            "fulfillment.created",
            "order.completed",
        ]
        read = (await world.admin.get(f"/v1/orders/{answered['id']}")).json()
        assert read == answered
