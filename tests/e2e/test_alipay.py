"""Alipay asynchronous notifications: only a form signed with Alipay's key (RSA2), for our app,
for a trade we know and for its exact amount settles a payment; refunds are signed requests."""

from __future__ import annotations

import base64
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI

from omniretail.db import Database
from omniretail.payments.alipay import AlipayProvider, signed_content
from omniretail.payments.models import GatewayRefund
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world

APP_ID = "2021000117600000"
SELLER_ID = "2088102119685838"


class FakeAlipay:
    """Plays Alipay with keys made for the test: signs notifications (sending requests to
    Alipay is tested against a loopback gateway in test_payment_gateways.py)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.merchant_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def provider(self) -> AlipayProvider:
        return AlipayProvider(
            app_id=APP_ID,
            alipay_public_key=self.key.public_key(),
            merchant_private_key=self.merchant_key,
            seller_id=SELLER_ID,
        )

    def notification(
        self,
        out_trade_no: str,
        total_amount: str,
        *,
        trade_status: str = "TRADE_SUCCESS",
        app_id: str = APP_ID,
        **extra: str,
    ) -> dict[str, str]:
        params = {
            "notify_time": "2026-11-27 18:10:49",
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "app_id": app_id,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "trade_no": "2026112722001" + secrets.token_hex(6),
            "out_trade_no": out_trade_no,
            "buyer_id": "2088102116773037",
            "seller_id": SELLER_ID,
            "trade_status": trade_status,
            "total_amount": total_amount,
            "receipt_amount": total_amount,
            "subject": "短袖T恤 S",
            "body": "",  # empty: left out of the signed content
            "gmt_create": "2026-11-27 18:10:44",
            "gmt_payment": "2026-11-27 18:10:47",
            **extra,
        }
        return self.sign(params)

    def sign(self, params: dict[str, str], key: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
        content = signed_content(params, leave_out=frozenset({"sign", "sign_type"}))
        signature = (key or self.key).sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())
        return {**params, "sign": base64.b64encode(signature).decode()}


@pytest.fixture
def ali() -> FakeAlipay:
    return FakeAlipay()


@pytest.fixture
async def world(
    app: FastAPI, admin: Api, db: Database, tenant: TenantHandle, ali: FakeAlipay
) -> World:
    app.state.payment_providers["alipay"] = ali.provider()
    return await build_world(admin, db, tenant)


async def _pending_order(world: World) -> tuple[str, str]:
    await world.stock("ST-A", "TEE-S", 1)
    placed = await world.order(payments=[{"method": "alipay", "amount": 9900}])
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "pending_payment"
    ref = order["payments"][0]["provider_ref"]
    assert ref.startswith("ali:")
    return order["id"], ref.removeprefix("ali:")


async def _notify(client: httpx.AsyncClient, params: dict[str, str]) -> Any:
    return await client.post(
        "/v1/payments/alipay/notify",
        content=urlencode(params).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )


async def _status(world: World, order_id: str) -> tuple[str, int]:
    order = (await world.admin.get(f"/v1/orders/{order_id}")).json()
    return order["status"], order["totals"]["paid"]


async def test_a_valid_notification_confirms_the_order_and_is_answered_success(
    world: World, ali: FakeAlipay
) -> None:
    order_id, trade_no = await _pending_order(world)
    response = await _notify(world.admin.client, ali.notification(trade_no, "99.00"))
    assert response.status_code == 200, response.text
    assert response.text == "success"
    assert response.headers["content-type"].startswith("text/plain")
    assert await _status(world, order_id) == ("confirmed", 9900)
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 1}


async def test_trade_finished_settles_too(world: World, ali: FakeAlipay) -> None:
    order_id, trade_no = await _pending_order(world)
    finished = ali.notification(trade_no, "99.00", trade_status="TRADE_FINISHED")
    assert (await _notify(world.admin.client, finished)).text == "success"
    assert await _status(world, order_id) == ("confirmed", 9900)


async def test_a_waiting_or_closed_trade_is_acknowledged_and_settles_nothing(
    world: World, ali: FakeAlipay
) -> None:
    order_id, trade_no = await _pending_order(world)
    for status in ("WAIT_BUYER_PAY", "TRADE_CLOSED"):
        waiting = ali.notification(trade_no, "99.00", trade_status=status)
        response = await _notify(world.admin.client, waiting)
        assert (response.status_code, response.text) == (200, "success")
    assert await _status(world, order_id) == ("pending_payment", 0)


async def test_a_tampered_parameter_is_refused_and_stores_nothing(
    world: World, ali: FakeAlipay
) -> None:
    order_id, trade_no = await _pending_order(world)
    for field, value in (("total_amount", "0.01"), ("subject", "T恤"), ("body", "added")):
        params = ali.notification(trade_no, "99.00")
        tampered = {**params, field: value}
        response = await _notify(world.admin.client, tampered)
        assert response.status_code == 401, field
        assert response.json()["code"] == "notification_invalid"
    assert await _status(world, order_id) == ("pending_payment", 0)


async def test_a_notification_signed_with_another_key_or_unsigned_is_refused(
    world: World, ali: FakeAlipay
) -> None:
    order_id, trade_no = await _pending_order(world)
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    params = ali.notification(trade_no, "99.00")
    forged = ali.sign({k: v for k, v in params.items() if k != "sign"}, impostor)
    assert (await _notify(world.admin.client, forged)).status_code == 401
    unsigned = {k: v for k, v in params.items() if k != "sign"}
    assert (await _notify(world.admin.client, unsigned)).status_code == 401
    rsa1 = {**params, "sign_type": "RSA"}  # outside the signed content, but only RSA2 is taken
    assert (await _notify(world.admin.client, rsa1)).status_code == 401
    assert await _status(world, order_id) == ("pending_payment", 0)


async def test_a_notification_for_another_app_is_refused(world: World, ali: FakeAlipay) -> None:
    order_id, trade_no = await _pending_order(world)
    other_app = ali.notification(trade_no, "99.00", app_id="2021000999999999")
    response = await _notify(world.admin.client, other_app)
    assert response.status_code == 401
    assert "another app" in response.json()["detail"]
    other_seller = ali.notification(trade_no, "99.00", seller_id="2088000000000001")
    assert (await _notify(world.admin.client, other_seller)).status_code == 401
    assert await _status(world, order_id) == ("pending_payment", 0)


async def test_a_notification_for_the_wrong_amount_is_refused(
    world: World, ali: FakeAlipay
) -> None:
    order_id, trade_no = await _pending_order(world)
    for amount in ("99.01", "9.90", "0.99"):
        response = await _notify(world.admin.client, ali.notification(trade_no, amount))
        assert response.status_code == 422, amount
    assert await _status(world, order_id) == ("pending_payment", 0)
    assert (await _notify(world.admin.client, ali.notification(trade_no, "99.00"))).is_success
    assert await _status(world, order_id) == ("confirmed", 9900)


async def test_an_amount_that_is_not_yuan_is_refused(world: World, ali: FakeAlipay) -> None:
    order_id, trade_no = await _pending_order(world)
    for amount in ("9.9e1", "99.000", "-99.00", "99,00", "\uff19\uff19.\uff10\uff10", ""):
        response = await _notify(world.admin.client, ali.notification(trade_no, amount))
        assert response.status_code == 401, amount
    assert await _status(world, order_id) == ("pending_payment", 0)


async def test_a_replayed_notification_changes_nothing(world: World, ali: FakeAlipay) -> None:
    order_id, trade_no = await _pending_order(world)
    params = ali.notification(trade_no, "99.00")
    for _ in range(3):
        response = await _notify(world.admin.client, params)
        assert (response.status_code, response.text) == (200, "success")
    assert await _status(world, order_id) == ("confirmed", 9900)
    order = (await world.admin.get(f"/v1/orders/{order_id}")).json()
    assert [p["status"] for p in order["payments"]] == ["captured"]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 1}


async def test_a_notification_for_an_unknown_trade_is_not_found(
    world: World, ali: FakeAlipay
) -> None:
    response = await _notify(world.admin.client, ali.notification("no-such-order", "99.00"))
    assert response.status_code == 404


async def test_alipay_is_not_found_when_not_configured(
    app: FastAPI, world: World, ali: FakeAlipay
) -> None:
    del app.state.payment_providers["alipay"]
    response = await _notify(world.admin.client, ali.notification("x", "99.00"))
    assert response.status_code == 404


async def test_a_gbk_notification_verifies_in_its_own_charset(
    world: World, ali: FakeAlipay
) -> None:
    order_id, trade_no = await _pending_order(world)
    params = ali.notification(trade_no, "99.00", charset="gbk")
    content = signed_content(params, leave_out=frozenset({"sign", "sign_type"}))
    signature = ali.key.sign(content.encode("gbk"), padding.PKCS1v15(), hashes.SHA256())
    body = urlencode({**params, "sign": base64.b64encode(signature).decode()}, encoding="gbk")
    response = await world.admin.client.post(
        "/v1/payments/alipay/notify",
        content=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=gbk"},
    )
    assert (response.status_code, response.text) == (200, "success")
    assert await _status(world, order_id) == ("confirmed", 9900)


async def test_cancelling_a_paid_order_records_the_refund_to_send_after_commit(
    world: World, ali: FakeAlipay, db: Database, tenant: TenantHandle
) -> None:
    order_id, trade_no = await _pending_order(world)
    assert (await _notify(world.admin.client, ali.notification(trade_no, "99.00"))).is_success
    cancelled = await world.admin.post(f"/v1/orders/{order_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["payments"][0]["refunded_amount"] == 9900
    async with db.uow(tenant.id, read_only=True) as uow:
        [refund] = (await uow.session.scalars(sa.select(GatewayRefund))).all()
    assert (refund.method, refund.provider_ref, refund.amount, refund.status) == (
        "alipay",
        f"ali:{trade_no}",
        9900,
        "pending",
    )
    assert len(refund.out_refund_no) == 32
