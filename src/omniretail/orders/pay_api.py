"""How a buyer's client pays an order's online payment: the WeChat Pay mini-program's
``wx.requestPayment`` parameters, Alipay's app order string or a QR code.

The order is read in a short unit of work that is closed before the gateway is called, so no
lock is held while WeChat Pay or Alipay answers. Asking again is safe: the gateway keeps one
order per ``out_trade_no``, and the payment settles only by its signed notification."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar

from fastapi import APIRouter

from omniretail.auth.domain import Permission
from omniretail.db import utcnow
from omniretail.errors import Conflict, NotFound, Unavailable
from omniretail.lean_route import LeanRoute
from omniretail.orders import payments
from omniretail.orders.api import caller, providers
from omniretail.orders.pay_schemas import (
    AlipayAppOut,
    AlipayQrOut,
    WeChatPayJsapiIn,
    WeChatPayJsapiOut,
)
from omniretail.payments.alipay import AlipayProvider
from omniretail.payments.gateway import GatewayUnavailable, PrepayRefused, http_client
from omniretail.payments.wechatpay import WeChatPayProvider
from omniretail.schemas import Code
from omniretail.web import Ctx, CtxDep

router = APIRouter(prefix="/v1", tags=["orders"], route_class=LeanRoute)
P = TypeVar("P")


class GatewayNotAnswering(Unavailable):
    code = "payment_gateway_unavailable"
    title = "The payment gateway did not answer"


class GatewayRefused(Conflict):
    code = "payment_gateway_refused"
    title = "The payment gateway refused the payment"


async def _payable(
    ctx: Ctx, order_id: str, method: str, kind: type[P]
) -> tuple[P, payments.Payable]:
    """The configured provider of ``method`` and what the order waits for by it (the order's
    scope checked in a short unit of work, closed before any gateway is called)."""
    ctx.require(Permission.ORDERS_WRITE)
    async with ctx.uow() as uow:
        who = await caller(ctx, uow)
        payable = await payments.access_payable(
            uow, order_id=order_id, method=method, channels=who.channels
        )
    provider = providers(ctx.request).get(method)
    if not isinstance(provider, kind):
        raise NotFound("payment provider", method)
    return provider, payable


@contextlib.contextmanager
def _gateway_answers() -> Iterator[None]:
    """A gateway's silence is 503 (nothing changed: ask again), its signed refusal 409."""
    try:
        yield
    except GatewayUnavailable as exc:
        raise GatewayNotAnswering(str(exc)) from exc
    except PrepayRefused as exc:
        raise GatewayRefused(str(exc)) from exc


@router.post("/orders/{order_id}/payments/wechat_pay/jsapi", response_model=WeChatPayJsapiOut)
async def wechat_pay_jsapi(
    order_id: Code, body: WeChatPayJsapiIn, ctx: CtxDep
) -> WeChatPayJsapiOut:
    """Place the order's pending WeChat Pay payment with WeChat Pay (JSAPI / mini-program
    prepay) and return the signed parameters for ``wx.requestPayment``. 409 when the order
    waits for no WeChat Pay payment or WeChat Pay refuses it; 503 when WeChat Pay gives no
    answer we can verify (nothing changed: ask again)."""
    provider, payable = await _payable(ctx, order_id, "wechat_pay", WeChatPayProvider)
    with _gateway_answers():
        async with http_client(provider.timeout_seconds) as client:
            params = await provider.prepay_params(
                client,
                provider_ref=payable.provider_ref,
                amount=payable.amount,
                description=payable.description,
                openid=body.openid,
                now=utcnow(),
            )
    return WeChatPayJsapiOut(provider_ref=payable.provider_ref, **params)


@router.post("/orders/{order_id}/payments/alipay/app", response_model=AlipayAppOut)
async def alipay_app(order_id: Code, ctx: CtxDep) -> AlipayAppOut:
    """The signed ``alipay.trade.app.pay`` order string for the order's pending Alipay
    payment (built here, no call to Alipay). 409 when the order waits for no Alipay payment."""
    provider, payable = await _payable(ctx, order_id, "alipay", AlipayProvider)
    order_string = provider.app_order_string(
        provider_ref=payable.provider_ref,
        amount=payable.amount,
        subject=payable.description,
        now=utcnow(),
    )
    return AlipayAppOut(provider_ref=payable.provider_ref, order_string=order_string)


@router.post("/orders/{order_id}/payments/alipay/qr", response_model=AlipayQrOut)
async def alipay_qr(order_id: Code, ctx: CtxDep) -> AlipayQrOut:
    """Place the order's pending Alipay payment as a QR code (``alipay.trade.precreate``) for
    the buyer to scan. 409 when there is nothing to pay or Alipay refuses; 503 when Alipay
    gives no answer we can verify (nothing changed: ask again)."""
    provider, payable = await _payable(ctx, order_id, "alipay", AlipayProvider)
    with _gateway_answers():
        async with http_client(provider.timeout_seconds) as client:
            qr_code = await provider.precreate(
                client,
                provider_ref=payable.provider_ref,
                amount=payable.amount,
                subject=payable.description,
                now=utcnow(),
            )
    return AlipayQrOut(provider_ref=payable.provider_ref, qr_code=qr_code)
