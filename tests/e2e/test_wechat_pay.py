"""WeChat Pay APIv3 notifications: only a notification signed by the platform certificate we
hold, fresh, decrypting under our APIv3 key and for the right amount settles a payment."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from omniretail.db import Database, utcnow
from omniretail.payments.wechatpay import Merchant, WeChatPayProvider, certificate_serial
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world

MCHID = "1900000109"


class FakeWeChatPay:
    """Plays WeChat Pay with keys made for the test: signs and encrypts notifications."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        self.api_v3_key = secrets.token_hex(16).encode()  # 32 ASCII bytes, as WeChat issues

    def provider(self) -> WeChatPayProvider:
        merchant_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return WeChatPayProvider(
            mchid=MCHID,
            api_v3_key=self.api_v3_key,
            platform_certificates=[self.cert],
            merchant=Merchant(
                appid="wxd678efh567hg6787", serial_no="5157F09E", private_key=merchant_key
            ),
        )

    def notification(
        self,
        out_trade_no: str,
        total: int,
        *,
        at: dt.datetime | None = None,
        state: str = "SUCCESS",
    ) -> tuple[bytes, dict[str, str]]:
        transaction = {
            "appid": "wxd678efh567hg6787",
            "mchid": MCHID,
            "out_trade_no": out_trade_no,
            "transaction_id": "4200000000" + secrets.token_hex(5),
            "trade_type": "JSAPI",
            "trade_state": state,
            "success_time": "2026-11-26T10:00:00+08:00",
            "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            "amount": {"total": total, "payer_total": total, "currency": "CNY"},
        }
        nonce = secrets.token_hex(6)
        sealed = AESGCM(self.api_v3_key).encrypt(
            nonce.encode(), json.dumps(transaction).encode(), b"transaction"
        )
        body = json.dumps(
            {
                "id": secrets.token_hex(8),
                "create_time": "2026-11-26T10:00:01+08:00",
                "event_type": "TRANSACTION.SUCCESS",
                "resource_type": "encrypt-resource",
                "summary": "支付成功",
                "resource": {
                    "original_type": "transaction",
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(sealed).decode(),
                    "associated_data": "transaction",
                    "nonce": nonce,
                },
            }
        ).encode()
        timestamp = str(int((at or utcnow()).timestamp()))
        header_nonce = secrets.token_hex(8)
        message = f"{timestamp}\n{header_nonce}\n".encode() + body + b"\n"
        signature = self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return body, {
            "Wechatpay-Serial": certificate_serial(self.cert),
            "Wechatpay-Signature": base64.b64encode(signature).decode(),
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": header_nonce,
            "Content-Type": "application/json",
        }


@pytest.fixture
def wechat() -> FakeWeChatPay:
    return FakeWeChatPay()


@pytest.fixture
async def world(
    app: FastAPI, admin: Api, db: Database, tenant: TenantHandle, wechat: FakeWeChatPay
) -> World:
    app.state.payment_providers["wechat_pay"] = wechat.provider()
    return await build_world(admin, db, tenant)


async def _pending_order(world: World) -> tuple[str, str]:
    await world.stock("ST-A", "TEE-S", 1)
    placed = await world.order(payments=[{"method": "wechat_pay", "amount": 9900}])
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "pending_payment"
    ref = order["payments"][0]["provider_ref"]
    assert ref.startswith("wxp:")
    return order["id"], ref.removeprefix("wxp:")


async def _notify(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> Any:
    return await client.post("/v1/payments/wechat_pay/notify", content=body, headers=headers)


async def _status(world: World, order_id: str) -> tuple[str, int]:
    order = (await world.admin.get(f"/v1/orders/{order_id}")).json()
    return order["status"], order["totals"]["paid"]


async def test_a_valid_notification_confirms_the_order(world: World, wechat: FakeWeChatPay) -> None:
    order_id, trade_no = await _pending_order(world)
    response = await _notify(world.admin.client, *wechat.notification(trade_no, 9900))
    assert response.status_code == 204, response.text
    assert await _status(world, order_id) == ("confirmed", 9900)
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 1}


async def test_a_tampered_body_is_refused(world: World, wechat: FakeWeChatPay) -> None:
    order_id, trade_no = await _pending_order(world)
    body, headers = wechat.notification(trade_no, 9900)
    tampered = body.replace(b'"id": "', b'"id": "x', 1)
    assert tampered != body
    response = await _notify(world.admin.client, tampered, headers)
    assert response.status_code == 401
    assert response.json()["code"] == "notification_invalid"
    assert await _status(world, order_id) == ("pending_payment", 0)


async def test_a_notification_signed_under_an_unknown_serial_is_refused(
    world: World, wechat: FakeWeChatPay
) -> None:
    order_id, trade_no = await _pending_order(world)
    body, headers = wechat.notification(trade_no, 9900)
    response = await _notify(
        world.admin.client,
        body,
        {**headers, "Wechatpay-Serial": "5157F09EFDC096DE15EBE81A47057A72"},
    )
    assert response.status_code == 401
    impostor = FakeWeChatPay()
    impostor.api_v3_key = wechat.api_v3_key
    forged_body, forged = impostor.notification(trade_no, 9900)
    forged["Wechatpay-Serial"] = certificate_serial(wechat.cert)  # right serial, wrong key
    assert (await _notify(world.admin.client, forged_body, forged)).status_code == 401
    assert await _status(world, order_id) == ("pending_payment", 0)


async def test_a_notification_for_the_wrong_amount_is_refused(
    world: World, wechat: FakeWeChatPay
) -> None:
    order_id, trade_no = await _pending_order(world)
    response = await _notify(world.admin.client, *wechat.notification(trade_no, 1))
    assert response.status_code == 422
    assert await _status(world, order_id) == ("pending_payment", 0)


async def test_a_replayed_notification_is_refused_or_changes_nothing(
    world: World, wechat: FakeWeChatPay
) -> None:
    order_id, trade_no = await _pending_order(world)
    stale = wechat.notification(trade_no, 9900, at=utcnow() - dt.timedelta(minutes=10))
    assert (await _notify(world.admin.client, *stale)).status_code == 401
    assert await _status(world, order_id) == ("pending_payment", 0)
    fresh = wechat.notification(trade_no, 9900)
    assert (await _notify(world.admin.client, *fresh)).status_code == 204
    assert (await _notify(world.admin.client, *fresh)).status_code == 204
    assert await _status(world, order_id) == ("confirmed", 9900)


async def test_a_resource_sealed_with_another_apiv3_key_is_refused(
    world: World, wechat: FakeWeChatPay
) -> None:
    order_id, trade_no = await _pending_order(world)
    wechat_other_key = FakeWeChatPay()
    wechat_other_key.key, wechat_other_key.cert = wechat.key, wechat.cert
    response = await _notify(world.admin.client, *wechat_other_key.notification(trade_no, 9900))
    assert response.status_code == 401
    assert await _status(world, order_id) == ("pending_payment", 0)
