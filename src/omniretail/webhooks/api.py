"""HTTP surface of outgoing webhooks: admin keys only (a subscription carries tenant data
to an address of the merchant's choosing)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from omniretail.auth.domain import Permission
from omniretail.config import Settings
from omniretail.connectors.vault import CredentialVault
from omniretail.db import utcnow
from omniretail.schemas import Page
from omniretail.web import CtxDep, PageDep, ServerIdPath, keyed_page
from omniretail.webhooks import service
from omniretail.webhooks.domain import DeliveryStatus
from omniretail.webhooks.schemas import DeliveryOut, SubscriptionIn, SubscriptionOut

router = APIRouter(prefix="/v1/webhook-subscriptions", tags=["webhooks"])

SubscriptionId = Annotated[str, Path(pattern=r"^whs_[0-9a-f]{16}$")]


def _vault(request: Request) -> CredentialVault:
    vault: CredentialVault = request.app.state.connector_vault
    return vault


def _allow_loopback(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.webhooks_allow_loopback


@router.post("", status_code=201, response_model=SubscriptionOut)
async def create_subscription(body: SubscriptionIn, ctx: CtxDep) -> JSONResponse:
    """Subscribe a URL to events. The URL must be http(s) and resolve to public addresses
    (422 `webhook_url_refused` otherwise). The reply carries the signing `secret`: keep it,
    it is never shown again."""
    ctx.require(Permission.WEBHOOKS_MANAGE)
    async with ctx.uow() as uow:
        return await ctx.create(
            uow,
            lambda: service.do_create_subscription(
                uow,
                data=body,
                vault=_vault(ctx.request),
                allow_loopback=_allow_loopback(ctx.request),
            ),
        )


@router.get("", response_model=Page[SubscriptionOut])
async def list_subscriptions(ctx: CtxDep, paging: PageDep) -> dict[str, Any]:
    ctx.require(Permission.WEBHOOKS_MANAGE)
    async with ctx.uow() as uow:
        rows = await service.list_subscriptions(uow, limit=paging.limit, after=paging.after)
    return keyed_page(list(rows), limit=paging.limit)


@router.delete("/{subscription_id}", status_code=204)
async def delete_subscription(subscription_id: SubscriptionId, ctx: CtxDep) -> Response:
    """Stop sending; pending deliveries are cancelled."""
    ctx.require(Permission.WEBHOOKS_MANAGE)
    async with ctx.uow() as uow:
        await service.do_delete_subscription(uow, public_id=subscription_id)
    return Response(status_code=204)


@router.get("/{subscription_id}/deliveries", response_model=Page[DeliveryOut])
async def list_deliveries(
    subscription_id: SubscriptionId,
    ctx: CtxDep,
    paging: PageDep,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> dict[str, Any]:
    """The delivery log, newest first: status, tries, last answer, next try."""
    ctx.require(Permission.WEBHOOKS_MANAGE)
    async with ctx.uow() as uow:
        subscription = await service.access_subscription(uow, subscription_id)
        rows = await service.list_deliveries(
            uow, subscription=subscription, status=status, limit=paging.limit, after=paging.after
        )
    return keyed_page(list(rows), limit=paging.limit)


@router.post("/{subscription_id}/deliveries/{delivery_id}/resend", response_model=DeliveryOut)
async def resend_delivery(
    subscription_id: SubscriptionId, delivery_id: ServerIdPath, ctx: CtxDep
) -> DeliveryOut:
    """Send a dead delivery again (after the receiver was fixed): a new round of tries, the
    first at once, same body and event id. 409 `webhook_delivery_not_dead` unless it is dead."""
    ctx.require(Permission.WEBHOOKS_MANAGE)
    async with ctx.uow() as uow:
        subscription = await service.access_subscription(uow, subscription_id)
        return await service.do_resend_delivery(
            uow, subscription=subscription, delivery_id=delivery_id, now=utcnow()
        )


@router.post("/{subscription_id}/rotate-secret", response_model=SubscriptionOut)
async def rotate_secret(subscription_id: SubscriptionId, ctx: CtxDep) -> SubscriptionOut:
    """Replace the signing secret; the reply carries the new `secret`, shown this once. No
    overlap: from now on every try is signed with the new secret only (tries that fail while
    the receiver switches are retried with backoff)."""
    ctx.require(Permission.WEBHOOKS_MANAGE)
    async with ctx.uow() as uow:
        subscription = await service.access_subscription(uow, subscription_id)
        return await service.do_rotate_secret(
            uow, subscription=subscription, vault=_vault(ctx.request)
        )
