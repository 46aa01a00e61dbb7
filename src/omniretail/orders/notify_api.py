"""Payment providers' signed notifications that settle online payments (WeChat Pay APIv3)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from omniretail.db import Database, utcnow
from omniretail.errors import NotFound, Unauthenticated
from omniretail.orders import payments
from omniretail.payments.providers import PaymentProvider
from omniretail.payments.wechatpay import NotificationRefused, WeChatPayProvider

router = APIRouter(prefix="/v1/payments", tags=["payments"])


class NotificationInvalid(Unauthenticated):
    code = "notification_invalid"
    title = "The payment notification is not verifiable"


@router.post("/wechat_pay/notify", status_code=204)
async def wechat_pay_notify(request: Request) -> Response:
    """Verified on the raw body before anything is read; 204 once settled (WeChat Pay treats
    any 2xx as received). A repeat of a settled notification is 204 and changes nothing."""
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
    db: Database = request.app.state.db
    async with db.uow(unscoped=True) as uow:
        tenant_id = await payments.tenant_of_payment(uow, verdict.provider_ref)
    async with db.uow(tenant_id) as uow:
        await payments.do_settle_payment(
            uow,
            provider_ref=verdict.provider_ref,
            status=verdict.status,
            amount=verdict.amount,
            providers=providers,
        )
    return Response(status_code=204)
