"""What a remote payment gateway (WeChat Pay, Alipay) offers the refund sender, and the
outcomes it reports. The gateways' own modules speak their protocols; this one names the
shared vocabulary so that :mod:`omniretail.payments.refunds` knows none of them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

import httpx

from omniretail.payments.providers import Authorisation, PaymentStatus


class RefundState(StrEnum):
    PENDING = "pending"  # not yet accepted by the gateway: never sent, or the last try failed
    PROCESSING = "processing"  # accepted; the gateway is still paying it back
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # refused by the gateway, or given up after many tries: a person looks


class GatewayUnavailable(Exception):
    """No answer we can believe: the gateway is down or slow, answered 5xx or 429, or its
    answer is not signed by it. Nothing is concluded; the request is tried again later."""


class GatewayTender:
    """What a remote gateway's tender (WeChat Pay, Alipay) answers through the provider
    interface: at checkout the payment is pending until the gateway's signed notification
    settles it (``out_trade_no`` = the reference behind ``ref_prefix``); a refund is never made
    here, inside the caller's transaction, but recorded and sent after commit
    (:func:`omniretail.payments.refunds.request_refund`)."""

    method: str
    ref_prefix: str
    online = True
    in_person = False
    internal = False

    def authorise(
        self, *, amount: int, currency: str, reference: str, token: str | None
    ) -> Authorisation:
        ref = f"{self.ref_prefix}{reference}"
        if currency != "CNY":
            return Authorisation(PaymentStatus.DECLINED, ref, "CNY only")
        return Authorisation(PaymentStatus.PENDING, ref)

    def refund(self, *, amount: int, currency: str, provider_ref: str) -> Authorisation:
        raise TypeError(
            f"a {self.method} refund is a request sent after commit: "
            "use omniretail.payments.refunds.request_refund"
        )


class PrepayRefused(ValueError):
    """The gateway answered, signed, that it will not place this order (the reason says why)."""


@dataclass(frozen=True, slots=True)
class RefundOrder:
    """One refund as the sender sends it. ``out_refund_no`` names it at the gateway: every
    retry sends the same one, so the gateway pays it back once."""

    out_refund_no: str
    provider_ref: str  # the payment's reference (its out_trade_no behind our prefix)
    amount: int  # fen
    total: int  # fen: the payment's whole amount (WeChat Pay asks for it)
    currency: str
    reason: str


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    state: RefundState
    gateway_refund_id: str = ""
    message: str = ""


@runtime_checkable
class RefundGateway(Protocol):
    """A provider whose refunds are requests to a remote gateway, sent after commit."""

    method: str
    timeout_seconds: float  # how long one request may take

    def refund_reference(self, out_refund_no: str) -> str: ...

    async def send_refund(
        self, client: httpx.AsyncClient, order: RefundOrder, *, now: dt.datetime
    ) -> RefundOutcome: ...

    async def query_refund(
        self, client: httpx.AsyncClient, order: RefundOrder, *, now: dt.datetime
    ) -> RefundOutcome: ...


def http_client(timeout_seconds: float) -> httpx.AsyncClient:
    """No proxies from the environment, no redirects: a gateway answers where it was asked."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_seconds, connect=min(3.0, timeout_seconds)),
        follow_redirects=False,
        trust_env=False,
    )
