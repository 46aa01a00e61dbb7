"""Store screens: today's queue, paginated (accept, pick list, ready, reject with a reason),
pickup handover by code (check, then confirm), and stock lookup here and nearby."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from omniretail.auth.domain import Permission
from omniretail.auth.staff_domain import mask_phone
from omniretail.catalog import service as catalog
from omniretail.console.context import ConsoleDep
from omniretail.customers import service as customers
from omniretail.errors import DomainError, NotFound, ValidationFailed
from omniretail.inventory import service as inventory
from omniretail.network import service as network
from omniretail.orders import fulfilment, pickup
from omniretail.orders.domain import Action, RejectReason
from omniretail.orders.queue import QUEUE_PAGE, fulfilment_location, order_customer, store_queue
from omniretail.problems import status_for
from omniretail.schemas import Code

router = APIRouter(prefix="/console/stores/{store}", include_in_schema=False)

QUEUE_ACTIONS = {a.value: a for a in (Action.ACCEPT, Action.PICK, Action.READY, Action.SHIP)}
NEARBY_KM = 20.0


async def _queue_page(
    ctx: ConsoleDep, store: str, page: int = 1, per_page: int = QUEUE_PAGE
) -> HTMLResponse:
    async with ctx.uow() as uow:
        await network.location_ref(uow, store)
        found = await store_queue(uow, location=store, page=page, per_page=per_page)
    return ctx.render(
        "queue.html",
        store=store,
        items=found.items,
        page=found.page,
        per_page=per_page,
        has_next=found.has_next,
        reasons=list(RejectReason),
        may_act=ctx.staff.can(Permission.FULFIL),
    )


@router.get("/queue")
async def queue(
    store: Code,
    ctx: ConsoleDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = QUEUE_PAGE,
) -> HTMLResponse:
    try:
        ctx.require(Permission.READ)
        ctx.require_store(store)
        return await _queue_page(ctx, store, page, per_page)
    except DomainError as exc:
        return ctx.error(exc)


@router.post("/fulfilments/{fulfilment_id}/{action}")
async def act(
    store: Code,
    fulfilment_id: Code,
    action: str,
    ctx: ConsoleDep,
    reason: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        ctx.require(Permission.FULFIL)
        ctx.require_store(store)
        async with ctx.uow() as uow:
            if await fulfilment_location(uow, fulfilment_id) != store:
                raise NotFound("fulfillment", fulfilment_id)
            if action == "reject":
                await fulfilment.do_reject(
                    uow,
                    fulfilment_id=fulfilment_id,
                    reason=_reason(reason),
                    note=note or None,
                    actor=ctx.staff.actor,
                    caller_location=ctx.caller_location(store),
                )
            elif action in QUEUE_ACTIONS:
                await fulfilment.do_fulfilment_action(
                    uow,
                    fulfilment_id=fulfilment_id,
                    action=QUEUE_ACTIONS[action],
                    actor=ctx.staff.actor,
                    caller_location=ctx.caller_location(store),
                )
            else:
                raise NotFound("action", action)
    except DomainError as exc:
        return ctx.error(exc)
    return RedirectResponse(f"/console/stores/{store}/queue", status_code=303)


def _reason(value: str) -> RejectReason:
    try:
        return RejectReason(value)
    except ValueError as exc:
        raise ValidationFailed(
            "choose a reason", [{"field": "reason", "message": "one of the listed reasons"}]
        ) from exc


@router.get("/handover")
async def handover_form(store: Code, ctx: ConsoleDep) -> HTMLResponse:
    try:
        ctx.require(Permission.PICKUP_VERIFY)
        ctx.require_store(store)
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render("handover.html", store=store, result=None)


@router.post("/handover")
async def handover(
    store: Code,
    ctx: ConsoleDep,
    code: Annotated[str, Form(max_length=32)] = "",
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> HTMLResponse:
    """Check first, then hand over. Without ``confirm`` the code is checked and the page shows
    the order, its lines and the customer; a second, explicit post with ``confirm`` hands it
    over (the same call as ``POST /v1/pickups/verify``: at this store only, once, when ready).
    Wrong codes at either step count against this person at this store (not the store's keys).
    """
    confirmed = confirm == "yes"
    try:
        ctx.require(Permission.PICKUP_VERIFY)
        ctx.require_store(store)
        try:
            async with ctx.uow() as uow:
                if confirmed:
                    found = await pickup.do_verify_pickup(
                        uow,
                        code=code.strip(),
                        location=store,
                        actor=ctx.staff.actor,
                        key_id=ctx.staff.throttle_id,
                    )
                else:
                    found = await pickup.check_pickup_code(
                        uow, code=code.strip(), location=store, key_id=ctx.staff.throttle_id
                    )
        except (pickup.PickupCodeInvalid, pickup.PickupCodeUsed):
            async with ctx.uow() as uow:
                await pickup.do_record_failed_attempt(
                    uow, location=store, key_id=ctx.staff.throttle_id
                )
            raise
        async with ctx.uow() as uow:
            customer_id = await order_customer(uow, found.order_id)
            customer = await customers.get_customer(uow, customer_id) if customer_id else None
    except DomainError as exc:
        response = ctx.render("handover.html", 200, store=store, result=None, problem=exc)
        response.status_code = status_for(exc)
        if retry := exc.extra.get("retry_after_seconds"):
            response.headers["Retry-After"] = str(retry)
        return response
    phone = (
        next((i.value for i in customer.identities if i.type == "phone"), None)
        if customer
        else None
    )
    return ctx.render(
        "handover.html",
        store=store,
        result=found,
        handed_over=confirmed,
        code=code.strip(),
        customer_name=customer.name if customer else None,
        masked_phone=mask_phone(phone),
    )


@router.get("/stock")
async def stock(store: Code, ctx: ConsoleDep, q: str = "") -> HTMLResponse:
    """A barcode or SKU: every variant of its product, with stock here and at nearby stores."""
    try:
        ctx.require(Permission.READ)
        ctx.require_store(store)
        rows: list[dict[str, object]] = []
        product = None
        async with ctx.uow() as uow:
            here = await network.get_location(uow, store)
            query = q.strip()
            if query:
                product = (
                    await catalog.product_by_barcode(uow, query)
                    if query.isdigit() and 8 <= len(query) <= 14
                    else await catalog.product_by_sku(uow, query)
                )
                near = await network.locations_near(
                    uow, lat=here.lat, lng=here.lng, radius_km=NEARBY_KM, limit=10
                )
                distance = {n.code: n.distance_km for n in near}
                for variant in product.variants:
                    stock_of = await inventory.stock_of_sku(uow, variant.sku)
                    by_location = {p.location: p for p in stock_of.positions}
                    rows.append(
                        {
                            "sku": variant.sku,
                            "variant": variant,
                            "here": by_location.get(store),
                            "nearby": sorted(
                                (
                                    (code, distance[code], p)
                                    for code, p in by_location.items()
                                    if code in distance and code != store and p.available > 0
                                ),
                                key=lambda item: item[1],
                            ),
                        }
                    )
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render(
        "stock.html",
        store=store,
        q=q,
        product=product,
        rows=rows,
        may_order=ctx.staff.can(Permission.ORDERS_WRITE),
    )
