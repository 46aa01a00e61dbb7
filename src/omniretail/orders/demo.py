"""A few days of demo orders across every mode and channel, placed through checkout itself."""

from __future__ import annotations

import datetime as dt
import random

from omniretail.catalog import service as catalog
from omniretail.customers import service as customers
from omniretail.customers.domain import IdentityType
from omniretail.customers.schemas import IdentityIn
from omniretail.db import Database, UnitOfWork, utcnow
from omniretail.errors import DomainError
from omniretail.network import service as network
from omniretail.orders import checkout, fulfilment, payments, pickup
from omniretail.orders.domain import Action, Mode
from omniretail.orders.schemas import (
    AddressIn,
    FulfilmentIn,
    LineIn,
    OrderIn,
    OrderOut,
    PaymentIn,
)
from omniretail.payments.providers import PaymentProvider, PaymentStatus, builtin_providers

ONLINE = ["app", "miniprogram", "douyin", "xiaohongshu", "web"]


async def seed_orders(db: Database, tenant_id: int, *, count: int = 60, seed: int = 5) -> int:
    """Place ``count`` orders over the last four days; returns how many were placed."""
    rng = random.Random(seed)
    providers = builtin_providers(db.settings.sandbox_secret())
    async with db.uow(tenant_id) as uow:
        products = await catalog.list_products(uow, limit=200)
        prices = {v.sku: v.price for p in products for v in p.variants}
        stores = [
            loc for loc in await network.list_locations(uow, limit=500) if loc.type.value == "store"
        ]
        people = await demo_people(uow)
    if not prices or not stores:
        return 0
    skus = sorted(prices)
    placed = 0
    now = utcnow()
    for n in range(count):
        at = now - dt.timedelta(days=4) + dt.timedelta(minutes=n * 90 + rng.randint(0, 60))
        mode = [Mode.IN_STORE, Mode.SHIP, Mode.PICKUP, Mode.LOCAL_DELIVERY][n % 4]
        store = rng.choice(stores)
        lines = [(sku, 1) for sku in rng.sample(skus, rng.randint(1, 3))]
        total = sum(prices[s] for s, _ in lines)
        online = mode is not Mode.IN_STORE
        address = AddressIn(
            lat=store.lat + rng.uniform(-0.01, 0.01), lng=store.lng + rng.uniform(-0.01, 0.01)
        )
        data = OrderIn(
            channel=rng.choice(ONLINE) if online else "pos",
            customer_id=rng.choice(people) if people and rng.random() < 0.7 else None,
            lines=[LineIn(sku=s, qty=q) for s, q in lines],
            fulfillment=FulfilmentIn(
                mode=mode,
                location=store.code if mode in (Mode.IN_STORE, Mode.PICKUP) else None,
                address=address if mode in (Mode.SHIP, Mode.LOCAL_DELIVERY) else None,
            ),
            payments=[PaymentIn(method="sandbox" if online else "card_present", amount=total)],
            attributed_location="EX-001" if online and rng.random() < 0.15 else None,
        )
        try:
            async with db.uow(tenant_id) as uow:
                order = await checkout.do_place_order(
                    uow,
                    data=data,
                    caller=checkout.Caller(
                        actor="demo", location=store.code if not online else None
                    ),
                    providers=providers,
                    now=at,
                )
                if online:
                    await _progress(uow, order, providers, rng, at)
            placed += 1
        except DomainError:
            continue  # out of stock or outside every delivery radius: a real shop sees that too
    return placed


async def demo_people(uow: UnitOfWork, count: int = 24) -> list[str]:
    """The ids of the demo's customers (``loyalty.demo.seed_customers``), found by phone."""
    people = []
    for i in range(count):
        try:
            found, _ = await customers.do_resolve_customer(
                uow,
                identities=[IdentityIn(type=IdentityType.PHONE, value=f"139{i:08d}")],
                create_if_missing=False,
                channel=None,
            )
        except DomainError:
            continue
        people.append(found.id)
    return people


async def _progress(
    uow: UnitOfWork,
    order: OrderOut,
    providers: dict[str, PaymentProvider],
    rng: random.Random,
    at: dt.datetime,
) -> None:
    """Pay most online orders and move their fulfilments along, as the days went by."""
    if rng.random() < 0.1:
        return  # left unpaid: the worker cancels it after the payment window
    sandbox = next(p for p in order.payments if p.method == "sandbox")
    assert sandbox.provider_ref is not None
    await payments.do_settle_payment(
        uow,
        provider_ref=sandbox.provider_ref,
        status=PaymentStatus.CAPTURED,
        amount=sandbox.amount,
        providers=providers,
        now=at + dt.timedelta(minutes=2),
    )
    for f in order.fulfillments:
        steps = rng.randint(0, 3)
        later = at + dt.timedelta(hours=1)
        if f.mode is Mode.PICKUP:
            for action in [Action.ACCEPT, Action.READY][:steps]:
                await fulfilment.do_fulfilment_action(
                    uow, fulfilment_id=f.id, action=action, actor="demo", now=later
                )
            if steps == 3 and f.pickup_code:
                await pickup.do_verify_pickup(
                    uow,
                    code=f.pickup_code,
                    location=f.location,
                    actor="demo",
                    key_id=None,
                    now=later,
                )
            continue
        for action in [Action.ACCEPT, Action.SHIP, Action.DELIVER][:steps]:
            await fulfilment.do_fulfilment_action(
                uow, fulfilment_id=f.id, action=action, actor="demo", now=later
            )
