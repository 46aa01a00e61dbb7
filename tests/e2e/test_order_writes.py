"""A placed order is written by Core statements built once (``orders.placing``): every row it
writes carries the caller's tenant, what it answers is what a later read finds, and a
statement that would take the tenant from anywhere but the unit of work cannot be built or
run."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from omniretail.db import Database, TenantScopeError
from omniretail.events import OutboxEvent
from omniretail.inventory import sales
from omniretail.loyalty.models import OrderPoints
from omniretail.orders import placing
from omniretail.orders.models import Fulfilment, FulfilmentLine, Order, OrderLine, Payment
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


def test_an_insert_that_does_not_bind_the_tenant_cannot_be_built() -> None:
    with pytest.raises(TenantScopeError, match="order_lines"):
        placing.check_tenant_inserts(sa.insert(placing.LINES).values(tenant_id=1, sku="x"))
    with pytest.raises(TenantScopeError, match="order_payments"):
        placing.check_tenant_inserts(
            sa.insert(placing.PAYMENTS).from_select(
                ["tenant_id", "method"], sa.select(sa.bindparam("tenant_id"), sa.literal("cash"))
            )
        )
    written = sa.insert(placing.LINES).from_select(
        ["order_id", "sku"], sa.select(sa.literal(1), sa.literal("x"))
    )
    with pytest.raises(TenantScopeError, match="order_lines"):  # forgotten, inside a CTE
        placing.check_tenant_inserts(sa.select(sa.literal(1)).add_cte(written.cte("w")))
    placing.check_tenant_inserts(
        sa.insert(placing.LINES).values(tenant_id=sa.bindparam(placing.TENANT_BIND))
    )


@pytest.mark.pg_only  # a sale carries the order's rows on PostgreSQL only
async def test_the_caller_of_a_carried_sale_cannot_bind_the_tenant(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    order = placing.NewOrder(
        public_id="ord_forged",
        number="000000-FORGED",
        channel="pos",
        customer_id=None,
        status="completed",
        mode="in_store",
        placed_at_location=None,
        attributed_location=None,
        attributed_staff=None,
        currency="CNY",
        subtotal=0,
        discount_total=0,
        delivery_fee=0,
        total=0,
        points_redeemed=0,
        paid_amount=0,
        coupon_codes=[],
        address=None,
        sourcing={},
        created_at=dt.datetime.now(dt.UTC),
    )
    carried = placing.carried_by_sale(order)
    forged = sales.CarriedSale(
        carried.statement,
        carried.tenant_bind,
        carried.parameters | {carried.tenant_bind: other_tenant.id},
    )
    async with db.uow(tenant.id) as uow:
        with pytest.raises(TenantScopeError):
            await sales.do_sell_in_store(
                uow, location="ST-A", lines=[("TEE-S", 1)], actor="test", carrying=forged
            )


async def _rows_of(db: Database, order_id: str) -> dict[str, set[int]]:
    """The tenant ids of every row the order wrote, by table (read unscoped)."""
    async with db.uow(None, unscoped=True) as uow:
        pk = await uow.session.scalar(sa.select(Order.id).where(Order.public_id == order_id))
        queries: dict[str, Any] = {
            "orders": sa.select(Order.tenant_id).where(Order.id == pk),
            "order_lines": sa.select(OrderLine.tenant_id).where(OrderLine.order_id == pk),
            "order_payments": sa.select(Payment.tenant_id).where(Payment.order_id == pk),
            "fulfilments": sa.select(Fulfilment.tenant_id).where(Fulfilment.order_id == pk),
            "fulfilment_lines": sa.select(FulfilmentLine.tenant_id).where(
                FulfilmentLine.fulfilment_id.in_(
                    sa.select(Fulfilment.id).where(Fulfilment.order_id == pk)
                )
            ),
            "events": sa.select(OutboxEvent.tenant_id).where(
                OutboxEvent.aggregate_type == "order", OutboxEvent.aggregate_id == order_id
            ),
        }
        return {name: set(await uow.session.scalars(q)) for name, q in queries.items()}


@pytest.mark.parametrize("mode", ["in_store", "ship", "pickup"])
async def test_every_row_of_a_placed_order_is_the_callers_tenants_and_reads_back_as_answered(
    world: World, db: Database, tenant: TenantHandle, mode: str
) -> None:
    for sku in ("TEE-S", "JEANS-32"):
        await world.stock("ST-A", sku, 5)
    lines = [{"sku": "TEE-S", "qty": 2}, {"sku": "JEANS-32", "qty": 1}]
    overrides: dict[str, Any] = {"lines": lines}
    if mode == "in_store":
        overrides |= {
            "channel": "pos",
            "fulfillment": {"mode": "in_store", "location": "ST-A"},
            "payments": [{"method": "cash", "amount": 9900 * 2 + 29900}],
        }
    elif mode == "pickup":
        overrides["fulfillment"] = {"mode": "pickup", "location": "ST-A"}
    placed = await world.order(**overrides)
    assert placed.status_code == 201, placed.text
    answered = placed.json()
    rows = await _rows_of(db, answered["id"])
    assert rows["events"], rows
    assert rows["fulfilment_lines"], rows
    assert all(found == {tenant.id} for found in rows.values()), rows
    read = (await world.admin.get(f"/v1/orders/{answered['id']}")).json()
    for fulfilment in answered["fulfillments"]:
        fulfilment["pickup_code"] = None  # shown once, in the answer only
    assert read == answered
    types = [
        e["type"]
        for e in (await _events(db, answered["id"]))
        if e["type"] in ("order.placed", "fulfillment.created", "order.completed")
    ]
    completed = ["order.completed"] if mode == "in_store" else []
    assert types == ["order.placed", "fulfillment.created", *completed]


async def _events(db: Database, order_id: str) -> list[dict[str, Any]]:
    async with db.uow(None, unscoped=True) as uow:
        rows = await uow.session.execute(
            sa.select(OutboxEvent.type, OutboxEvent.payload)
            .where(OutboxEvent.aggregate_type == "order", OutboxEvent.aggregate_id == order_id)
            .order_by(OutboxEvent.id)
        )
        return [{"type": r.type, "payload": r.payload} for r in rows]


async def test_a_till_sale_to_a_customer_earns_points_before_its_stock_is_taken(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    """The points are earned in the placing transaction, before the statement that takes the
    stock (on PostgreSQL the last one: nothing is written while the rows are locked)."""
    await world.stock("ST-A", "JEANS-32", 2)
    customer = (
        await world.admin.post(
            "/v1/customers",
            {"identities": [{"type": "phone", "value": "13800138001"}], "channel": "pos"},
        )
    ).json()
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        placed = await world.order(
            channel="pos",
            customer_id=customer["id"],
            lines=[{"sku": "JEANS-32", "qty": 1}],
            fulfillment={"mode": "in_store", "location": "ST-A"},
            payments=[{"method": "cash", "amount": 29900}],
        )
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "completed"
    async with db.uow(tenant.id) as uow:
        earned = await uow.session.scalar(
            sa.select(OrderPoints.earned).where(OrderPoints.order_ref == placed.json()["id"])
        )
    assert earned == 299
    assert await world.on_hand("ST-A", "JEANS-32") == {"on_hand": 1, "reserved": 0}
    work = [s for s in statements if not s.startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]
    stock = [i for i, s in enumerate(work) if "UPDATE stock_positions" in s]
    assert len(stock) == 1
    after = work[stock[0] + 1 :]
    if db.dialect == "postgresql":
        assert after == [], "\n".join(after)
    else:  # the staged ledger rows and events
        assert all(s.startswith("INSERT") for s in after), "\n".join(after)
