"""The guide screen, both databases: a member found by phone or member code, with orders on
every channel, recent views and try-ons, points, tier and consent, and what goes with what
they bought or looked at (pairings) that is in stock here. A store's staff see it for their
own store only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from omniretail.events import Dispatcher
from omniretail.wiring import build_registry
from tests.console_helpers import make_staff, sign_in
from tests.factories import Api, TenantHandle
from tests.orders_world import CUSTOMER, World, build_world


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


@pytest.fixture
async def clerk(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await make_staff(db, tenant, StaffRole.STORE_CLERK, "guide@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "guide@acme.test")).status_code == 303


async def _member(world: World) -> dict[str, Any]:
    made = await world.keys["app"].post(
        "/v1/customers",
        {
            "name": "Li Wei",
            "identities": [
                {"type": "phone", "value": CUSTOMER["phone"]},
                {"type": "member_card", "value": "M-2026"},
            ],
        },
    )
    assert made.status_code == 201, made.text
    member: dict[str, Any] = made.json()
    return member


async def _looked_at(world: World, member: dict[str, Any]) -> None:
    events = [
        {"type": "view", "customer_id": member["id"], "sku": "TEE-S", "channel": "app",
         "at": "2026-11-01T10:00:00+08:00"},
        {"type": "try_on", "customer_id": member["id"], "sku": "JEANS-32", "channel": "pos",
         "location": "ST-B", "at": "2026-11-02T15:00:00+08:00"},
    ]  # fmt: skip
    sent = await world.admin.post("/v1/events", {"events": events})
    assert sent.status_code in (200, 201, 202), sent.text


async def test_a_member_found_by_phone_is_shown_whole_with_suggestions_in_stock_here(
    client: httpx.AsyncClient, world: World, clerk: None, db: Database
) -> None:
    member = await _member(world)
    await _looked_at(world, member)
    # Somebody else looked at the tee in both sizes: the other size goes with it.
    other = (await world.admin.post("/v1/customers", {"name": "Other"})).json()["id"]
    views = [
        {"type": "view", "customer_id": other, "sku": sku, "channel": "app",
         "at": "2026-11-03T10:00:00+08:00"}
        for sku in ("TEE-S", "TEE-M")
    ]  # fmt: skip
    assert (await world.admin.post("/v1/events", {"events": views})).status_code == 202
    await Dispatcher(db, build_registry()).run_until_idle()
    consent = await world.admin.client.put(
        f"/v1/customers/{member['id']}/consents/sms",
        json={"granted": True, "source": "counter"},
        headers=world.admin.headers(),
    )
    assert consent.status_code == 200, consent.text
    await world.stock("ST-A", "TEE-M", 2)  # a sibling of the tee they viewed, here
    await world.stock("ST-B", "JEANS-32", 1)  # what they tried on, but at another store
    await world.stock("ST-A", "TEE-S", 2)  # one may be reserved for the online order
    online = await world.order(world.keys["app"], customer_id=member["id"])
    assert online.status_code == 201, online.text
    page = await client.get("/console/stores/ST-A/guide", params={"q": "138 0013 8000"})
    assert page.status_code == 200, page.text
    assert f'data-customer="{member["id"]}"' in page.text
    assert 'id="member-phone">138****8000<' in page.text
    assert 'id="member-points">0<' in page.text
    assert f'id="o-{online.json()["id"]}"' in page.text
    assert 'class="event-view"' in page.text
    assert 'class="event-try_on"' in page.text
    assert "sms: granted" in page.text
    assert 'data-sku="TEE-M"' in page.text  # goes with the tee they viewed
    assert 'data-sku="TEE-S"' in page.text  # looked at with the jeans they tried on
    assert 'data-sku="JEANS-32"' not in page.text  # not in stock here
    by_card = await client.get("/console/stores/ST-A/guide", params={"q": "M-2026"})
    assert f'data-customer="{member["id"]}"' in by_card.text


async def test_nobody_several_and_bad_input(
    client: httpx.AsyncClient, world: World, clerk: None
) -> None:
    nobody = await client.get("/console/stores/ST-A/guide", params={"q": "13900000000"})
    assert nobody.status_code == 200
    assert 'id="no-member"' in nobody.text
    for name in ("Wang One", "Wang Two"):
        assert (await world.keys["app"].post("/v1/customers", {"name": name})).status_code == 201
    several = await client.get("/console/stores/ST-A/guide", params={"q": "Wang"})
    assert 'id="candidates"' in several.text
    assert 'id="member"' not in several.text
    unknown = await client.get("/console/stores/ST-A/guide", params={"customer": "cus_nope"})
    assert unknown.status_code == 404
    too_long = await client.get("/console/stores/ST-A/guide", params={"q": "x" * 65})
    assert too_long.status_code == 422


async def test_the_guide_is_for_the_clerks_own_store_and_reads_in_chinese(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    member = await _member(world)
    await make_staff(
        db, tenant, StaffRole.STORE_CLERK, "zh@acme.test", locations=["ST-A"], language="zh-CN"
    )
    assert (await sign_in(client, tenant.slug, "zh@acme.test")).status_code == 303
    refused = await client.get("/console/stores/ST-B/guide", params={"customer": member["id"]})
    assert refused.status_code == 403
    assert "Li Wei" not in refused.text
    page = await client.get("/console/stores/ST-A/guide", params={"customer": member["id"]})
    assert "全渠道订单" in page.text
    assert "本店有货的搭配推荐" in page.text
