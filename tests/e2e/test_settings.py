"""Tenant settings over HTTP: admin only, validated whole, audited, and in force at checkout."""

from __future__ import annotations

import pytest

from omniretail.auth.domain import Role
from omniretail.db import Database
from tests.factories import Api, TenantHandle, make_key
from tests.orders_world import World, build_world

DEFAULTS = {
    "max_shipments": 3,
    "payment_window_seconds": 900,
    "delivery_fees": {"ship": 0, "pickup": 0, "local_delivery": 0, "in_store": 0},
    "allow_negative_stock": False,
    "ship_promise_hours": 48,
    "local_promise_minutes": 30,
    "pickup_promise_hours": 2,
    "transfer_promise_hours": 24,
    "returns": {
        "window_days": 30,
        "non_returnable_categories": [],
        "stores_accept_online_returns": True,
    },
    "locale": "en",
    "timezone": "Asia/Shanghai",
    "experience_attribution_days": 14,
}


async def test_every_setting_is_listed_with_its_default(admin: Api) -> None:
    response = await admin.get("/v1/settings")
    assert response.status_code == 200, response.text
    assert response.json() == DEFAULTS


async def test_a_patch_changes_only_what_it_names_and_null_restores_the_default(
    admin: Api,
) -> None:
    changed = await admin.patch(
        "/v1/settings",
        {"max_shipments": 2, "delivery_fees": {"ship": 800}, "returns": {"window_days": 14}},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["max_shipments"] == 2
    assert body["delivery_fees"] == {"ship": 800, "pickup": 0, "local_delivery": 0, "in_store": 0}
    assert body["returns"]["window_days"] == 14
    assert body["returns"]["stores_accept_online_returns"] is True
    again = await admin.patch("/v1/settings", {"delivery_fees": {"local_delivery": 500}})
    assert again.json()["delivery_fees"]["ship"] == 800  # objects merge key by key
    reset = await admin.patch("/v1/settings", {"max_shipments": None})
    assert reset.json()["max_shipments"] == 3
    assert (await admin.get("/v1/settings")).json() == reset.json()


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"max_shipments": 0}, "max_shipments"),
        ({"max_shipments": "two"}, "max_shipments"),
        ({"payment_window_seconds": 10}, "payment_window_seconds"),
        ({"delivery_fees": {"ship": -1}}, "delivery_fees.ship"),
        ({"delivery_fees": {"drone": 100}}, "delivery_fees.drone"),
        ({"allow_negative_stock": "maybe"}, "allow_negative_stock"),
        ({"returns": {"window_days": 1000}}, "returns.window_days"),
        ({"currency": "USD"}, "currency"),
        ({"locale": "fr"}, "locale"),
        ({"locale": "zh"}, "locale"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../etc/passwd"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"timezone": None}, "timezone"),
    ],
)
async def test_a_bad_value_is_a_422_naming_the_field_and_nothing_changes(
    admin: Api, patch: dict[str, object], field: str
) -> None:
    await admin.patch("/v1/settings", {"max_shipments": 2})
    bad = await admin.patch("/v1/settings", {**patch, "ship_promise_hours": 12})
    assert bad.status_code == 422, bad.text
    assert bad.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in bad.json()["errors"]]
    after = (await admin.get("/v1/settings")).json()
    assert after == DEFAULTS | {"max_shipments": 2}


async def test_changes_are_audited_with_who_and_what(admin: Api) -> None:
    await admin.patch("/v1/settings", {"allow_negative_stock": True})
    await admin.patch("/v1/settings", {"allow_negative_stock": True})  # no change, no entry
    await admin.patch("/v1/settings", {"delivery_fees": {"ship": 500}, "max_shipments": 1})
    history = await admin.get("/v1/settings/history", limit=1)
    assert history.status_code == 200, history.text
    page = history.json()
    assert [e["changed"] for e in page["items"]] == [["delivery_fees.ship", "max_shipments"]]
    newest = page["items"][0]
    assert newest["actor"].endswith(":admin")
    assert newest["before"] == {"allow_negative_stock": True}
    assert newest["after"]["max_shipments"] == 1
    older = await admin.get("/v1/settings/history", cursor=page["next_cursor"])
    assert [e["changed"] for e in older.json()["items"]] == [["allow_negative_stock"]]
    assert older.json()["next_cursor"] is None
    forged = await admin.get("/v1/settings/history", cursor="eyJhZnRlciI6ICJ4In0")
    assert forged.status_code == 422


@pytest.mark.parametrize("role", [Role.OPS, Role.ANALYST, Role.STORE, Role.CHANNEL])
async def test_only_admins_read_or_change_settings(
    admin: Api, db: Database, tenant: TenantHandle, role: Role
) -> None:
    scope: dict[str, str] = {}
    if role is Role.STORE:
        await admin.post(
            "/v1/locations",
            {"code": "ST-1", "name": "S", "type": "store", "lat": 31.0, "lng": 121.0},
        )
        scope = {"location": "ST-1"}
    if role is Role.CHANNEL:
        await admin.post("/v1/channels", {"code": "app", "kind": "app", "name": "App"})
        scope = {"channel": "app"}
    other = Api(admin.client, await make_key(db, tenant, role, **scope))
    assert (await other.get("/v1/settings")).status_code == 403
    assert (await other.patch("/v1/settings", {"max_shipments": 1})).status_code == 403
    assert (await other.get("/v1/settings/history")).status_code == 403
    assert (await admin.get("/v1/settings")).json() == DEFAULTS
    assert (await Api(admin.client, None).get("/v1/settings")).status_code == 401


async def test_one_tenants_settings_never_touch_anothers(
    admin: Api, other_tenant: TenantHandle
) -> None:
    rival = Api(admin.client, other_tenant.admin_key)
    await rival.patch("/v1/settings", {"max_shipments": 1, "allow_negative_stock": True})
    assert (await admin.get("/v1/settings")).json() == DEFAULTS
    assert (await admin.get("/v1/settings/history")).json()["items"] == []


async def test_a_delivery_fee_set_over_http_is_charged_at_checkout(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    world: World = await build_world(admin, db, tenant)
    await world.stock("ST-A", "TEE-S", 5)
    await admin.patch("/v1/settings", {"delivery_fees": {"ship": 800}})
    placed = await world.order(payments=[{"method": "sandbox", "amount": 9900 + 800}])
    assert placed.status_code == 201, placed.text
    assert placed.json()["totals"]["total"] == 9900 + 800


async def test_nulls_inside_objects_never_break_the_settings(admin: Api) -> None:
    patched = await admin.patch(
        "/v1/settings",
        {"delivery_fees": {"in_store": None, "ship": 0}, "returns": {"window_days": None}},
    )
    assert patched.status_code == 200, patched.text
    assert (await admin.get("/v1/settings")).json() == patched.json()


async def test_the_locale_and_time_zone_are_read_and_changed_over_http(admin: Api) -> None:
    changed = await admin.patch("/v1/settings", {"locale": "zh-CN", "timezone": "Asia/Urumqi"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["locale"] == "zh-CN"
    assert changed.json()["timezone"] == "Asia/Urumqi"
    assert (await admin.get("/v1/settings")).json() == changed.json()
    assert (await admin.get("/v1/me")).json()["timezone"] == "Asia/Urumqi"
    history = (await admin.get("/v1/settings/history", limit=1)).json()["items"][0]
    assert history["changed"] == ["locale", "timezone"]
    assert history["before"] == {"timezone": "Asia/Shanghai"}
    assert history["after"] == {"locale": "zh-CN", "timezone": "Asia/Urumqi"}
    reset = await admin.patch("/v1/settings", {"locale": None})
    assert reset.json()["locale"] == "en"
    assert reset.json()["timezone"] == "Asia/Urumqi"


async def test_the_tenant_locale_chooses_the_language_of_errors(admin: Api) -> None:
    await admin.patch("/v1/settings", {"locale": "zh-CN"})
    missing = await admin.get("/v1/products/NO-SUCH-SKU")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert missing.json()["title"] == "未找到"
    english = await admin.client.get(
        "/v1/products/NO-SUCH-SKU",
        headers=admin.headers({"Accept-Language": "en-GB,en;q=0.8"}),
    )
    assert english.json()["title"] == "Not found"
    assert english.json()["code"] == "not_found"
