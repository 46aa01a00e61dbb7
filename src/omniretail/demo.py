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
from omniretail.errors import NotFound
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
DEMO_CLERK_STORE = "ST-001"  # the demo clerk works here
STORE_HOURS = {day: ["10:00-22:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def demo_locations(seed: int = 7) -> list[LocationIn]:
    rng = random.Random(seed)

    def near(spread_km: float) -> tuple[float, float]:
        # ~111 km per degree of latitude; good enough to scatter points around the centre.
        return (
            round(CENTRE[0] + rng.uniform(-spread_km, spread_km) / 111.0, 6),
            round(CENTRE[1] + rng.uniform(-spread_km, spread_km) / 95.0, 6),
        )

    out = [
        LocationIn(
            code="WH-SH",
            name="Shanghai Jiading warehouse",
            type=LocationType.WAREHOUSE,
            lat=31.3747,
            lng=121.2655,
            address="Jiading logistics park",
            capabilities=CapabilitiesIn(ship=True, sells_online=True),
        ),
    ]
    for i, district in enumerate(("Xuhui", "Pudong"), start=1):
        lat, lng = near(12)
        out.append(
            LocationIn(
                code=f"DS-{i:02d}",
                name=f"{district} dark store",
                type=LocationType.DARK_STORE,
                lat=lat,
                lng=lng,
                address=f"{district} district",
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
                name=f"Lumen {district} {i}",
                type=LocationType.STORE,
                lat=lat,
                lng=lng,
                address=f"{district} district, Shanghai",
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
            name="Lumen experience store, Xintiandi",
            type=LocationType.EXPERIENCE_STORE,
            lat=31.2196,
            lng=121.4755,
            address="Xintiandi, Huangpu",
            capabilities=CapabilitiesIn(),
            opening_hours=STORE_HOURS,
        )
    )
    for i in range(1, 6):
        lat, lng = near(15)
        out.append(
            LocationIn(
                code=f"PP-{i:02d}",
                name=f"Pickup locker {i}",
                type=LocationType.PICKUP_POINT,
                lat=lat,
                lng=lng,
                capabilities=CapabilitiesIn(pickup=True),
            )
        )
    return out


DEMO_CHANNELS = [
    ("app", ChannelKind.APP, "Lumen app"),
    ("miniprogram", ChannelKind.MINIPROGRAM, "WeChat mini-program"),
    ("web", ChannelKind.WEB, "Web shop"),
    ("douyin", ChannelKind.DOUYIN, "Douyin shop"),
    ("xiaohongshu", ChannelKind.XIAOHONGSHU, "Xiaohongshu shop"),
    ("pos", ChannelKind.POS, "Store POS"),
]


DEMO_STEPS = ("channels and locations", "catalogue", "customers", "stock", "orders")


async def seed_demo(
    db: Database, *, progress: Callable[[str, int], None] | None = None
) -> dict[str, Any]:
    """Create the demo retailer, or hand out a fresh admin key if it already exists.
    ``progress(step, done)`` is told before each of :data:`DEMO_STEPS` and after the last."""
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
            name="Lumen Fashion (demo)",
            currency="CNY",
            timezone="Asia/Shanghai",
        )
        tenant_id = await auth.tenant_id_by_slug(uow, DEMO_SLUG)
    tell(DEMO_STEPS[0], 0)
    async with db.uow(tenant_id) as uow:
        for code, kind, name in DEMO_CHANNELS:
            await channels.do_create_channel(uow, code=code, kind=kind, name=name)
        for location in demo_locations():
            await network.do_create_location(uow, data=location)
    seeders: tuple[Callable[[Database, int], Awaitable[Any]], ...] = (
        seed_catalog,
        seed_customers,
        seed_inventory,
        seed_orders,
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
