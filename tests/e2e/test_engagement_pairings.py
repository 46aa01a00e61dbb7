"""Recommendations (issue 16): item-to-item pairings grow from completed orders (co-purchase)
and from what customers looked at (co-view), incrementally from the outbox; a redelivered event
adds nothing and a rebuild gives the same counts; the guide's suggestions are pairings of what
the customer bought or looked at, available at the store, never what they already bought."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from omniretail.auth.domain import Role
from omniretail.cli import app
from omniretail.db import Database
from omniretail.engagement import handlers, pairings
from omniretail.engagement.models import ItemCount, ItemPair, ItemSignal
from omniretail.events import Dispatcher, kept_events
from omniretail.wiring import build_registry
from tests.factories import Api, TenantHandle, make_key
from tests.orders_world import World, build_world

runner = CliRunner()

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
EXTRA = {"BELT": 5900, "CAP": 3900, "SOCKS": 1900}
PRICES = {"TEE-S": 9900, "TEE-M": 9900, "JEANS-32": 29900, **EXTRA}
_phones = iter(range(13700000001, 13700000999))


async def dispatch(db: Database) -> None:
    await Dispatcher(db, build_registry()).run_until_idle()


async def setup(admin: Api, db: Database, tenant: TenantHandle) -> World:
    world = await build_world(admin, db, tenant)
    accessories = {
        "code": "ACCESSORIES",
        "title": "Accessories",
        "category": "men/accessories",
        "variants": [{"sku": sku, "price": price} for sku, price in EXTRA.items()],
    }
    assert (await admin.post("/v1/products", accessories)).status_code == 201
    for sku in PRICES:
        await world.stock("ST-A", sku, 10)
    return world


async def customer(admin: Api) -> str:
    phone = str(next(_phones))
    created = await admin.post("/v1/customers", {"identities": [{"type": "phone", "value": phone}]})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def bought(admin: Api, cid: str | None, *skus: str) -> dict[str, Any]:
    """A counter sale at ST-A: completed at once, so ``order.completed`` is in the outbox."""
    body = {
        "channel": "pos",
        "customer_id": cid,
        "lines": [{"sku": sku, "qty": 1} for sku in skus],
        "fulfillment": {"mode": "in_store", "location": "ST-A"},
        "payments": [{"method": "cash", "amount": sum(PRICES[s] for s in skus)}],
    }
    placed = await admin.post("/v1/orders", body)
    assert placed.status_code == 201, placed.text
    out: dict[str, Any] = placed.json()
    return out


async def looked(admin: Api, cid: str, *lines: tuple[str, str]) -> None:
    events = [
        {
            "type": kind,
            "customer_id": cid,
            "sku": sku,
            "channel": "app",
            "at": (NOW - dt.timedelta(minutes=len(lines) - i)).isoformat(),
        }
        for i, (kind, sku) in enumerate(lines)
    ]
    recorded = await admin.post("/v1/events", {"events": events})
    assert recorded.status_code == 202, recorded.text


async def pairs_of(admin: Api, sku: str, **params: Any) -> list[dict[str, Any]]:
    response = await admin.get(f"/v1/skus/{sku}/pairings", **params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def counts(db: Database, tenant: TenantHandle) -> dict[str, list[tuple[Any, ...]]]:
    async with db.engine.connect() as conn:
        pair_rows = await conn.execute(
            sa.select(ItemPair.sku, ItemPair.kind, ItemPair.other, ItemPair.customers)
            .where(ItemPair.tenant_id == tenant.id)
            .order_by(ItemPair.sku, ItemPair.kind, ItemPair.other)
        )
        signal_rows = await conn.execute(
            sa.select(ItemSignal.customer_id, ItemSignal.kind, ItemSignal.sku, ItemSignal.last_at)
            .where(ItemSignal.tenant_id == tenant.id)
            .order_by(ItemSignal.customer_id, ItemSignal.kind, ItemSignal.sku)
        )
        return {
            "pairs": [tuple(r) for r in pair_rows],
            "signals": [tuple(r) for r in signal_rows],
        }


async def item_counts(db: Database, tenant: TenantHandle) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(ItemCount.sku, ItemCount.kind, ItemCount.customers)
            .where(ItemCount.tenant_id == tenant.id)
            .order_by(ItemCount.sku, ItemCount.kind)
        )
        return [tuple(r) for r in rows]


async def redeliver_everything(db: Database, tenant: TenantHandle) -> None:
    """Every kept event that feeds the pairings, handed to engagement's handlers again."""
    live = {
        "order.completed": handlers.on_order_completed,
        "customer.looked_at": handlers.on_looked_at,
    }
    async with db.uow(tenant.id) as uow:
        rows = [e async for batch in kept_events(uow, list(live), batch=1000) for e in batch]
    assert rows
    for row in rows:
        async with db.uow(tenant.id) as uow:
            await live[row.type](uow, row)


async def test_co_purchase_pairs_what_customers_bought_together(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    await setup(admin, db, tenant)
    one, two, three = [await customer(admin) for _ in range(3)]
    await bought(admin, one, "TEE-S", "JEANS-32")
    await bought(admin, two, "TEE-S")
    await bought(admin, two, "BELT")  # a later order of the same customer pairs too
    await bought(admin, three, "JEANS-32", "TEE-S", "SOCKS")
    await bought(admin, None, "CAP", "SOCKS")  # a guest's basket pairs within itself
    await dispatch(db)

    tee = await pairs_of(admin, "TEE-S")
    assert [(p["sku"], p["co_purchase"], p["co_view"], p["score"]) for p in tee] == [
        ("JEANS-32", 2, 0, 6),
        ("BELT", 1, 0, 3),
        ("SOCKS", 1, 0, 3),
    ]
    assert tee[0]["title"] == "Basics"
    assert tee[0]["available"] is None
    socks = {p["sku"]: p["co_purchase"] for p in await pairs_of(admin, "SOCKS")}
    assert socks == {"CAP": 1, "JEANS-32": 1, "TEE-S": 1}
    assert [p["sku"] for p in await pairs_of(admin, "TEE-S", limit=1)] == ["JEANS-32"]


async def test_co_view_pairs_what_customers_looked_at_together(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    await setup(admin, db, tenant)
    one, two = await customer(admin), await customer(admin)
    await looked(admin, one, ("view", "CAP"), ("add_to_cart", "BELT"), ("search", "TEE-S"))
    await looked(admin, two, ("try_on", "BELT"), ("scan", "CAP"), ("view", "CAP"))
    await dispatch(db)
    belt = await pairs_of(admin, "BELT")
    assert [(p["sku"], p["co_purchase"], p["co_view"], p["score"]) for p in belt] == [
        ("CAP", 0, 2, 2)
    ]
    # A co-purchase outranks co-views.
    await bought(admin, one, "BELT", "SOCKS")
    await dispatch(db)
    assert [p["sku"] for p in await pairs_of(admin, "BELT")] == ["SOCKS", "CAP"]


async def test_a_redelivered_event_adds_nothing_and_a_rebuild_gives_the_same_counts(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    await setup(admin, db, tenant)
    one, two = await customer(admin), await customer(admin)
    await bought(admin, one, "TEE-S", "JEANS-32")
    await looked(admin, one, ("view", "CAP"), ("view", "BELT"))
    await dispatch(db)
    first = await counts(db, tenant)
    # Incremental: a new order and new views add exactly their new pairs.
    await bought(admin, one, "SOCKS")
    await looked(admin, two, ("view", "CAP"), ("try_on", "BELT"), ("view", "SOCKS"))
    await bought(admin, two, "BELT", "CAP")
    await dispatch(db)
    after = await counts(db, tenant)
    added = set(after["pairs"]) - set(first["pairs"])
    assert ("SOCKS", "bought", "TEE-S", 1) in added
    assert ("JEANS-32", "bought", "SOCKS", 1) in added
    assert ("BELT", "looked", "CAP", 2) in after["pairs"]
    assert ("BELT", "bought", "CAP", 1) in after["pairs"]

    popularity = await item_counts(db, tenant)
    assert ("BELT", "looked", 2) in popularity
    await redeliver_everything(db, tenant)
    assert await counts(db, tenant) == after
    assert await item_counts(db, tenant) == popularity

    async with db.uow(tenant.id) as uow:
        replayed = await pairings.do_rebuild_pairings(uow)
    assert replayed == 5  # three completed orders, two batches of looks
    assert await counts(db, tenant) == after
    assert await item_counts(db, tenant) == popularity


async def test_guest_baskets_pair_their_own_lines_and_a_group_delivered_again_adds_nothing(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    await setup(admin, db, tenant)
    one = await customer(admin)
    await bought(admin, None, "BELT", "CAP")
    await bought(admin, None, "BELT", "CAP", "SOCKS")
    await bought(admin, one, "CAP", "SOCKS")
    await dispatch(db)
    first = await counts(db, tenant)
    # Each guest order is a basket of its own: BELT and CAP were bought together twice.
    assert ("BELT", "bought", "CAP", 2) in first["pairs"]
    assert ("CAP", "bought", "SOCKS", 2) in first["pairs"]
    popularity = await item_counts(db, tenant)
    assert ("CAP", "bought", 3) in popularity
    # The completed orders again, as one dispatcher group: their signals are found at the
    # insert (nothing read before it for a guest basket) and nothing is counted twice.
    async with db.uow(tenant.id) as uow:
        completed = [
            e async for batch in kept_events(uow, ["order.completed"], batch=100) for e in batch
        ]
    assert len(completed) == 3
    async with db.uow(tenant.id) as uow:
        await pairings.apply_events(uow, completed)
    assert await counts(db, tenant) == first
    assert await item_counts(db, tenant) == popularity


async def test_suggestions_are_pairings_in_stock_at_the_store_never_what_was_bought(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    world = await setup(admin, db, tenant)
    for _ in range(2):
        await bought(admin, await customer(admin), "TEE-S", "JEANS-32")
    other = await customer(admin)
    await bought(admin, other, "TEE-S", "BELT")
    await looked(admin, other, ("view", "CAP"), ("view", "SOCKS"))
    shopper = await customer(admin)
    await bought(admin, shopper, "TEE-S")
    await looked(admin, shopper, ("view", "CAP"))
    await dispatch(db)

    # At ST-A everything is in stock: jeans pair best with the tee, the belt next, and socks
    # were looked at with the cap. The tee itself was bought: never suggested.
    here = (await admin.get(f"/v1/customers/{shopper}/suggestions", location="ST-A")).json()
    assert here["basis"] == ["CAP", "TEE-S"] or here["basis"] == ["TEE-S", "CAP"]
    assert [(s["sku"], s["score"], s["because"]) for s in here["items"]] == [
        ("JEANS-32", 6, ["TEE-S"]),
        ("BELT", 3, ["TEE-S"]),
        ("SOCKS", 1, ["CAP"]),
    ]
    assert here["items"][0]["available"] == 8
    assert here["items"][0]["price"] == 29900

    # ST-B holds only the belt and the cap (the cap was not paired with anything bought).
    await world.stock("ST-B", "BELT", 2)
    await world.stock("ST-B", "CAP", 3)
    there = (await admin.get(f"/v1/customers/{shopper}/suggestions", location="ST-B")).json()
    assert [(s["sku"], s["available"]) for s in there["items"]] == [("BELT", 2)]
    only = (
        await admin.get(f"/v1/customers/{shopper}/suggestions", location="ST-A", limit=1)
    ).json()
    assert [s["sku"] for s in only["items"]] == ["JEANS-32"]
    stocked = await pairs_of(admin, "TEE-S", location="ST-B")
    assert [(p["sku"], p["available"]) for p in stocked] == [("BELT", 2)]

    # Somebody with no history gets nothing, not an error.
    fresh = await customer(admin)
    empty = (await admin.get(f"/v1/customers/{fresh}/suggestions", location="ST-A")).json()
    assert (empty["basis"], empty["items"]) == ([], [])


async def test_a_store_key_sees_its_own_store_and_bad_input_is_refused(
    admin: Api, db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    world = await setup(admin, db, tenant)
    shopper = await customer(admin)
    await bought(admin, shopper, "TEE-S")
    await bought(admin, await customer(admin), "TEE-S", "CAP")
    await dispatch(db)
    store_a, app = world.keys["store_a"], world.keys["app"]
    analyst = Api(admin.client, await make_key(db, tenant, Role.ANALYST))

    own = await store_a.get(f"/v1/customers/{shopper}/suggestions")
    assert own.status_code == 200
    assert own.json()["location"] == "ST-A"
    assert [s["sku"] for s in own.json()["items"]] == ["CAP"]
    refused = await store_a.get(f"/v1/customers/{shopper}/suggestions", location="ST-B")
    assert refused.status_code == 403
    assert (await store_a.get("/v1/skus/TEE-S/pairings", location="ST-B")).status_code == 403
    assert (await store_a.get("/v1/skus/TEE-S/pairings")).status_code == 200
    # Customers belong to the tenant, not a channel: a channel key reads them, and so these.
    for reader in (app, analyst):
        answer = await reader.get(f"/v1/customers/{shopper}/suggestions", location="ST-A")
        assert answer.status_code == 200, answer.text

    problems = [
        await admin.get(f"/v1/customers/{shopper}/suggestions"),  # no store named
        await admin.get(f"/v1/customers/{shopper}/suggestions", location="ST-A", limit=0),
        await admin.get(f"/v1/customers/{shopper}/suggestions", location="ST-A", limit=51),
        await admin.get(f"/v1/customers/{shopper}/suggestions", location="bad code!"),
        await admin.get("/v1/skus/TEE-S/pairings", limit=101),
    ]
    for problem in problems:
        assert problem.status_code == 422, problem.text
        assert problem.headers["content-type"].startswith("application/problem+json")
    assert (await admin.get("/v1/skus/NOPE/pairings")).status_code == 404
    assert (
        await admin.get(f"/v1/customers/{shopper}/suggestions", location="NOWHERE")
    ).status_code == 404
    assert (
        await admin.get("/v1/customers/cus_missing/suggestions", location="ST-A")
    ).status_code == 404

    rival = Api(admin.client, other_tenant.admin_key)
    hidden = await rival.get(f"/v1/customers/{shopper}/suggestions", location="ST-A")
    assert hidden.status_code == 404
    assert shopper not in hidden.text
    assert (await rival.get("/v1/skus/TEE-S/pairings")).status_code == 404
    # The same SKU codes in another tenant: none of our pairings.
    same = {
        "code": "RIVAL",
        "title": "Rival",
        "category": "x",
        "variants": [{"sku": "TEE-S", "price": 100}, {"sku": "CAP", "price": 100}],
    }
    assert (await rival.post("/v1/products", same)).status_code == 201
    theirs = await rival.get("/v1/skus/TEE-S/pairings")
    assert theirs.status_code == 200
    assert theirs.json()["items"] == []


@pytest.mark.parametrize("kind", ["view", "try_on"])
async def test_a_repeated_look_pairs_once(
    admin: Api, db: Database, tenant: TenantHandle, kind: str
) -> None:
    await setup(admin, db, tenant)
    one = await customer(admin)
    for _ in range(3):
        await looked(admin, one, (kind, "CAP"), (kind, "BELT"))
    await dispatch(db)
    assert [(p["sku"], p["co_view"]) for p in await pairs_of(admin, "CAP")] == [("BELT", 1)]


async def test_omni_engagement_rebuild_pairings_rebuilds_them_from_the_outbox(
    admin: Api, db: Database, tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    await setup(admin, db, tenant)
    one, two = await customer(admin), await customer(admin)
    await bought(admin, one, "TEE-S", "JEANS-32")
    await bought(admin, two, "TEE-S", "JEANS-32", "BELT")
    await looked(admin, two, ("view", "CAP"), ("view", "SOCKS"))
    await dispatch(db)
    kept = await counts(db, tenant)
    popularity = await item_counts(db, tenant)
    assert popularity == [
        ("BELT", "bought", 1),
        ("CAP", "looked", 1),
        ("JEANS-32", "bought", 2),
        ("SOCKS", "looked", 1),
        ("TEE-S", "bought", 2),
    ]
    # The counts are lost or damaged (a bug, a bad restore): the command replays the outbox.
    async with db.uow(tenant.id) as uow:
        await uow.session.execute(sa.delete(ItemPair).where(ItemPair.other == "JEANS-32"))
        await uow.session.execute(sa.update(ItemCount).values(customers=99))
    assert await counts(db, tenant) != kept

    monkeypatch.setenv("OMNI_DATABASE_URL", db.url)
    rebuilt = await asyncio.to_thread(
        runner.invoke, app, ["engagement", "rebuild-pairings", "--tenant", tenant.slug]
    )
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.stdout) == {"tenant": tenant.slug, "events_replayed": 3}
    assert await counts(db, tenant) == kept
    assert await item_counts(db, tenant) == popularity
    unknown = await asyncio.to_thread(
        runner.invoke, app, ["engagement", "rebuild-pairings", "--tenant", "nope"]
    )
    assert unknown.exit_code == 2
