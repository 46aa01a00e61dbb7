"""Alipay (支付宝) open platform: the asynchronous notification check and the refund request.

A notification (the ``notify_url`` POST, form-encoded) is trusted only if (1) ``sign_type`` is
``RSA2``, (2) ``sign`` is a valid SHA256withRSA (PKCS#1 v1.5) signature under Alipay's public
key of the other parameters, ``sign`` and ``sign_type`` left out and empty values skipped,
sorted by name and joined as ``key=value`` with ``&``, encoded in the notification's
``charset``, and (3) ``app_id`` is ours (and ``seller_id``, when one is configured). Amounts
arrive as yuan strings (``"99.00"``) and become integer fen exactly. Only ``TRADE_SUCCESS``
and ``TRADE_FINISHED`` settle a payment; other statuses are acknowledged and change nothing.

No I/O here. ``refund`` builds the ``alipay.trade.refund`` request and signs it with the
merchant's private key; this build has no network, so, as for WeChat Pay, the refund is
bookkeeping unless a ``send_refund`` callable is given (it receives the signed parameters).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from omniretail.payments.providers import Authorisation, PaymentStatus

REF_PREFIX = "ali:"
REFUND_PREFIX = "alipay-refund:"
SETTLING = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
# The charsets Alipay names in ``charset`` (its docs: utf-8, gbk, gb2312).
CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "gb2312": "gb2312"}
# Alipay's request timestamps are Beijing time ("yyyy-MM-dd HH:mm:ss", GMT+8).
BEIJING = dt.timezone(dt.timedelta(hours=8))
MAX_FIELDS = 100
_YUAN = re.compile(r"(0|[1-9][0-9]{0,10})(\.[0-9]{1,2})?", re.ASCII)

RefundSender = Callable[[dict[str, str]], None]


class NotificationRefused(ValueError):
    """The notification is not provably from Alipay for us (the reason says which check)."""


@dataclass(frozen=True, slots=True)
class AlipayVerdict:
    provider_ref: str
    trade_status: str
    amount: int  # fen
    trade_no: str

    @property
    def settles(self) -> bool:
        return self.trade_status in SETTLING


def signed_content(params: Mapping[str, str], *, leave_out: frozenset[str]) -> str:
    """What Alipay signs: parameters sorted by name, empty ones skipped, ``key=value``
    joined with ``&`` (values as sent, before any URL encoding)."""
    return "&".join(
        f"{key}={params[key]}"
        for key in sorted(params)
        if key and params[key] and key not in leave_out
    )


NOTIFY_UNSIGNED = frozenset({"sign", "sign_type"})
REQUEST_UNSIGNED = frozenset({"sign"})


def yuan_to_fen(text: str) -> int:
    """``"99.00"`` -> 9900, exactly; anything but a plain non-negative decimal with at most
    two places (exponents, signs, spaces, non-ASCII digits) is refused."""
    if not _YUAN.fullmatch(text):
        raise ValueError(f"not an amount in yuan: {text[:20]!r}")
    return int(Decimal(text) * 100)


def fen_to_yuan(amount: int) -> str:
    if amount <= 0:
        raise ValueError("an Alipay amount is positive")
    return f"{amount // 100}.{amount % 100:02d}"


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """Alipay's public key as a PEM block or, as Alipay's console shows it, bare base64 DER."""
    key = (
        serialization.load_pem_public_key(text.encode())
        if "-----BEGIN" in text
        else serialization.load_der_public_key(base64.b64decode("".join(text.split())))
    )
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("Alipay's public key is an RSA key (RSA2)")
    return key


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """The merchant's application private key: PEM, or bare base64 DER (PKCS#8 or PKCS#1)."""
    key = (
        serialization.load_pem_private_key(text.encode(), password=None)
        if "-----BEGIN" in text
        else serialization.load_der_private_key(
            base64.b64decode("".join(text.split())), password=None
        )
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the merchant's application private key is an RSA key (RSA2)")
    return key


class AlipayProvider:
    method = "alipay"
    online = True
    in_person = False
    internal = False

    def __init__(
        self,
        *,
        app_id: str,
        alipay_public_key: rsa.RSAPublicKey,
        merchant_private_key: rsa.RSAPrivateKey,
        seller_id: str = "",
        send_refund: RefundSender | None = None,
    ) -> None:
        if not app_id:
            raise ValueError("an Alipay app id is needed")
        self.app_id = app_id
        self.seller_id = seller_id
        self._alipay_key = alipay_public_key
        self._merchant_key = merchant_private_key
        self._send_refund = send_refund

    @classmethod
    def from_keys(
        cls, *, app_id: str, alipay_public_key: str, merchant_private_key: str, seller_id: str = ""
    ) -> AlipayProvider:
        return cls(
            app_id=app_id,
            alipay_public_key=load_public_key(alipay_public_key),
            merchant_private_key=load_private_key(merchant_private_key),
            seller_id=seller_id,
        )

    def authorise(
        self, *, amount: int, currency: str, reference: str, token: str | None
    ) -> Authorisation:
        # out_trade_no = reference; the buyer pays in Alipay, the notification settles it.
        if currency != "CNY":
            return Authorisation(PaymentStatus.DECLINED, f"{REF_PREFIX}{reference}", "CNY only")
        return Authorisation(PaymentStatus.PENDING, f"{REF_PREFIX}{reference}")

    def refund(self, *, amount: int, currency: str, provider_ref: str) -> Authorisation:
        request = self.refund_request(
            amount=amount,
            provider_ref=provider_ref,
            request_no=secrets.token_hex(16),
            now=dt.datetime.now(dt.UTC),
        )
        if self._send_refund is not None:
            self._send_refund(request)
        request_no = json.loads(request["biz_content"])["out_request_no"]
        return Authorisation(PaymentStatus.CAPTURED, f"{REFUND_PREFIX}{request_no}")

    def refund_request(
        self, *, amount: int, provider_ref: str, request_no: str, now: dt.datetime
    ) -> dict[str, str]:
        """The signed ``alipay.trade.refund`` parameters. ``out_request_no`` names this refund
        (several partial refunds of one trade each have their own; a retry keeps it)."""
        if not provider_ref.startswith(REF_PREFIX):
            raise ValueError(f"not an Alipay payment: {provider_ref[:40]!r}")
        biz = {
            "out_trade_no": provider_ref.removeprefix(REF_PREFIX),
            "refund_amount": fen_to_yuan(amount),
            "out_request_no": request_no,
        }
        params = {
            "app_id": self.app_id,
            "method": "alipay.trade.refund",
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": now.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        content = signed_content(params, leave_out=REQUEST_UNSIGNED).encode("utf-8")
        signature = self._merchant_key.sign(content, padding.PKCS1v15(), hashes.SHA256())
        return {**params, "sign": base64.b64encode(signature).decode()}

    def verify_notification(self, body: bytes) -> AlipayVerdict:
        params, charset = parse_notification(body)
        if params.get("sign_type") != "RSA2":
            raise NotificationRefused("only RSA2 (SHA256withRSA) notifications are accepted")
        try:
            signature = base64.b64decode(params.get("sign", ""), validate=True)
            content = signed_content(params, leave_out=NOTIFY_UNSIGNED).encode(charset)
            self._alipay_key.verify(signature, content, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, binascii.Error, ValueError) as exc:
            raise NotificationRefused("the signature does not verify") from exc
        if params.get("app_id") != self.app_id:
            raise NotificationRefused("the notification is for another app")
        if self.seller_id and params.get("seller_id") != self.seller_id:
            raise NotificationRefused("the notification is for another seller")
        return _verdict(params)


def parse_notification(body: bytes) -> tuple[dict[str, str], str]:
    """The form's parameters decoded in its own ``charset`` (utf-8 when it names none)."""
    try:
        # Percent-decoded as Latin-1 first, so each value is its bytes; the charset comes after.
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            encoding="latin-1",
            max_num_fields=MAX_FIELDS,
        )
        raw = {
            key.encode("latin-1").decode("ascii"): value.encode("latin-1") for key, value in pairs
        }
    except (UnicodeError, ValueError) as exc:
        raise NotificationRefused("the body is not an Alipay notification form") from exc
    if len(raw) != len(pairs):
        raise NotificationRefused("a parameter is repeated")
    charset = CHARSETS.get(raw.get("charset", b"utf-8").decode("latin-1").lower())
    if charset is None:
        raise NotificationRefused("unsupported charset")
    try:
        return {key: value.decode(charset) for key, value in raw.items()}, charset
    except UnicodeDecodeError as exc:
        raise NotificationRefused(f"a parameter is not {charset}") from exc


def _verdict(params: Mapping[str, str]) -> AlipayVerdict:
    out_trade_no, status = params.get("out_trade_no", ""), params.get("trade_status", "")
    if not out_trade_no or not status:
        raise NotificationRefused("out_trade_no and trade_status are required")
    try:
        amount = yuan_to_fen(params.get("total_amount", ""))
    except ValueError as exc:
        raise NotificationRefused("total_amount is not an amount in yuan") from exc
    return AlipayVerdict(f"{REF_PREFIX}{out_trade_no}", status, amount, params.get("trade_no", ""))
