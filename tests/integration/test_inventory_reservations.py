"""Reservations: hold, confirm, release, consume, in-store sale and expiry, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest

from omniretail.db import Database, utcnow
from omniretail.errors import ValidationFailed
from omniretail.inventory import batch_holds, sales
from omniretail.inventory import reservations as res
from omniretail.inventory.domain import Reason
from omniretail.inventory.service import InsufficientStock
from tests.factories import TenantHandle
from tests.inventory_factories import (
    assert_books_balance,
    make_location,
    make_skus,
    position,
    receive,
)

L = res.StockLine


@pytest.fixture
async def shop(db: Database, tenant: TenantHandle) -> TenantHandle:
    await make_skus(db, tenant.id, "TEE-S", "TEE-M")
    await make_location(db, tenant.id, "ST-1")
    await make_location(db, tenant.id, "ST-2")
    await receive(db, tenant.id, "ST-1", "TEE-S", 5)
    await receive(db, tenant.id, "ST-2", "TEE-M", 3)
    return tenant


async def test_all_lines_or_none_and_the_short_lines_are_named(
    db: Database, shop: TenantHandle
) -> None:
    with pytest.raises(InsufficientStock) as caught:
        async with db.uow(shop.id) as uow:
            await res.do_reserve(
                uow,
                lines=[L("TEE-S", "ST-1", 2), L("TEE-M", "ST-2", 4), L("TEE-M", "ST-1", 1)],
                ttl_seconds=60,
                actor="app",
            )
    short = caught.value.extra["lines"]
    assert [
        (s["index"], s["sku"], s["location"], s["requested"], s["available"]) for s in short
    ] == [
        (2, "TEE-M", "ST-1", 1, 0),
        (1, "TEE-M", "ST-2", 4, 3),
    ]
    assert await position(db, shop.id, "ST-1", "TEE-S") == (5, 0)
    assert await position(db, shop.id, "ST-2", "TEE-M") == (3, 0)


async def test_a_caller_that_catches_the_refusal_keeps_nothing_held(
    db: Database, shop: TenantHandle
) -> None:
    async with db.uow(shop.id) as uow:
        with pytest.raises(InsufficientStock):
            await res.do_reserve(
                uow, lines=[L("TEE-S", "ST-1", 2), L("TEE-M", "ST-2", 9)], ttl_seconds=60, actor="o"
            )
        # The order tries another way in the same transaction.
        await res.do_reserve(uow, lines=[L("TEE-S", "ST-1", 5)], ttl_seconds=None, actor="o")
    assert await position(db, shop.id, "ST-1", "TEE-S") == (5, 5)
    await assert_books_balance(db, shop.id)


async def test_unknown_skus_and_locations_are_a_validation_error(
    db: Database, shop: TenantHandle
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        async with db.uow(shop.id) as uow:
            await res.do_reserve(
                uow, lines=[L("TEE-S", "ST-1", 1), L("NOPE", "ST-9", 1)], ttl_seconds=60, actor="a"
            )
    assert {e["index"] for e in caught.value.extra["errors"]} == {1}


async def test_release_gives_the_stock_back_once(db: Database, shop: TenantHandle) -> None:
    async with db.uow(shop.id) as uow:
        held = await res.do_reserve(
            uow, lines=[L("TEE-S", "ST-1", 2), L("TEE-M", "ST-2", 1)], ttl_seconds=60, actor="a"
        )
    async with db.uow(shop.id) as uow:
        part = await res.do_release_reservation(
            uow, reservation_id=held.id, actor="a", location="ST-2"
        )
    assert part.status == "active"
    assert await position(db, shop.id, "ST-2", "TEE-M") == (3, 0)
    for _ in range(2):
        async with db.uow(shop.id) as uow:
            done = await res.do_release_reservation(uow, reservation_id=held.id, actor="a")
        assert done.status == "released"
    assert await position(db, shop.id, "ST-1", "TEE-S") == (5, 0)
    await assert_books_balance(db, shop.id)


async def test_confirm_then_consume_takes_the_stock_out(db: Database, shop: TenantHandle) -> None:
    async with db.uow(shop.id) as uow:
        held = await res.do_reserve(
            uow, lines=[L("TEE-S", "ST-1", 2), L("TEE-M", "ST-2", 1)], ttl_seconds=60, actor="a"
        )
        confirmed = await res.do_confirm_reservation(uow, reservation_id=held.id, reference="O-1")
    assert (confirmed.status, confirmed.expires_at, confirmed.reference) == (
        "confirmed",
        None,
        "O-1",
    )
    async with db.uow(shop.id) as uow:
        # A confirmed hold never expires.
        assert await res.do_release_expired(uow, utcnow() + dt.timedelta(days=30)) == 0
        after = await res.do_consume_reservation(
            uow, reservation_id=held.id, actor="store", reason=Reason.PICKUP, location="ST-1"
        )
    assert after.status == "confirmed"
    assert await position(db, shop.id, "ST-1", "TEE-S") == (3, 0)
    async with db.uow(shop.id) as uow:
        after = await res.do_consume_reservation(uow, reservation_id=held.id, actor="wh")
    assert after.status == "consumed"
    assert await position(db, shop.id, "ST-2", "TEE-M") == (2, 0)
    with pytest.raises(res.ReservationClosed):
        async with db.uow(shop.id) as uow:
            await res.do_consume_reservation(uow, reservation_id=held.id, actor="wh")
    await assert_books_balance(db, shop.id)


async def test_expired_holds_are_released_by_the_worker_and_cannot_be_confirmed(
    db: Database, shop: TenantHandle
) -> None:
    now = utcnow()
    async with db.uow(shop.id) as uow:
        short = await res.do_reserve(
            uow, lines=[L("TEE-S", "ST-1", 2)], ttl_seconds=60, actor="a", now=now
        )
        long = await res.do_reserve(
            uow, lines=[L("TEE-S", "ST-1", 1)], ttl_seconds=3600, actor="a", now=now
        )
    later = now + dt.timedelta(seconds=61)
    with pytest.raises(res.ReservationExpired):
        async with db.uow(shop.id) as uow:
            await res.do_confirm_reservation(uow, reservation_id=short.id, now=later)
    async with db.uow(shop.id) as uow:
        assert await res.do_release_expired(uow, later) == 1
    async with db.uow(shop.id) as uow:
        assert await res.do_release_expired(uow, later) == 0
        assert (await res.get_reservation(uow, short.id)).status == "expired"
        assert (await res.get_reservation(uow, long.id)).status == "active"
    assert await position(db, shop.id, "ST-1", "TEE-S") == (5, 1)
    with pytest.raises(res.ReservationExpired):
        async with db.uow(shop.id) as uow:
            await res.do_consume_reservation(uow, reservation_id=short.id, actor="a")
    await assert_books_balance(db, shop.id)


async def test_an_in_store_sale_never_takes_stock_held_for_others(
    db: Database, shop: TenantHandle
) -> None:
    async with db.uow(shop.id) as uow:
        await res.do_reserve(uow, lines=[L("TEE-S", "ST-1", 4)], ttl_seconds=60, actor="app")
    with pytest.raises(InsufficientStock):
        async with db.uow(shop.id) as uow:
            await sales.do_sell_in_store(uow, location="ST-1", lines=[("TEE-S", 2)], actor="pos")
    async with db.uow(shop.id) as uow:
        changes = await sales.do_sell_in_store(
            uow, location="ST-1", lines=[("TEE-S", 1)], actor="pos", reference="R-9"
        )
    assert [(c.on_hand, c.reserved, c.available_before, c.available_after) for c in changes] == [
        (4, 4, 1, 0)
    ]
    await assert_books_balance(db, shop.id)


async def test_consuming_a_hold_a_count_made_impossible_is_refused(
    db: Database, shop: TenantHandle
) -> None:
    from omniretail.inventory import service

    async with db.uow(shop.id) as uow:
        held = await res.do_reserve(uow, lines=[L("TEE-S", "ST-1", 4)], ttl_seconds=None, actor="o")
    async with db.uow(shop.id) as uow:
        await service.do_count(uow, location="ST-1", sku="TEE-S", on_hand=1, actor="rfid")
    with pytest.raises(InsufficientStock):
        async with db.uow(shop.id) as uow:
            await res.do_consume_reservation(uow, reservation_id=held.id, actor="wh")
    assert await position(db, shop.id, "ST-1", "TEE-S") == (1, 4)
    async with db.uow(shop.id) as uow:
        await res.do_release_reservation(uow, reservation_id=held.id, actor="o")
    assert await position(db, shop.id, "ST-1", "TEE-S") == (1, 0)
    await assert_books_balance(db, shop.id)


async def test_another_tenants_reservation_is_not_found(
    db: Database, shop: TenantHandle, other_tenant: TenantHandle
) -> None:
    from omniretail.errors import NotFound

    async with db.uow(shop.id) as uow:
        held = await res.do_reserve(uow, lines=[L("TEE-S", "ST-1", 1)], ttl_seconds=60, actor="a")
    for act in (
        lambda uow: res.get_reservation(uow, held.id),
        lambda uow: res.do_release_reservation(uow, reservation_id=held.id, actor="x"),
        lambda uow: res.do_confirm_reservation(uow, reservation_id=held.id),
    ):
        with pytest.raises(NotFound):
            async with db.uow(other_tenant.id) as uow:
                await act(uow)
    assert await position(db, shop.id, "ST-1", "TEE-S") == (5, 1)


async def test_tenants_with_the_same_codes_never_touch_each_others_stock(
    db: Database, shop: TenantHandle, other_tenant: TenantHandle
) -> None:
    await make_skus(db, other_tenant.id, "TEE-S")
    await make_location(db, other_tenant.id, "ST-1")
    await receive(db, other_tenant.id, "ST-1", "TEE-S", 1)
    async with db.uow(other_tenant.id) as uow:
        await res.do_reserve(uow, lines=[L("TEE-S", "ST-1", 1)], ttl_seconds=60, actor="r")
        with pytest.raises(InsufficientStock):
            await res.do_reserve(uow, lines=[L("TEE-S", "ST-1", 1)], ttl_seconds=60, actor="r")
        await res.do_release_expired(uow, utcnow() + dt.timedelta(hours=1))
    assert await position(db, shop.id, "ST-1", "TEE-S") == (5, 0)
    assert await position(db, other_tenant.id, "ST-1", "TEE-S") == (1, 0)
    await assert_books_balance(db, shop.id)
    await assert_books_balance(db, other_tenant.id)


async def test_holds_drawn_from_a_batch_hold_give_back_what_their_savepoint_undoes(
    db: Database, shop: TenantHandle
) -> None:
    """One UPDATE holds a batch's sum; a request rolled back to its savepoint returns its
    draw, and what no request drew is given back when the batch closes."""
    async with db.uow(shop.id) as uow:
        batch = batch_holds.BatchHold("ST-1", "TEE-S")
        await batch.open(uow, 4, late=False)
        assert batch.figures is not None
        first = await res.do_reserve(uow, lines=[L("TEE-S", "ST-1", 1)], ttl_seconds=60, actor="a")
        with pytest.raises(RuntimeError):
            async with uow.session.begin_nested():
                await res.do_reserve(uow, lines=[L("TEE-S", "ST-1", 2)], ttl_seconds=60, actor="b")
                raise RuntimeError("this request fails after its hold")
        assert batch.drawn == 1
        async with uow.session.begin_nested():
            third = await res.do_reserve(
                uow, lines=[L("TEE-S", "ST-1", 2)], ttl_seconds=60, actor="c"
            )
        assert batch.drawn == 3
        await batch.close(uow)
    assert [ln.qty for ln in first.lines + third.lines] == [1, 2]
    assert await position(db, shop.id, "ST-1", "TEE-S") == (5, 3)
    await assert_books_balance(db, shop.id)


async def test_a_batch_hold_that_does_not_fit_holds_nothing_and_each_hold_runs_alone(
    db: Database, shop: TenantHandle
) -> None:
    async with db.uow(shop.id) as uow:
        batch = batch_holds.BatchHold("ST-1", "TEE-S")
        await batch.open(uow, 6, late=False)  # 5 on hand
        assert batch.figures is None
        await res.do_reserve(uow, lines=[L("TEE-S", "ST-1", 4)], ttl_seconds=60, actor="a")
        with pytest.raises(InsufficientStock):
            async with uow.session.begin_nested():
                await res.do_reserve(uow, lines=[L("TEE-S", "ST-1", 2)], ttl_seconds=60, actor="b")
        await res.do_reserve(uow, lines=[L("TEE-S", "ST-1", 1)], ttl_seconds=60, actor="c")
        await batch.close(uow)
    assert await position(db, shop.id, "ST-1", "TEE-S") == (5, 5)
    await assert_books_balance(db, shop.id)
