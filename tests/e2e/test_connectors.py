"""Channel connectors end to end: signed pushes become exactly one order, cancels release the
stock, bad signatures store nothing, unappliable messages park and retry, stock goes out."""

from __future__ import annotations

import asyncio
import random

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi import FastAPI

from omniretail.auth.domain import Role
from omniretail.connectors import service, stock
from omniretail.connectors.models import Connection
from omniretail.connectors.platforms import builtin_platforms
from omniretail.connectors.simulator import cancel_body, paid_body, refund_body
from omniretail.connectors.vault import CredentialVault, VaultNotConfigured
from omniretail.db import Database
from tests.connectors_world import (
    CHANNEL_OF,
    CREDENTIALS,
    PLATFORMS,
    Shop,
    connect,
    drain,
)
from tests.factories import Api, TenantHandle, make_key, make_tenant
from tests.orders_world import World, build_world


@pytest.fixture
async def world(app: FastAPI, admin: Api, db: Database, tenant: TenantHandle) -> World:
    app.state.connector_vault = CredentialVault([Fernet.generate_key().decode()])
    return await build_world(admin, db, tenant)


async def _orders(world: World, channel: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = (await world.admin.get("/v1/orders", channel=channel)).json()[
        "items"
    ]
    return [o for o in items if o["channel"] == channel]


async def _messages(shop: Shop, world: World, status: str | None = None) -> list[dict[str, object]]:
    params = {"status": status} if status else {}
    response = await world.admin.get(f"/v1/connections/{shop.connection_id}/messages", **params)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_paid_push_sent_five_times_at_once_makes_one_order_holding_stock(
    world: World, app: FastAPI, platform: str
) -> None:
    await world.stock("ST-A", "TEE-S", 3)
    shop = await connect(world, platform)
    body = paid_body(platform, "P-1001", [("TEE-S", 2)], 19800)
    replies = await asyncio.gather(*(shop.push(body) for _ in range(5)))
    assert {r.status_code for r in replies} == {200}
    first = replies[0]
    if platform == "wechat":
        assert first.text == "success"
    elif platform == "xiaohongshu":
        assert first.json() == {"success": True, "error_code": 0, "error_msg": ""}
    else:
        assert first.json() == {"code": 0, "msg": "success"}
    await drain(app)
    orders = await _orders(world, shop_channel(platform))
    assert len(orders) == 1
    order = (await world.admin.get(f"/v1/orders/{orders[0]['id']}")).json()
    assert order["status"] == "confirmed"
    assert [(p["method"], p["amount"], p["status"]) for p in order["payments"]] == [
        ("platform", 19800, "captured")
    ]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 3, "reserved": 2}
    assert [m["status"] for m in await _messages(shop, world)] == ["applied"]


def shop_channel(platform: str) -> str:
    return CHANNEL_OF[platform]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_cancel_message_cancels_the_order_and_releases_stock(
    world: World, app: FastAPI, platform: str
) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    shop = await connect(world, platform)
    assert (await shop.push(paid_body(platform, "P-2", [("TEE-S", 1)], 9900))).status_code == 200
    await drain(app)
    assert (await shop.push(cancel_body(platform, "P-2"))).status_code == 200
    assert (await shop.push(cancel_body(platform, "P-2"))).status_code == 200
    await drain(app)
    orders = await _orders(world, shop_channel(platform))
    assert [o["status"] for o in orders] == ["cancelled"]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 0}


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_cancel_that_overtakes_its_paid_message_means_no_order(
    world: World, app: FastAPI, platform: str
) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    shop = await connect(world, platform)
    await shop.push(cancel_body(platform, "P-3"))
    await shop.push(paid_body(platform, "P-3", [("TEE-S", 1)], 9900))
    await drain(app)
    assert await _orders(world, shop_channel(platform)) == []
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 0}
    assert {m["status"] for m in await _messages(shop, world)} == {"applied"}


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_wrong_signature_is_401_and_stores_nothing(
    world: World, app: FastAPI, platform: str
) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    shop = await connect(world, platform)
    body = paid_body(platform, "P-4", [("TEE-S", 1)], 9900)
    wrong_secret = {k: v + "x" for k, v in shop.credentials.items()}
    forged = await Shop(platform, shop.connection_id, shop.client, wrong_secret).push(body)
    assert forged.status_code == 401
    assert forged.headers["content-type"].startswith("application/problem+json")
    unsigned = await shop.client.post(f"/hooks/{platform}/{shop.connection_id}", content=body)
    assert unsigned.status_code == 401
    assert await _messages(shop, world) == []
    tampered = await shop.push(body, tamper=True)
    # WeChat's URL signature covers token, timestamp and nonce only, not the body.
    assert tampered.status_code == (200 if platform == "wechat" else 401)
    await drain(app)
    assert len(await _messages(shop, world)) == (1 if platform == "wechat" else 0)


async def test_a_push_to_another_platforms_hook_or_unknown_connection_is_404(
    world: World,
) -> None:
    shop = await connect(world, "douyin")
    body = paid_body("douyin", "P-5", [("TEE-S", 1)], 9900)
    wrong = await shop.client.post(f"/hooks/youzan/{shop.connection_id}", content=body)
    assert wrong.status_code == 404
    unknown = await shop.client.post("/hooks/douyin/con_0000000000000000", content=body)
    assert unknown.status_code == 404


async def test_an_unknown_sku_parks_the_message_until_mapped_then_retry_applies_it(
    world: World, app: FastAPI
) -> None:
    await world.stock("ST-A", "TEE-M", 2)
    shop = await connect(world, "douyin")
    await shop.push(paid_body("douyin", "P-6", [("DY-998877", 1)], 9900))
    await drain(app)
    parked = await _messages(shop, world, "parked")
    assert len(parked) == 1
    assert "unknown platform SKU: DY-998877" in str(parked[0]["outcome"])
    assert await _orders(world, "douyin") == []
    base = f"/v1/connections/{shop.connection_id}"
    csv = "platform_sku,sku\nDY-998877,TEE-M\n"
    mapped = await world.admin.client.post(
        f"{base}/mappings.csv",
        content=csv.encode(),
        headers={**world.admin.headers(), "Content-Type": "text/csv"},
    )
    assert mapped.status_code == 200, mapped.text
    retried = await world.admin.post(f"{base}/messages/{parked[0]['id']}/retry", {})
    assert retried.status_code == 200, retried.text
    again = await world.admin.post(f"{base}/messages/{parked[0]['id']}/retry", {})
    assert again.status_code == 409
    await drain(app)
    assert [m["status"] for m in await _messages(shop, world)] == ["applied"]
    assert await world.on_hand("ST-A", "TEE-M") == {"on_hand": 2, "reserved": 1}


async def test_a_mapping_to_a_sku_we_do_not_sell_is_422_and_saves_nothing(world: World) -> None:
    shop = await connect(world, "youzan")
    base = f"/v1/connections/{shop.connection_id}/mappings"
    bad = await world.admin.post(
        base, {"items": [{"platform_sku": "A", "sku": "TEE-S"}, {"platform_sku": "B", "sku": "NO"}]}
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["items.1.sku"]
    assert (await world.admin.get(base)).json()["items"] == []


async def test_credentials_are_sealed_at_rest_and_never_returned(
    world: World, db: Database, app: FastAPI
) -> None:
    shop = await connect(world, "douyin")
    shown = (await world.admin.get(f"/v1/connections/{shop.connection_id}")).json()
    assert shown["credential_fields"] == ["app_key", "app_secret"]
    assert CREDENTIALS["douyin"]["app_secret"] not in str(shown)
    listed = (await world.admin.get("/v1/connections")).text
    assert CREDENTIALS["douyin"]["app_secret"] not in listed
    async with db.uow(unscoped=True) as uow:
        stored = await uow.session.scalar(sa.select(Connection.credentials))
    assert stored is not None
    assert "dy-secret" not in stored
    assert "dy-app-7" not in stored
    check = await world.admin.post(f"/v1/connections/{shop.connection_id}/test", {})
    assert check.json() == {"ok": True, "detail": "credentials open and sign"}


def test_rotating_the_key_keeps_old_credentials_readable() -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = CredentialVault([old_key]).seal({"app_key": "k"})
    rotated = CredentialVault.from_setting(f"{new_key}, {old_key}")
    assert rotated.open(token) == {"app_key": "k"}
    fresh = rotated.rotate(token)
    assert CredentialVault([new_key]).open(fresh) == {"app_key": "k"}
    with pytest.raises(VaultNotConfigured):
        CredentialVault([new_key]).open(token)


async def test_without_a_configured_key_a_connection_cannot_be_created(
    world: World, app: FastAPI
) -> None:
    app.state.connector_vault = CredentialVault([])
    response = await world.admin.post(
        "/v1/connections",
        {
            "platform": "douyin",
            "shop_id": "s",
            "channel": "douyin",
            "locations": ["ST-A"],
            "credentials": CREDENTIALS["douyin"],
        },
    )
    assert response.status_code == 409
    assert response.json()["code"] == "connector_keys_missing"


async def test_only_admins_manage_connections_and_a_channel_key_sees_its_own(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    douyin = await connect(world, "douyin")
    youzan = await connect(world, "youzan")
    ops = Api(world.admin.client, await make_key(db, tenant, Role.OPS))
    channel = Api(world.admin.client, await make_key(db, tenant, Role.CHANNEL, channel="douyin"))
    body = {
        "platform": "douyin",
        "shop_id": "s2",
        "channel": "douyin",
        "locations": ["ST-A"],
        "credentials": CREDENTIALS["douyin"],
    }
    for api in (ops, channel, world.keys["store_a"]):
        assert (await api.post("/v1/connections", body)).status_code == 403
        assert (
            await api.post(f"/v1/connections/{douyin.connection_id}/test", {})
        ).status_code == 403
    seen = (await channel.get("/v1/connections")).json()["items"]
    assert [c["id"] for c in seen] == [douyin.connection_id]
    assert (await channel.get(f"/v1/connections/{youzan.connection_id}")).status_code == 404
    assert (
        await channel.get(f"/v1/connections/{youzan.connection_id}/messages")
    ).status_code == 404
    assert (
        await channel.get(f"/v1/connections/{douyin.connection_id}/messages")
    ).status_code == 200


async def test_another_tenant_cannot_see_or_use_a_connection(world: World, db: Database) -> None:
    shop = await connect(world, "douyin")
    rival = await make_tenant(db, "rival")
    other = Api(world.admin.client, rival.admin_key)
    assert (await other.get(f"/v1/connections/{shop.connection_id}")).status_code == 404
    assert (await other.get("/v1/connections")).json()["items"] == []
    mapped = await other.post(
        f"/v1/connections/{shop.connection_id}/mappings",
        {"items": [{"platform_sku": "A", "sku": "TEE-S"}]},
    )
    assert mapped.status_code == 404


async def test_a_local_sale_lowers_the_platform_figure_less_the_channel_buffer(
    world: World, app: FastAPI
) -> None:
    shop = await connect(world, "douyin", locations=["ST-A"])
    buffers = await world.admin.client.put(
        "/v1/channels/douyin/buffers",
        json={"default": 1},
        headers=world.admin.headers(),
    )
    assert buffers.status_code in (200, 201), buffers.text
    await world.stock("ST-A", "TEE-S", 5)
    await world.stock("ST-B", "TEE-S", 7)  # ST-B does not serve this shop
    await drain(app)
    sale = await world.order(
        world.keys["pos_a"],
        channel="pos",
        fulfillment={"mode": "in_store", "location": "ST-A"},
        payments=[{"method": "cash", "amount": 9900}],
    )
    assert sale.status_code == 201, sale.text
    await drain(app)
    pushes = (
        await world.admin.get(f"/v1/connections/{shop.connection_id}/stock-pushes", sku="TEE-S")
    ).json()["items"]
    assert [p["qty"] for p in pushes] == [4, 3]
    assert pushes[-1]["request"] == {
        "method": "sku.syncStock",
        "param": {"out_sku_id": "TEE-S", "stock_num": 3, "incremental": False},
    }


async def test_a_burst_of_stock_changes_becomes_one_stock_request_per_sku(
    world: World, app: FastAPI
) -> None:
    shop = await connect(world, "youzan", locations=["ST-A", "ST-B"])
    await drain(app)
    for _ in range(6):
        await world.stock("ST-A", "TEE-S", 1)
        await world.stock("ST-B", "TEE-S", 2)
    await world.stock("ST-A", "TEE-M", 4)
    await drain(app)
    pushes = (await world.admin.get(f"/v1/connections/{shop.connection_id}/stock-pushes")).json()[
        "items"
    ]
    assert sorted((p["sku"], p["qty"]) for p in pushes) == [("TEE-M", 4), ("TEE-S", 18)]


async def test_a_platform_order_is_sourced_only_from_its_shops_locations(
    world: World, app: FastAPI
) -> None:
    await world.stock("ST-A", "TEE-S", 5)  # nearer the buyer, but not this shop's
    await world.stock("ST-C", "TEE-S", 1)
    shop = await connect(world, "youzan", locations=["ST-C"])
    await shop.push(paid_body("youzan", "L-1", [("TEE-S", 1)], 9900))
    await shop.push(paid_body("youzan", "L-2", [("TEE-S", 1)], 9900))
    await drain(app)
    [order] = await _orders(world, "youzan")
    detail = (await world.admin.get(f"/v1/orders/{order['id']}")).json()
    assert detail["sourcing"]["chosen"] == ["ST-C"]
    assert await world.on_hand("ST-C", "TEE-S") == {"on_hand": 1, "reserved": 1}
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 0}
    [parked] = await _messages(shop, world, "parked")
    assert parked["platform_order_id"] == "L-2"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_refund_after_delivery_is_a_return_and_before_shipping_a_cancel(
    world: World, app: FastAPI, platform: str
) -> None:
    await world.stock("ST-A", "TEE-S", 2)
    shop = await connect(world, platform)
    await shop.push(paid_body(platform, "R-1", [("TEE-S", 1)], 9900))
    await shop.push(paid_body(platform, "R-2", [("TEE-S", 1)], 9900))
    await drain(app)
    by_platform_id = {m["platform_order_id"]: m["order_id"] for m in await _messages(shop, world)}
    delivered = (await world.admin.get(f"/v1/orders/{by_platform_id['R-1']}")).json()
    fulfilment = delivered["fulfillments"][0]["id"]
    for action in ("accept", "ship", "deliver"):
        step = await world.admin.post(
            "/v1/fulfillments/actions",
            {"actions": [{"fulfillment_id": fulfilment, "action": action}]},
        )
        assert step.json()["succeeded"] == 1, step.text
    for order_id in ("R-1", "R-2"):
        assert (await shop.push(refund_body(platform, order_id))).status_code == 200
    await drain(app)
    [ret] = (await world.admin.get(f"/v1/orders/{by_platform_id['R-1']}/returns")).json()
    assert ret["status"] == "completed"
    assert [(line["sku"], line["qty"]) for line in ret["lines"]] == [("TEE-S", 1)]
    assert ret["refund_total"] == 9900
    cancelled = (await world.admin.get(f"/v1/orders/{by_platform_id['R-2']}")).json()
    assert cancelled["status"] == "cancelled"
    # one sold and returned to the shelf, one held and released: both back
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 2, "reserved": 0}
    assert not await _messages(shop, world, "parked")


async def test_a_storm_of_shuffled_duplicates_gives_each_order_once(
    world: World, app: FastAPI
) -> None:
    await world.stock("ST-A", "TEE-S", 40)
    shop = await connect(world, "youzan")
    bodies = [paid_body("youzan", f"S-{n}", [("TEE-S", 1)], 9900) for n in range(30)]
    bodies += [cancel_body("youzan", f"S-{n}") for n in range(0, 30, 3)]
    storm = bodies + random.Random(7).sample(bodies, 8)
    random.Random(11).shuffle(storm)
    for chunk in range(0, len(storm), 8):
        replies = await asyncio.gather(*(shop.push(b) for b in storm[chunk : chunk + 8]))
        assert {r.status_code for r in replies} == {200}
    await drain(app)
    orders = await _orders(world, "youzan")
    live = [o for o in orders if o["status"] != "cancelled"]
    assert len(live) == 20
    assert len(orders) <= 30
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 40, "reserved": 20}


async def test_a_full_resync_sends_every_sku_again_and_rotation_reseals_credentials(
    world: World, app: FastAPI, db: Database, tenant: TenantHandle
) -> None:
    shop = await connect(world, "xiaohongshu")
    await world.stock("ST-A", "TEE-S", 2)
    await drain(app)
    async with db.uow(tenant.id) as uow:
        row = await service.access_connection(uow, shop.connection_id)
        pushed = await stock.do_resync_connection(
            uow, connection=row, platforms=builtin_platforms()
        )
    assert pushed == 3  # TEE-S, TEE-M, JEANS-32
    figures = (await world.admin.get(f"/v1/connections/{shop.connection_id}/stock-pushes")).json()[
        "items"
    ]
    assert sorted((p["sku"], p["qty"]) for p in figures[-3:]) == [
        ("JEANS-32", 0),
        ("TEE-M", 0),
        ("TEE-S", 2),
    ]
    new_key = Fernet.generate_key().decode()
    old_vault = app.state.connector_vault
    async with db.uow(tenant.id) as uow:
        before = (await service.access_connection(uow, shop.connection_id)).credentials
        both = CredentialVault([new_key, *old_vault.keys])
        assert await service.do_rotate_credentials(uow, vault=both) == 1
    app.state.connector_vault = CredentialVault([new_key])
    shown = await world.admin.get(f"/v1/connections/{shop.connection_id}")
    assert shown.status_code == 200
    assert shown.json()["credential_fields"] == ["app_key", "app_secret"]
    async with db.uow(tenant.id) as uow:
        assert (await service.access_connection(uow, shop.connection_id)).credentials != before
