"""Orders and returns only emit events; the profile and the points follow (wiring.py)."""

from __future__ import annotations

import datetime as dt

from omniretail.customers import service as customers
from omniretail.db import Database, utcnow
from omniretail.events import Dispatcher, record_event
from omniretail.loyalty import service as loyalty
from omniretail.loyalty.jobs import expire_points_everywhere
from omniretail.wiring import build_registry
from tests.customers_factories import balance, earn, make_channels, make_customer
from tests.factories import TenantHandle


async def emit(
    db: Database, tenant: TenantHandle, type_: str, aggregate: str, **payload: object
) -> None:
    # Orders and returns record their events on the order aggregate, so they arrive in order.
    async with db.uow(tenant.id) as uow:
        record_event(uow, type_, aggregate_type="order", aggregate_id=aggregate, payload=payload)


async def test_completed_orders_and_returns_move_profile_and_points_once(
    db: Database, tenant: TenantHandle
) -> None:
    await make_channels(db, tenant)
    cid = await make_customer(db, tenant, channel="app")
    completed = utcnow().isoformat()
    for _ in range(2):  # a redelivered event counts once
        await emit(
            db,
            tenant,
            "order.completed",
            "O-1",
            order_id="O-1",
            customer_id=cid,
            channel="app",
            location="ST-001",
            paid_amount=50_000,
            points_redeemed=0,
            completed_at=completed,
        )
    await emit(
        db,
        tenant,
        "order.completed",
        "O-2",
        order_id="O-2",
        customer_id=cid,
        channel="pos",
        location="ST-001",
        paid_amount=20_000,
        points_redeemed=0,
        completed_at=completed,
    )
    await emit(db, tenant, "order.completed", "O-3", order_id="O-3", customer_id=None,
               channel="pos", location=None, paid_amount=1, points_redeemed=0,
               completed_at=completed)  # fmt: skip
    await Dispatcher(db, build_registry()).run_until_idle()
    assert await balance(db, tenant, cid) == 700

    await emit(
        db,
        tenant,
        "return.completed",
        "O-1",
        return_id="R-1",
        order_id="O-1",
        customer_id=cid,
        returned_value=25_000,
        order_value=50_000,
        completed_at=completed,
    )
    await Dispatcher(db, build_registry()).run_until_idle()
    assert await balance(db, tenant, cid) == 450
    await emit(db, tenant, "return.completed", "O-1", return_id="R-1", order_id="O-1",
               customer_id=cid, returned_value=25_000, order_value=50_000,
               completed_at=completed)  # fmt: skip
    await Dispatcher(db, build_registry()).run_until_idle()
    assert await balance(db, tenant, cid) == 450  # the same return delivered again

    async with db.uow(tenant.id) as uow:
        profile = (await customers.get_customer(uow, cid)).profile
    assert profile is not None
    assert profile.orders_by_channel["app"].orders == 1
    assert profile.orders_by_channel["app"].spend == 25_000  # half of it came back
    assert profile.orders_by_channel["pos"].spend == 20_000
    assert profile.lifetime_value == 45_000
    assert profile.favourite_store == "ST-001"


async def test_a_cancelled_order_gives_its_redeemed_points_back(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant)
    await earn(db, tenant, cid, 100_000)
    async with db.uow(tenant.id) as uow:
        await loyalty.do_redeem_points(
            uow,
            customer_id=cid,
            points=600,
            reason="tender",
            order_ref="O-C",
            idempotency_key="checkout-O-C",
        )
    await emit(db, tenant, "order.cancelled", "O-C", order_id="O-C", customer_id=cid)
    await Dispatcher(db, build_registry()).run_until_idle()
    assert await balance(db, tenant, cid) == 1000


async def test_the_worker_job_expires_points_in_every_tenant(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    long_ago = utcnow() - dt.timedelta(days=400)
    mine = await make_customer(db, tenant)
    theirs = await make_customer(db, other_tenant)
    await earn(db, tenant, mine, 10_000, at=long_ago)
    await earn(db, other_tenant, theirs, 20_000, at=long_ago)
    await earn(db, other_tenant, theirs, 30_000)
    assert await expire_points_everywhere(db) == 300
    assert await balance(db, tenant, mine) == 0
    assert await balance(db, other_tenant, theirs) == 300
