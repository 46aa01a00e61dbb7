"""With an after-sales window, earned points wait (frozen) until returns are no longer likely,
so a return inside the window never claws back points the customer already spent."""

from __future__ import annotations

import datetime as dt

from omniretail.db import Database, utcnow
from omniretail.loyalty import programme
from omniretail.loyalty import service as loyalty
from omniretail.loyalty.jobs import expire_points_everywhere
from omniretail.loyalty.schemas import RulesIn
from tests.customers_factories import balance, earn, make_customer
from tests.factories import TenantHandle


async def with_window(db: Database, tenant: TenantHandle, days: int) -> None:
    async with db.uow(tenant.id) as uow:
        await programme.do_set_rules(uow, rules=RulesIn(pending_days=days, tiers=[]), actor="test")


async def summary(db: Database, tenant: TenantHandle, cid: str) -> loyalty.PointsOut:
    async with db.uow(tenant.id) as uow:
        return await loyalty.points_summary(uow, customer_id=cid)


async def test_points_wait_out_the_window_and_a_return_inside_it_just_shrinks_them(
    db: Database, tenant: TenantHandle
) -> None:
    await with_window(db, tenant, 7)
    cid = await make_customer(db, tenant)
    assert await earn(db, tenant, cid, 100_000, order_ref="W-1") == 1000
    assert await earn(db, tenant, cid, 100_000, order_ref="W-1") == 1000  # replay
    now = await summary(db, tenant, cid)
    assert (now.balance, now.pending) == (0, 1000)

    async with db.uow(tenant.id) as uow:
        back = await loyalty.do_reverse_for_return(
            uow,
            customer_id=cid,
            order_ref="W-1",
            return_ref="WR-1",
            returned_value=40_000,
            order_value=100_000,
        )
    assert (back.earned_reversed, back.shortfall) == (400, 0)
    assert (await summary(db, tenant, cid)).pending == 600

    async with db.uow(tenant.id) as uow:
        assert await loyalty.do_release_pending_points(uow) == 0  # the window is still open
    later = utcnow() + dt.timedelta(days=8)
    async with db.uow(tenant.id) as uow:
        assert await loyalty.do_release_pending_points(uow, now=later) == 600
    async with db.uow(tenant.id) as uow:
        assert await loyalty.do_release_pending_points(uow, now=later) == 0
    after = await summary(db, tenant, cid)
    assert (after.balance, after.pending) == (600, 0)
    assert await balance(db, tenant, cid) == 600


async def test_an_old_order_completes_straight_into_the_balance_and_the_worker_releases(
    db: Database, tenant: TenantHandle
) -> None:
    await with_window(db, tenant, 7)
    cid = await make_customer(db, tenant)
    await earn(db, tenant, cid, 10_000, at=utcnow() - dt.timedelta(days=10))
    await earn(db, tenant, cid, 20_000, at=utcnow() - dt.timedelta(days=1))
    assert await balance(db, tenant, cid) == 100
    await expire_points_everywhere(db, now=utcnow() + dt.timedelta(days=7))
    assert await balance(db, tenant, cid) == 300
