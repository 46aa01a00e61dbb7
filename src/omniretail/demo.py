# ruff: noqa: RUF001  (Chinese names use full-width punctuation, on purpose)
"""`omni demo`: a believable retailer, seeded through the same services the API uses.

Lumen (a fictional fashion chain) in Shanghai: a warehouse, two dark stores, 30 stores, an
experience store and pickup points, selling on its app, mini-program, web shop, Douyin,
Xiaohongshu and store POS. Deterministic: the same seed gives the same retailer.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

from omniretail.auth import service as auth
from omniretail.auth.domain import Role
from omniretail.auth.staff_demo import seed_staff
from omniretail.catalog.demo import seed_catalog
from omniretail.channels import service as channels
from omniretail.channels.schemas import ChannelKind
from omniretail.db import Database
from omniretail.engagement.groupbuy_demo import seed_group_buys
from omniretail.errors import NotFound
from omniretail.i18n import CHINESE
from omniretail.inventory.demo import seed_inventory
from omniretail.loyalty.demo import seed_customers
from omniretail.network import service as network
from omniretail.network.domain import LocationType
from omniretail.network.schemas import CapabilitiesIn, LocationIn
from omniretail.orders.demo import seed_orders

DEMO_SLUG = "demo"
CENTRE = (31.2304, 121.4737)  # People's Square, Shanghai
DISTRICTS = [
    "Huangpu",
    "Jing'an",
    "Xuhui",
    "Changning",
    "Putuo",
    "Hongkou",
    "Yangpu",
    "Pudong",
    "Minhang",
    "Baoshan",
    "Jiading",
    "Songjiang",
    "Qingpu",
    "Fengxian",
    "Jinshan",
]
# The districts' Chinese names and a well-known street in each, for a zh-CN demo's stores.
CHINESE_DISTRICTS = {
    "Huangpu": ("黄浦", "南京东路"),
    "Jing'an": ("静安", "南京西路"),
    "Xuhui": ("徐汇", "淮海中路"),
    "Changning": ("长宁", "中山公园"),
    "Putuo": ("普陀", "长寿路"),
    "Hongkou": ("虹口", "四川北路"),
    "Yangpu": ("杨浦", "五角场"),
    "Pudong": ("浦东", "陆家嘴"),
    "Minhang": ("闵行", "莘庄"),
    "Baoshan": ("宝山", "友谊路"),
    "Jiading": ("嘉定", "嘉定新城"),
    "Songjiang": ("松江", "松江新城"),
    "Qingpu": ("青浦", "赵巷"),
    "Fengxian": ("奉贤", "南桥"),
    "Jinshan": ("金山", "石化"),
}
DEMO_CLERK_STORE = "ST-001"  # the demo clerk works here
STORE_HOURS = {day: ["10:00-22:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def demo_locations(seed: int = 7, *, locale: str = CHINESE) -> list[LocationIn]:
    """The demo network; names and addresses in ``locale`` (zh-CN or en), the same codes."""
    rng = random.Random(seed)
    zh = locale == CHINESE

    def district_in(district: str) -> str:
        return CHINESE_DISTRICTS[district][0] if zh else district

    def near(spread_km: float) -> tuple[float, float]:
        # ~111 km per degree of latitude; good enough to scatter points around the centre.
        return (
            round(CENTRE[0] + rng.uniform(-spread_km, spread_km) / 111.0, 6),
            round(CENTRE[1] + rng.uniform(-spread_km, spread_km) / 95.0, 6),
        )

    out = [
        LocationIn(
            code="WH-SH",
            name="上海嘉定仓" if zh else "Shanghai Jiading warehouse",
            type=LocationType.WAREHOUSE,
            lat=31.3747,
            lng=121.2655,
            address="上海市嘉定区物流园" if zh else "Jiading logistics park",
            capabilities=CapabilitiesIn(ship=True, sells_online=True),
        ),
    ]
    for i, district in enumerate(("Xuhui", "Pudong"), start=1):
        lat, lng = near(12)
        out.append(
            LocationIn(
                code=f"DS-{i:02d}",
                name=f"{district_in(district)}前置仓" if zh else f"{district} dark store",
                type=LocationType.DARK_STORE,
                lat=lat,
                lng=lng,
                address=f"上海市{district_in(district)}区" if zh else f"{district} district",
                capabilities=CapabilitiesIn(local_delivery=True, ship=True, sells_online=True),
                delivery_radius_km=3.0,
            )
        )
    for i in range(1, 31):
        lat, lng = near(20)
        district = DISTRICTS[i % len(DISTRICTS)]
        out.append(
            LocationIn(
                code=f"ST-{i:03d}",
                name=(
                    # 30 stores over 15 districts: the second in a district is its 二店.
                    f"露曼 上海{CHINESE_DISTRICTS[district][1]}{'' if i <= 15 else '二'}店"
                    if zh
                    else f"Lumen {district} {i}"
                ),
                type=LocationType.STORE,
                lat=lat,
                lng=lng,
                address=(
                    f"上海市{district_in(district)}区{CHINESE_DISTRICTS[district][1]}"
                    if zh
                    else f"{district} district, Shanghai"
                ),
                capabilities=CapabilitiesIn(
                    ship=True, pickup=True, local_delivery=i % 3 != 0, sells_online=True
                ),
                delivery_radius_km=3.0,
                daily_capacity=rng.choice([40, 60, 80, 120]),
                opening_hours=STORE_HOURS,
            )
        )
    out.append(
        LocationIn(
            code="EX-001",
            name="露曼 新天地体验店" if zh else "Lumen experience store, Xintiandi",
            type=LocationType.EXPERIENCE_STORE,
            lat=31.2196,
            lng=121.4755,
            address="上海市黄浦区新天地" if zh else "Xintiandi, Huangpu",
            capabilities=CapabilitiesIn(),
            opening_hours=STORE_HOURS,
        )
    )
    for i in range(1, 6):
        lat, lng = near(15)
        out.append(
            LocationIn(
                code=f"PP-{i:02d}",
                name=f"自提柜 {i}" if zh else f"Pickup locker {i}",
                type=LocationType.PICKUP_POINT,
                lat=lat,
                lng=lng,
                capabilities=CapabilitiesIn(pickup=True),
            )
        )
    return out


DEMO_CHANNELS = [
    ("app", ChannelKind.APP, "Lumen app", "露曼 App"),
    ("miniprogram", ChannelKind.MINIPROGRAM, "WeChat mini-program", "微信小程序"),
    ("web", ChannelKind.WEB, "Web shop", "官网商城"),
    ("douyin", ChannelKind.DOUYIN, "Douyin shop", "抖音小店"),
    ("xiaohongshu", ChannelKind.XIAOHONGSHU, "Xiaohongshu shop", "小红书店铺"),
    ("pos", ChannelKind.POS, "Store POS", "门店收银"),
]


DEMO_STEPS = (
    "channels and locations",
    "catalogue",
    "customers",
    "stock",
    "orders",
    "group buys",
)


async def seed_demo(
    db: Database,
    *,
    locale: str = CHINESE,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """Create the demo retailer, or hand out a fresh admin key if it already exists.
    Its names (stores, products, channels) and its tenant locale are in ``locale`` (zh-CN, the
    default, or en); codes and SKUs are the same in both.
    ``progress(step, done)`` is told before each of :data:`DEMO_STEPS` and after the last."""
    zh = locale == CHINESE
    tell = progress or (lambda _step, _done: None)
    async with db.uow(unscoped=True) as uow:
        try:
            tenant_id = await auth.tenant_id_by_slug(uow, DEMO_SLUG)
        except NotFound:
            tenant_id = None
    if tenant_id is not None:
        async with db.uow(tenant_id) as uow:
            key = await auth.do_create_key(uow, role=Role.ADMIN, label="demo admin")
        staff = await seed_staff(db, tenant_id, store=DEMO_CLERK_STORE)
        return {"tenant": DEMO_SLUG, "admin_key": key["key"], "created": False, "staff": staff}

    async with db.uow(unscoped=True) as uow:
        created = await auth.do_create_tenant(
            uow,
            slug=DEMO_SLUG,
            name="露曼服饰（演示）" if zh else "Lumen Fashion (demo)",
            currency="CNY",
            timezone="Asia/Shanghai",
        )
        tenant_id = await auth.tenant_id_by_slug(uow, DEMO_SLUG)
    tell(DEMO_STEPS[0], 0)
    async with db.uow(tenant_id) as uow:
        await auth.do_update_tenant_settings(uow, changes={"locale": locale})
        for code, kind, english, chinese in DEMO_CHANNELS:
            name = chinese if zh else english
            await channels.do_create_channel(uow, code=code, kind=kind, name=name)
        for location in demo_locations(locale=locale):
            await network.do_create_location(uow, data=location)

    async def catalogue(db: Database, tenant_id: int) -> int:
        return await seed_catalog(db, tenant_id, locale=locale)

    async def group_buys(db: Database, tenant_id: int) -> int:
        return await seed_group_buys(db, tenant_id, english=not zh)

    seeders: tuple[Callable[[Database, int], Awaitable[Any]], ...] = (
        catalogue,
        seed_customers,
        seed_inventory,
        seed_orders,
        group_buys,
    )
    for done, seed in enumerate(seeders, start=1):
        tell(DEMO_STEPS[done], done)
        await seed(db, tenant_id)
    staff = await seed_staff(db, tenant_id, store=DEMO_CLERK_STORE)
    tell(DEMO_STEPS[-1], len(DEMO_STEPS))
    return {
        "tenant": DEMO_SLUG,
        "admin_key": created["admin_key"],
        "created": True,
        "staff": staff,
    }
