"""WeChat Pay APIv3 (mini-program and JSAPI payments): placing the prepay order, refunds,
and the notification check.

Requests to WeChat Pay carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,
nonce_str=.., timestamp=.., serial_no=.., signature=..``: a SHA256withRSA (PKCS#1 v1.5)
signature with the merchant's API private key over ``METHOD\nPATH?QUERY\ntimestamp\nnonce\n
body\n`` (the body empty for a GET); ``serial_no`` is the merchant certificate's serial.
Every answer and every notification is trusted only if (1) ``Wechatpay-Serial`` names a
platform certificate we hold, (2) ``Wechatpay-Timestamp`` is within five minutes of now,
(3) ``Wechatpay-Signature`` is a valid SHA256withRSA signature of ``timestamp\nnonce\nbody\n``
under that certificate's key; a notification's resource must also decrypt with AES-256-GCM
under the APIv3 key (nonce, associated data, 16-byte tag after the ciphertext). An answer that
fails these checks is not believed (:class:`GatewayUnavailable`): the caller tries again.

Amounts are integer fen, as WeChat Pay counts them. A repeated valid notification changes
nothing (settling is idempotent); a refund retried with its ``out_refund_no`` is paid once.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from omniretail.payments.gateway import (
    GatewayTender,
    GatewayUnavailable,
    PrepayRefused,
    RefundOrder,
    RefundOutcome,
    RefundState,
)
from omniretail.payments.providers import PaymentStatus

DEFAULT_BASE_URL = "https://api.mch.weixin.qq.com"
SCHEMA = "WECHATPAY2-SHA256-RSA2048"
USER_AGENT = "Omniretail-WeChatPay/1"
REPLAY_WINDOW = dt.timedelta(minutes=5)
REF_PREFIX = "wxp:"
REFUND_PREFIX = "wxp-refund:"
# A refund's status as WeChat Pay reports it (refund answers, queries and notifications).
REFUND_STATES = {
    "SUCCESS": RefundState.SUCCEEDED,
    "PROCESSING": RefundState.PROCESSING,
    "CLOSED": RefundState.FAILED,
    "ABNORMAL": RefundState.FAILED,  # the buyer's account cannot take it: a person decides
}
# Error codes that say "not now" rather than "no": the same request is tried again later.
RETRY_CODES = frozenset({"SYSTEM_ERROR", "FREQUENCY_LIMITED", "NOT_ENOUGH"})


@dataclass(frozen=True, slots=True)
class Merchant:
    """What signs our requests: the mini-program's (or official account's) appid, the
    merchant API certificate's serial number and its private key."""

    appid: str
    serial_no: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def from_pem(cls, *, appid: str, serial_no: str, private_key_pem: str) -> Merchant:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the WeChat Pay merchant API key is an RSA key")
        return cls(appid=appid, serial_no=serial_no.upper(), private_key=key)


class NotificationRefused(ValueError):
    """The notification is not provably from WeChat Pay (the reason says which check)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    provider_ref: str
    status: PaymentStatus
    amount: int
    transaction_id: str


@dataclass(frozen=True, slots=True)
class RefundVerdict:
    """A refund notification (``REFUND.*``): which refund, and how it ended."""

    out_refund_no: str
    state: RefundState
    refund_id: str


def certificate_serial(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "X")


class WeChatPayProvider(GatewayTender):
    method = "wechat_pay"
    ref_prefix = REF_PREFIX

    def __init__(
        self,
        *,
        mchid: str,
        api_v3_key: bytes,
        platform_certificates: list[x509.Certificate],
        merchant: Merchant,
        base_url: str = DEFAULT_BASE_URL,
        notify_url: str = "",
        timeout_seconds: float = 10.0,
    ) -> None:
        if len(api_v3_key) != 32:
            raise ValueError("the APIv3 key is 32 bytes")
        self.mchid = mchid
        self.merchant = merchant
        self.base_url = base_url.rstrip("/")
        self.notify_url = notify_url
        self.timeout_seconds = timeout_seconds
        self._aead = AESGCM(api_v3_key)
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        for cert in platform_certificates:
            key = cert.public_key()
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError("WeChat Pay platform certificates carry RSA keys")
            self._keys[certificate_serial(cert)] = key

    @classmethod
    def from_pem(
        cls,
        *,
        mchid: str,
        api_v3_key: str,
        certificates_pem: bytes,
        merchant: Merchant,
        base_url: str = DEFAULT_BASE_URL,
        notify_url: str = "",
        timeout_seconds: float = 10.0,
    ) -> WeChatPayProvider:
        certs = x509.load_pem_x509_certificates(certificates_pem)
        return cls(
            mchid=mchid,
            api_v3_key=api_v3_key.encode(),
            platform_certificates=certs,
            merchant=merchant,
            base_url=base_url,
            notify_url=notify_url,
            timeout_seconds=timeout_seconds,
        )

    # --- requests ---------------------------------------------------------------------------

    def authorization(
        self, method: str, path: str, body: str, *, timestamp: int, nonce: str
    ) -> str:
        """The ``Authorization`` header of one request (``path`` with its query string)."""
        message = f"{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n".encode()
        signature = base64.b64encode(
            self.merchant.private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        ).decode()
        return (
            f'{SCHEMA} mchid="{self.mchid}",nonce_str="{nonce}",timestamp="{timestamp}",'
            f'serial_no="{self.merchant.serial_no}",signature="{signature}"'
        )

    async def _call(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        payload: dict[str, Any] | None,
        *,
        now: dt.datetime,
    ) -> tuple[int, dict[str, Any]]:
        """One signed request; the answer's status and JSON, once its signature verifies.
        Raises :class:`GatewayUnavailable` when there is no answer to believe."""
        body = "" if payload is None else json.dumps(payload, ensure_ascii=False)
        nonce = secrets.token_hex(16)
        headers = {
            "Authorization": self.authorization(
                method, path, body, timestamp=int(now.timestamp()), nonce=nonce
            ),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await client.request(
                method, self.base_url + path, content=body.encode(), headers=headers
            )
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(f"WeChat Pay: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise GatewayUnavailable(f"WeChat Pay answered {response.status_code}")
        try:
            self._check_signature(
                {k.lower(): v for k, v in response.headers.items()}, response.content, now
            )
        except NotificationRefused as exc:
            raise GatewayUnavailable(f"WeChat Pay's answer is not believed: {exc}") from exc
        try:
            answer = json.loads(response.content) if response.content else {}
        except ValueError as exc:
            raise GatewayUnavailable("WeChat Pay's answer is not JSON") from exc
        if not isinstance(answer, dict):
            raise GatewayUnavailable("WeChat Pay's answer is not a JSON object")
        return response.status_code, answer

    async def prepay_params(
        self,
        client: httpx.AsyncClient,
        *,
        provider_ref: str,
        amount: int,
        description: str,
        openid: str,
        now: dt.datetime,
    ) -> dict[str, str]:
        """Place the JSAPI / mini-program order (``POST /v3/pay/transactions/jsapi``) and
        return what ``wx.requestPayment`` takes: appId, timeStamp, nonceStr,
        package (``prepay_id=...``), signType ``RSA`` and paySign, a SHA256withRSA signature
        of ``appId\ntimeStamp\nnonceStr\npackage\n`` with the merchant key."""
        status, answer = await self._call(
            client,
            "POST",
            "/v3/pay/transactions/jsapi",
            {
                "appid": self.merchant.appid,
                "mchid": self.mchid,
                "description": description[:127],
                "out_trade_no": _out_trade_no(provider_ref),
                "notify_url": self.notify_url,
                "amount": {"total": amount, "currency": "CNY"},
                "payer": {"openid": openid},
            },
            now=now,
        )
        prepay_id = answer.get("prepay_id")
        if str(answer.get("code", "")) in RETRY_CODES:
            raise GatewayUnavailable(f"WeChat Pay: {_error_text(status, answer)}")
        if status != 200 or not isinstance(prepay_id, str) or not prepay_id:
            raise PrepayRefused(_error_text(status, answer))
        return self.pay_params(
            prepay_id, timestamp=int(now.timestamp()), nonce=secrets.token_hex(16)
        )

    def pay_params(self, prepay_id: str, *, timestamp: int, nonce: str) -> dict[str, str]:
        package = f"prepay_id={prepay_id}"
        message = f"{self.merchant.appid}\n{timestamp}\n{nonce}\n{package}\n".encode()
        pay_sign = self.merchant.private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return {
            "appId": self.merchant.appid,
            "timeStamp": str(timestamp),
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": base64.b64encode(pay_sign).decode(),
        }

    def refund_reference(self, out_refund_no: str) -> str:
        return f"{REFUND_PREFIX}{out_refund_no}"

    async def send_refund(
        self, client: httpx.AsyncClient, order: RefundOrder, *, now: dt.datetime
    ) -> RefundOutcome:
        """``POST /v3/refund/domestic/refunds``. The same ``out_refund_no`` sent again is the
        same refund, so a retry after a lost answer cannot pay twice."""
        payload: dict[str, Any] = {
            "out_trade_no": _out_trade_no(order.provider_ref),
            "out_refund_no": order.out_refund_no,
            "amount": {"refund": order.amount, "total": order.total, "currency": "CNY"},
        }
        if order.reason:
            payload["reason"] = order.reason[:80]
        if self.notify_url:
            payload["notify_url"] = self.notify_url
        status, answer = await self._call(
            client, "POST", "/v3/refund/domestic/refunds", payload, now=now
        )
        return _refund_outcome(status, answer, order)

    async def query_refund(
        self, client: httpx.AsyncClient, order: RefundOrder, *, now: dt.datetime
    ) -> RefundOutcome:
        """``GET /v3/refund/domestic/refunds/{out_refund_no}``; an unknown refund was never
        received, so it is sent again (pending)."""
        status, answer = await self._call(
            client,
            "GET",
            f"/v3/refund/domestic/refunds/{quote(order.out_refund_no, safe='')}",
            None,
            now=now,
        )
        if status == 404:
            return RefundOutcome(RefundState.PENDING, message="WeChat Pay has no such refund")
        return _refund_outcome(status, answer, order)

    # --- notifications ----------------------------------------------------------------------

    def verify_notification(
        self, *, headers: Mapping[str, str], body: bytes, now: dt.datetime
    ) -> Verdict | RefundVerdict:
        """A payment's notification (``TRANSACTION.*``) or a refund's (``REFUND.*``)."""
        self._check_signature(headers, body, now)
        event_type, resource = _resource(body)
        try:
            plain = self._aead.decrypt(
                resource["nonce"].encode(),
                base64.b64decode(resource["ciphertext"], validate=True),
                str(resource.get("associated_data") or "").encode(),
            )
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise NotificationRefused("the resource does not decrypt with our APIv3 key") from exc
        if event_type.startswith("REFUND."):
            return self._refund_verdict(plain)
        return self._verdict(plain)

    def _check_signature(self, headers: Mapping[str, str], body: bytes, now: dt.datetime) -> None:
        serial = headers.get("wechatpay-serial", "")
        key = self._keys.get(serial.upper())
        if key is None:
            raise NotificationRefused(f"unknown platform certificate serial {serial[:40]!r}")
        timestamp, nonce = (
            headers.get("wechatpay-timestamp", ""),
            headers.get("wechatpay-nonce", ""),
        )
        if not timestamp.isdigit() or len(timestamp) > 12 or not nonce.isascii():
            raise NotificationRefused("missing or malformed timestamp or nonce")
        sent = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
        if abs(now - sent) > REPLAY_WINDOW:
            raise NotificationRefused("the notification is too old or from the future")
        try:
            signature = base64.b64decode(headers.get("wechatpay-signature", ""), validate=True)
            message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, binascii.Error, ValueError) as exc:
            raise NotificationRefused("the signature does not verify") from exc

    def _verdict(self, plain: bytes) -> Verdict:
        try:
            tx = json.loads(plain)
            ref, state = str(tx["out_trade_no"]), str(tx["trade_state"])
            amount = int(tx["amount"]["total"])
            mchid, transaction_id = str(tx.get("mchid", "")), str(tx.get("transaction_id", ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise NotificationRefused("the transaction is not in WeChat Pay's shape") from exc
        if mchid != self.mchid:
            raise NotificationRefused("the transaction is for another merchant")
        status = {"SUCCESS": PaymentStatus.CAPTURED, "PAYERROR": PaymentStatus.DECLINED}.get(state)
        if status is None:
            raise NotificationRefused(f"trade_state {state[:20]} does not settle a payment")
        return Verdict(f"{REF_PREFIX}{ref}", status, amount, transaction_id)

    def _refund_verdict(self, plain: bytes) -> RefundVerdict:
        try:
            refund = json.loads(plain)
            out_refund_no, state = str(refund["out_refund_no"]), str(refund["refund_status"])
            mchid, refund_id = str(refund.get("mchid", "")), str(refund.get("refund_id", ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise NotificationRefused("the refund is not in WeChat Pay's shape") from exc
        if mchid != self.mchid:
            raise NotificationRefused("the refund is for another merchant")
        settled = REFUND_STATES.get(state)
        if settled is None or settled is RefundState.PROCESSING:
            raise NotificationRefused(f"refund_status {state[:20]} does not settle a refund")
        return RefundVerdict(out_refund_no, settled, refund_id)


def _resource(body: bytes) -> tuple[str, dict[str, Any]]:
    try:
        envelope = json.loads(body)
        event_type = str(envelope.get("event_type") or "")
        resource = envelope["resource"]
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise NotificationRefused("unsupported resource algorithm")
        if not isinstance(resource["ciphertext"], str) or not isinstance(resource["nonce"], str):
            raise NotificationRefused("resource fields must be strings")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotificationRefused("the body is not a WeChat Pay notification") from exc
    out: dict[str, Any] = resource
    return event_type, out


def _out_trade_no(provider_ref: str) -> str:
    if not provider_ref.startswith(REF_PREFIX):
        raise ValueError(f"not a WeChat Pay payment: {provider_ref[:40]!r}")
    return provider_ref.removeprefix(REF_PREFIX)


def _error_text(status: int, answer: Mapping[str, Any]) -> str:
    return f"{status} {str(answer.get('code', ''))[:40]}: {str(answer.get('message', ''))[:200]}"


def _refund_outcome(status: int, answer: Mapping[str, Any], order: RefundOrder) -> RefundOutcome:
    """A signed answer about a refund: its state, or "not now" (raised) for the error codes
    that ask for a retry; any other refusal (a bad parameter, no such trade) is final."""
    if status >= 400:
        if str(answer.get("code", "")) in RETRY_CODES:
            raise GatewayUnavailable(f"WeChat Pay: {_error_text(status, answer)}")
        return RefundOutcome(RefundState.FAILED, message=_error_text(status, answer))
    state = REFUND_STATES.get(str(answer.get("status", "")))
    if state is None or answer.get("out_refund_no") != order.out_refund_no:
        raise GatewayUnavailable("WeChat Pay's refund answer is not in its shape")
    refunded = (
        answer.get("amount", {}).get("refund") if isinstance(answer.get("amount"), dict) else None
    )
    if refunded is not None and refunded != order.amount:
        return RefundOutcome(
            RefundState.FAILED,
            str(answer.get("refund_id", "")),
            f"WeChat Pay refunds {refunded} fen, not {order.amount}",
        )
    return RefundOutcome(state, str(answer.get("refund_id", "")), str(answer.get("status", "")))
