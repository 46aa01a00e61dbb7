"""WeChat Pay APIv3 (mini-program and JSAPI payments): the notification check.

A notification is trusted only if (1) ``Wechatpay-Serial`` names a platform certificate we
hold, (2) ``Wechatpay-Timestamp`` is within five minutes of now (an old, replayed notification
is refused), (3) ``Wechatpay-Signature`` is a valid SHA256withRSA (PKCS#1 v1.5) signature of
``timestamp\\nnonce\\nbody\\n`` under that certificate's key, and (4) the resource decrypts with
AES-256-GCM under the APIv3 key (nonce, associated data, 16-byte tag after the ciphertext).
A repeated valid notification changes nothing (settling is idempotent). No I/O here: placing
the prepay order and refund calls go to WeChat's API, which this build has no network for, so
``authorise`` leaves the payment pending for the notification and ``refund`` is bookkeeping.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from omniretail.payments.providers import Authorisation, PaymentStatus

REPLAY_WINDOW = dt.timedelta(minutes=5)
REF_PREFIX = "wxp:"


class NotificationRefused(ValueError):
    """The notification is not provably from WeChat Pay (the reason says which check)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    provider_ref: str
    status: PaymentStatus
    amount: int
    transaction_id: str


def certificate_serial(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "X")


class WeChatPayProvider:
    method = "wechat_pay"
    online = True
    in_person = False
    internal = False

    def __init__(
        self, *, mchid: str, api_v3_key: bytes, platform_certificates: list[x509.Certificate]
    ) -> None:
        if len(api_v3_key) != 32:
            raise ValueError("the APIv3 key is 32 bytes")
        self.mchid = mchid
        self._aead = AESGCM(api_v3_key)
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        for cert in platform_certificates:
            key = cert.public_key()
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError("WeChat Pay platform certificates carry RSA keys")
            self._keys[certificate_serial(cert)] = key

    @classmethod
    def from_pem(cls, *, mchid: str, api_v3_key: str, certificates_pem: bytes) -> WeChatPayProvider:
        certs = x509.load_pem_x509_certificates(certificates_pem)
        return cls(mchid=mchid, api_v3_key=api_v3_key.encode(), platform_certificates=certs)

    def authorise(
        self, *, amount: int, currency: str, reference: str, token: str | None
    ) -> Authorisation:
        # out_trade_no = reference; the mini-program pays, the notification settles it.
        return Authorisation(PaymentStatus.PENDING, f"{REF_PREFIX}{reference}")

    def refund(self, *, amount: int, currency: str, provider_ref: str) -> Authorisation:
        return Authorisation(PaymentStatus.CAPTURED, f"refund:{provider_ref}")

    def verify_notification(
        self, *, headers: Mapping[str, str], body: bytes, now: dt.datetime
    ) -> Verdict:
        self._check_signature(headers, body, now)
        resource = _resource(body)
        try:
            plain = self._aead.decrypt(
                resource["nonce"].encode(),
                base64.b64decode(resource["ciphertext"], validate=True),
                str(resource.get("associated_data") or "").encode(),
            )
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise NotificationRefused("the resource does not decrypt with our APIv3 key") from exc
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


def _resource(body: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(body)
        resource = envelope["resource"]
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise NotificationRefused("unsupported resource algorithm")
        if not isinstance(resource["ciphertext"], str) or not isinstance(resource["nonce"], str):
            raise NotificationRefused("resource fields must be strings")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotificationRefused("the body is not a WeChat Pay notification") from exc
    out: dict[str, Any] = resource
    return out
