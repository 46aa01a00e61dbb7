"""Payment providers' signed notifications that settle online payments and refunds (WeChat
Pay APIv3, Alipay)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from omniretail.db import utcnow
from omniretail.errors import NotFound, Unauthenticated
from omniretail.orders import payments
from omniretail.payments import alipay, refunds
from omniretail.payments.alipay import AlipayProvider
from omniretail.payments.providers import PaymentProvider, PaymentStatus
from omniretail.payments.wechatpay import NotificationRefused, RefundVerdict, WeChatPayProvider

router = APIRouter(prefix="/v1/payments", tags=["payments"])


class NotificationInvalid(Unauthenticated):
    code = "notification_invalid"
    title = "The payment notification is not verifiable"


@router.post("/wechat_pay/notify", status_code=204)
async def wechat_pay_notify(request: Request) -> Response:
    """A payment's (``TRANSACTION.*``) or a refund's (``REFUND.*``) notification, verified on
    the raw body before anything is read; 204 once settled (WeChat Pay treats any 2xx as
    received). A repeat of a settled notification is 204 and changes nothing."""
    providers: dict[str, PaymentProvider] = request.app.state.payment_providers
    provider = providers.get("wechat_pay")
    if not isinstance(provider, WeChatPayProvider):
        raise NotFound("payment provider", "wechat_pay")
    body = await request.body()
    try:
        verdict = provider.verify_notification(
            headers={k.lower(): v for k, v in request.headers.items()}, body=body, now=utcnow()
        )
    except NotificationRefused as exc:
        raise NotificationInvalid(str(exc)) from exc
    if isinstance(verdict, RefundVerdict):
        known = await refunds.settle_notified_refund(
            request.app.state.db,
            out_refund_no=verdict.out_refund_no,
            state=verdict.state,
            gateway_refund_id=verdict.refund_id,
        )
        if not known:
            raise NotFound("refund", verdict.out_refund_no)
        return Response(status_code=204)
    await payments.settle_notified_payment(
        request.app.state.db,
        provider_ref=verdict.provider_ref,
        status=verdict.status,
        amount=verdict.amount,
        providers=providers,
    )
    return Response(status_code=204)


@router.post("/alipay/notify", response_class=PlainTextResponse)
async def alipay_notify(request: Request) -> PlainTextResponse:
    """Alipay's asynchronous notification (form-encoded), verified before anything is stored.
    ``success`` (plain text, what Alipay waits for) once settled, or when the trade status
    settles nothing (``WAIT_BUYER_PAY``, ``TRADE_CLOSED``); a repeat of a settled notification
    is ``success`` and changes nothing. A bad signature or another app's notification is 401,
    an unknown trade 404, a wrong amount 422: Alipay retries anything but ``success``."""
    providers: dict[str, PaymentProvider] = request.app.state.payment_providers
    provider = providers.get("alipay")
    if not isinstance(provider, AlipayProvider):
        raise NotFound("payment provider", "alipay")
    try:
        verdict = provider.verify_notification(await request.body())
    except alipay.NotificationRefused as exc:
        raise NotificationInvalid(str(exc)) from exc
    if verdict.settles:
        await payments.settle_notified_payment(
            request.app.state.db,
            provider_ref=verdict.provider_ref,
            status=PaymentStatus.CAPTURED,
            amount=verdict.amount,
            providers=providers,
        )
    return PlainTextResponse("success")
