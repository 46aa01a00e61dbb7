"""Loopback fakes of WeChat Pay APIv3 and Alipay's gateway, served by uvicorn on 127.0.0.1
inside the test. Each VERIFIES our request signatures with the keys the test generated
(refusing what does not verify, as the real ones do) and answers signed as the real ones sign.
They keep a ledger of the money refunded, one entry per refund number, as the gateways do."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import re
import secrets
import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omniretail.payments.alipay import AlipayProvider, signed_content
from omniretail.payments.wechatpay import Merchant, WeChatPayProvider, certificate_serial

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
ALIPAY_APP_ID = "2021000117600000"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed(key: rsa.RSAPrivateKey, name: str) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verifies(key: rsa.RSAPublicKey, signature: str, message: bytes) -> bool:
    try:
        key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port for the block; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def closed_port_url() -> str:
    """A loopback address nothing listens on: a gateway that is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeWeChatPay:
    """WeChat Pay APIv3: JSAPI prepay, refunds and their query, notifications."""

    def __init__(self) -> None:
        self.platform_key = rsa_key()
        self.platform_cert = self_signed(self.platform_key, "Tenpay.com Root CA")
        self.merchant_key = rsa_key()
        self.merchant_serial = certificate_serial(self_signed(self.merchant_key, MCHID))
        self.api_v3_key = secrets.token_hex(16).encode()
        self.answer_key = self.platform_key  # what signs the answers (a test may swap it)
        self.refund_status = "SUCCESS"  # or PROCESSING: finished later (notification, query)
        self.lose_answers = 0  # do the work, then answer 503 this many times
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []
        self.refused: list[str] = []
        self.refunded: dict[str, int] = {}  # out_refund_no -> fen: the money that went back
        self.prepay_ids: dict[str, str] = {}
        self.refund_orders: dict[str, dict[str, Any]] = {}  # out_refund_no -> what was asked
        self.app = Starlette(
            routes=[
                Route("/v3/pay/transactions/jsapi", self._jsapi, methods=["POST"]),
                Route("/v3/refund/domestic/refunds", self._refund, methods=["POST"]),
                Route("/v3/refund/domestic/refunds/{no}", self._query, methods=["GET"]),
            ]
        )

    def provider(
        self, base_url: str = "http://127.0.0.1:9", notify_url: str = ""
    ) -> WeChatPayProvider:
        return WeChatPayProvider(
            mchid=MCHID,
            api_v3_key=self.api_v3_key,
            platform_certificates=[self.platform_cert],
            merchant=Merchant(
                appid=APPID, serial_no=self.merchant_serial, private_key=self.merchant_key
            ),
            base_url=base_url,
            notify_url=notify_url or "https://shop.example.com/v1/payments/wechat_pay/notify",
            timeout_seconds=2.0,
        )

    # --- the gateway --------------------------------------------------------------------

    async def _verified(self, request: Request) -> tuple[bytes, Response | None]:
        body = await request.body()
        header = request.headers.get("authorization", "")
        schema, _, rest = header.partition(" ")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        raw_path = request.scope["raw_path"].decode()
        query = request.scope["query_string"].decode()
        path = raw_path + (f"?{query}" if query else "")
        message = (
            (
                f"{request.method}\n{path}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n"
            ).encode()
            + body
            + b"\n"
        )
        ok = (
            schema == "WECHATPAY2-SHA256-RSA2048"
            and fields.get("mchid") == MCHID
            and fields.get("serial_no") == self.merchant_serial
            and abs(int(fields.get("timestamp") or 0) - dt.datetime.now(dt.UTC).timestamp()) < 300
            and verifies(self.merchant_key.public_key(), fields.get("signature", ""), message)
        )
        if not ok:
            self.refused.append(path)
            return body, self.answer(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        return body, None

    def answer(self, status: int, payload: dict[str, Any]) -> Response:
        body = json.dumps(payload, ensure_ascii=False).encode()
        timestamp, nonce = str(int(dt.datetime.now(dt.UTC).timestamp())), secrets.token_hex(16)
        message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
        return Response(
            body,
            status_code=status,
            media_type="application/json",
            headers={
                "Wechatpay-Serial": certificate_serial(self.platform_cert),
                "Wechatpay-Signature": sign(self.answer_key, message),
                "Wechatpay-Timestamp": timestamp,
                "Wechatpay-Nonce": nonce,
                "Request-ID": secrets.token_hex(8),
            },
        )

    def _lost(self) -> Response | None:
        if self.lose_answers:
            self.lose_answers -= 1
            return Response(b"upstream timed out", status_code=503)
        return None

    async def _jsapi(self, request: Request) -> Response:
        body, refused = await self._verified(request)
        if refused:
            return refused
        order = json.loads(body)
        self.requests.append(("POST", "/v3/pay/transactions/jsapi", order))
        prepay_id = self.prepay_ids.setdefault(order["out_trade_no"], "wx" + secrets.token_hex(16))
        return self.answer(200, {"prepay_id": prepay_id})

    def _refund_state(self, no: str, order: dict[str, Any]) -> dict[str, Any]:
        return {
            "refund_id": "50000" + no[-10:],
            "out_refund_no": no,
            "out_trade_no": order["out_trade_no"],
            "status": self.refund_status,
            "amount": {
                "refund": order["amount"]["refund"],
                "total": order["amount"]["total"],
                "currency": "CNY",
            },
        }

    async def _refund(self, request: Request) -> Response:
        body, refused = await self._verified(request)
        if refused:
            return refused
        order = json.loads(body)
        self.requests.append(("POST", "/v3/refund/domestic/refunds", order))
        no = order["out_refund_no"]
        # The same out_refund_no is the same refund: the money goes back once.
        self.refunded.setdefault(no, order["amount"]["refund"])
        self.refund_orders.setdefault(no, order)
        return self._lost() or self.answer(200, self._refund_state(no, order))

    async def _query(self, request: Request) -> Response:
        _, refused = await self._verified(request)
        if refused:
            return refused
        no = request.path_params["no"]
        self.requests.append(("GET", f"/v3/refund/domestic/refunds/{no}", None))
        order = self.refund_orders.get(no)
        if order is None:
            return self.answer(404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"})
        return self.answer(200, self._refund_state(no, order))

    # --- notifications ------------------------------------------------------------------

    def notification(
        self, event_type: str, resource: dict[str, Any]
    ) -> tuple[bytes, dict[str, str]]:
        nonce = secrets.token_hex(6)
        sealed = AESGCM(self.api_v3_key).encrypt(
            nonce.encode(), json.dumps(resource).encode(), b"refund"
        )
        body = json.dumps(
            {
                "id": secrets.token_hex(8),
                "create_time": "2026-11-27T10:00:01+08:00",
                "event_type": event_type,
                "resource_type": "encrypt-resource",
                "resource": {
                    "original_type": "refund" if event_type.startswith("REFUND") else "transaction",
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(sealed).decode(),
                    "associated_data": "refund",
                    "nonce": nonce,
                },
            }
        ).encode()
        timestamp, header_nonce = (
            str(int(dt.datetime.now(dt.UTC).timestamp())),
            secrets.token_hex(8),
        )
        message = f"{timestamp}\n{header_nonce}\n".encode() + body + b"\n"
        return body, {
            "Wechatpay-Serial": certificate_serial(self.platform_cert),
            "Wechatpay-Signature": sign(self.platform_key, message),
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": header_nonce,
            "Content-Type": "application/json",
        }

    def paid(self, out_trade_no: str, total: int) -> tuple[bytes, dict[str, str]]:
        return self.notification(
            "TRANSACTION.SUCCESS",
            {
                "appid": APPID,
                "mchid": MCHID,
                "out_trade_no": out_trade_no,
                "transaction_id": "4200000000" + secrets.token_hex(5),
                "trade_type": "JSAPI",
                "trade_state": "SUCCESS",
                "amount": {"total": total, "payer_total": total, "currency": "CNY"},
            },
        )

    def refund_done(
        self, out_refund_no: str, status: str = "SUCCESS"
    ) -> tuple[bytes, dict[str, str]]:
        order = self.refund_orders[out_refund_no]
        return self.notification(
            f"REFUND.{status}",
            {
                "mchid": MCHID,
                "out_trade_no": order["out_trade_no"],
                "out_refund_no": out_refund_no,
                "refund_id": "50000" + out_refund_no[-10:],
                "refund_status": status,
                "amount": {"total": order["amount"]["total"], "refund": order["amount"]["refund"]},
            },
        )


def yuan(text: str) -> int:
    return int(Decimal(text) * 100)


class FakeAlipay:
    """Alipay's open gateway: alipay.trade.refund, its query, precreate."""

    def __init__(self) -> None:
        self.alipay_key = rsa_key()
        self.merchant_key = rsa_key()
        self.answer_key = self.alipay_key
        self.requests: list[dict[str, str]] = []
        self.refused: list[str] = []
        self.refunded: dict[str, int] = {}  # out_request_no -> fen
        self.app = Starlette(routes=[Route("/gateway.do", self._gateway, methods=["POST"])])

    def provider(self, gateway_url: str = "http://127.0.0.1:9/gateway.do") -> AlipayProvider:
        return AlipayProvider(
            app_id=ALIPAY_APP_ID,
            alipay_public_key=self.alipay_key.public_key(),
            merchant_private_key=self.merchant_key,
            gateway_url=gateway_url,
            notify_url="https://shop.example.com/v1/payments/alipay/notify",
            timeout_seconds=2.0,
        )

    async def _gateway(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        params = {**dict(request.query_params), **form}
        content = signed_content(params, leave_out=frozenset({"sign"}))
        method = params.get("method", "")
        node = method.replace(".", "_") + "_response"
        if params.get("app_id") != ALIPAY_APP_ID or not verifies(
            self.merchant_key.public_key(), params.get("sign", ""), content.encode()
        ):
            self.refused.append(method)
            return self.answer(
                "error_response",
                {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"},
            )
        self.requests.append(params)
        biz = json.loads(params["biz_content"])
        if method == "alipay.trade.refund":
            new = biz["out_request_no"] not in self.refunded
            self.refunded.setdefault(biz["out_request_no"], yuan(biz["refund_amount"]))
            return self.answer(
                node,
                {
                    "code": "10000",
                    "msg": "Success",
                    "trade_no": "2026112722001",
                    "out_trade_no": biz["out_trade_no"],
                    "buyer_logon_id": "159****5620",
                    "fund_change": "Y" if new else "N",
                    "refund_fee": biz["refund_amount"],
                },
            )
        if method == "alipay.trade.fastpay.refund.query":
            done = self.refunded.get(biz["out_request_no"])
            found: dict[str, Any] = {"code": "10000", "msg": "Success"}
            if done is not None:
                found |= {
                    "out_request_no": biz["out_request_no"],
                    "refund_status": "REFUND_SUCCESS",
                    "refund_amount": f"{Decimal(done) / 100:.2f}",
                }
            return self.answer(node, found)
        if method == "alipay.trade.precreate":
            return self.answer(
                node,
                {
                    "code": "10000",
                    "msg": "Success",
                    "out_trade_no": biz["out_trade_no"],
                    "qr_code": "https://qr.alipay.com/bax" + secrets.token_hex(8),
                },
            )
        return self.answer("error_response", {"code": "40004", "msg": "Business Failed"})

    def answer(self, node: str, payload: dict[str, Any]) -> Response:
        # Alipay's own spacing and non-ASCII as sent: the signature is over this exact text.
        raw = json.dumps(payload, ensure_ascii=False, separators=(", ", ":"))
        signature = sign(self.answer_key, raw.encode())
        text = f'{{"{node}":{raw},"sign":"{signature}"}}'
        return Response(text.encode(), media_type="text/html;charset=utf-8")
