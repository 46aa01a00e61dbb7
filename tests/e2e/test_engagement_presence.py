"""Presence (issue 16): the nearest store within the radius and its store-only offer, messaged
once a day on a consented medium; one report a minute per customer."""

from __future__ import annotations

import datetime as dt

from omniretail.db import Database, utcnow
from omniretail.engagement import presence
from tests.factories import Api, TenantHandle
from tests.orders_world import CUSTOMER, FAR_AWAY, build_world

HERE = {"lat": CUSTOMER["lat"], "lng": CUSTOMER["lng"]}


async def setup(admin: Api, db: Database, tenant: TenantHandle, *, consent: bool = True) -> str:
    await build_world(admin, db, tenant)
    promotion = {
        "code": "STA-ONLY",
        "title": "10% off today at ST-A",
        "scope": {"locations": ["ST-A"]},
        "discount": {"kind": "percent", "value": 10},
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2028-01-01T00:00:00Z",
    }
    assert (await admin.post("/v1/promotions", promotion)).status_code == 201
    created = await admin.post(
        "/v1/customers", {"identities": [{"type": "phone", "value": "13700000001"}]}
    )
    cid: str = created.json()["id"]
    if consent:
        granted = await admin.client.put(
            f"/v1/customers/{cid}/consents/sms",
            json={"granted": True, "source": "app settings"},
            headers=admin.headers(),
        )
        assert granted.status_code == 200
    return cid


async def test_the_nearest_store_and_its_offer_are_sent_once_a_day(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    cid = await setup(admin, db, tenant)
    near = await admin.post("/v1/presence", {"customer_id": cid, **HERE})
    assert near.status_code == 200, near.text
    body = near.json()
    assert body["store"]["code"] == "ST-A"
    assert body["offer"] == {"promotion": "STA-ONLY", "title": "10% off today at ST-A"}
    assert body["message_id"] is not None
    [message] = (await admin.get("/v1/messages", customer_id=cid)).json()["items"]
    assert (message["id"], message["template"]) == (body["message_id"], "store_offer")
    # A minute later, the same store the same day: the offer is not sent again.
    async with db.uow(tenant.id) as uow:
        again = await presence.do_report_presence(
            uow, customer_id=cid, radius_km=1, now=utcnow() + dt.timedelta(minutes=2), **HERE
        )
    assert again.message_id == body["message_id"]
    assert len((await admin.get("/v1/messages", customer_id=cid)).json()["items"]) == 1


async def test_a_second_report_within_a_minute_is_429_and_changes_nothing(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    cid = await setup(admin, db, tenant, consent=False)
    first = await admin.post("/v1/presence", {"customer_id": cid, **HERE})
    assert first.status_code == 200
    assert (first.json()["message_id"], first.json()["reason"]) == (None, "no consent")
    second = await admin.post("/v1/presence", {"customer_id": cid, **HERE})
    assert second.status_code == 429, second.text
    assert second.json()["code"] == "rate_limited"
    assert (await admin.get("/v1/messages")).json()["items"] == []


async def test_far_from_every_store_there_is_no_store_and_no_offer(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    cid = await setup(admin, db, tenant)
    far = await admin.post("/v1/presence", {"customer_id": cid, **FAR_AWAY})
    assert far.status_code == 200
    assert far.json() == {
        "store": None,
        "offer": None,
        "message_id": None,
        "reason": "no store nearby",
    }
    bad = await admin.post("/v1/presence", {"customer_id": cid, "lat": 91, "lng": 0})
    assert bad.status_code == 422
    unknown = await admin.post("/v1/presence", {"customer_id": "cus_nobody", **HERE})
    assert unknown.status_code == 404
