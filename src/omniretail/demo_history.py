"""``omni demo --days N``: months of trading for a retailer, placed through the real services
(checkout, payments, fulfilment, pickup, returns, stock receipts), each at its own moment in
the past, so that every report and chart has a story to tell:

- seasonality: busier weekends, 6.18 and Double 11 peaks, a quieter week after;
- customers who come back, a third of them across channels (the omnichannel premium);
- ship-from-store next to the warehouse, pickups and local deliveries with promises sometimes
  missed, parcels split when no location has everything;
- returns a few days or weeks later, at a store, and weekly stock receipts that do not always
  keep up (stock-outs).

It uses whatever the tenant has (its stores, channels, catalogue), so tests can run it on a
small world. Deterministic for a seed and a ``now``."""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from omniretail.analytics import projection, stock
from omniretail.auth import service as auth
from omniretail.catalog import service as catalog
from omniretail.channels import service as channels
from omniretail.customers import service as customers
from omniretail.customers.domain import IdentityType
from omniretail.customers.schemas import IdentityIn
from omniretail.db import Database, UnitOfWork, utcnow
from omniretail.errors import DomainError
from omniretail.inventory import service as inventory
from omniretail.inventory.models import MovementBatch
from omniretail.inventory.schemas import MovementLineIn
from omniretail.network import service as network
from omniretail.orders import checkout, fulfilment, payments, pickup
from omniretail.orders.domain import Action, Mode
from omniretail.orders.schemas import AddressIn, FulfilmentIn, LineIn, OrderIn, OrderOut, PaymentIn
from omniretail.payments.providers import PaymentProvider, PaymentStatus, builtin_providers
from omniretail.returns import service as returns
from omniretail.returns.schemas import ReturnIn, ReturnLineIn

PEAKS = {(6, 18): 2.0, (11, 11): 3.0, (11, 10): 1.8, (12, 12): 1.6}
ASSORTMENT = 40  # the SKUs the history sells: enough variety, stock that runs low


@dataclass
class _World:
    tz: zoneinfo.ZoneInfo
    stores: list[tuple[str, float, float]]
    stock_holders: list[tuple[str, str]]  # (code, type) of locations that receive stock
    experience: str | None
    online: list[str]
    pos: str | None
    prices: dict[str, int]
    people: list[tuple[str, str, bool]] = field(default_factory=list)  # id, home, crosses


@dataclass
class HistoryCounts:
    orders: int = 0
    completed: int = 0
    returns: int = 0
    receipts: int = 0
    refused: int = 0  # out of stock, outside every radius: a real shop sees that too


def season(day: dt.date) -> float:
    """How busy a day is against an ordinary weekday."""
    factor = PEAKS.get((day.month, day.day), 1.0)
    if day.weekday() >= 5:
        factor *= 1.35
    if day.month == 11 and 12 <= day.day <= 18:
        factor *= 0.7  # the week after Double 11
    return factor


async def _world(db: Database, tenant_id: int, rng: random.Random) -> _World:
    async with db.uow(tenant_id) as uow:
        tz = zoneinfo.ZoneInfo((await auth.get_tenant(uow)).timezone)
        locations = await network.list_locations(uow, limit=500)
        products = await catalog.list_products(uow, limit=500)
        known = await channels.list_channels(uow, limit=100)
    variants = sorted((v.sku, v.price) for p in products for v in p.variants)
    chosen = rng.sample(variants, min(ASSORTMENT, len(variants)))
    return _World(
        tz=tz,
        stores=[(loc.code, loc.lat, loc.lng) for loc in locations if loc.type.value == "store"],
        stock_holders=[
            (loc.code, loc.type.value)
            for loc in locations
            if loc.type.value in ("store", "warehouse", "dark_store")
        ],
        experience=next(
            (loc.code for loc in locations if loc.type.value == "experience_store"), None
        ),
        online=sorted(c.code for c in known if c.kind.value not in ("pos",)),
        pos=next((c.code for c in known if c.kind.value == "pos"), None),
        prices=dict(chosen),
    )


async def _people(
    db: Database, tenant_id: int, world: _World, count: int, rng: random.Random
) -> None:
    channels_ = world.online + ([world.pos] if world.pos else [])
    async with db.uow(tenant_id) as uow:
        for i in range(count):
            found, _ = await customers.do_resolve_customer(
                uow,
                identities=[IdentityIn(type=IdentityType.PHONE, value=f"136{i:08d}")],
                create_if_missing=True,
                channel=None,
                actor="demo-history",
            )
            world.people.append((found.id, rng.choice(channels_), rng.random() < 0.35))


async def _receive(db: Database, tenant_id: int, world: _World, at: dt.datetime, week: int) -> int:
    lines = [
        MovementLineIn(
            sku=sku, location=code, reason="receipt", qty=40 if kind != "store" else 5,
            reference=f"history week {week}",
        )
        for code, kind in world.stock_holders
        for sku in world.prices
    ]  # fmt: skip
    async with db.uow(tenant_id) as uow:
        await inventory.do_apply_movements(
            uow, lines=lines, actor="demo-history", batch_id=f"history-week-{week}", now=at
        )
    return len(lines)


def _order(world: _World, rng: random.Random) -> tuple[OrderIn, str | None]:
    """An order's shape; returns it with the store it is placed at (None: online)."""
    person = rng.choice(world.people) if world.people and rng.random() < 0.75 else None
    channels_ = world.online + ([world.pos] if world.pos else [])
    if person is None:
        channel = rng.choice(channels_)
    else:
        _, home, crosses = person
        channel = rng.choice(channels_) if crosses and rng.random() < 0.5 else home
    lines = [LineIn(sku=s, qty=1) for s in rng.sample(sorted(world.prices), rng.randint(1, 3))]
    total = sum(world.prices[line.sku] for line in lines)
    store = rng.choice(world.stores)
    if channel == world.pos:
        mode, at_store = Mode.IN_STORE, store[0]
    else:
        mode = rng.choices([Mode.SHIP, Mode.PICKUP, Mode.LOCAL_DELIVERY], [45, 35, 20])[0]
        at_store = None
    address = AddressIn(
        lat=store[1] + rng.uniform(-0.01, 0.01), lng=store[2] + rng.uniform(-0.01, 0.01)
    )
    online = at_store is None
    return (
        OrderIn(
            channel=channel,
            customer_id=person[0] if person else None,
            lines=lines,
            fulfillment=FulfilmentIn(
                mode=mode,
                location=store[0] if mode in (Mode.IN_STORE, Mode.PICKUP) else None,
                address=address if mode in (Mode.SHIP, Mode.LOCAL_DELIVERY) else None,
            ),
            payments=[PaymentIn(method="sandbox" if online else "card_present", amount=total)],
            attributed_location=world.experience
            if online and world.experience and rng.random() < 0.12
            else None,
            attributed_staff=f"guide-{rng.randint(1, 8):02d}" if rng.random() < 0.06 else None,
        ),
        at_store,
    )


async def _play(
    uow: UnitOfWork,
    order: OrderOut,
    providers: dict[str, PaymentProvider],
    rng: random.Random,
    at: dt.datetime,
    now: dt.datetime,
) -> dt.datetime | None:
    """Pay an online order and move its fulfilments along as the hours went by, stopping at
    ``now``; returns when the order completed, if it did."""
    sandbox = next(p for p in order.payments if p.method == "sandbox")
    assert sandbox.provider_ref is not None
    await payments.do_settle_payment(
        uow,
        provider_ref=sandbox.provider_ref,
        status=PaymentStatus.CAPTURED,
        amount=sandbox.amount,
        providers=providers,
        now=at + dt.timedelta(minutes=1),
    )
    done: dt.datetime | None = None
    minutes = dt.timedelta(minutes=1)
    for f in order.fulfillments:
        steps: list[tuple[Action, dt.timedelta]]
        if f.mode is Mode.PICKUP:
            steps = [(Action.ACCEPT, 15 * minutes), (Action.READY, rng.randint(30, 170) * minutes)]
        elif f.mode is Mode.LOCAL_DELIVERY:
            steps = [
                (Action.ACCEPT, 3 * minutes),
                (Action.SHIP, rng.randint(5, 12) * minutes),
                (Action.DELIVER, rng.randint(18, 40) * minutes),
            ]
        else:
            steps = [
                (Action.ACCEPT, 40 * minutes),
                (Action.SHIP, rng.randint(4, 60) * 60 * minutes),
                (Action.DELIVER, rng.randint(24, 80) * 60 * minutes),
            ]
        when = at
        for action, after in steps:
            when = at + after
            if when > now:
                break
            await fulfilment.do_fulfilment_action(
                uow, fulfilment_id=f.id, action=action, actor="demo-history", now=when
            )
        else:
            if f.mode is not Mode.PICKUP:
                done = max(done or when, when)
                continue
            if rng.random() < 0.05:  # never collected: the store gives up after three days
                if at + dt.timedelta(days=3) <= now:
                    await fulfilment.do_fulfilment_action(
                        uow, fulfilment_id=f.id, action=Action.CANCEL, actor="demo-history",
                        now=at + dt.timedelta(days=3),
                    )  # fmt: skip
                continue
            collected = when + rng.randint(1, 48) * 60 * minutes
            if collected <= now and f.pickup_code:
                await pickup.do_verify_pickup(
                    uow, code=f.pickup_code, location=f.location, actor="demo-history",
                    key_id=None, now=collected,
                )  # fmt: skip
                done = max(done or collected, collected)
    return done


FIRST_BATCH = "history-week-0"


async def has_history(db: Database, tenant_id: int) -> bool:
    """Whether a history was seeded already (its first stock receipt is kept by batch id)."""
    async with db.uow(tenant_id, read_only=True) as uow:
        found = await uow.session.scalar(
            sa.select(MovementBatch.id).where(MovementBatch.batch_id == FIRST_BATCH)
        )
    return found is not None


async def seed_history(
    db: Database,
    tenant_id: int,
    *,
    days: int,
    per_day: int = 12,
    seed: int = 15,
    now: dt.datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> HistoryCounts:
    """Trade for ``days`` days up to ``now``; ``progress(day, days)`` after each day."""
    now = now or utcnow()
    rng = random.Random(seed)
    world = await _world(db, tenant_id, rng)
    counts = HistoryCounts()
    if not world.prices or not world.stores or not world.online:
        return counts
    await _people(db, tenant_id, world, max(30, per_day * days // 8), rng)
    providers = builtin_providers(db.settings.sandbox_secret())
    first = (now.astimezone(world.tz) - dt.timedelta(days=days)).date()
    pending_returns: list[tuple[dt.datetime, str, str, list[str]]] = []
    for index in range(days):
        day = first + dt.timedelta(days=index)
        opening = dt.datetime.combine(day, dt.time(8), world.tz).astimezone(dt.UTC)
        if index % 7 == 0:
            counts.receipts += await _receive(db, tenant_id, world, opening, index // 7)
        count = max(1, round(per_day * season(day) * rng.uniform(0.8, 1.2)))
        times = sorted(
            opening + dt.timedelta(minutes=rng.randint(120, 14 * 60)) for _ in range(count)
        )
        for at in times:
            if at > now:
                break
            data, store = _order(world, rng)
            try:
                async with db.uow(tenant_id) as uow:
                    order = await checkout.do_place_order(
                        uow,
                        data=data,
                        caller=checkout.Caller(actor="demo-history", location=store),
                        providers=providers,
                        now=at,
                    )
                    completed = at if store else await _play(uow, order, providers, rng, at, now)
            except DomainError:
                counts.refused += 1
                continue
            counts.orders += 1
            if completed is None:
                continue
            counts.completed += 1
            if rng.random() < 0.06:
                back = completed + dt.timedelta(days=rng.randint(2, 20), hours=rng.randint(1, 6))
                skus = [order.lines[0].sku]
                pending_returns.append((back, order.id, order.channel, skus))
        for back, order_id, channel, skus in sorted(pending_returns):
            if back.astimezone(world.tz).date() > day or back > now:
                continue
            try:
                async with db.uow(tenant_id) as uow:
                    await returns.do_create_return(
                        uow,
                        data=ReturnIn(
                            order_id=order_id,
                            channel=channel,
                            location=rng.choice(world.stores)[0],
                            lines=[ReturnLineIn(sku=s, qty=1) for s in skus],
                        ),
                        actor="demo-history",
                        caller_location=None,
                        providers=providers,
                        now=back,
                    )
                counts.returns += 1
            except DomainError:
                pass  # past the window, or a store that does not take online returns
        pending_returns = [
            r for r in pending_returns if r[0].astimezone(world.tz).date() > day and r[0] <= now
        ]
        if progress:
            progress(index + 1, days)
    # The data hub's facts, ready before the server's dispatcher catches up with the events.
    async with db.uow(tenant_id) as uow:
        await projection.do_rebuild(uow)
    await stock.catch_up(db, tenant_id, now=now + stock.SETTLE)
    return counts
