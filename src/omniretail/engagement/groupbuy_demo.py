"""The demo's group buying (拼团): one campaign, a group that filled (its members' pickup orders
exist, their codes redeemable at the store) and one still open with a seat taken, placed
through the same services the API calls."""

from __future__ import annotations

import datetime as dt

from omniretail.catalog import service as catalog
from omniretail.db import Database, utcnow
from omniretail.engagement import groupbuy, groupbuy_campaigns
from omniretail.engagement.groupbuy_schemas import GroupBuyIn, SeatIn, SeatPaymentIn
from omniretail.errors import DomainError
from omniretail.inventory import service as inventory
from omniretail.network import service as network
from omniretail.orders.demo import demo_people
from omniretail.payments.providers import builtin_providers

DEMO_GROUP_BUY = "DUO-TEE"
GROUP_SIZE = 3
# The group price: 70% of the list price, in whole fen (integer arithmetic, never a float).
GROUP_PRICE_PCT = 70


async def seed_group_buys(db: Database, tenant_id: int, *, english: bool = False) -> int:
    """Returns how many seats were taken (0 when the demo has no SKU in stock at two pickup
    stores, or too few customers: the rest of the demo does not depend on it)."""
    providers = builtin_providers(db.settings.sandbox_secret())
    now = utcnow()
    async with db.uow(tenant_id) as uow:
        stores = [
            loc.code
            for loc in await network.list_locations(uow, limit=500)
            if loc.type.value == "store" and loc.capabilities.pickup
        ]
        chosen: tuple[str, int, list[str]] | None = None
        for product in await catalog.list_products(uow, limit=200):
            for variant in product.variants:
                stock = await inventory.stock_of_sku(uow, variant.sku)
                stocked = [
                    p.location for p in stock.positions if p.location in stores and p.available >= 4
                ]
                if len(stocked) >= 2:
                    chosen = (variant.sku, variant.price, stocked[:2])
                    break
            if chosen is not None:
                break
        people = await demo_people(uow)
    if chosen is None or len(people) < GROUP_SIZE + 1:
        return 0
    sku, list_price, pickup = chosen
    price = list_price * GROUP_PRICE_PCT // 100
    async with db.uow(tenant_id) as uow:
        await groupbuy_campaigns.do_create_group_buy(
            uow,
            data=GroupBuyIn(
                code=DEMO_GROUP_BUY,
                title=f"Group of three: {sku}" if english else f"三人团 {sku}",
                sku=sku,
                group_size=GROUP_SIZE,
                group_price=price,
                starts_at=now - dt.timedelta(days=1),
                ends_at=now + dt.timedelta(days=30),
                group_window_minutes=24 * 60,
                pickup_locations=pickup,
                per_customer_limit=1,
            ),
        )

    def seat(customer: str, channel: str, store: str) -> SeatIn:
        return SeatIn(
            channel=channel,
            customer_id=customer,
            pickup_location=store,
            payment=SeatPaymentIn(method="sandbox", amount=price, token=None),
        )

    taken = 0
    # A group filled across channels: opened in the mini-program, joined from Douyin and the app.
    seats = [
        seat(people[0], "miniprogram", pickup[0]),
        seat(people[1], "douyin", pickup[1]),
        seat(people[2], "app", pickup[0]),
    ]
    group_id = ""
    for n, wanted in enumerate(seats):
        try:
            async with db.uow(tenant_id) as uow:
                if n == 0:
                    out = await groupbuy.do_open_group(
                        uow, code=DEMO_GROUP_BUY, seat=wanted, providers=providers, actor="demo"
                    )
                    group_id = out.group.id
                else:
                    await groupbuy.do_join_group(
                        uow, group_id=group_id, seat=wanted, providers=providers, actor="demo"
                    )
            taken += 1
        except DomainError:
            return taken  # out of stock after all: a real shop sees that too
    # And one still open, waiting for two more.
    try:
        async with db.uow(tenant_id) as uow:
            await groupbuy.do_open_group(
                uow,
                code=DEMO_GROUP_BUY,
                seat=seat(people[3], "app", pickup[1]),
                providers=providers,
                actor="demo",
            )
        taken += 1
    except DomainError:
        pass
    return taken
