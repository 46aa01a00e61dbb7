"""Points are earned and spent on every channel, never lost, doubled or overdrawn."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from omniretail.config import Settings
from omniretail.customers import service as customers
from omniretail.db import Database, utcnow
from omniretail.errors import IdempotencyKeyReused
from omniretail.events import Dispatcher
from omniretail.loyalty import programme
from omniretail.loyalty import service as loyalty
from omniretail.loyalty.ledger import InsufficientPoints
from omniretail.loyalty.schemas import RulesIn
from omniretail.wiring import build_registry
from tests.customers_factories import balance, earn, grant, make_customer
from tests.factories import TenantHandle


async def redeem(
    db: Database, tenant: TenantHandle, cid: str, points: int, key: str, order: str | None = None
) -> loyalty.Redemption:
    async with db.uow(tenant.id) as uow:
        return await loyalty.do_redeem_points(
            uow,
            customer_id=cid,
            points=points,
            reason="tender",
            order_ref=order,
            idempotency_key=key,
        )


async def test_points_earned_in_the_app_are_spent_at_the_pos(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant)
    assert await earn(db, tenant, cid, 123_456, channel="app") == 1234  # 1 point per yuan, floor
    done = await redeem(db, tenant, cid, 1000, "pos-sale-1")
    assert (done.points, done.money_value, done.balance) == (1000, 1000, 234)  # 100 pts = 1 CNY
    assert await balance(db, tenant, cid) == 234


async def test_a_retried_pos_sync_never_doubles_and_a_reused_key_is_refused(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant)
    await earn(db, tenant, cid, 100_000, order_ref="POS-9")
    await earn(db, tenant, cid, 100_000, order_ref="POS-9")
    assert await balance(db, tenant, cid) == 1000
    first = await redeem(db, tenant, cid, 300, "sync-1")
    again = await redeem(db, tenant, cid, 300, "sync-1")
    assert (again.replayed, again.entry_id) == (True, first.entry_id)
    assert await balance(db, tenant, cid) == 700
    with pytest.raises(IdempotencyKeyReused):
        await redeem(db, tenant, cid, 5, "sync-1")


async def test_a_redemption_beyond_the_balance_is_refused_and_changes_nothing(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant)
    await grant(db, tenant, cid, 99)
    with pytest.raises(InsufficientPoints):
        await redeem(db, tenant, cid, 100, "too-much")
    assert await balance(db, tenant, cid) == 99
    async with db.uow(tenant.id) as uow:
        kinds = [e.kind for e in await loyalty.list_entries(uow, customer_id=cid, limit=10)]
    assert kinds == ["adjust"]


async def test_a_return_reverses_its_share_of_earned_and_redeemed_points(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant)
    await grant(db, tenant, cid, 2000)
    # An order worth 1,000 CNY: 2,000 points pay 20 CNY of it, 980 CNY are paid in money.
    await redeem(db, tenant, cid, 2000, "checkout-1", order="ORD-R")
    assert await earn(db, tenant, cid, 98_000, order_ref="ORD-R") == 980
    order_value = 100_000

    async def give_back(ref: str, value: int) -> loyalty.Reversal:
        async with db.uow(tenant.id) as uow:
            return await loyalty.do_reverse_for_return(
                uow,
                customer_id=cid,
                order_ref="ORD-R",
                return_ref=ref,
                returned_value=value,
                order_value=order_value,
            )

    quarter = await give_back("RET-1", 25_000)
    assert (quarter.earned_reversed, quarter.redeemed_given_back) == (245, 500)
    assert (await give_back("RET-1", 25_000)).replayed  # the same return again changes nothing
    assert await balance(db, tenant, cid) == 980 - 245 + 500
    rest = await give_back("RET-2", 80_000)  # more than is left: capped at the whole order
    assert (rest.earned_reversed, rest.redeemed_given_back) == (735, 1500)
    assert await balance(db, tenant, cid) == 2000
    nothing = await give_back("RET-3", 10_000)
    assert (nothing.earned_reversed, nothing.redeemed_given_back) == (0, 0)
    assert (await loyalty_summary(db, tenant, cid)).rolling_spend == 0


async def loyalty_summary(db: Database, tenant: TenantHandle, cid: str) -> loyalty.PointsOut:
    async with db.uow(tenant.id) as uow:
        return await loyalty.points_summary(uow, customer_id=cid)


async def test_earned_points_already_spent_are_reported_as_shortfall_not_overdrawn(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant)
    await earn(db, tenant, cid, 50_000, order_ref="ORD-S")
    await redeem(db, tenant, cid, 400, "spent")
    async with db.uow(tenant.id) as uow:
        back = await loyalty.do_reverse_for_return(
            uow,
            customer_id=cid,
            order_ref="ORD-S",
            return_ref="RET-S",
            returned_value=50_000,
            order_value=50_000,
        )
    assert (back.earned_reversed, back.shortfall) == (100, 400)
    assert await balance(db, tenant, cid) == 0


async def test_points_expire_oldest_first_and_redemptions_use_the_oldest_lots(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant)
    start = utcnow() - dt.timedelta(days=400)
    await earn(db, tenant, cid, 10_000, at=start)  # 100 pts, expire at start + 365 d
    await earn(db, tenant, cid, 20_000, at=start + dt.timedelta(days=30))  # 200 pts, +395 d
    await earn(db, tenant, cid, 40_000, at=start + dt.timedelta(days=60))  # 400 pts, +425 d
    await redeem(db, tenant, cid, 150, "old-first")  # all of lot 1, 50 of lot 2

    async with db.uow(tenant.id) as uow:
        assert await loyalty.do_expire_points(uow, now=start + dt.timedelta(days=366)) == 0
    async with db.uow(tenant.id) as uow:
        assert await loyalty.do_expire_points(uow, now=start + dt.timedelta(days=396)) == 150
    async with db.uow(tenant.id) as uow:
        assert await loyalty.do_expire_points(uow, now=start + dt.timedelta(days=396)) == 0
    assert await balance(db, tenant, cid) == 400
    async with db.uow(tenant.id) as uow:
        entries = await loyalty.list_entries(uow, customer_id=cid, limit=10)
    assert [(e.kind, e.points) for e in entries][:2] == [("expire", -150), ("redeem", -150)]


async def test_tiers_promotions_and_membership_multiply_earning(
    db: Database, tenant: TenantHandle
) -> None:
    now = utcnow()
    async with db.uow(tenant.id) as uow:
        await programme.do_set_rules(
            uow,
            rules=RulesIn.model_validate(
                {
                    "points_per_unit": 2,
                    "tiers": [
                        {"code": "member", "min_spend": 0},
                        {"code": "gold", "min_spend": 100_000, "points_multiplier_pct": 150},
                    ],
                    "promotions": [
                        {
                            "code": "double-pos",
                            "multiplier_pct": 200,
                            "starts_at": (now - dt.timedelta(days=1)).isoformat(),
                            "ends_at": (now + dt.timedelta(days=1)).isoformat(),
                            "channels": ["pos"],
                        }
                    ],
                }
            ),
            actor="test",
        )
    cid = await make_customer(db, tenant)
    assert await earn(db, tenant, cid, 100_000, channel="app") == 2000  # member: 2 per yuan
    assert await earn(db, tenant, cid, 10_000, channel="app") == 300  # gold now: x1.5
    assert await earn(db, tenant, cid, 10_000, channel="pos") == 600  # and x2 at the POS today
    async with db.uow(tenant.id) as uow:
        assert await loyalty.customer_tier(uow, cid) == "gold"


async def test_sequential_redemptions_of_100_against_1000_stop_at_zero(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant)
    await grant(db, tenant, cid, 1000)
    outcomes = []
    for i in range(12):
        try:
            await redeem(db, tenant, cid, 100, f"seq-{i}")
            outcomes.append(True)
        except InsufficientPoints:
            outcomes.append(False)
    assert outcomes == [True] * 10 + [False] * 2
    assert await balance(db, tenant, cid) == 0


@pytest.mark.pg_only
async def test_fifty_simultaneous_redemptions_of_100_against_1000_exactly_ten_succeed(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant)
    await grant(db, tenant, cid, 1000)
    wide = Database(
        Settings(database_url=db.url, run_dispatcher=False, db_pool_size=50, db_max_overflow=50)
    )

    async def attempt(i: int) -> bool:
        try:
            await redeem(wide, tenant, cid, 100, f"race-{i}")
            return True
        except InsufficientPoints:
            return False

    try:
        # Open the connections first so that the redemptions really run side by side.
        conns = [await wide.engine.connect() for _ in range(50)]
        for conn in conns:
            await conn.close()
        results = await asyncio.gather(*(attempt(i) for i in range(50)))
    finally:
        await wide.dispose()
    assert results.count(True) == 10
    assert await balance(db, tenant, cid) == 0


@pytest.mark.pg_only
async def test_the_same_pos_sync_arriving_ten_times_at_once_spends_once(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant)
    await grant(db, tenant, cid, 500)
    wide = Database(Settings(database_url=db.url, run_dispatcher=False, db_pool_size=12))
    try:
        results = await asyncio.gather(
            *(redeem(wide, tenant, cid, 300, "offline-pos-7") for _ in range(10))
        )
    finally:
        await wide.dispose()
    assert len({r.entry_id for r in results}) == 1
    assert [r.replayed for r in results].count(False) == 1
    assert await balance(db, tenant, cid) == 200


async def test_a_checkout_that_catches_a_refused_redemption_commits_no_trace_of_it(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant)
    await grant(db, tenant, cid, 50)
    async with db.uow(tenant.id) as uow:
        with pytest.raises(InsufficientPoints):
            await loyalty.do_redeem_points(
                uow, customer_id=cid, points=80, reason="tender", idempotency_key="fallback"
            )
        # ...and the checkout goes on with another tender in the same transaction.
    assert await balance(db, tenant, cid) == 50
    assert (await redeem(db, tenant, cid, 50, "fallback")).balance == 0


async def test_a_redemption_takes_ten_statements(db: Database, tenant: TenantHandle) -> None:
    """Checkout's points tender is a hot path: catch N+1 regressions here, not in a benchmark."""
    cid = await make_customer(db, tenant)
    await grant(db, tenant, cid, 100)
    await grant(db, tenant, cid, 100)  # two lots: still one read of the lots
    statements: list[str] = []

    def count(_c: object, _cur: object, sql: str, *_rest: object) -> None:
        if not sql.startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            statements.append(sql)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await redeem(db, tenant, cid, 150, "counted")
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 10, "\n".join(statements)


@pytest.mark.pg_only
async def test_redemptions_racing_a_merge_lose_and_double_nothing(
    db: Database, tenant: TenantHandle
) -> None:
    a, b = await make_customer(db, tenant), await make_customer(db, tenant)
    await grant(db, tenant, a, 1000)
    await grant(db, tenant, b, 500)
    wide = Database(Settings(database_url=db.url, run_dispatcher=False, db_pool_size=30))

    async def attempt(i: int) -> bool:
        try:
            await redeem(wide, tenant, a if i % 2 else b, 100, f"mix-{i}")
            return True
        except InsufficientPoints:
            return False

    async def merge_and_move() -> None:
        async with wide.uow(tenant.id) as uow:
            await customers.do_merge_customers(
                uow, survivor_id=a, absorbed_id=b, actor="race", reason="same person"
            )
        await Dispatcher(wide, build_registry()).run_until_idle()

    try:
        outcome = await asyncio.gather(merge_and_move(), *(attempt(i) for i in range(20)))
        await Dispatcher(wide, build_registry()).run_until_idle()
    finally:
        await wide.dispose()
    spent = 100 * sum(1 for won in outcome[1:] if won)
    assert await balance(db, tenant, a) == 1500 - spent
    assert await balance(db, tenant, b) == 1500 - spent


@pytest.mark.pg_only
async def test_a_redemption_queued_behind_expiry_sees_the_expired_balance(
    db: Database, tenant: TenantHandle
) -> None:
    """Deterministic interleaving: expiry holds the account while a redemption waits on it."""
    cid = await make_customer(db, tenant)
    await earn(db, tenant, cid, 50_000, at=utcnow() - dt.timedelta(days=400))  # 500, expired
    other = Database(Settings(database_url=db.url, run_dispatcher=False))
    try:
        async with db.uow(tenant.id) as expiry:
            account = await customers.customer_ref(expiry, cid)
            await expiry.session.execute(
                sa.text("SELECT 1 FROM points_accounts WHERE customer_id = :c FOR UPDATE"),
                {"c": account.id},
            )
            waiting = asyncio.create_task(redeem(other, tenant, cid, 300, "queued"))
            await _until_someone_waits_on_a_lock(db, waiting)
            assert await loyalty.do_expire_points(expiry) == 500
        with pytest.raises(InsufficientPoints):
            await waiting
    finally:
        await other.dispose()
    assert await balance(db, tenant, cid) == 0


async def _until_someone_waits_on_a_lock(db: Database, task: asyncio.Task[object]) -> None:
    """Poll PostgreSQL (not the clock) until another session is blocked on a lock."""
    async with db.engine.connect() as conn:
        for _ in range(3000):
            assert not task.done(), "the other transaction finished instead of waiting"
            waiting = await conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            if waiting:
                return
            # pg_stat_activity is read once per transaction (PostgreSQL keeps the snapshot
            # until it ends): each poll must look in a new one, or it sees the first for ever.
            await conn.rollback()
            await asyncio.sleep(0.01)
    raise AssertionError("nobody ever waited on the lock")
