"""WeChat Pay and Alipay for real, against loopback fakes that verify our signatures: placing
a payment (the mini-program's wx.requestPayment parameters, Alipay's order string and QR code),
and refunds recorded with the change that owes them and sent after commit by the worker job,
once, believed only when the gateway's signature verifies, and kept when the gateway is down."""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from fastapi import FastAPI

from omniretail.db import Database, utcnow
from omniretail.events import OutboxEvent
from omniretail.payments.alipay import fen_to_yuan, signed_content, yuan_to_fen
from omniretail.payments.models import GatewayRefund
from omniretail.payments.refunds import MAX_ATTEMPTS, QUERY_AFTER, send_due_refunds
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world
from tests.payment_fakes import (
    ALIPAY_APP_ID,
    APPID,
    MCHID,
    FakeAlipay,
    FakeWeChatPay,
    closed_port_url,
    verifies,
)

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def _pending(world: World, method: str, amount: int = 9900) -> dict[str, Any]:
    await world.stock("ST-A", "TEE-S", 1)
    placed = await world.order(payments=[{"method": method, "amount": amount}])
    assert placed.status_code == 201, placed.text
    order: dict[str, Any] = placed.json()
    assert order["status"] == "pending_payment"
    return order


async def _paid_wechat(world: World, wechat: FakeWeChatPay) -> tuple[str, str]:
    order = await _pending(world, "wechat_pay")
    ref = order["payments"][0]["provider_ref"]
    body, headers = wechat.paid(ref.removeprefix("wxp:"), 9900)
    notified = await world.admin.client.post(
        "/v1/payments/wechat_pay/notify", content=body, headers=headers
    )
    assert notified.status_code == 204, notified.text
    return order["id"], ref


async def _cancel(world: World, order_id: str) -> None:
    cancelled = await world.admin.post(f"/v1/orders/{order_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["payments"][0]["refunded_amount"] == 9900


async def _refunds(db: Database, tenant: TenantHandle) -> list[GatewayRefund]:
    async with db.uow(tenant.id, read_only=True) as uow:
        rows = await uow.session.scalars(sa.select(GatewayRefund).order_by(GatewayRefund.id))
        return list(rows)


async def _events(db: Database, tenant: TenantHandle, type_: str) -> list[dict[str, Any]]:
    async with db.uow(tenant.id, read_only=True) as uow:
        rows = await uow.session.scalars(sa.select(OutboxEvent).where(OutboxEvent.type == type_))
        return [row.payload for row in rows]


# --- placing a payment ----------------------------------------------------------------------


async def test_wechat_pay_prepay_gives_parameters_that_verify(
    world: World, wechat: FakeWeChatPay
) -> None:
    order = await _pending(world, "wechat_pay")
    ref = order["payments"][0]["provider_ref"]
    response = await world.admin.post(
        f"/v1/orders/{order['id']}/payments/wechat_pay/jsapi", {"openid": OPENID}
    )
    assert response.status_code == 200, response.text
    params = response.json()
    # The fake took the prepay only after our Authorization signature verified.
    assert wechat.refused == []
    [(_, path, sent)] = wechat.requests
    assert path == "/v3/pay/transactions/jsapi"
    assert sent is not None
    assert sent["appid"] == APPID
    assert sent["mchid"] == MCHID
    assert sent["out_trade_no"] == ref.removeprefix("wxp:")
    assert sent["amount"] == {"total": 9900, "currency": "CNY"}
    assert sent["payer"] == {"openid": OPENID}
    assert sent["notify_url"].endswith("/v1/payments/wechat_pay/notify")
    prepay_id = wechat.prepay_ids[sent["out_trade_no"]]
    assert params["provider_ref"] == ref
    assert (params["appId"], params["package"], params["signType"]) == (
        APPID,
        f"prepay_id={prepay_id}",
        "RSA",
    )
    message = (
        f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    )
    assert verifies(wechat.merchant_key.public_key(), params["paySign"], message.encode())
    assert not verifies(wechat.platform_key.public_key(), params["paySign"], message.encode())


async def test_prepay_with_a_bad_answer_signature_or_the_gateway_down_is_503_not_500(
    world: World, wechat: FakeWeChatPay, app: FastAPI
) -> None:
    order = await _pending(world, "wechat_pay")
    path = f"/v1/orders/{order['id']}/payments/wechat_pay/jsapi"
    wechat.answer_key = wechat.merchant_key  # not the platform certificate's key
    refused = await world.admin.post(path, {"openid": OPENID})
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "payment_gateway_unavailable"
    assert "prepay_id" not in refused.text
    app.state.payment_providers["wechat_pay"].base_url = closed_port_url()
    down = await world.admin.post(path, {"openid": OPENID})
    assert down.status_code == 503, down.text
    assert down.headers["content-type"].startswith("application/problem+json")


async def test_prepay_for_an_order_that_waits_for_no_wechat_payment_is_409(
    world: World, wechat: FakeWeChatPay
) -> None:
    order = await _pending(world, "sandbox")
    response = await world.admin.post(
        f"/v1/orders/{order['id']}/payments/wechat_pay/jsapi", {"openid": OPENID}
    )
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "nothing_to_pay"
    assert wechat.requests == []


async def test_alipay_app_order_string_is_signed_and_the_qr_code_comes_from_alipay(
    world: World, ali: FakeAlipay
) -> None:
    order = await _pending(world, "alipay", amount=9900)
    ref = order["payments"][0]["provider_ref"]
    app_pay = await world.admin.post(f"/v1/orders/{order['id']}/payments/alipay/app")
    assert app_pay.status_code == 200, app_pay.text
    params = dict(parse_qsl(app_pay.json()["order_string"], strict_parsing=True))
    assert (params["method"], params["app_id"], params["sign_type"]) == (
        "alipay.trade.app.pay",
        ALIPAY_APP_ID,
        "RSA2",
    )
    assert params["notify_url"].endswith("/v1/payments/alipay/notify")
    biz = json.loads(params["biz_content"])
    assert biz["out_trade_no"] == ref.removeprefix("ali:")
    assert biz["total_amount"] == "99.00"
    assert biz["product_code"] == "QUICK_MSECURITY_PAY"
    content = signed_content(params, leave_out=frozenset({"sign"}))
    assert verifies(ali.merchant_key.public_key(), params["sign"], content.encode())
    assert ali.requests == []  # the app sends it; we called no one

    qr = await world.admin.post(f"/v1/orders/{order['id']}/payments/alipay/qr")
    assert qr.status_code == 200, qr.text
    assert qr.json()["qr_code"].startswith("https://qr.alipay.com/")
    [sent] = ali.requests
    assert sent["method"] == "alipay.trade.precreate"
    assert json.loads(sent["biz_content"])["total_amount"] == "99.00"


# --- refunds ---------------------------------------------------------------------------------


async def test_a_wechat_refund_is_sent_after_commit_once_even_when_retried(
    world: World, wechat: FakeWeChatPay, db: Database, tenant: TenantHandle, app: FastAPI
) -> None:
    order_id, ref = await _paid_wechat(world, wechat)
    await _cancel(world, order_id)
    # The cancellation's transaction called no one: the refund is a recorded request.
    assert [r for r in wechat.requests if "refund" in r[1]] == []
    [row] = await _refunds(db, tenant)
    assert (row.status, row.amount, row.total, row.provider_ref) == ("pending", 9900, 9900, ref)

    providers = app.state.payment_providers
    now = utcnow()
    wechat.lose_answers = 1  # WeChat Pay refunds, but the answer is lost on the way
    assert await send_due_refunds(db, providers, now=now) == 0
    [row] = await _refunds(db, tenant)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at is not None
    assert row.next_attempt_at > now
    assert await send_due_refunds(db, providers, now=now) == 0  # not due yet: nothing sent
    assert await send_due_refunds(db, providers, now=row.next_attempt_at) == 1

    sent = [body for _, path, body in wechat.requests if path == "/v3/refund/domestic/refunds"]
    assert len(sent) == 2
    assert sent[0] == sent[1]
    assert sent[0] is not None
    assert sent[0]["out_trade_no"] == ref.removeprefix("wxp:")
    assert sent[0]["amount"] == {"refund": 9900, "total": 9900, "currency": "CNY"}
    assert wechat.refunded == {row.out_refund_no: 9900}  # the money went back once
    assert wechat.refused == []
    [row] = await _refunds(db, tenant)
    assert (row.status, row.gateway_refund_id) == ("succeeded", "50000" + row.out_refund_no[-10:])
    [event] = await _events(db, tenant, "payment.refund_succeeded")
    assert (event["out_refund_no"], event["amount"]) == (row.out_refund_no, 9900)
    # Settled: later passes send nothing.
    assert await send_due_refunds(db, providers, now=now + dt.timedelta(days=1)) == 0
    assert len(wechat.requests) == 2  # the two tries of the one refund, nothing else


async def test_a_refund_answer_with_a_bad_signature_is_not_taken_as_success(
    world: World, wechat: FakeWeChatPay, db: Database, tenant: TenantHandle, app: FastAPI
) -> None:
    order_id, _ = await _paid_wechat(world, wechat)
    await _cancel(world, order_id)
    wechat.answer_key = wechat.merchant_key  # someone else's signature on "SUCCESS"
    now = utcnow()
    assert await send_due_refunds(db, app.state.payment_providers, now=now) == 0
    [row] = await _refunds(db, tenant)
    assert row.status == "pending"
    assert row.last_error is not None
    assert "not believed" in row.last_error
    assert await _events(db, tenant, "payment.refund_succeeded") == []
    wechat.answer_key = wechat.platform_key
    assert row.next_attempt_at is not None
    assert await send_due_refunds(db, app.state.payment_providers, now=row.next_attempt_at) == 1
    [row] = await _refunds(db, tenant)
    assert row.status == "succeeded"
    assert list(wechat.refunded.values()) == [9900]


async def test_gateway_down_the_refund_waits_and_is_sent_when_it_is_back(
    world: World, wechat: FakeWeChatPay, db: Database, tenant: TenantHandle, app: FastAPI
) -> None:
    provider = app.state.payment_providers["wechat_pay"]
    live, provider.base_url = provider.base_url, closed_port_url()
    order_id, _ = await _paid_wechat(world, wechat)
    await _cancel(world, order_id)  # 200 to the client: the gateway is not on its path
    now = utcnow()
    for _ in range(3):
        [row] = await _refunds(db, tenant)
        assert row.next_attempt_at is not None
        now = row.next_attempt_at
        assert await send_due_refunds(db, app.state.payment_providers, now=now) == 0
    [row] = await _refunds(db, tenant)
    assert (row.status, row.attempts) == ("pending", 3)
    assert row.last_error is not None
    assert "ConnectError" in row.last_error
    assert row.next_attempt_at is not None
    assert row.next_attempt_at - now == dt.timedelta(seconds=120)  # backoff: 30 s, 60 s, 120 s
    provider.base_url = live
    assert await send_due_refunds(db, app.state.payment_providers, now=row.next_attempt_at) == 1
    [row] = await _refunds(db, tenant)
    assert row.status == "succeeded"
    assert list(wechat.refunded.values()) == [9900]


async def test_a_refund_never_answered_is_given_up_for_a_person_after_many_tries(
    world: World, wechat: FakeWeChatPay, db: Database, tenant: TenantHandle, app: FastAPI
) -> None:
    app.state.payment_providers["wechat_pay"].base_url = closed_port_url()
    order_id, _ = await _paid_wechat(world, wechat)
    await _cancel(world, order_id)
    for _ in range(MAX_ATTEMPTS):
        [row] = await _refunds(db, tenant)
        assert row.status == "pending"
        assert row.next_attempt_at is not None
        await send_due_refunds(db, app.state.payment_providers, now=row.next_attempt_at)
    [row] = await _refunds(db, tenant)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", MAX_ATTEMPTS, None)


async def test_a_processing_refund_is_settled_by_wechats_notification_or_by_a_query(
    world: World, wechat: FakeWeChatPay, db: Database, tenant: TenantHandle, app: FastAPI
) -> None:
    wechat.refund_status = "PROCESSING"
    first, _ = await _paid_wechat(world, wechat)
    await _cancel(world, first)
    now = utcnow()
    await send_due_refunds(db, app.state.payment_providers, now=now)
    [row] = await _refunds(db, tenant)
    assert row.status == "processing"
    body, headers = wechat.refund_done(row.out_refund_no)
    for _ in range(2):  # a repeated notification changes nothing
        notified = await world.admin.client.post(
            "/v1/payments/wechat_pay/notify", content=body, headers=headers
        )
        assert notified.status_code == 204, notified.text
    [row] = await _refunds(db, tenant)
    assert row.status == "succeeded"
    assert len(await _events(db, tenant, "payment.refund_succeeded")) == 1

    second, _ = await _paid_wechat(world, wechat)
    await _cancel(world, second)
    now = utcnow()
    await send_due_refunds(db, app.state.payment_providers, now=now)
    _, row = await _refunds(db, tenant)
    assert row.status == "processing"
    wechat.refund_status = "SUCCESS"  # done at WeChat Pay; no notification reaches us
    assert await send_due_refunds(db, app.state.payment_providers, now=now + QUERY_AFTER) == 1
    _, row = await _refunds(db, tenant)
    assert row.status == "succeeded"
    assert ("GET", f"/v3/refund/domestic/refunds/{row.out_refund_no}", None) in wechat.requests
    assert len(wechat.refunded) == 2


async def test_an_alipay_refund_is_sent_signed_once_and_confirmed_by_query_on_a_retry(
    world: World, ali: FakeAlipay, db: Database, tenant: TenantHandle, app: FastAPI
) -> None:
    order = await _pending(world, "alipay")
    trade_no = order["payments"][0]["provider_ref"].removeprefix("ali:")
    ali_notification = _alipay_paid(ali, trade_no, "99.00")
    paid = await world.admin.client.post(
        "/v1/payments/alipay/notify",
        content=ali_notification,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (paid.status_code, paid.text) == (200, "success")
    await _cancel(world, order["id"])
    assert ali.requests == []
    now = utcnow()
    ali.answer_key = ali.merchant_key  # a forged "fund_change Y" is not believed
    assert await send_due_refunds(db, app.state.payment_providers, now=now) == 0
    [row] = await _refunds(db, tenant)
    assert row.status == "pending"
    ali.answer_key = ali.alipay_key
    # This try finds the refund already made by the last one (fund_change N): the query says.
    assert row.next_attempt_at is not None
    assert await send_due_refunds(db, app.state.payment_providers, now=row.next_attempt_at) == 0
    [row] = await _refunds(db, tenant)
    assert row.status == "processing"
    assert row.next_attempt_at is not None
    assert await send_due_refunds(db, app.state.payment_providers, now=row.next_attempt_at) == 1
    [row] = await _refunds(db, tenant)
    assert row.status == "succeeded"
    methods = [r["method"] for r in ali.requests]
    assert methods == [
        "alipay.trade.refund",
        "alipay.trade.refund",
        "alipay.trade.fastpay.refund.query",
    ]
    biz = json.loads(ali.requests[0]["biz_content"])
    assert biz == {
        "out_trade_no": trade_no,
        "refund_amount": "99.00",
        "out_request_no": row.out_refund_no,
    }
    assert ali.refunded == {row.out_refund_no: 9900}
    assert ali.refused == []


def _alipay_paid(ali: FakeAlipay, out_trade_no: str, total: str) -> bytes:
    params = {
        "app_id": ALIPAY_APP_ID,
        "charset": "utf-8",
        "sign_type": "RSA2",
        "notify_type": "trade_status_sync",
        "out_trade_no": out_trade_no,
        "trade_no": "2026112722001",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": total,
    }
    content = signed_content(params, leave_out=frozenset({"sign", "sign_type"}))
    sig = ali.alipay_key.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())
    return urlencode({**params, "sign": base64.b64encode(sig).decode()}).encode()


@pytest.mark.parametrize("fen", [1, 10, 99, 100, 9900, 10001, 123456789, 10**12 + 1])
def test_fen_and_yuan_convert_exactly(fen: int) -> None:
    text = fen_to_yuan(fen)
    assert Decimal(text) == Decimal(fen) / 100
    assert yuan_to_fen(text) == fen
