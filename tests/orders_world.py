"""A small, realistic retailer for order tests: a far warehouse, three stores and a dark store
around People's Square in Shanghai, three SKUs, some stock, and keys for each role."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from omniretail.auth.domain import Role
from omniretail.db import Database, UnitOfWork
from omniretail.orders import checkout, payments
from omniretail.orders.access import Caller
from omniretail.orders.schemas import OrderIn, OrderOut
from omniretail.payments.providers import PaymentStatus, SandboxProvider, builtin_providers
from tests.factories import SANDBOX_SECRET, Api, TenantHandle, make_key

CUSTOMER = {"lat": 31.2304, "lng": 121.4737, "name": "Li Wei", "phone": "13800138000"}
FAR_AWAY = {"lat": 31.0000, "lng": 121.0000}
_batches = itertools.count(1)

LOCATIONS: list[dict[str, Any]] = [
    {
        "code": "WH",
        "type": "warehouse",
        "lat": 31.3747,
        "lng": 121.2655,
        "capabilities": {"ship": True, "sells_online": True},
    },
    {
        "code": "ST-A",
        "type": "store",
        "lat": 31.2350,
        "lng": 121.4737,  # 0.5 km
        "capabilities": {
            "ship": True,
            "pickup": True,
            "local_delivery": True,
            "sells_online": True,
        },
        "delivery_radius_km": 3,
    },
    {
        "code": "ST-B",
        "type": "store",
        "lat": 31.2304,
        "lng": 121.5100,  # 3.5 km
        "capabilities": {
            "ship": True,
            "pickup": True,
            "local_delivery": True,
            "sells_online": True,
        },
        "delivery_radius_km": 3,
    },
    {
        "code": "ST-C",
        "type": "store",
        "lat": 31.2600,
        "lng": 121.4737,  # 3.3 km
        "capabilities": {"ship": True, "pickup": True, "sells_online": True},
    },
    {
        "code": "EXP",
        "type": "experience_store",
        "lat": 31.2200,
        "lng": 121.4750,
        "capabilities": {},
    },
]
SKUS = ["TEE-S", "TEE-M", "JEANS-32"]
PRICES = {"TEE-S": 9900, "TEE-M": 9900, "JEANS-32": 29900}


@dataclass
class World:
    admin: Api
    keys: dict[str, Api] = field(default_factory=dict)

    async def stock(self, location: str, sku: str, qty: int) -> None:
        response = await self.admin.post(
            "/v1/inventory/movements",
            {
                "batch_id": f"seed-{next(_batches)}",
                "lines": [{"sku": sku, "location": location, "reason": "receipt", "qty": qty}],
            },
        )
        assert response.status_code == 201, response.text

    async def on_hand(self, location: str, sku: str) -> dict[str, int]:
        positions = (await self.admin.get(f"/v1/inventory/{sku}")).json()["positions"]
        found = next((p for p in positions if p["location"] == location), None)
        return (
            {"on_hand": found["on_hand"], "reserved": found["reserved"]}
            if found
            else {"on_hand": 0, "reserved": 0}
        )

    async def order(self, api: Api | None = None, **overrides: Any) -> Any:
        body = order_body(**overrides)
        return await (api or self.admin).post("/v1/orders", body)


def order_body(**overrides: Any) -> dict[str, Any]:
    lines = overrides.pop("lines", [{"sku": "TEE-S", "qty": 1}])
    total = sum(PRICES.get(line["sku"], 0) * line["qty"] for line in lines)
    body: dict[str, Any] = {
        "channel": "app",
        "lines": lines,
        "fulfillment": {
            "mode": "ship",
            "address": {"lat": CUSTOMER["lat"], "lng": CUSTOMER["lng"]},
        },
        "payments": [{"method": "sandbox", "amount": total, "token": "tok"}],
    }
    body.update(overrides)
    return body


async def build_world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    for code, kind in (("app", "app"), ("pos", "pos"), ("douyin", "douyin")):
        assert (
            await admin.post("/v1/channels", {"code": code, "kind": kind, "name": code})
        ).status_code == 201
    for location in LOCATIONS:
        body = {"name": location["code"], **location}
        response = await admin.post("/v1/locations", body)
        assert response.status_code == 201, response.text
    product = {
        "code": "BASICS",
        "title": "Basics",
        "category": "men/basics",
        "variants": [{"sku": sku, "price": PRICES[sku]} for sku in SKUS],
    }
    assert (await admin.post("/v1/products", product)).status_code == 201
    world = World(admin=admin)
    for name, role, scope in (
        ("store_a", Role.STORE, {"location": "ST-A"}),
        ("store_b", Role.STORE, {"location": "ST-B"}),
        ("app", Role.CHANNEL, {"channel": "app"}),
        ("pos_a", Role.STORE, {"location": "ST-A"}),
    ):
        world.keys[name] = Api(admin.client, await make_key(db, tenant, role, **scope))
    return world


async def paid_online(world: World, order: dict[str, Any]) -> dict[str, Any]:
    """Play the sandbox provider: sign a capture callback for the order's payment."""
    payment = next(p for p in order["payments"] if p["method"] == "sandbox")
    sandbox = SandboxProvider(SANDBOX_SECRET)
    body = {
        "provider_ref": payment["provider_ref"],
        "status": "captured",
        "amount": payment["amount"],
        "signature": sandbox.sign(payment["provider_ref"], "captured", payment["amount"]),
    }
    response = await world.admin.client.post("/v1/payments/sandbox/callback", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def tee_sold_at_st_a(world: World) -> dict[str, Any]:
    """A tee sold over ST-A's counter (card), with a pair of jeans in stock there to swap to."""
    await world.stock("ST-A", "TEE-S", 1)
    await world.stock("ST-A", "JEANS-32", 1)
    sale = await world.order(
        world.keys["pos_a"],
        channel="pos",
        lines=[{"sku": "TEE-S", "qty": 1}],
        fulfillment={"mode": "in_store", "location": "ST-A"},
        payments=[{"method": "card_present", "amount": 9900}],
    )
    assert sale.status_code == 201, sale.text
    order: dict[str, Any] = sale.json()
    return order


def tee_for_jeans(
    order_id: str, *, payments: list[dict[str, Any]], received_at: str = "ST-A"
) -> dict[str, Any]:
    """An exchange of that tee for the jeans at ST-A, the difference paid with ``payments``."""
    return {
        "order_id": order_id,
        "channel": "pos",
        "location": received_at,
        "lines": [{"sku": "TEE-S", "qty": 1}],
        "new_order": {
            "lines": [{"sku": "JEANS-32", "qty": 1}],
            "fulfillment": {"mode": "in_store", "location": "ST-A"},
            "payments": payments,
        },
    }


async def place_paid(uow: UnitOfWork, body: dict[str, Any], when: dt.datetime) -> OrderOut:
    """Place an order through checkout at ``when`` and capture its sandbox payment then."""
    providers = builtin_providers(SANDBOX_SECRET)
    order = await checkout.do_place_order(
        uow,
        data=OrderIn.model_validate(body),
        caller=Caller(actor="test"),
        providers=providers,
        now=when,
    )
    sandbox = next(p for p in order.payments if p.method == "sandbox")
    assert sandbox.provider_ref is not None
    await payments.do_settle_payment(
        uow,
        provider_ref=sandbox.provider_ref,
        status=PaymentStatus.CAPTURED,
        amount=sandbox.amount,
        providers=providers,
        now=when,
    )
    return order


def numbers_drawn(monkeypatch: Any, script: dict[int, str]) -> list[str]:
    """Checkout's order numbers from now on: the ``script``'s number at the draw of that index
    (0 for the first), a fresh one otherwise. Returns every number drawn, in order."""
    drawn: list[str] = []
    fresh = checkout.new_order_number

    def draw(now: dt.datetime, timezone: str) -> str:
        number = script.get(len(drawn)) or fresh(now, timezone)
        drawn.append(number)
        return number

    monkeypatch.setattr(checkout, "new_order_number", draw)
    return drawn
