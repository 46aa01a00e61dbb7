"""One customer across every channel: identities resolve, link and merge without losing anything."""

from __future__ import annotations

import asyncio

import pytest

from omniretail.config import Settings
from omniretail.customers import service as customers
from omniretail.customers.service import CustomerNotFound, IdentityTaken
from omniretail.db import Database
from omniretail.errors import ValidationFailed
from omniretail.events import Dispatcher
from omniretail.wiring import build_registry
from tests.customers_factories import balance, earn, grant, ident, make_channels, make_customer
from tests.factories import TenantHandle


async def test_a_miniprogram_customer_seen_at_the_pos_by_phone_is_one_customer(
    db: Database, tenant: TenantHandle
) -> None:
    await make_channels(db, tenant)
    async with db.uow(tenant.id) as uow:
        first, created = await customers.do_resolve_customer(
            uow,
            identities=[ident("wechat_openid", "o-mini-1"), ident("phone", "138 0013 8000")],
            create_if_missing=True,
            channel="miniprogram",
        )
    assert created
    for written in ("+86 13800138000", "8613800138000", "13800138000"):
        async with db.uow(tenant.id) as uow:
            again, created = await customers.do_resolve_customer(
                uow, identities=[ident("phone", written)], create_if_missing=True, channel="pos"
            )
        assert not created
        assert again.id == first.id
    async with db.uow(tenant.id) as uow:
        profile = (await customers.get_customer(uow, first.id)).profile
    assert profile is not None
    assert [c.channel for c in profile.channels] == ["miniprogram", "pos"]


async def test_resolving_by_a_second_identity_finds_the_same_customer(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant, ident("phone", "13900139000"))
    async with db.uow(tenant.id) as uow:
        await customers.do_link_identity(
            uow, customer_id=cid, identity=ident("email", "  Li.Wei@Example.COM ")
        )
    async with db.uow(tenant.id) as uow:
        found, created = await customers.do_resolve_customer(
            uow, identities=[ident("email", "li.wei@example.com")]
        )
    assert (found.id, created) == (cid, False)
    assert {(i.type, i.value) for i in found.identities} == {
        ("phone", "+8613900139000"),
        ("email", "li.wei@example.com"),
    }


async def test_garbage_phone_numbers_are_refused_and_unknown_identities_are_not_found(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        with pytest.raises(ValidationFailed) as bad:
            await customers.do_resolve_customer(uow, identities=[ident("phone", "12ab")])
    assert bad.value.extra["errors"][0]["field"] == "identities.0.value"
    async with db.uow(tenant.id) as uow:
        with pytest.raises(CustomerNotFound):
            await customers.do_resolve_customer(uow, identities=[ident("phone", "13700137000")])


async def test_creating_a_customer_with_a_taken_identity_is_refused(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant, ident("phone", "13600136000"))
    async with db.uow(tenant.id) as uow:
        with pytest.raises(IdentityTaken) as taken:
            await customers.do_create_customer(uow, identities=[ident("phone", "+8613600136000")])
    assert taken.value.extra["errors"][0]["customer_id"] == cid


async def test_a_merge_keeps_identities_events_orders_and_the_sum_of_both_balances(
    db: Database, tenant: TenantHandle
) -> None:
    await make_channels(db, tenant)
    app_user = await make_customer(db, tenant, ident("phone", "13500135000"), channel="app")
    douyin_user = await make_customer(db, tenant, ident("douyin_openid", "dy-42"), channel="douyin")
    await earn(db, tenant, app_user, 30000, order_ref="A-1")
    await grant(db, tenant, douyin_user, 250)
    async with db.uow(tenant.id) as uow:
        await customers.do_record_order(
            uow,
            customer_id=douyin_user,
            order_ref="D-1",
            channel="douyin",
            location=None,
            amount=9900,
            at=customers.utcnow(),
        )

    async with db.uow(tenant.id) as uow:
        merged = await customers.do_merge_customers(
            uow, survivor_id=app_user, absorbed_id=douyin_user, actor="test", reason="same phone"
        )
    assert merged.moved["identities"] == [{"type": "douyin_openid", "value": "dy-42"}]
    assert merged.moved["orders"] == 1
    await Dispatcher(db, build_registry()).run_until_idle()

    assert await balance(db, tenant, app_user) == 300 + 250
    assert await balance(db, tenant, douyin_user) == 550  # the absorbed id acts on the survivor
    async with db.uow(tenant.id) as uow:
        out = await customers.get_customer(uow, douyin_user)
        history = await customers.list_merges(uow, app_user)
    assert out.id == app_user
    assert out.redirected_from == douyin_user
    assert out.merged_from == [douyin_user]
    assert out.profile is not None
    assert out.profile.orders_by_channel["douyin"].spend == 9900
    assert {c.channel for c in out.profile.channels} == {"app", "douyin"}
    assert [(m.absorbed_id, m.reason, m.actor) for m in history] == [
        (douyin_user, "same phone", "test")
    ]


async def test_linking_an_identity_of_another_customer_merges_them(
    db: Database, tenant: TenantHandle
) -> None:
    pos_user = await make_customer(db, tenant, ident("member_card", "CARD-7"))
    app_user = await make_customer(db, tenant, ident("phone", "13400134000"))
    await grant(db, tenant, pos_user, 100)
    async with db.uow(tenant.id) as uow:
        out = await customers.do_link_identity(
            uow, customer_id=app_user, identity=ident("member_card", "CARD-7")
        )
    await Dispatcher(db, build_registry()).run_until_idle()
    assert out.id == app_user
    assert out.merged_from == [pos_user]
    assert await balance(db, tenant, app_user) == 100


async def test_another_tenants_customer_cannot_be_found_even_by_identity(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    theirs = await make_customer(db, other_tenant, ident("phone", "13300133000"))
    async with db.uow(tenant.id) as uow:
        with pytest.raises(CustomerNotFound):
            await customers.get_customer(uow, theirs)
    async with db.uow(tenant.id) as uow:
        with pytest.raises(CustomerNotFound):
            await customers.do_resolve_customer(uow, identities=[ident("phone", "13300133000")])
    async with db.uow(tenant.id) as uow:
        mine, created = await customers.do_resolve_customer(
            uow, identities=[ident("phone", "13300133000")], create_if_missing=True
        )
    assert created
    assert mine.id != theirs


@pytest.mark.pg_only
async def test_racing_links_and_merges_lose_no_identity(db: Database, tenant: TenantHandle) -> None:
    wide = Database(Settings(database_url=db.url, run_dispatcher=False, db_pool_size=20))
    try:
        ids = [
            await make_customer(wide, tenant, ident("phone", f"1310013{i:04d}")) for i in range(8)
        ]

        async def link(i: int) -> None:
            async with wide.uow(tenant.id) as uow:
                # Everyone claims the same card: each claim merges its holder with the others.
                await customers.do_link_identity(
                    uow, customer_id=ids[i], identity=ident("member_card", "SHARED")
                )

        await asyncio.gather(*(link(i) for i in range(8)))
        async with wide.uow(tenant.id) as uow:
            survivors = {(await customers.access_customer(uow, cid)).id for cid in ids}
            one = await customers.get_customer(uow, ids[0])
        assert len(survivors) == 1
        assert len(one.identities) == 9
        assert sorted([*one.merged_from, one.id]) == sorted(ids)
    finally:
        await wide.dispose()


@pytest.mark.pg_only
async def test_racing_chained_merges_keep_every_point(db: Database, tenant: TenantHandle) -> None:
    wide = Database(Settings(database_url=db.url, run_dispatcher=False, db_pool_size=12))
    try:
        ids = [await make_customer(wide, tenant) for _ in range(10)]
        for cid in ids:
            await grant(wide, tenant, cid, 100)

        async def merge(i: int) -> None:
            async with wide.uow(tenant.id) as uow:
                await customers.do_merge_customers(
                    uow, survivor_id=ids[i], absorbed_id=ids[i + 1], actor="race", reason="chain"
                )

        await asyncio.gather(*(merge(i) for i in range(9)))
        await Dispatcher(wide, build_registry()).run_until_idle()
        async with wide.uow(tenant.id) as uow:
            live = {(await customers.access_customer(uow, cid)).public_id for cid in ids}
        assert len(live) == 1
        assert await balance(wide, tenant, live.pop()) == 1000
    finally:
        await wide.dispose()
