"""`omni demo` builds a believable retailer, and its orders cover every mode."""

from __future__ import annotations

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.catalog.demo import demo_products
from omniretail.catalog.models import Product, Variant
from omniretail.db import Database, utcnow
from omniretail.demo import DEMO_SLUG, demo_locations, seed_demo
from omniretail.engagement import groupbuy, groupbuy_campaigns
from omniretail.engagement.groupbuy_demo import DEMO_GROUP_BUY
from omniretail.engagement.groupbuy_models import GroupBuyGroup
from omniretail.inventory.models import StockPosition
from omniretail.network.models import Location
from omniretail.orders.models import Order


async def test_the_demo_seeds_once_and_its_orders_cover_every_mode(db: Database) -> None:
    first = await seed_demo(db)
    again = await seed_demo(db)
    assert first["created"]
    assert not again["created"]
    async with db.uow(unscoped=True) as uow:
        tenant_id = await auth.tenant_id_by_slug(uow, DEMO_SLUG)
    async with db.uow(tenant_id) as uow:
        count = sa.select(sa.func.count())
        assert await uow.session.scalar(count.select_from(Variant)) > 1_500
        assert await uow.session.scalar(count.select_from(StockPosition)) > 10_000
        modes = set((await uow.session.scalars(sa.select(Order.mode))).all())
        statuses = set((await uow.session.scalars(sa.select(Order.status))).all())
    assert modes == {"ship", "pickup", "local_delivery", "in_store"}
    assert {"completed", "confirmed"} <= statuses

    # Group buying: one group filled across channels (its members' pickup orders placed at
    # the group price), one open with a seat taken.
    async with db.uow(tenant_id) as uow:
        groups = await groupbuy.list_open_groups(uow, DEMO_GROUP_BUY, now=utcnow())
        [campaign] = [c for c in await groupbuy_campaigns.list_group_buys(uow)]
        filled = (
            await uow.session.scalars(
                sa.select(GroupBuyGroup.public_id).where(GroupBuyGroup.status == "filled")
            )
        ).all()
        assert len(filled) == 1
        members = await groupbuy.list_members(uow, filled[0])
    assert [(g.seats_taken, g.size) for g in groups] == [(1, 3)]
    assert campaign.code == DEMO_GROUP_BUY
    assert [m.status.value for m in members] == ["ordered"] * 3
    assert len({m.channel for m in members}) == 3
    assert all(m.order_id for m in members)

    async with db.uow(tenant_id) as uow:
        store = await uow.session.scalar(sa.select(Location.name).where(Location.code == "ST-001"))
        title = await uow.session.scalar(sa.select(Product.title).where(Product.code == "LM0002"))
        settings = await auth.get_settings(uow)
    assert store == "露曼 上海南京西路店"
    assert title is not None
    assert title.startswith(("纯棉T恤", "罗纹背心", "宽松衬衫"))
    assert settings.locale == "zh-CN"


def test_the_english_demo_has_english_names_and_the_same_codes() -> None:
    zh_places, en_places = demo_locations(locale="zh-CN"), demo_locations(locale="en")
    assert [p.code for p in zh_places] == [p.code for p in en_places]
    assert [(p.lat, p.lng) for p in zh_places] == [(p.lat, p.lng) for p in en_places]
    assert en_places[0].name == "Shanghai Jiading warehouse"
    assert zh_places[0].name == "上海嘉定仓"
    zh_range, en_range = demo_products(locale="zh-CN"), demo_products(locale="en")
    assert [v.sku for p in zh_range for v in p.variants] == [
        v.sku for p in en_range for v in p.variants
    ]
    assert [v.price for p in zh_range for v in p.variants] == [
        v.price for p in en_range for v in p.variants
    ]
    assert all(p.title.isascii() for p in en_range)
    assert not any(p.title.isascii() for p in zh_range)
    assert en_range[0].variants[0].attributes["colour"].isascii()
    assert not zh_range[0].variants[0].attributes["colour"].isascii()
