from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from omniretail.auth.cache import principal_cache
from omniretail.auth.domain import Permission
from omniretail.channels import service as channels
from omniretail.db import UnitOfWork
from omniretail.errors import Unauthenticated, ValidationFailed
from omniretail.group_commit import group_commit
from omniretail.inventory.batch_sales import BatchSale
from omniretail.lean_route import LeanRoute
from omniretail.network import service as network
from omniretail.orders import bulk, checkout, fulfilment, payments, pickup, queries, read_first
from omniretail.orders.access import Caller, check_order_visible
from omniretail.orders.domain import Action, Mode, OrderStatus
from omniretail.orders.numbers import with_fresh_number
from omniretail.orders.schemas import (
    BulkAction,
    BulkActionsIn,
    BulkActionsOut,
    BulkErrorOut,
    BulkResultOut,
    FulfilmentOut,
    OrderIn,
    OrderOut,
    PaymentCallbackIn,
    PickupVerifyIn,
    RejectIn,
)
from omniretail.payments.providers import PaymentProvider, PaymentStatus, SandboxProvider
from omniretail.problems import status_for
from omniretail.schemas import Code, Page
from omniretail.web import Ctx, CtxDep, IdPageDep, keyed_page

router = APIRouter(prefix="/v1", tags=["orders"], route_class=LeanRoute)


def providers(request: Request) -> dict[str, PaymentProvider]:
    found: dict[str, PaymentProvider] = request.app.state.payment_providers
    return found


async def caller(ctx: Ctx, uow: UnitOfWork) -> Caller:
    """The key asking, with the scope it acts in (which channels' orders it may see); the
    channels are kept beside the principal in the principal cache (``auth.cache``)."""
    channel = ctx.principal.channel_code
    visible: frozenset[str] | None = None
    if channel is not None:
        visible = await principal_cache(ctx.db).derived(
            ctx.principal, "visible_channels", lambda: channels.visible_channels(uow, channel)
        )
    return Caller(
        actor=ctx.actor,
        location=ctx.principal.location_code,
        channel=channel,
        channels=visible,
    )


@router.post("/orders", status_code=201, response_model=OrderOut)
async def place_order(body: OrderIn, ctx: CtxDep) -> JSONResponse:
    ctx.require(Permission.ORDERS_WRITE)
    prepared = None
    if ctx.db.is_sqlite:  # price and plan before the single writer's lock (orders.read_first)
        async with ctx.db.uow(ctx.principal.tenant_id, read_only=True) as uow:
            prepared = await read_first.prepare_order(uow, data=body)

    async def placed(uow: UnitOfWork) -> JSONResponse:
        who = await caller(ctx, uow)

        async def place() -> OrderOut:
            confirmed = prepared and await read_first.confirm(uow, prepared, data=body)
            return await checkout.do_place_order(
                uow,
                data=body,
                caller=who,
                providers=providers(ctx.request),
                prepared=confirmed,
            )

        return await ctx.create(uow, place)

    location = body.fulfillment.location
    if body.fulfillment.mode is Mode.IN_STORE and location is not None and not ctx.db.is_sqlite:
        # Till sales of the same SKUs at one store share one transaction and one commit per
        # batch, and take their stock together last (``inventory.batch_sales``).
        await ctx.request.body()  # read here, in the request's own task
        till = ("till", location, tuple(sorted({line.sku for line in body.lines})))

        async def sold() -> JSONResponse:
            response: JSONResponse = await group_commit(ctx.db).run(
                till, tenant_id=ctx.principal.tenant_id, work=placed, shared=BatchSale(location)
            )
            return response

        # A batch whose first attempt failed on a taken number ran each request's ``placed``
        # again, each drawing a new number; a request whose number was taken even then is
        # sent again, in a batch of its own.
        return await with_fresh_number(sold)

    async def alone() -> JSONResponse:
        async with read_first.write_turn(ctx.db), ctx.uow() as uow:
            return await placed(uow)

    # A taken number rolled the whole unit of work back: placed again under a new number.
    return await with_fresh_number(alone)


@router.get("/orders", response_model=Page[OrderOut])
async def list_orders(
    ctx: CtxDep,
    paging: IdPageDep,
    channel: Code | None = None,
    customer_id: Annotated[str | None, "customer public id"] = None,
    location: Code | None = None,
    status: OrderStatus | None = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=64, description="order number (or start) or id")
    ] = None,
    placed_from: Annotated[
        dt.datetime | None, Query(description="placed at or after (ISO 8601 with offset)")
    ] = None,
    placed_before: Annotated[dt.datetime | None, Query(description="placed before")] = None,
) -> dict[str, Any]:
    ctx.require(Permission.READ)
    for name, value in (("placed_from", placed_from), ("placed_before", placed_before)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(
                "times need a UTC offset",
                [{"field": name, "message": "give an offset: 2026-11-26T00:00:00+08:00"}],
            )
    async with ctx.uow() as uow:
        who = await caller(ctx, uow)
        rows = await queries.list_orders(
            uow,
            limit=paging.limit,
            after=paging.after,
            channel=channel,
            channels=who.channels,
            customer_id=customer_id,
            location=location,
            status=status,
            q=q,
            placed_from=placed_from,
            placed_before=placed_before,
        )
    return keyed_page(list(rows), limit=paging.limit)


@router.get("/orders/{order_id}", response_model=OrderOut)
async def get_order(order_id: Code, ctx: CtxDep) -> OrderOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        who = await caller(ctx, uow)
        order = await queries.get_order(uow, order_id)
    check_order_visible(order_id=order_id, order_channel=order.channel, channels=who.channels)
    return order


@router.post("/orders/{order_id}/cancel", response_model=OrderOut)
async def cancel_order(order_id: Code, ctx: CtxDep) -> OrderOut:
    ctx.require(Permission.ORDERS_WRITE)
    async with ctx.uow() as uow:
        order = await fulfilment.do_cancel_order(
            uow,
            order_id=order_id,
            actor=ctx.actor,
            providers=providers(ctx.request),
            caller=await caller(ctx, uow),
        )
        return queries.order_out(order)


def _action_route(action: Action) -> Any:
    async def act(fulfillment_id: Code, ctx: CtxDep) -> FulfilmentOut:
        ctx.require(Permission.FULFIL)
        async with ctx.uow() as uow:
            return await fulfilment.do_fulfilment_action(
                uow,
                fulfilment_id=fulfillment_id,
                action=action,
                actor=ctx.actor,
                caller_location=ctx.principal.location_code,
            )

    act.__name__ = f"fulfillment_{action.value.replace('-', '_')}"
    return act


for _action in (
    Action.ACCEPT,
    Action.PICK,
    Action.READY,
    Action.SHIP,
    Action.DELIVER,
    Action.CANCEL,
):
    router.add_api_route(
        f"/fulfillments/{{fulfillment_id}}/{_action.value}",
        _action_route(_action),
        methods=["POST"],
        response_model=FulfilmentOut,
        summary=f"{_action.value} a fulfilment",
    )


@router.post("/fulfillments/{fulfillment_id}/reject", response_model=FulfilmentOut)
async def reject_fulfilment(fulfillment_id: Code, body: RejectIn, ctx: CtxDep) -> FulfilmentOut:
    ctx.require(Permission.FULFIL)
    async with ctx.uow() as uow:
        return await fulfilment.do_reject(
            uow,
            fulfilment_id=fulfillment_id,
            reason=body.reason,
            note=body.note,
            actor=ctx.actor,
            caller_location=ctx.principal.location_code,
        )


@router.post("/fulfillments/actions", response_model=BulkActionsOut)
async def fulfilment_actions(body: BulkActionsIn, ctx: CtxDep) -> BulkActionsOut:
    """Up to 500 fulfilment actions (accept, pick, ready, ship, deliver, cancel, reject with
    a reason) in one request. Each item succeeds or is refused on its own, with the same rules
    and scope as the single actions: a store key's items for another location are refused
    (403 in that item's result) and change nothing."""
    ctx.require(Permission.FULFIL)
    items = [
        bulk.BulkItem(
            fulfilment_id=a.fulfillment_id, action=Action(a.action.value), reason=a.reason,
            note=a.note,
        )
        for a in body.actions
    ]  # fmt: skip
    async with ctx.uow() as uow:
        outcomes = await bulk.do_bulk_actions(
            uow, items=items, actor=ctx.actor, caller_location=ctx.principal.location_code
        )
    results = [
        BulkResultOut(
            index=o.index,
            fulfillment_id=o.item.fulfilment_id,
            action=BulkAction(o.item.action.value),
            ok=o.error is None,
            fulfillment=o.result,
            error=None
            if o.error is None
            else BulkErrorOut(
                status=status_for(o.error),
                code=o.error.code,
                title=o.error.title,
                detail=o.error.detail,
            ),
        )
        for o in outcomes
    ]
    failed = sum(1 for r in results if not r.ok)
    return BulkActionsOut(succeeded=len(results) - failed, failed=failed, results=results)


async def _verify(ctx: Ctx, code: str, location: str) -> FulfilmentOut:
    ctx.require(Permission.PICKUP_VERIFY)
    async with ctx.uow() as uow:
        location_id = (await network.location_ref(uow, location))[0]
    ctx.require_location(location_id)
    try:
        async with ctx.uow() as uow:
            return await pickup.do_verify_pickup(
                uow, code=code, location=location, actor=ctx.actor, key_id=ctx.principal.key_id
            )
    except (pickup.PickupCodeInvalid, pickup.PickupCodeUsed):
        # The failed guess is logged in its own transaction: the one above rolled back.
        async with ctx.uow() as uow:
            await pickup.do_record_failed_attempt(
                uow, location=location, key_id=ctx.principal.key_id
            )
        raise


@router.post("/pickups/verify", response_model=FulfilmentOut)
async def verify_pickup(body: PickupVerifyIn, ctx: CtxDep) -> FulfilmentOut:
    return await _verify(ctx, body.code, body.location)


@router.post("/fulfillments/{fulfillment_id}/hand-over", response_model=FulfilmentOut)
async def hand_over(fulfillment_id: Code, body: PickupVerifyIn, ctx: CtxDep) -> FulfilmentOut:
    """A pickup is handed over only with its code (the same check as ``/pickups/verify``)."""
    result = await _verify(ctx, body.code, body.location)
    if result.id != fulfillment_id:
        raise pickup.PickupCodeInvalid("this code belongs to another pickup")
    return result


@router.post("/payments/sandbox/callback", response_model=OrderOut, tags=["payments"])
async def sandbox_callback(body: PaymentCallbackIn, request: Request) -> OrderOut:
    """The sandbox provider's asynchronous confirmation, authenticated by its signature."""
    sandbox = providers(request)["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    if not sandbox.configured:
        raise Unauthenticated(
            "sandbox callbacks are refused: this server has no OMNI_SANDBOX_PAYMENT_SECRET"
        )
    if not sandbox.verify(body.provider_ref, body.status, body.amount, body.signature):
        raise Unauthenticated("the callback signature does not match")
    return await payments.settle_notified_payment(
        request.app.state.db,
        provider_ref=body.provider_ref,
        status=PaymentStatus(body.status),
        amount=body.amount,
        providers=providers(request),
    )
