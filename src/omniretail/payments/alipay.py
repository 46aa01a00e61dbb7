"""Alipay (支付宝) open platform: gateway requests (refunds and their query, the QR-code
precreate), the app payment's signed order string, and the asynchronous notification check.

A notification (the ``notify_url`` POST, form-encoded) is trusted only if (1) ``sign_type`` is
``RSA2``, (2) ``sign`` is a valid SHA256withRSA (PKCS#1 v1.5) signature under Alipay's public
key of the other parameters, ``sign`` and ``sign_type`` left out and empty values skipped,
sorted by name and joined as ``key=value`` with ``&``, encoded in the notification's
``charset``, and (3) ``app_id`` is ours (and ``seller_id``, when one is configured). Amounts
arrive as yuan strings (``"99.00"``) and become integer fen exactly. Only ``TRADE_SUCCESS``
and ``TRADE_FINISHED`` settle a payment; other statuses are acknowledged and change nothing.

A gateway request is the common parameters plus ``biz_content`` (JSON), signed RSA2 with the
merchant's application private key over the same sorted ``key=value`` content (only ``sign``
left out); as Alipay's SDKs do, the common parameters travel in the URL's query and
``biz_content`` in the form body. The answer is JSON, ``{"<method>_response": {...}, "sign":
"..."}`` (``error_response`` for a refused call); it is believed only if ``sign`` verifies
under Alipay's public key over the node's JSON text exactly as it arrived. An answer that does
not verify is not believed (:class:`GatewayUnavailable`) and the request is tried again;
``out_request_no`` makes a retried refund the same refund.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from omniretail.payments.gateway import (
    GatewayTender,
    GatewayUnavailable,
    PrepayRefused,
    RefundOrder,
    RefundOutcome,
    RefundState,
)

DEFAULT_GATEWAY_URL = "https://openapi.alipay.com/gateway.do"
USER_AGENT = "Omniretail-Alipay/1"
# The common parameters, sent in the URL (biz_content goes in the body).
COMMON = ("app_id", "method", "format", "charset", "sign_type", "timestamp", "version")
SUCCESS = "10000"
# "Not now" answers: the service is busy, or a system error on Alipay's side.
RETRY_CODES = frozenset({"20000"})
RETRY_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR", "isp.unknow-error"})
REF_PREFIX = "ali:"
REFUND_PREFIX = "alipay-refund:"
SETTLING = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
# The charsets Alipay names in ``charset`` (its docs: utf-8, gbk, gb2312).
CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "gb2312": "gb2312"}
# Alipay's request timestamps are Beijing time ("yyyy-MM-dd HH:mm:ss", GMT+8).
BEIJING = dt.timezone(dt.timedelta(hours=8))
MAX_FIELDS = 100
_YUAN = re.compile(r"(0|[1-9][0-9]{0,10})(\.[0-9]{1,2})?", re.ASCII)


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


class AlipayProvider(GatewayTender):
    method = "alipay"
    ref_prefix = REF_PREFIX

    def __init__(
        self,
        *,
        app_id: str,
        alipay_public_key: rsa.RSAPublicKey,
        merchant_private_key: rsa.RSAPrivateKey,
        seller_id: str = "",
        gateway_url: str = DEFAULT_GATEWAY_URL,
        notify_url: str = "",
        timeout_seconds: float = 10.0,
    ) -> None:
        if not app_id:
            raise ValueError("an Alipay app id is needed")
        self.app_id = app_id
        self.seller_id = seller_id
        self._alipay_key = alipay_public_key
        self._merchant_key = merchant_private_key
        self.gateway_url = gateway_url
        self.notify_url = notify_url
        self.timeout_seconds = timeout_seconds

    @classmethod
    def from_keys(
        cls,
        *,
        app_id: str,
        alipay_public_key: str,
        merchant_private_key: str,
        seller_id: str = "",
        gateway_url: str = DEFAULT_GATEWAY_URL,
        notify_url: str = "",
        timeout_seconds: float = 10.0,
    ) -> AlipayProvider:
        return cls(
            app_id=app_id,
            alipay_public_key=load_public_key(alipay_public_key),
            merchant_private_key=load_private_key(merchant_private_key),
            seller_id=seller_id,
            gateway_url=gateway_url,
            notify_url=notify_url,
            timeout_seconds=timeout_seconds,
        )

    def signed_request(
        self, method: str, biz: Mapping[str, str], *, now: dt.datetime, notify: bool = False
    ) -> dict[str, str]:
        """The signed parameters of one call: the common ones, ``notify_url`` when asked for
        (payments; refunds have none), ``biz_content``, and ``sign``."""
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": now.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        if notify and self.notify_url:
            params["notify_url"] = self.notify_url
        content = signed_content(params, leave_out=REQUEST_UNSIGNED).encode("utf-8")
        signature = self._merchant_key.sign(content, padding.PKCS1v15(), hashes.SHA256())
        return {**params, "sign": base64.b64encode(signature).decode()}

    def refund_request(
        self, *, amount: int, provider_ref: str, request_no: str, now: dt.datetime
    ) -> dict[str, str]:
        """The signed ``alipay.trade.refund`` parameters. ``out_request_no`` names this refund
        (several partial refunds of one trade each have their own; a retry keeps it)."""
        return self.signed_request(
            "alipay.trade.refund",
            {
                "out_trade_no": _out_trade_no(provider_ref),
                "refund_amount": fen_to_yuan(amount),
                "out_request_no": request_no,
            },
            now=now,
        )

    def app_order_string(
        self, *, provider_ref: str, amount: int, subject: str, now: dt.datetime
    ) -> str:
        """``alipay.trade.app.pay``: the signed order string the app hands to the Alipay SDK
        (no call to Alipay from here; the buyer's app sends it). Values URL-encoded."""
        params = self.signed_request(
            "alipay.trade.app.pay",
            {
                "out_trade_no": _out_trade_no(provider_ref),
                "total_amount": fen_to_yuan(amount),
                "subject": subject[:256],
                "product_code": "QUICK_MSECURITY_PAY",
            },
            now=now,
            notify=True,
        )
        return urlencode(sorted(params.items()), quote_via=quote_plus)

    async def precreate(
        self,
        client: httpx.AsyncClient,
        *,
        provider_ref: str,
        amount: int,
        subject: str,
        now: dt.datetime,
    ) -> str:
        """``alipay.trade.precreate``: the QR code (its content, a URL) the buyer scans."""
        method = "alipay.trade.precreate"
        biz = {
            "out_trade_no": _out_trade_no(provider_ref),
            "total_amount": fen_to_yuan(amount),
            "subject": subject[:256],
        }
        answer = await self._call(client, self.signed_request(method, biz, now=now, notify=True))
        qr_code = answer.get("qr_code")
        if answer.get("code") != SUCCESS or not isinstance(qr_code, str) or not qr_code:
            raise PrepayRefused(_error_text(answer))
        return qr_code

    def refund_reference(self, out_refund_no: str) -> str:
        return f"{REFUND_PREFIX}{out_refund_no}"

    async def send_refund(
        self, client: httpx.AsyncClient, order: RefundOrder, *, now: dt.datetime
    ) -> RefundOutcome:
        """``alipay.trade.refund``. ``fund_change`` ``Y``: this call moved the money;
        ``N``: it may have been moved by an earlier try, so the query confirms it."""
        request = self.refund_request(
            amount=order.amount,
            provider_ref=order.provider_ref,
            request_no=order.out_refund_no,
            now=now,
        )
        answer = await self._call(client, request)
        if answer.get("code") != SUCCESS:
            return RefundOutcome(RefundState.FAILED, message=_error_text(answer))
        trade_no = str(answer.get("trade_no", ""))
        if answer.get("fund_change") == "Y":
            return RefundOutcome(RefundState.SUCCEEDED, trade_no, "fund_change Y")
        return RefundOutcome(RefundState.PROCESSING, trade_no, "fund_change N: to be queried")

    async def query_refund(
        self, client: httpx.AsyncClient, order: RefundOrder, *, now: dt.datetime
    ) -> RefundOutcome:
        """``alipay.trade.fastpay.refund.query``: ``refund_status`` ``REFUND_SUCCESS`` is
        done; no status means Alipay has not taken the refund, so it is sent again."""
        request = self.signed_request(
            "alipay.trade.fastpay.refund.query",
            {
                "out_trade_no": _out_trade_no(order.provider_ref),
                "out_request_no": order.out_refund_no,
            },
            now=now,
        )
        answer = await self._call(client, request)
        if answer.get("code") != SUCCESS:
            return RefundOutcome(RefundState.PENDING, message=_error_text(answer))
        if answer.get("refund_status") == "REFUND_SUCCESS":
            if str(answer.get("refund_amount", "")) != fen_to_yuan(order.amount):
                return RefundOutcome(
                    RefundState.FAILED,
                    str(answer.get("trade_no", "")),
                    f"Alipay refunded {str(answer.get('refund_amount'))[:20]}",
                )
            return RefundOutcome(RefundState.SUCCEEDED, str(answer.get("trade_no", "")))
        return RefundOutcome(RefundState.PENDING, message="Alipay has not taken the refund")

    async def _call(self, client: httpx.AsyncClient, params: Mapping[str, str]) -> dict[str, Any]:
        """POST one signed request; the response node, once its signature verifies. Raises
        :class:`GatewayUnavailable` when there is no answer to believe or it says "not now"."""
        query = {k: params[k] for k in (*COMMON, "notify_url", "sign") if k in params}
        body = {k: v for k, v in params.items() if k not in query}
        try:
            response = await client.post(
                self.gateway_url,
                params=query,
                data=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded;charset=utf-8",
                    "User-Agent": USER_AGENT,
                },
            )
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(f"Alipay: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise GatewayUnavailable(f"Alipay answered {response.status_code}")
        node_name = params["method"].replace(".", "_") + "_response"
        answer = self.verify_response(response.text, node_name)
        if str(answer.get("code")) in RETRY_CODES or answer.get("sub_code") in RETRY_SUB_CODES:
            raise GatewayUnavailable(f"Alipay: {_error_text(answer)}")
        return answer

    def verify_response(self, text: str, node_name: str) -> dict[str, Any]:
        """The answer's node (``<method>_response``, or ``error_response``), if ``sign``
        verifies over the node's JSON text as sent."""
        try:
            nodes = top_level_members(text)
        except ValueError as exc:
            raise GatewayUnavailable("Alipay's answer is not a JSON object") from exc
        name = node_name if node_name in nodes else "error_response"
        raw, sign = nodes.get(name), nodes.get("sign")
        if raw is None or sign is None:
            raise GatewayUnavailable("Alipay's answer has no signed response node")
        try:
            signature = base64.b64decode(json.loads(sign), validate=True)
            # As the SDK does: a node whose JSON escapes "/" as "\/" may have been signed
            # with the plain "/", so that text is tried too.
            texts = (raw, raw.replace("\\/", "/")) if "\\/" in raw else (raw,)
            if not any(self._signed_by_alipay(signature, text) for text in texts):
                raise InvalidSignature
            answer = json.loads(raw)
        except (InvalidSignature, binascii.Error, ValueError, TypeError) as exc:
            raise GatewayUnavailable("Alipay's answer is not signed by Alipay") from exc
        if not isinstance(answer, dict):
            raise GatewayUnavailable("Alipay's response node is not an object")
        return answer

    def _signed_by_alipay(self, signature: bytes, text: str) -> bool:
        try:
            self._alipay_key.verify(
                signature, text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return False
        return True

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


def top_level_members(text: str) -> dict[str, str]:
    """Each member of a JSON object as its raw text (what Alipay signed is the node's text
    as it arrived, not a re-serialisation of it)."""
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    if text[pos : pos + 1] != "{":
        raise ValueError("not an object")
    members: dict[str, str] = {}
    pos = _skip(text, pos + 1)
    while text[pos : pos + 1] != "}":
        key, pos = decoder.raw_decode(text, pos)
        pos = _skip(text, pos)
        if not isinstance(key, str) or text[pos : pos + 1] != ":":
            raise ValueError("not an object")
        start = _skip(text, pos + 1)
        _, end = decoder.raw_decode(text, start)
        members[key] = text[start:end]
        pos = _skip(text, end)
        if text[pos : pos + 1] == ",":
            pos = _skip(text, pos + 1)
        elif text[pos : pos + 1] != "}":
            raise ValueError("not an object")
    return members


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _out_trade_no(provider_ref: str) -> str:
    if not provider_ref.startswith(REF_PREFIX):
        raise ValueError(f"not an Alipay payment: {provider_ref[:40]!r}")
    return provider_ref.removeprefix(REF_PREFIX)


def _error_text(answer: Mapping[str, Any]) -> str:
    parts = (answer.get(k) for k in ("code", "msg", "sub_code", "sub_msg"))
    return " ".join(str(p)[:120] for p in parts if p)


def _verdict(params: Mapping[str, str]) -> AlipayVerdict:
    out_trade_no, status = params.get("out_trade_no", ""), params.get("trade_status", "")
    if not out_trade_no or not status:
        raise NotificationRefused("out_trade_no and trade_status are required")
    try:
        amount = yuan_to_fen(params.get("total_amount", ""))
    except ValueError as exc:
        raise NotificationRefused("total_amount is not an amount in yuan") from exc
    return AlipayVerdict(f"{REF_PREFIX}{out_trade_no}", status, amount, params.get("trade_no", ""))
