"""Experience-store attribution (issue 16): a sample scanned in an experience store credits the
customer's later orders of that SKU, on any channel, within the tenant's window, to that store
and guide; once, explained on the order, and counted by the data hub's attribution report.
Not outside the window, not another customer's order, not a scan in an ordinary store, and never
over a store named at checkout."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from omniretail.db import Database
from omniretail.engagement import handlers
from omniretail.events import Dispatcher, kept_events
from omniretail.orders import fulfilment
from omniretail.orders.domain import Action
from omniretail.wiring import build_registry
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world, place_paid

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
_phones = iter(range(13600000001, 13600000999))


async def dispatch(db: Database) -> None:
    await Dispatcher(db, build_registry()).run_until_idle()


async def setup(admin: Api, db: Database, tenant: TenantHandle) -> World:
    world = await build_world(admin, db, tenant)
    for sku in ("TEE-S", "JEANS-32"):
        await world.stock("WH", sku, 20)
        await world.stock("ST-A", sku, 20)
    return world


async def customer(admin: Api) -> str:
    phone = str(next(_phones))
    created = await admin.post("/v1/customers", {"identities": [{"type": "phone", "value": phone}]})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def scanned(
    admin: Api,
    db: Database,
    cid: str,
    *,
    ago: dt.timedelta,
    sku: str = "TEE-S",
    location: str = "EXP",
    staff: str | None = "guide-07",
) -> None:
    event = {
        "type": "scan",
        "customer_id": cid,
        "sku": sku,
        "channel": "pos",
        "location": location,
        "at": (NOW - ago).isoformat(),
    }
    if staff:
        event["staff"] = staff
    recorded = await admin.post("/v1/events", {"events": [event]})
    assert recorded.status_code == 202, recorded.text
    await dispatch(db)


async def bought_online(
    db: Database, tenant: TenantHandle, cid: str, sku: str = "TEE-S", **fields: Any
) -> str:
    """An app order paid, shipped and delivered now: placed, then completed."""
    price = {"TEE-S": 9900, "JEANS-32": 29900}[sku]
    body = {
        "channel": "app",
        "customer_id": cid,
        "lines": [{"sku": sku, "qty": 1}],
        "fulfillment": {"mode": "ship", "address": {"lat": 31.2304, "lng": 121.4737}},
        "payments": [{"method": "sandbox", "amount": price}],
        **fields,
    }
    async with db.uow(tenant.id) as uow:
        order = await place_paid(uow, body, NOW)
        for action in (Action.ACCEPT, Action.SHIP, Action.DELIVER):
            await fulfilment.do_fulfilment_action(
                uow, fulfilment_id=order.fulfillments[0].id, action=action, actor="test", now=NOW
            )
    await dispatch(db)
    return order.id


async def order(admin: Api, order_id: str) -> dict[str, Any]:
    response = await admin.get(f"/v1/orders/{order_id}")
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


def period() -> dict[str, str]:
    today = NOW.astimezone(SHANGHAI).date()
    return {
        "from": (today - dt.timedelta(days=1)).isoformat(),
        "to": (today + dt.timedelta(days=1)).isoformat(),
    }


async def redeliver_placed(db: Database, tenant: TenantHandle) -> None:
    async with db.uow(tenant.id) as uow:
        rows = [e async for batch in kept_events(uow, ["order.placed"], batch=1000) for e in batch]
    for row in rows:
        async with db.uow(tenant.id) as uow:
            await handlers.on_order_placed(uow, row)


async def test_a_scanned_sample_credits_the_later_order_once_explained_and_reported(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    await setup(admin, db, tenant)
    cid = await customer(admin)
    await scanned(admin, db, cid, ago=dt.timedelta(days=2))
    order_id = await bought_online(db, tenant, cid)

    credited = await order(admin, order_id)
    assert (credited["attributed_location"], credited["attributed_staff"]) == ("EXP", "guide-07")
    why = credited["attribution"]
    assert (why["rule"], why["location"], why["staff"], why["sku"], why["window_days"]) == (
        "experience_scan",
        "EXP",
        "guide-07",
        "TEE-S",
        14,
    )
    assert dt.datetime.fromisoformat(why["scanned_at"]) == NOW - dt.timedelta(days=2)
    assert "TEE-S" in why["reason"]
    assert "EXP" in why["reason"]
    assert "14 days" in why["reason"]

    # Redelivered: credited once, the explanation untouched.
    await redeliver_placed(db, tenant)
    assert (await order(admin, order_id))["attribution"] == why

    # The data hub counts it: the experience store's credited online sales, the guide's sales.
    report = (await admin.get("/v1/analytics/attribution", **period())).json()
    exp = next(r for r in report["rows"] if r["location"] == "EXP")
    assert exp["attributed_online_gross"] == 9900
    staff = (await admin.get("/v1/analytics/sales", **period(), by="attributed_staff")).json()
    assert staff["rows"], staff
    guide = next(r for r in staff["rows"] if r["key"] == "guide-07")
    assert (guide["gross"], guide["orders"]) == (9900, 1)


async def test_no_credit_outside_the_window_which_the_tenant_sets(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    await setup(admin, db, tenant)
    cid = await customer(admin)
    await scanned(admin, db, cid, ago=dt.timedelta(days=20))
    late = await order(admin, await bought_online(db, tenant, cid))
    assert (late["attributed_location"], late["attribution"]) == (None, None)

    changed = await admin.patch("/v1/settings", {"experience_attribution_days": 30})
    assert changed.status_code == 200, changed.text
    assert changed.json()["experience_attribution_days"] == 30
    within = await order(admin, await bought_online(db, tenant, cid))
    assert within["attribution"]["window_days"] == 30
    assert within["attributed_location"] == "EXP"

    off = await admin.patch("/v1/settings", {"experience_attribution_days": 0})
    assert off.status_code == 200
    assert (await order(admin, await bought_online(db, tenant, cid)))["attribution"] is None
    for bad in (-1, 91, "x"):
        refused = await admin.patch("/v1/settings", {"experience_attribution_days": bad})
        assert refused.status_code == 422, refused.text


async def test_no_credit_for_another_customer_another_sku_an_ordinary_store_or_a_named_one(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    await setup(admin, db, tenant)
    scanner, stranger = await customer(admin), await customer(admin)
    await scanned(admin, db, scanner, ago=dt.timedelta(hours=3))
    other_person = await order(admin, await bought_online(db, tenant, stranger))
    assert other_person["attribution"] is None
    other_sku = await order(admin, await bought_online(db, tenant, scanner, sku="JEANS-32"))
    assert other_sku["attribution"] is None

    # A scan in an ordinary store credits nothing: the store's own counter sales are its own.
    shop = await customer(admin)
    await scanned(admin, db, shop, ago=dt.timedelta(hours=3), location="ST-A")
    assert (await order(admin, await bought_online(db, tenant, shop)))["attribution"] is None

    # A store named at checkout is kept, and said to be so.
    named = await order(admin, await bought_online(db, tenant, scanner, attributed_location="ST-B"))
    assert named["attributed_location"] == "ST-B"
    assert named["attribution"] == {
        "rule": "checkout",
        "reason": "named when the order was placed",
        "location": "ST-B",
        "staff": None,
        "sku": None,
        "scanned_at": None,
        "window_days": None,
        "credited_at": None,
    }
    # ...and a later order of the scanned SKU, on any channel, still is credited.
    again = await order(admin, await bought_online(db, tenant, scanner))
    assert again["attribution"]["rule"] == "experience_scan"


async def test_a_scan_made_before_the_customer_was_known_credits_after_the_merge(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    await setup(admin, db, tenant)
    member = await customer(admin)
    event = {
        "type": "scan",
        "identity": {"type": "wechat_openid", "value": "o-anon-1"},
        "sku": "TEE-S",
        "channel": "pos",
        "location": "EXP",
        "staff": "guide-02",
        "at": (NOW - dt.timedelta(days=1)).isoformat(),
    }
    assert (await admin.post("/v1/events", {"events": [event]})).status_code == 202
    linked = await admin.post(
        f"/v1/customers/{member}/identities", {"type": "wechat_openid", "value": "o-anon-1"}
    )
    assert linked.status_code == 200, linked.text
    await dispatch(db)
    credited = await order(admin, await bought_online(db, tenant, member))
    assert (credited["attributed_location"], credited["attributed_staff"]) == ("EXP", "guide-02")
