"""One price everywhere: quotes over HTTP, visible promotions, coupons that cannot be spent
twice, and the coupon's life inside checkout."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from omniretail.auth.domain import Role
from omniretail.db import Database
from omniretail.pricing import service as pricing
from tests.factories import Api, TenantHandle, make_key
from tests.orders_world import CUSTOMER, World, build_world

NOW = dt.datetime.now(dt.UTC)
CART = [{"sku": "TEE-S", "qty": 2}, {"sku": "JEANS-32", "qty": 1}]


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


def promotion(code: str, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "title": code.title(),
        "discount": {"kind": "percent", "value": 10},
        "starts_at": (NOW - dt.timedelta(days=1)).isoformat(),
        "ends_at": (NOW + dt.timedelta(days=1)).isoformat(),
    }
    body.update(kw)
    return body


async def quote(api: Api, channel: str, **kw: Any) -> dict[str, Any]:
    response = await api.post("/v1/price-quotes", {"channel": channel, "lines": CART, **kw})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_the_same_cart_costs_the_same_on_every_channel_unless_a_promotion_says(
    world: World,
) -> None:
    base = {c: (await quote(world.admin, c))["total"] for c in ("app", "douyin", "pos")}
    assert base == {"app": 49700, "douyin": 49700, "pos": 49700}
    created = await world.admin.post(
        "/v1/promotions", promotion("DOUYIN-LIVE", scope={"channels": ["douyin"]})
    )
    assert created.status_code == 201, created.text
    after = {c: await quote(world.admin, c) for c in ("app", "douyin", "pos")}
    assert after["app"]["total"] == after["pos"]["total"] == 49700
    assert after["douyin"]["total"] == 49700 - 4970
    assert [a["promotion"] for a in after["douyin"]["applied"]] == ["DOUYIN-LIVE"]
    assert {"promotion": "DOUYIN-LIVE", "why": "not on channel app"} in after["app"]["not_applied"]


async def test_a_store_only_promotion_applies_only_at_that_store(world: World) -> None:
    await world.admin.post(
        "/v1/promotions",
        promotion(
            "ST-A-ONLY", scope={"locations": ["ST-A"]}, discount={"kind": "amount", "value": 1000}
        ),
    )
    at_a = await quote(world.admin, "pos", location="ST-A")
    at_b = await quote(world.admin, "pos", location="ST-B")
    online = await quote(world.admin, "app")
    assert at_a["discount_total"] == 3 * 1000
    assert at_b["discount_total"] == online["discount_total"] == 0


async def test_promotion_changes_are_validated_audited_and_role_checked(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    bad = await world.admin.post(
        "/v1/promotions", promotion("BAD", discount={"kind": "percent", "value": 150})
    )
    assert bad.status_code == 422
    backwards = promotion("BACK")
    backwards["ends_at"], backwards["starts_at"] = backwards["starts_at"], backwards["ends_at"]
    assert (await world.admin.post("/v1/promotions", backwards)).status_code == 422
    unknown = await world.admin.post(
        "/v1/promotions", promotion("NOWHERE", scope={"channels": ["tiktok"]})
    )
    assert unknown.status_code == 422
    analyst = Api(world.admin.client, await make_key(db, tenant, Role.ANALYST))
    assert (await analyst.post("/v1/promotions", promotion("X"))).status_code == 403
    await world.admin.post("/v1/promotions", promotion("SALE"))
    ended = await world.admin.patch("/v1/promotions/SALE", {"active": False})
    assert ended.json()["active"] is False
    history = (await world.admin.get("/v1/promotions/SALE/history")).json()
    assert [h["before"] is None for h in history] == [True, False]
    assert history[1]["after"]["active"] is False
    assert (await quote(world.admin, "app"))["discount_total"] == 0


async def coupon(world: World, code: str, **kw: Any) -> None:
    await world.admin.post(
        "/v1/promotions",
        promotion(f"P-{code}", requires_coupon=True, discount={"kind": "amount", "value": 500}),
    )
    body = {"code": code, "promotion": f"P-{code}", "max_redemptions": 1, **kw}
    created = await world.admin.post("/v1/coupons", body)
    assert created.status_code == 201, created.text


async def test_expired_used_up_and_foreign_coupons_are_refused_with_clear_codes(
    world: World, other_tenant: TenantHandle
) -> None:
    await coupon(world, "WELCOME")
    assert (await quote(world.admin, "app", coupon_codes=["WELCOME"]))["discount_total"] == 1500
    await coupon(world, "OLD", ends_at=(NOW - dt.timedelta(hours=1)).isoformat())
    expired = await world.admin.post(
        "/v1/price-quotes", {"channel": "app", "lines": CART, "coupon_codes": ["OLD"]}
    )
    assert expired.json()["code"] == "coupon_expired"
    used = await world.admin.post(
        "/v1/coupons/WELCOME/redemptions", {"order_ref": "o-1", "channel": "app"}
    )
    assert used.status_code == 201, used.text
    assert used.json()["redeemed_count"] == 1
    again = await world.admin.post(
        "/v1/price-quotes", {"channel": "app", "lines": CART, "coupon_codes": ["WELCOME"]}
    )
    assert (again.status_code, again.json()["code"]) == (409, "coupon_used_up")
    rival = Api(world.admin.client, other_tenant.admin_key)
    await rival.post("/v1/channels", {"code": "app", "kind": "app", "name": "App"})
    foreign = await rival.post(
        "/v1/price-quotes",
        {"channel": "app", "lines": [{"sku": "X", "qty": 1}], "coupon_codes": ["WELCOME"]},
    )
    assert foreign.status_code == 422
    assert (await rival.get("/v1/coupons/WELCOME")).status_code == 404


async def test_racing_redemptions_of_a_single_use_coupon_one_wins(world: World) -> None:
    await coupon(world, "ONCE")
    results = await asyncio.gather(
        *(
            world.admin.post(
                "/v1/coupons/ONCE/redemptions", {"order_ref": f"o-{i}", "channel": "app"}
            )
            for i in range(20)
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1
    assert codes.count(409) == 19
    assert (await world.admin.get("/v1/coupons/ONCE")).json()["redeemed_count"] == 1


async def test_racing_uses_by_one_customer_respect_the_per_customer_limit(world: World) -> None:
    await coupon(world, "TWICE", max_redemptions=100, per_customer_limit=2)
    results = await asyncio.gather(
        *(
            world.admin.post(
                "/v1/coupons/TWICE/redemptions",
                {"order_ref": f"o-{i}", "channel": "app", "customer_id": "cus_same"},
            )
            for i in range(10)
        )
    )
    assert sorted(r.status_code for r in results).count(201) == 2
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"coupon_limit_reached"}


async def test_a_till_sale_charges_what_its_quote_says_under_scoped_promotions(
    world: World,
) -> None:
    """Checkout reads the cart's variants and the active promotions with the tenant's terms
    (one statement on PostgreSQL): the promotions' scopes, kinds and dates still decide."""
    for sku, _ in (("TEE-S", 2), ("JEANS-32", 1)):
        await world.stock("ST-A", sku, 5)
    for body in (
        promotion("ST-A-TEES", scope={"locations": ["ST-A"], "skus": ["TEE-S"]}),
        promotion("APP-ONLY", scope={"channels": ["app"]}, discount={"kind": "amount", "value": 1}),
        promotion(
            "NOT-YET",
            discount={"kind": "amount", "value": 700},
            starts_at=(NOW + dt.timedelta(hours=1)).isoformat(),
        ),
    ):
        assert (await world.admin.post("/v1/promotions", body)).status_code == 201
    quoted = await quote(world.admin, "pos", location="ST-A")
    assert [a["promotion"] for a in quoted["applied"]] == ["ST-A-TEES"]
    sold = await world.admin.post(
        "/v1/orders",
        {
            "channel": "pos",
            "lines": CART,
            "fulfillment": {"mode": "in_store", "location": "ST-A"},
            "payments": [{"method": "cash", "amount": quoted["total"]}],
        },
    )
    assert sold.status_code == 201, sold.text
    order = sold.json()
    assert order["totals"]["total"] == quoted["total"] == 49700 - 1980
    assert [[d["promotion"] for d in line["discounts"]] for line in order["lines"]] == [
        ["ST-A-TEES"],
        [],
    ]
    unknown = await world.admin.post(
        "/v1/orders",
        {
            "channel": "pos",
            "lines": [{"sku": "NO-SUCH", "qty": 1}],
            "fulfillment": {"mode": "in_store", "location": "ST-A"},
            "payments": [{"method": "cash", "amount": 100}],
        },
    )
    assert unknown.status_code == 422, unknown.text
    assert "no sku 'NO-SUCH'" in unknown.text


async def test_checkout_applies_the_coupon_once_and_a_failure_or_cancel_gives_it_back(
    world: World,
) -> None:
    await world.stock("ST-A", "TEE-S", 5)
    await coupon(world, "SAVE5")
    ship = {"mode": "ship", "address": {"lat": CUSTOMER["lat"], "lng": CUSTOMER["lng"]}}
    declined = await world.admin.post(
        "/v1/orders",
        {
            "channel": "app",
            "lines": [{"sku": "TEE-S", "qty": 1}],
            "fulfillment": ship,
            "coupon_codes": ["SAVE5"],
            "payments": [{"method": "sandbox", "amount": 9400, "token": "decline"}],
        },
    )
    assert declined.status_code == 409
    assert (await world.admin.get("/v1/coupons/SAVE5")).json()["redeemed_count"] == 0
    placed = await world.admin.post(
        "/v1/orders",
        {
            "channel": "app",
            "lines": [{"sku": "TEE-S", "qty": 1}],
            "fulfillment": ship,
            "coupon_codes": ["SAVE5"],
            "payments": [{"method": "sandbox", "amount": 9400}],
        },
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["totals"]["discount_total"] == 500
    assert placed.json()["lines"][0]["discounts"][0]["promotion"] == "P-SAVE5"
    assert (await world.admin.get("/v1/coupons/SAVE5")).json()["redeemed_count"] == 1
    await world.admin.post(f"/v1/orders/{placed.json()['id']}/cancel")
    assert (await world.admin.get("/v1/coupons/SAVE5")).json()["redeemed_count"] == 0


async def test_a_quote_costs_the_same_few_queries_for_any_cart(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    for i in range(30):
        await world.admin.post("/v1/promotions", promotion(f"PROMO-{i}", priority=i))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    async def quoted(lines: list[tuple[str, int]]) -> int:
        statements.clear()
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            async with db.uow(tenant.id) as uow:
                await pricing.quote(uow, channel="app", lines=lines, coupon_codes=[])
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        return len([s for s in statements if not s.startswith(("BEGIN", "COMMIT"))])

    # The channel's id is read once per process (scoped.read_ref); then the tenant's currency
    # (unless the caller passes it, as the API does), the variants and the promotions.
    await quoted([("TEE-S", 1)])
    small = await quoted([("TEE-S", 1)])
    large = await quoted([("TEE-S", 1), ("TEE-M", 2), ("JEANS-32", 3)])
    assert small == large == 3


@pytest.mark.pg_only
async def test_many_connections_racing_for_one_coupon_one_wins(world: World, db: Database) -> None:
    await coupon(world, "LAST")
    wide = Database(db.settings.model_copy(update={"db_pool_size": 25, "db_max_overflow": 0}))
    app = world.admin.client._transport.app  # type: ignore[attr-defined]
    app.state.db = wide
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            api = Api(client, world.admin.key)
            results = await asyncio.gather(
                *(
                    api.post(
                        "/v1/coupons/LAST/redemptions", {"order_ref": f"o-{i}", "channel": "app"}
                    )
                    for i in range(25)
                )
            )
    finally:
        app.state.db = db
        await wide.dispose()
    assert [r.status_code for r in results].count(201) == 1
    async with db.uow(unscoped=True) as uow:
        used = await uow.session.scalar(sa.text("SELECT redeemed_count FROM coupons"))
    assert used == 1


async def test_a_quote_for_a_known_customer_reads_only(world: World, admin: Api) -> None:
    """The quote runs in a read-only unit of work (nothing it does for a customer writes)."""
    created = await admin.post(
        "/v1/customers", {"identities": [{"type": "phone", "value": "+8613800000001"}]}
    )
    assert created.status_code == 201, created.text
    quoted = await quote(admin, "app", customer_id=created.json()["id"])
    assert quoted["customer_tier"] == "member"  # the lowest tier, no spend yet
    assert quoted["currency"] == "CNY"
    unknown = await admin.post(
        "/v1/price-quotes", {"channel": "app", "lines": CART, "customer_id": "cus_nobody"}
    )
    assert unknown.status_code == 422, unknown.text
