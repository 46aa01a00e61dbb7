"""Customers, behaviour and points over HTTP: one customer and one balance on every channel."""

from __future__ import annotations

import httpx

from omniretail.auth.domain import Role
from omniretail.db import Database
from omniretail.events import Dispatcher
from omniretail.wiring import build_registry
from tests.factories import Api, TenantHandle, location_body, make_key

CHANNELS = [("app", "app"), ("miniprogram", "miniprogram"), ("pos", "pos")]


async def setup_channels(admin: Api) -> None:
    for code, kind in CHANNELS:
        created = await admin.post("/v1/channels", {"code": code, "kind": kind, "name": code})
        assert created.status_code == 201, created.text


async def test_a_customer_from_the_miniprogram_is_recognised_at_the_pos(
    admin: Api, client: httpx.AsyncClient, db: Database, tenant: TenantHandle
) -> None:
    await setup_channels(admin)
    mini = Api(client, await make_key(db, tenant, Role.CHANNEL, channel="miniprogram"))
    created = await mini.post(
        "/v1/customers",
        {"identities": [{"type": "wechat_unionid", "value": "u-1"},
                        {"type": "phone", "value": "138 0013 8000"}]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    assert cid.startswith("cus_")
    assert created.json()["created_channel"] == "miniprogram"

    resolved = await admin.post(
        "/v1/customers/resolve",
        {"identity": {"type": "phone", "value": "+86 13800138000"}, "channel": "pos"},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["id"] == cid
    shown = (await admin.get(f"/v1/customers/{cid}")).json()
    assert [c["channel"] for c in shown["profile"]["channels"]] == ["miniprogram", "pos"]
    assert shown["points"] == {"balance": 0, "tier": "member"}


async def test_a_channel_key_creates_customers_for_its_own_channel_only(
    admin: Api, client: httpx.AsyncClient, db: Database, tenant: TenantHandle
) -> None:
    await setup_channels(admin)
    app = Api(client, await make_key(db, tenant, Role.CHANNEL, channel="app"))
    other = await app.post("/v1/customers", {"channel": "pos", "identities": []})
    assert other.status_code == 403
    event = {"type": "view", "identity": {"type": "phone", "value": "13900000000"},
             "sku": "DRESS-1-M", "channel": "pos", "at": "2026-11-20T10:00:00Z"}  # fmt: skip
    assert (await app.post("/v1/events", {"events": [event]})).status_code == 403


async def test_bad_identities_are_422_and_unknown_ones_404(admin: Api) -> None:
    assert (await admin.post("/v1/customers/resolve", {})).status_code == 422
    bad = await admin.post(
        "/v1/customers/resolve", {"identities": [{"type": "phone", "value": "call me"}]}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "identities.0.value"
    unknown_type = await admin.post(
        "/v1/customers", {"identities": [{"type": "fax", "value": "1"}]}
    )
    assert unknown_type.status_code == 422
    missing = await admin.post(
        "/v1/customers/resolve", {"identities": [{"type": "email", "value": "a@b.cn"}]}
    )
    assert missing.status_code == 404
    created = await admin.post(
        "/v1/customers/resolve",
        {"identities": [{"type": "email", "value": "A@B.cn"}], "create_if_missing": True},
    )
    assert created.status_code == 201
    assert created.json()["identities"][0]["value"] == "a@b.cn"


async def test_behaviour_from_every_channel_is_queryable_by_customer_and_time(
    admin: Api, client: httpx.AsyncClient, db: Database, tenant: TenantHandle
) -> None:
    await setup_channels(admin)
    await admin.post("/v1/locations", location_body("ST-1"))
    store = Api(client, await make_key(db, tenant, Role.STORE, location="ST-1"))
    cid = (await admin.post("/v1/customers", {"identities": [
        {"type": "phone", "value": "13700000000"}]})).json()["id"]  # fmt: skip
    lines = [
        {"type": "try_on", "customer_id": cid, "sku": "DRESS-1-M", "channel": "pos",
         "location": "ST-1", "at": "2026-11-20T10:00:00Z"},
        {"type": "view", "identity": {"type": "phone", "value": "+8613700000000"},
         "sku": "DRESS-1-M", "channel": "app", "at": "2026-11-20T12:00:00Z"},
        {"type": "search", "identity": {"type": "wechat_openid", "value": "anon-1"},
         "query": "linen dress", "channel": "miniprogram", "at": "2026-11-20T13:00:00Z"},
    ]  # fmt: skip
    accepted = await store.post("/v1/events", {"events": lines})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["accepted"] == 3
    assert len(accepted.json()["customers"]) == 2  # the unknown openid became a customer

    elsewhere = dict(lines[0], location="ST-9")
    assert (await store.post("/v1/events", {"events": [elsewhere]})).status_code == 403
    unknown = dict(lines[1], channel="tiktok")
    refused = await admin.post("/v1/events", {"events": [unknown]})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "events.0.channel"

    events = (await admin.get(f"/v1/customers/{cid}/events")).json()["items"]
    assert [e["type"] for e in events] == ["view", "try_on"]
    since = await admin.get(f"/v1/customers/{cid}/events", since="2026-11-20T11:00:00Z")
    assert [e["type"] for e in since.json()["items"]] == ["view"]
    try_ons = await admin.get(f"/v1/customers/{cid}/events", type="try_on", limit=1)
    assert try_ons.json()["items"][0]["location"] == "ST-1"
    profile = (await admin.get(f"/v1/customers/{cid}")).json()["profile"]
    assert profile["recent_try_ons"][0]["sku"] == "DRESS-1-M"
    assert profile["recent_views"][0]["channel"] == "app"
    assert profile["favourite_store"] == "ST-1"


async def test_points_over_http_redeem_adjust_and_roles(
    admin: Api, client: httpx.AsyncClient, db: Database, tenant: TenantHandle
) -> None:
    await setup_channels(admin)
    cid = (await admin.post("/v1/customers", {"identities": []})).json()["id"]
    analyst = Api(client, await make_key(db, tenant, Role.ANALYST))
    ops = Api(client, await make_key(db, tenant, Role.OPS))
    pos = Api(client, await make_key(db, tenant, Role.CHANNEL, channel="pos"))
    grant = {"points": 1000, "reason": "welcome"}
    path = f"/v1/customers/{cid}/points"
    assert (await analyst.post(f"{path}/adjustments", grant)).status_code == 403
    assert (await ops.post(f"{path}/adjustments", grant)).status_code == 403
    assert (await pos.post(f"{path}/adjustments", grant)).status_code == 403
    key = {"Idempotency-Key": "grant-1"}
    assert (await admin.post(f"{path}/adjustments", grant, headers=key)).status_code == 201
    assert (await admin.post(f"{path}/adjustments", grant, headers=key)).status_code == 201

    spend = {"points": 700, "reason": "tender", "order_id": "POS-1"}
    done = await pos.post(f"{path}/redemptions", spend)
    assert done.status_code == 201, done.text
    assert (done.json()["balance"], done.json()["money_value"]) == (300, 700)
    refused = await pos.post(f"{path}/redemptions", spend)
    assert refused.status_code == 409
    assert refused.json()["code"] == "insufficient_points"
    assert (await analyst.post(f"{path}/redemptions", spend)).status_code == 403

    assert (await analyst.get(path)).json()["balance"] == 300
    ledger = (await admin.get(f"{path}/ledger")).json()["items"]
    assert [(e["kind"], e["points"]) for e in ledger] == [("redeem", -700), ("adjust", 1000)]


async def test_another_tenants_customer_is_404_everywhere(
    admin: Api, client: httpx.AsyncClient, other_tenant: TenantHandle
) -> None:
    rival = Api(client, other_tenant.admin_key)
    theirs = await rival.post(
        "/v1/customers", {"identities": [{"type": "phone", "value": "13600000000"}]}
    )
    cid = theirs.json()["id"]
    await rival.post(f"/v1/customers/{cid}/points/adjustments", {"points": 50, "reason": "x"})
    for path in (f"/v1/customers/{cid}", f"/v1/customers/{cid}/points",
                 f"/v1/customers/{cid}/points/ledger", f"/v1/customers/{cid}/events"):  # fmt: skip
        response = await admin.get(path)
        assert response.status_code == 404, path
        assert "13600000000" not in response.text
    spend = {"points": 10, "reason": "steal"}
    assert (await admin.post(f"/v1/customers/{cid}/points/redemptions", spend)).status_code == 404
    resolved = await admin.post(
        "/v1/customers/resolve", {"identities": [{"type": "phone", "value": "13600000000"}]}
    )
    assert resolved.status_code == 404
    mine = (await admin.post("/v1/customers", {"identities": []})).json()["id"]
    merge = await admin.post(f"/v1/customers/{mine}/merge", {"customer_id": cid})
    assert merge.status_code == 404


async def test_merging_over_http_is_explained_and_the_old_id_redirects(
    admin: Api, db: Database
) -> None:
    a = (await admin.post("/v1/customers", {"identities": [
        {"type": "phone", "value": "13500000000"}]})).json()["id"]  # fmt: skip
    b = (await admin.post("/v1/customers", {"identities": [
        {"type": "member_card", "value": "M-1"}]})).json()["id"]  # fmt: skip
    await admin.post(f"/v1/customers/{a}/points/adjustments", {"points": 100, "reason": "x"})
    await admin.post(f"/v1/customers/{b}/points/adjustments", {"points": 40, "reason": "x"})
    merged = await admin.post(f"/v1/customers/{a}/merge", {"customer_id": b, "reason": "desk"})
    assert merged.status_code == 200, merged.text
    assert merged.json()["absorbed_id"] == b
    again = await admin.post(f"/v1/customers/{a}/merge", {"customer_id": b})
    assert again.status_code == 409
    await Dispatcher(db, build_registry()).run_until_idle()

    old = (await admin.get(f"/v1/customers/{b}")).json()
    assert (old["id"], old["redirected_from"]) == (a, b)
    assert old["merged_from"] == [b]
    assert old["points"]["balance"] == 140
    explained = (await admin.get(f"/v1/customers/{a}/merges")).json()
    assert explained[0]["reason"] == "desk"
    assert explained[0]["moved"]["identities"] == [{"type": "member_card", "value": "M-1"}]
    linked = await admin.post(f"/v1/customers/{a}/identities", {"type": "email", "value": "x@y.cn"})
    assert linked.status_code == 200
    assert len(linked.json()["identities"]) == 3


async def test_consent_is_set_per_channel_with_source_and_time(admin: Api) -> None:
    cid = (await admin.post("/v1/customers", {"identities": []})).json()["id"]
    put = await admin.client.put(
        f"/v1/customers/{cid}/consents/sms",
        json={"granted": True, "source": "app sign-up form"},
        headers=admin.headers(),
    )
    assert put.status_code == 200, put.text
    consents = (await admin.get(f"/v1/customers/{cid}")).json()["profile"]["consents"]
    assert [(c["channel"], c["granted"], c["source"]) for c in consents] == [
        ("sms", True, "app sign-up form")
    ]


async def test_paid_membership_gives_free_delivery_on_every_channel(admin: Api) -> None:
    plan = {"code": "plus", "name": "Lumen+", "fee": 19800, "term_days": 365,
            "free_delivery": True, "free_pickup": True, "points_multiplier_pct": 200}  # fmt: skip
    assert (await admin.post("/v1/membership-plans", plan)).status_code == 201
    assert (await admin.post("/v1/membership-plans", plan)).status_code == 409
    cid = (await admin.post("/v1/customers", {"identities": []})).json()["id"]
    before = (await admin.get(f"/v1/customers/{cid}/benefits")).json()
    assert (before["free_delivery"], before["membership"]) == (False, None)
    joined = await admin.post(f"/v1/customers/{cid}/memberships", {"plan": "plus"})
    assert joined.status_code == 201, joined.text
    renewed = (await admin.post(f"/v1/customers/{cid}/memberships", {"plan": "plus"})).json()
    assert renewed["starts_at"] == joined.json()["ends_at"]  # a renewal loses no paid day
    after = (await admin.get(f"/v1/customers/{cid}/benefits")).json()
    assert after["free_delivery"]
    assert after["points_multiplier_pct"] == 200
    assert after["membership"] == "plus"
    assert (
        await admin.post(f"/v1/customers/{cid}/memberships", {"plan": "nope"})
    ).status_code == 404


async def test_loyalty_rules_are_read_by_all_and_set_by_admins_only(
    admin: Api, client: httpx.AsyncClient, db: Database, tenant: TenantHandle
) -> None:
    ops = Api(client, await make_key(db, tenant, Role.OPS))
    rules = (await ops.get("/v1/loyalty/rules")).json()
    assert (rules["points_per_unit"], rules["redeem_points_per_unit"]) == (1, 100)
    assert [t["code"] for t in rules["tiers"]] == ["member", "silver", "gold"]
    change = {"points_per_unit": 2, "pending_days": 7}
    put = await ops.client.put("/v1/loyalty/rules", json=change, headers=ops.headers())
    assert put.status_code == 403
    put = await admin.client.put("/v1/loyalty/rules", json=change, headers=admin.headers())
    assert put.status_code == 200, put.text
    assert (put.json()["points_per_unit"], put.json()["pending_days"]) == (2, 7)
    promo = {"code": "x", "multiplier_pct": 200}
    promo |= {"starts_at": "2026-12-02T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"}
    backwards = {"promotions": [promo]}
    bad = await admin.client.put("/v1/loyalty/rules", json=backwards, headers=admin.headers())
    assert bad.status_code == 422
    assert (await admin.get("/v1/loyalty/rules")).json()["points_per_unit"] == 2


async def test_browsing_before_sign_up_joins_the_customer_when_the_identity_is_linked(
    admin: Api,
) -> None:
    await setup_channels(admin)
    await admin.post("/v1/channels", {"code": "douyin", "kind": "douyin", "name": "Douyin"})
    seen = {"type": "view", "identity": {"type": "douyin_openid", "value": "dy-follower"},
            "sku": "COAT-2-M", "channel": "douyin", "at": "2026-11-01T20:00:00Z"}  # fmt: skip
    anonymous = (await admin.post("/v1/events", {"events": [seen]})).json()["customers"][0]
    cid = (await admin.post("/v1/customers", {"channel": "miniprogram", "identities": [
        {"type": "phone", "value": "13100000000"}]})).json()["id"]  # fmt: skip
    linked = await admin.post(
        f"/v1/customers/{cid}/identities", {"type": "douyin_openid", "value": "dy-follower"}
    )
    assert linked.json()["merged_from"] == [anonymous]
    events = (await admin.get(f"/v1/customers/{cid}/events")).json()["items"]
    assert [(e["channel"], e["sku"]) for e in events] == [("douyin", "COAT-2-M")]
    channels = (await admin.get(f"/v1/customers/{cid}")).json()["profile"]["channels"]
    assert [c["channel"] for c in channels] == ["douyin", "miniprogram"]
