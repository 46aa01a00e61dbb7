"""Outgoing webhooks end to end: a real receiver on 127.0.0.1 gets our events signed; a
failing one is retried with backoff until it answers, or until the delivery is dead; URLs that
lead inside the install's network are refused; the secret is shown once and never logged."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi import FastAPI

from omniretail.auth.domain import Role
from omniretail.connectors.vault import CredentialVault
from omniretail.db import Database, utcnow
from omniretail.events import OutboxEvent
from omniretail.webhooks.delivery import WebhookSender, deliver_due_webhooks
from omniretail.webhooks.domain import MAX_ATTEMPTS, signature_matches
from omniretail.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.connectors_world import drain
from tests.factories import Api, TenantHandle, make_key
from tests.orders_world import World, build_world, paid_online
from tests.webhook_receiver import Receiver, receiver

KEY = Fernet.generate_key().decode()


@pytest.fixture
async def world(app: FastAPI, admin: Api, db: Database, tenant: TenantHandle) -> World:
    app.state.connector_vault = CredentialVault([KEY])
    app.state.settings = app.state.settings.model_copy(update={"webhooks_allow_loopback": True})
    return await build_world(admin, db, tenant)


def sender(*, allow_loopback: bool = True) -> WebhookSender:
    return WebhookSender(
        vault=CredentialVault([KEY]), allow_loopback=allow_loopback, timeout_seconds=2
    )


async def subscribe(api: Api, url: str, *events: str) -> dict[str, object]:
    response = await api.post("/v1/webhook-subscriptions", {"url": url, "event_types": events})
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


async def deliveries(api: Api, subscription: object) -> list[dict[str, object]]:
    response = await api.get(f"/v1/webhook-subscriptions/{subscription}/deliveries")
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


async def counter_sale(world: World) -> dict[str, object]:
    await world.stock("ST-A", "TEE-S", 2)
    response = await world.order(
        world.keys["pos_a"],
        channel="pos",
        fulfillment={"mode": "in_store", "location": "ST-A"},
        payments=[{"method": "card_present", "amount": 9900}],
    )
    assert response.status_code == 201, response.text
    sale: dict[str, object] = response.json()
    return sale


def verified(hook: Receiver, secret: object) -> list[dict[str, object]]:
    """Every request's body, after checking its signature as a merchant would."""
    bodies = []
    for got in hook.received:
        timestamp = int(got.headers["x-omni-timestamp"])
        assert signature_matches(str(secret), timestamp, got.body, got.headers["x-omni-signature"])
        assert abs(timestamp - utcnow().timestamp()) < 60
        body = json.loads(got.body)
        assert got.headers["x-omni-event-id"] == body["id"]
        assert got.headers["content-type"] == "application/json"
        bodies.append(body)
    return bodies


async def test_a_placed_order_reaches_the_receiver_signed_once(
    world: World, app: FastAPI, db: Database
) -> None:
    async with receiver() as hook:
        sub = await subscribe(world.admin, hook.url, "order.placed")
        sale = await counter_sale(world)
        await drain(app)
        assert await deliver_due_webhooks(db, sender(), now=utcnow()) == 1
        # The outbox delivering every event again (at least once) makes no second delivery.
        async with db.engine.begin() as conn:
            await conn.execute(sa.update(OutboxEvent).values(dispatched_at=None))
        await drain(app)
        assert await deliver_due_webhooks(db, sender(), now=utcnow()) == 0

    [body] = verified(hook, sub["secret"])
    assert hook.received[0].path == "/hooks/omni"
    assert body["type"] == "order.placed"
    assert body["data"]["order_id"] == sale["id"]  # type: ignore[index]
    assert set(body) == {"id", "type", "time", "data"}
    [logged] = await deliveries(world.admin, sub["id"])
    assert logged["status"] == "delivered"
    assert logged["attempts"] == 1
    assert logged["response_code"] == 200
    assert logged["next_attempt_at"] is None
    assert logged["event_id"] == body["id"]


async def test_fulfilment_and_stock_changes_are_delivered_as_their_events(
    world: World, app: FastAPI, db: Database
) -> None:
    async with receiver() as hook:
        sub = await subscribe(world.admin, hook.url, "fulfillment.status_changed", "stock.changed")
        await world.stock("ST-A", "TEE-S", 3)
        placed = await world.order(
            fulfillment={"mode": "pickup", "location": "ST-A"},
        )
        assert placed.status_code == 201, placed.text
        order = await paid_online(world, placed.json())
        fulfilment = order["fulfillments"][0]["id"]
        accepted = await world.admin.post(f"/v1/fulfillments/{fulfilment}/accept")
        assert accepted.status_code == 200, accepted.text
        await drain(app)
        await deliver_due_webhooks(db, sender(), now=utcnow())

    bodies = verified(hook, sub["secret"])
    statuses = [b["data"]["status"] for b in bodies if b["type"] == "fulfillment.status_changed"]  # type: ignore[index]
    assert statuses[-1] == "accepted"
    assert all(
        b["data"]["fulfillment_id"] == fulfilment  # type: ignore[index]
        for b in bodies
        if b["type"] == "fulfillment.status_changed"
    )
    stock = [b for b in bodies if b["type"] == "stock.changed"]
    assert stock, [b["type"] for b in bodies]
    changes = [c for b in stock for c in b["data"]["changes"]]  # type: ignore[index]
    assert {"sku": "TEE-S", "location": "ST-A"}.items() <= changes[0].items()
    assert changes[-1]["available"] == 2  # 3 received, 1 held for the pickup


async def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    world: World, app: FastAPI, db: Database
) -> None:
    async with receiver(statuses=[500, 502]) as hook:
        sub = await subscribe(world.admin, hook.url, "order.placed")
        await counter_sale(world)
        await drain(app)
        start = utcnow()
        assert await deliver_due_webhooks(db, sender(), now=start) == 0
        [logged] = await deliveries(world.admin, sub["id"])
        assert (logged["status"], logged["attempts"], logged["response_code"]) == (
            "pending",
            1,
            500,
        )
        assert dt.datetime.fromisoformat(str(logged["next_attempt_at"])) == start + dt.timedelta(
            seconds=10
        )
        # Not due yet: nothing is sent.
        assert await deliver_due_webhooks(db, sender(), now=start + dt.timedelta(seconds=9)) == 0
        assert len(hook.received) == 1
        later = start + dt.timedelta(seconds=10)
        assert await deliver_due_webhooks(db, sender(), now=later) == 0  # 502: next in 20 s
        assert await deliver_due_webhooks(db, sender(), now=later + dt.timedelta(seconds=20)) == 1

    bodies = verified(hook, sub["secret"])
    assert len(bodies) == 3
    assert len({json.dumps(b, sort_keys=True) for b in bodies}) == 1  # the same bytes each time
    [logged] = await deliveries(world.admin, sub["id"])
    assert (logged["status"], logged["attempts"], logged["response_code"]) == ("delivered", 3, 200)


async def test_a_delivery_is_dead_after_the_last_try(
    world: World, app: FastAPI, db: Database
) -> None:
    async with receiver(statuses=[503] * (MAX_ATTEMPTS + 1)) as hook:
        sub = await subscribe(world.admin, hook.url, "order.placed")
        await counter_sale(world)
        await drain(app)
        now = utcnow()
        for _ in range(MAX_ATTEMPTS + 1):
            await deliver_due_webhooks(db, sender(), now=now)
            now += dt.timedelta(hours=2)
    assert len(hook.received) == MAX_ATTEMPTS
    [logged] = await deliveries(world.admin, sub["id"])
    assert logged["status"] == "dead"
    assert logged["attempts"] == MAX_ATTEMPTS
    assert logged["response_code"] == 503
    assert logged["next_attempt_at"] is None
    dead = await world.admin.get(f"/v1/webhook-subscriptions/{sub['id']}/deliveries", status="dead")
    assert len(dead.json()["items"]) == 1


async def test_a_dead_delivery_can_be_sent_again_once_the_receiver_is_fixed(
    world: World, app: FastAPI, db: Database
) -> None:
    async with receiver(statuses=[503] * MAX_ATTEMPTS) as hook:
        sub = await subscribe(world.admin, hook.url, "order.placed")
        await counter_sale(world)
        await drain(app)
        now = utcnow()
        for _ in range(MAX_ATTEMPTS):
            await deliver_due_webhooks(db, sender(), now=now)
            now += dt.timedelta(hours=2)
        [dead] = await deliveries(world.admin, sub["id"])
        assert dead["status"] == "dead"
        path = f"/v1/webhook-subscriptions/{sub['id']}/deliveries/{dead['id']}/resend"
        resent = await world.admin.post(path, {})
        assert resent.status_code == 200, resent.text
        assert (resent.json()["status"], resent.json()["attempts"]) == ("pending", 0)
        assert await deliver_due_webhooks(db, sender(), now=utcnow()) == 1
        again = await world.admin.post(path, {})  # delivered now: nothing to resend
        assert again.status_code == 409
        assert again.json()["code"] == "webhook_delivery_not_dead"
    bodies = verified(hook, sub["secret"])
    assert len({b["id"] for b in bodies}) == 1  # the same event id on every try
    [logged] = await deliveries(world.admin, sub["id"])
    assert (logged["status"], logged["attempts"]) == ("delivered", 1)
    missing = await world.admin.post(
        f"/v1/webhook-subscriptions/{sub['id']}/deliveries/999999/resend", {}
    )
    assert missing.status_code == 404


async def test_a_rotated_secret_signs_every_later_try_and_the_old_one_none(
    world: World, app: FastAPI, db: Database
) -> None:
    async with receiver(statuses=[503]) as hook:
        sub = await subscribe(world.admin, hook.url, "order.placed")
        await counter_sale(world)
        await drain(app)
        now = utcnow()
        assert await deliver_due_webhooks(db, sender(), now=now) == 0  # 503: retried later
        rotated = await world.admin.post(f"/v1/webhook-subscriptions/{sub['id']}/rotate-secret", {})
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        assert new_secret.startswith("whsec_")
        assert new_secret != sub["secret"]
        assert await deliver_due_webhooks(db, sender(), now=now + dt.timedelta(hours=1)) == 1
    first, second = hook.received
    for got, secret, valid in (
        (first, sub["secret"], True),
        (second, new_secret, True),
        (second, sub["secret"], False),
    ):
        timestamp = int(got.headers["x-omni-timestamp"])
        signed = got.headers["x-omni-signature"]
        assert signature_matches(str(secret), timestamp, got.body, signed) is valid
    listed = (await world.admin.get("/v1/webhook-subscriptions")).json()["items"]
    assert all(item["secret"] is None for item in listed)  # shown in the rotation reply only


REFUSED = [
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "http://10.0.0.8/hook",
    "http://192.168.1.20:8080/hook",
    "http://172.16.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://127.0.0.1:5432/",
    "http://localhost/hook",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://user:pass@93.184.216.34/",
    "https:///nohost",
]


async def test_urls_that_lead_inside_the_network_are_refused(
    app: FastAPI, admin: Api, db: Database
) -> None:
    app.state.connector_vault = CredentialVault([KEY])  # loopback not allowed by default
    for url in REFUSED:
        response = await admin.post(
            "/v1/webhook-subscriptions", {"url": url, "event_types": ["order.placed"]}
        )
        assert response.status_code == 422, (url, response.text)
        assert response.json()["code"] in {"webhook_url_refused", "validation_error"}, url
    assert (await admin.get("/v1/webhook-subscriptions")).json()["items"] == []
    public = await admin.post(
        "/v1/webhook-subscriptions",
        {"url": "https://93.184.216.34/hook", "event_types": ["order.placed"]},
    )
    assert public.status_code == 201, public.text


async def test_a_receiver_that_became_internal_is_not_called(
    world: World, app: FastAPI, db: Database
) -> None:
    """Checked again at every try: a loopback subscription made while allowed is not called
    by a sender that does not allow loopback (as a re-pointed DNS name would not be)."""
    async with receiver() as hook:
        sub = await subscribe(world.admin, hook.url, "order.placed")
        await counter_sale(world)
        await drain(app)
        assert await deliver_due_webhooks(db, sender(allow_loopback=False), now=utcnow()) == 0
    assert hook.received == []
    [logged] = await deliveries(world.admin, sub["id"])
    assert logged["status"] == "pending"
    assert "loopback" in str(logged["last_error"])


async def test_the_secret_is_shown_once_stored_sealed_and_never_logged(
    world: World, app: FastAPI, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with receiver() as hook:
        body = {"url": hook.url, "event_types": ["order.placed"]}
        headers = {"Idempotency-Key": "sub-1"}
        created = await world.admin.post("/v1/webhook-subscriptions", body, headers=headers)
        replay = await world.admin.post("/v1/webhook-subscriptions", body, headers=headers)
        secret = created.json()["secret"]
        assert secret.startswith("whsec_")
        assert len(secret) > 40
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json()["secret"] is None
        listed = (await world.admin.get("/v1/webhook-subscriptions")).json()["items"]
        assert [s["secret"] for s in listed] == [None]
        await counter_sale(world)
        await drain(app)
        assert await deliver_due_webhooks(db, sender(), now=utcnow()) == 1
    verified(hook, secret)
    assert secret not in caplog.text
    async with db.engine.connect() as conn:
        stored = (await conn.execute(sa.select(WebhookSubscription.secret))).scalar_one()
    assert secret not in stored
    assert CredentialVault([KEY]).open(stored) == {"secret": secret}


async def test_other_tenants_and_roles_cannot_see_or_touch_a_subscription(
    world: World,
    app: FastAPI,
    db: Database,
    tenant: TenantHandle,
    other_tenant: TenantHandle,
) -> None:
    rival = Api(world.admin.client, other_tenant.admin_key)
    ops = Api(world.admin.client, await make_key(db, tenant, Role.OPS))
    async with receiver() as hook:
        sub = await subscribe(world.admin, hook.url, "order.placed")
        path = f"/v1/webhook-subscriptions/{sub['id']}"
        assert (await rival.get(f"{path}/deliveries")).status_code == 404
        assert (await rival.delete(path)).status_code == 404
        assert (await rival.get("/v1/webhook-subscriptions")).json()["items"] == []
        assert (await ops.get("/v1/webhook-subscriptions")).status_code == 403
        assert (await ops.delete(path)).status_code == 403
        # The rival's own sale is no event of ours.
        rival_world = await build_world(rival, db, other_tenant)
        await rival_world.stock("ST-A", "TEE-S", 1)
        sold = await rival_world.order(
            fulfillment={"mode": "in_store", "location": "ST-A"},
            channel="pos",
            payments=[{"method": "card_present", "amount": 9900}],
        )
        assert sold.status_code == 201, sold.text
        await drain(app)
        assert await deliver_due_webhooks(db, sender(), now=utcnow()) == 0
    assert hook.received == []
    assert await deliveries(world.admin, sub["id"]) == []


async def test_deleting_a_subscription_cancels_its_pending_deliveries(
    world: World, app: FastAPI, db: Database
) -> None:
    async with receiver(statuses=[500]) as hook:
        sub = await subscribe(world.admin, hook.url, "order.placed")
        await counter_sale(world)
        await drain(app)
        now = utcnow()
        await deliver_due_webhooks(db, sender(), now=now)
        path = f"/v1/webhook-subscriptions/{sub['id']}"
        assert (await world.admin.delete(path)).status_code == 204
        assert (await world.admin.get(f"{path}/deliveries")).status_code == 404
        assert (await world.admin.delete(path)).status_code == 404
        await deliver_due_webhooks(db, sender(), now=now + dt.timedelta(hours=1))
    assert len(hook.received) == 1
    async with db.engine.connect() as conn:
        status = (await conn.execute(sa.select(WebhookDelivery.status))).scalar_one()
    assert status == "cancelled"


async def test_a_receiver_that_does_not_answer_in_time_is_a_failed_try(
    world: World, app: FastAPI, db: Database
) -> None:
    async with receiver(statuses=[0]) as hook:
        sub = await subscribe(world.admin, hook.url, "order.placed")
        await counter_sale(world)
        await drain(app)
        impatient = WebhookSender(
            vault=CredentialVault([KEY]), allow_loopback=True, timeout_seconds=0.3
        )
        assert await deliver_due_webhooks(db, impatient, now=utcnow()) == 0
    [logged] = await deliveries(world.admin, sub["id"])
    assert (logged["status"], logged["attempts"], logged["response_code"]) == ("pending", 1, None)
    assert "Timeout" in str(logged["last_error"])
