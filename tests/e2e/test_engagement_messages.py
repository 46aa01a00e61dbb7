# ruff: noqa: RUF001  (Chinese text uses full-width punctuation, on purpose)
"""Outbound messages (issue 16): queued through the API, consent-checked, sent by the worker
through each medium's sender (a local simulator), retried with backoff, never logging a phone
number in clear."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import httpx
import pytest

from omniretail.auth.domain import Role
from omniretail.db import Database, utcnow
from omniretail.engagement import messages
from omniretail.engagement.domain import MAX_ATTEMPTS, Medium
from omniretail.engagement.senders import simulated_senders
from omniretail.jobs import build_jobs, run_due
from tests.customers_factories import ident, make_channels, make_customer
from tests.factories import Api, TenantHandle, make_key

PHONE = "13800138000"


async def consenting_customer(db: Database, tenant: TenantHandle, admin: Api) -> str:
    await make_channels(db, tenant)
    cid = await make_customer(db, tenant, ident("phone", PHONE), ident("wechat_openid", "o-77"))
    granted = await admin.client.put(
        f"/v1/customers/{cid}/consents/sms",
        json={"granted": True, "source": "store sign-up form"},
        headers=admin.headers(),
    )
    assert granted.status_code == 200, granted.text
    return cid


def offer(cid: str, medium: str = "sms", locale: str = "zh-CN") -> dict[str, object]:
    return {
        "customer_id": cid,
        "medium": medium,
        "template": "tryon_coupon",
        "locale": locale,
        "params": {"store": "Xuhui", "sku": "DRESS-1-M", "coupon": "TRY-ABC", "days": "7"},
    }


async def test_an_offer_is_queued_then_sent_by_the_worker_with_the_phone_masked(
    admin: Api, db: Database, tenant: TenantHandle, caplog: pytest.LogCaptureFixture
) -> None:
    cid = await consenting_customer(db, tenant, admin)
    queued = await admin.post("/v1/messages", offer(cid))
    assert queued.status_code == 201, queued.text
    assert queued.json()["status"] == "pending"
    assert queued.json()["marketing"] is True
    senders = simulated_senders()
    with caplog.at_level(logging.DEBUG):
        assert await messages.deliver_due_messages(db, senders) == 1
    [sent] = senders[Medium.SMS].journal
    assert sent.text == "您在Xuhui试穿的DRESS-1-M有专属优惠：券码TRY-ABC，7天内有效。"
    assert PHONE not in sent.masked_address
    assert PHONE not in caplog.text
    assert sent.masked_address in caplog.text
    shown = (await admin.get(f"/v1/messages/{queued.json()['id']}")).json()
    assert shown["status"] == "sent"
    assert shown["provider_ref"] == sent.ref
    assert shown["attempts"] == 1
    assert PHONE not in str(shown)
    # Sent once: the next run finds nothing due.
    assert await messages.deliver_due_messages(db, senders) == 0
    assert len(senders[Medium.SMS].journal) == 1


async def test_an_english_template_is_rendered_in_english(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    cid = await consenting_customer(db, tenant, admin)
    assert (await admin.post("/v1/messages", offer(cid, locale="en"))).status_code == 201
    senders = simulated_senders()
    await messages.deliver_due_messages(db, senders)
    assert senders[Medium.SMS].journal[0].text == (
        "An offer on the DRESS-1-M you tried on at Xuhui: coupon TRY-ABC, valid for 7 days."
    )


async def test_an_offer_without_consent_is_refused_and_nothing_is_queued(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    cid = await consenting_customer(db, tenant, admin)
    refused = await admin.post("/v1/messages", offer(cid, medium="wechat_template"))
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "no_consent"
    assert (await admin.get("/v1/messages")).json()["items"] == []


async def test_a_service_notice_needs_no_consent_but_every_parameter(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    await make_channels(db, tenant)
    cid = await make_customer(db, tenant, ident("wechat_openid", "o-1"))
    notice = {
        "customer_id": cid,
        "medium": "wechat_template",
        "template": "pickup_ready",
        "params": {"order": "ORD-1", "store": "Xuhui"},
    }
    missing = await admin.post("/v1/messages", notice)
    assert missing.status_code == 422, missing.text
    assert "code" in missing.json()["detail"]
    unknown = await admin.post("/v1/messages", {**notice, "template": "nope"})
    assert unknown.status_code == 422
    notice["params"] = {"order": "ORD-1", "store": "Xuhui", "code": "123456"}
    assert (await admin.post("/v1/messages", notice)).status_code == 201
    senders = simulated_senders()
    assert await messages.deliver_due_messages(db, senders) == 1
    assert senders[Medium.WECHAT_TEMPLATE].journal[0].text.endswith("取货码123456。")


async def test_a_failing_gateway_is_retried_with_growing_backoff_then_given_up(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    cid = await consenting_customer(db, tenant, admin)
    mid = (await admin.post("/v1/messages", offer(cid))).json()["id"]
    senders = simulated_senders()
    senders[Medium.SMS].fail_next = 2
    now = utcnow()
    assert await messages.deliver_due_messages(db, senders, now=now) == 0
    first = (await admin.get(f"/v1/messages/{mid}")).json()
    assert (first["status"], first["attempts"]) == ("pending", 1)
    assert dt.datetime.fromisoformat(first["next_attempt_at"]) == now + dt.timedelta(seconds=30)
    # Not due yet: nothing is tried.
    assert await messages.deliver_due_messages(db, senders, now=now + dt.timedelta(seconds=29)) == 0
    later = now + dt.timedelta(seconds=30)
    assert await messages.deliver_due_messages(db, senders, now=later) == 0
    second = (await admin.get(f"/v1/messages/{mid}")).json()
    assert second["attempts"] == 2
    assert dt.datetime.fromisoformat(second["next_attempt_at"]) == later + dt.timedelta(seconds=60)
    assert (
        await messages.deliver_due_messages(db, senders, now=later + dt.timedelta(seconds=60)) == 1
    )
    assert (await admin.get(f"/v1/messages/{mid}")).json()["status"] == "sent"

    mid2 = (await admin.post("/v1/messages", offer(cid))).json()["id"]
    senders[Medium.SMS].fail_next = MAX_ATTEMPTS
    when = utcnow()
    for _ in range(MAX_ATTEMPTS):
        await messages.deliver_due_messages(db, senders, now=when)
        when += dt.timedelta(hours=2)
    gave_up = (await admin.get(f"/v1/messages/{mid2}")).json()
    assert (gave_up["status"], gave_up["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert "unavailable" in gave_up["last_error"]
    assert await messages.deliver_due_messages(db, senders, now=when) == 0


async def test_consent_withdrawn_before_sending_stops_the_offer(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    cid = await consenting_customer(db, tenant, admin)
    mid = (await admin.post("/v1/messages", offer(cid))).json()["id"]
    withdrawn = await admin.client.put(
        f"/v1/customers/{cid}/consents/sms",
        json={"granted": False, "source": "replied TD"},
        headers=admin.headers(),
    )
    assert withdrawn.status_code == 200
    senders = simulated_senders()
    assert await messages.deliver_due_messages(db, senders) == 0
    assert senders[Medium.SMS].journal == []
    shown = (await admin.get(f"/v1/messages/{mid}")).json()
    assert (shown["status"], shown["last_error"]) == ("failed", "consent withdrawn before sending")


async def test_a_dedupe_key_queues_a_message_once(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    cid = await consenting_customer(db, tenant, admin)
    params = {"store": "Xuhui", "sku": "S", "coupon": "C", "days": "7"}
    ids = set()
    for _ in range(2):
        async with db.uow(tenant.id) as uow:
            out = await messages.do_queue_message(
                uow,
                customer_id=cid,
                medium=Medium.SMS,
                template_code="tryon_coupon",
                params=params,
                dedupe_key="campaign-1:cus:S",
            )
        ids.add(out.id)
    assert len(ids) == 1
    listed = (await admin.get("/v1/messages", customer_id=cid)).json()["items"]
    assert [m["id"] for m in listed] == list(ids)


async def test_store_and_channel_keys_may_not_message_customers(
    admin: Api, client: httpx.AsyncClient, db: Database, tenant: TenantHandle
) -> None:
    cid = await consenting_customer(db, tenant, admin)
    channel = Api(client, await make_key(db, tenant, Role.CHANNEL, channel="app"))
    assert (await channel.post("/v1/messages", offer(cid))).status_code == 403
    assert (await channel.get("/v1/messages")).status_code == 403
    assert (await admin.get("/v1/messages")).json()["items"] == []


@pytest.mark.pg_only
async def test_two_workers_at_once_send_each_message_once(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    cid = await consenting_customer(db, tenant, admin)
    for _ in range(10):
        assert (await admin.post("/v1/messages", offer(cid))).status_code == 201
    senders = simulated_senders()
    sent = await asyncio.gather(*(messages.deliver_due_messages(db, senders) for _ in range(4)))
    assert sum(sent) == 10
    assert len(senders[Medium.SMS].journal) == 10
    assert len({d.message_id for d in senders[Medium.SMS].journal}) == 10


async def test_another_tenants_message_is_not_found(
    admin: Api, client: httpx.AsyncClient, db: Database, tenant: TenantHandle,
    other_tenant: TenantHandle,
) -> None:  # fmt: skip
    cid = await consenting_customer(db, tenant, admin)
    mid = (await admin.post("/v1/messages", offer(cid))).json()["id"]
    rival = Api(client, other_tenant.admin_key)
    assert (await rival.get(f"/v1/messages/{mid}")).status_code == 404
    assert (await rival.get("/v1/messages")).json()["items"] == []
    assert (await rival.get("/v1/messages", customer_id=cid)).status_code == 404
    assert (await rival.post("/v1/messages", offer(cid))).status_code == 404


async def test_the_job_runner_sends_due_messages(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    cid = await consenting_customer(db, tenant, admin)
    mid = (await admin.post("/v1/messages", offer(cid))).json()["id"]
    senders = simulated_senders()
    jobs = build_jobs({}, senders=senders)
    assert {"deliver messages", "evaluate campaigns"} <= {job.name for job in jobs}
    await run_due(db, jobs, {}, 0.0)
    assert [d.message_id for d in senders[Medium.SMS].journal] == [mid]
    assert (await admin.get(f"/v1/messages/{mid}")).json()["status"] == "sent"
