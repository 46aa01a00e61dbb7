"""Stock, movements and reservations over HTTP: the contract, roles and tenants."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from omniretail.auth.domain import Role
from omniretail.db import Database
from tests.factories import Api, TenantHandle, location_body, make_key

SKUS = ["TEE-S", "TEE-M"]


async def setup_shop(api: Api) -> None:
    product = {
        "code": "TEE",
        "title": "Tee",
        "category": "men/tees",
        "variants": [{"sku": sku, "price": 9900} for sku in SKUS],
    }
    assert (await api.post("/v1/products", product)).status_code == 201
    for code in ("ST-1", "ST-2"):
        assert (await api.post("/v1/locations", location_body(code))).status_code == 201
    ex = location_body("EX-1", type="experience_store", capabilities={})
    assert (await api.post("/v1/locations", ex)).status_code == 201


def batch(batch_id: str, *lines: tuple[str, str, str, int]) -> dict[str, Any]:
    return {
        "batch_id": batch_id,
        "lines": [
            {"sku": sku, "location": loc, "reason": reason, "qty": qty}
            for sku, loc, reason, qty in lines
        ],
    }


async def put(api: Api, path: str, body: Any) -> httpx.Response:
    return await api.client.put(path, json=body, headers=api.headers())


@pytest.fixture
async def shop(admin: Api) -> Api:
    await setup_shop(admin)
    created = await admin.post(
        "/v1/inventory/movements",
        batch("init", ("TEE-S", "ST-1", "receipt", 5), ("TEE-M", "ST-2", "receipt", 3)),
    )
    assert created.status_code == 201, created.text
    return admin


async def test_stock_of_a_sku_lists_every_position_with_network_totals(shop: Api) -> None:
    counted = await put(shop, "/v1/inventory/ST-2/TEE-S", {"on_hand": 4, "safety_stock": 1})
    assert counted.json() == {
        "location": "ST-2",
        "sku": "TEE-S",
        "on_hand": 4,
        "reserved": 0,
        "safety_stock": 1,
        "available": 3,
    }
    body = (await shop.get("/v1/inventory/TEE-S")).json()
    assert [p["location"] for p in body["positions"]] == ["ST-1", "ST-2"]
    assert body["totals"] == {"on_hand": 9, "reserved": 0, "safety_stock": 1, "available": 8}
    assert (await shop.get("/v1/inventory/NOPE")).status_code == 404
    assert (await put(shop, "/v1/inventory/ST-9/TEE-S", {"on_hand": 1})).status_code == 404
    assert (await put(shop, "/v1/inventory/EX-1/TEE-S", {"on_hand": 1})).status_code == 422
    assert (await put(shop, "/v1/inventory/ST-1/TEE-S", {"on_hand": -1})).status_code == 422


async def test_a_bad_batch_is_a_422_naming_each_line_and_changes_nothing(shop: Api) -> None:
    bad = await shop.post(
        "/v1/inventory/movements",
        batch(
            "b-2",
            ("TEE-S", "ST-1", "receipt", 1),
            ("GHOST", "ST-1", "receipt", 1),
            ("TEE-S", "ST-404", "receipt", 1),
            ("TEE-S", "ST-1", "sale", 0),
        ),
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_error"
    assert sorted({e["index"] for e in bad.json()["errors"]}) == [1, 2, 3]
    oversell = await shop.post(
        "/v1/inventory/movements",
        batch("b-2", ("TEE-S", "ST-1", "receipt", 1), ("TEE-S", "ST-1", "sale", 7)),
    )
    assert oversell.status_code == 422
    assert [e["field"] for e in oversell.json()["errors"]] == ["lines.1"]
    stock = (await shop.get("/v1/inventory/TEE-S")).json()
    assert stock["totals"]["on_hand"] == 5
    # The rejected batch id was not kept: the corrected batch goes through under it.
    good = await shop.post("/v1/inventory/movements", batch("b-2", ("TEE-S", "ST-1", "sale", 2)))
    assert good.status_code == 201
    replay = await shop.post("/v1/inventory/movements", batch("b-2", ("TEE-S", "ST-1", "sale", 2)))
    assert replay.json() == good.json()
    assert (await shop.get("/v1/inventory/TEE-S")).json()["totals"]["on_hand"] == 3


async def test_reservations_hold_all_lines_or_answer_409_naming_the_short_ones(shop: Api) -> None:
    short = await shop.post(
        "/v1/reservations",
        {
            "lines": [
                {"sku": "TEE-S", "location": "ST-1", "qty": 2},
                {"sku": "TEE-M", "location": "ST-2", "qty": 9},
            ],
            "ttl_seconds": 600,
        },
    )
    assert short.status_code == 409
    assert short.json()["code"] == "insufficient_stock"
    assert [(ln["index"], ln["sku"], ln["available"]) for ln in short.json()["lines"]] == [
        (1, "TEE-M", 3)
    ]
    held = await shop.post(
        "/v1/reservations",
        {"lines": [{"sku": "TEE-S", "location": "ST-1", "qty": 2}], "ttl_seconds": 600},
        headers={"Idempotency-Key": "cart-1"},
    )
    assert held.status_code == 201, held.text
    assert held.json()["status"] == "active"
    again = await shop.post(
        "/v1/reservations",
        {"lines": [{"sku": "TEE-S", "location": "ST-1", "qty": 2}], "ttl_seconds": 600},
        headers={"Idempotency-Key": "cart-1"},
    )
    assert again.json()["id"] == held.json()["id"]
    position = (await shop.get("/v1/inventory/TEE-S")).json()["positions"][0]
    assert (position["reserved"], position["available"]) == (2, 3)
    released = await shop.delete(f"/v1/reservations/{held.json()['id']}")
    assert released.status_code == 200
    assert released.json()["status"] == "released"
    assert (await shop.get("/v1/inventory/TEE-S")).json()["totals"]["reserved"] == 0
    assert (await shop.delete("/v1/reservations/999999")).status_code == 404
    bad = await shop.post("/v1/reservations", {"lines": [], "ttl_seconds": 0})
    assert bad.status_code == 422


async def test_store_keys_move_stock_only_at_their_own_location(
    db: Database, tenant: TenantHandle, client: httpx.AsyncClient, shop: Api
) -> None:
    store = Api(client, await make_key(db, tenant, Role.STORE, location="ST-1"))
    analyst = Api(client, await make_key(db, tenant, Role.ANALYST))
    assert (await put(store, "/v1/inventory/ST-1/TEE-S", {"on_hand": 6})).status_code == 200
    assert (await put(store, "/v1/inventory/ST-2/TEE-S", {"on_hand": 6})).status_code == 403
    mixed = batch("s-1", ("TEE-S", "ST-1", "sale", 1), ("TEE-M", "ST-2", "sale", 1))
    assert (await store.post("/v1/inventory/movements", mixed)).status_code == 403
    own = batch("s-2", ("TEE-S", "ST-1", "sale", 1))
    assert (await store.post("/v1/inventory/movements", own)).status_code == 201
    elsewhere = {"lines": [{"sku": "TEE-M", "location": "ST-2", "qty": 1}], "ttl_seconds": 60}
    assert (await store.post("/v1/reservations", elsewhere)).status_code == 403
    theirs = await shop.post("/v1/reservations", elsewhere)
    assert (await store.delete(f"/v1/reservations/{theirs.json()['id']}")).status_code == 403
    assert (await analyst.post("/v1/inventory/movements", own)).status_code == 403
    assert (await put(analyst, "/v1/inventory/ST-1/TEE-S", {"on_hand": 1})).status_code == 403
    assert (await analyst.get("/v1/inventory/TEE-S")).status_code == 200


async def test_another_tenant_sees_none_of_it(
    client: httpx.AsyncClient, shop: Api, other_tenant: TenantHandle
) -> None:
    held = await shop.post(
        "/v1/reservations",
        {"lines": [{"sku": "TEE-S", "location": "ST-1", "qty": 1}], "ttl_seconds": 60},
    )
    rival = Api(client, other_tenant.admin_key)
    assert (await rival.get("/v1/inventory/TEE-S")).status_code == 404
    assert (await rival.get(f"/v1/reservations/{held.json()['id']}")).status_code == 404
    assert (await rival.delete(f"/v1/reservations/{held.json()['id']}")).status_code == 404
    assert (await put(rival, "/v1/inventory/ST-1/TEE-S", {"on_hand": 0})).status_code == 404
    stolen = batch("x", ("TEE-S", "ST-1", "sale", 1))
    assert (await rival.post("/v1/inventory/movements", stolen)).status_code == 422
    grab = {"lines": [{"sku": "TEE-S", "location": "ST-1", "qty": 1}], "ttl_seconds": 60}
    assert (await rival.post("/v1/reservations", grab)).status_code == 422
    assert (await rival.get("/v1/availability", sku="TEE-S")).status_code == 404
    assert (await shop.get("/v1/inventory/TEE-S")).json()["totals"] == {
        "on_hand": 5,
        "reserved": 1,
        "safety_stock": 0,
        "available": 4,
    }


async def test_availability_gives_channel_keys_their_channels_view(
    db: Database, tenant: TenantHandle, client: httpx.AsyncClient, shop: Api
) -> None:
    for code, kind in (("douyin", "douyin"), ("app", "app")):
        channel = {"code": code, "kind": kind, "name": code}
        assert (await shop.post("/v1/channels", channel)).status_code == 201
    buffers = await put(shop, "/v1/channels/douyin/buffers", {"default": 1, "skus": {"TEE-S": 4}})
    assert buffers.json() == {"channel": "douyin", "default": 1, "skus": {"TEE-S": 4}}
    assert (await shop.get("/v1/channels/douyin/buffers")).json() == buffers.json()
    unknown = await put(shop, "/v1/channels/douyin/buffers", {"skus": {"GHOST": 1}})
    assert unknown.status_code == 422
    assert (await put(shop, "/v1/channels/nope/buffers", {"default": 1})).status_code == 404
    douyin = Api(client, await make_key(db, tenant, Role.CHANNEL, channel="douyin"))
    assert (await put(douyin, "/v1/channels/douyin/buffers", {"default": 0})).status_code == 403

    view = (await douyin.get("/v1/availability", sku="TEE-S", channel="app")).json()
    assert view["channel"] == "douyin"
    assert view["network"] == {"available": 5, "buffer": 4, "available_to_sell": 1}
    plain = (await shop.get("/v1/availability", sku="TEE-S")).json()
    assert plain["network"]["available_to_sell"] == 5

    near = await douyin.get(
        "/v1/availability", sku="TEE-S", lat=31.1880, lng=121.4365, radius_km=5, mode="pickup"
    )
    assert near.status_code == 200
    assert [(loc["location"], loc["available"]) for loc in near.json()["locations"]] == [
        ("ST-1", 5)
    ]
    assert near.json()["locations"][0]["distance_km"] == 0.0
    assert near.json()["network"] is None

    held = await douyin.post(
        "/v1/reservations",
        {"lines": [{"sku": "TEE-S", "location": "ST-1", "qty": 1}], "ttl_seconds": 60},
    )
    assert held.json()["channel"] == "douyin"
    app = Api(client, await make_key(db, tenant, Role.CHANNEL, channel="app"))
    assert (await app.delete(f"/v1/reservations/{held.json()['id']}")).status_code == 404
    assert (await douyin.delete(f"/v1/reservations/{held.json()['id']}")).status_code == 200

    for bad in (
        {"sku": "TEE-S", "lat": 31.2},
        {"sku": "TEE-S", "lat": 31.2, "lng": 121.4, "mode": "teleport"},
        {"sku": "TEE-S", "lat": 91, "lng": 121.4},
        {"sku": "TEE-S", "lat": 31.2, "lng": 121.4, "radius_km": 0},
    ):
        assert (await shop.get("/v1/availability", **bad)).status_code == 422, bad
    assert (await shop.get("/v1/availability", sku="GHOST")).status_code == 404
