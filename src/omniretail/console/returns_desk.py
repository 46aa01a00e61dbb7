"""Returns desk and exchanges (store): find an order by number, id or the customer's phone,
choose the lines coming back here (resellable or damaged), see the exact refund per tender,
then confirm. An exchange swaps a line for another variant (another size) in one step.

The same services and rules as ``POST /v1/returns`` and ``POST /v1/exchanges`` with a store
key: goods are received at this store only, online orders included."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import FormData

from omniretail.auth.domain import Permission
from omniretail.console.aisle import COUNTER_CHANNEL, payment_providers
from omniretail.console.context import ConsoleDep
from omniretail.customers import search as customer_search
from omniretail.errors import DomainError, ValidationFailed
from omniretail.network import service as network
from omniretail.orders import queries
from omniretail.orders.access import Caller
from omniretail.orders.checkout import PaymentMismatch
from omniretail.orders.domain import Mode
from omniretail.orders.schemas import FulfilmentIn, LineIn, OrderOut, PaymentIn
from omniretail.returns import exchanges, quote, service
from omniretail.returns.schemas import (
    Condition,
    ExchangeIn,
    ExchangeOrderIn,
    ReturnIn,
    ReturnLineIn,
)
from omniretail.schemas import Code

router = APIRouter(prefix="/console/stores/{store}/returns", include_in_schema=False)

FOUND = 20  # orders shown for one search (the newest)
CUSTOMERS = 5  # customers a phone or name may match


def _invalid(exc: PydanticValidationError) -> ValidationFailed:
    return ValidationFailed(
        "invalid return",
        [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()],
    )


def _lines(form: FormData, order: OrderOut) -> list[ReturnLineIn]:
    """``qty_<sku>`` and ``condition_<sku>`` for the order's own lines; others are ignored."""
    lines = []
    try:
        for line in order.lines:
            raw = form.get(f"qty_{line.sku}")
            qty = int(raw) if isinstance(raw, str) and raw.strip() else 0
            if qty:
                condition = form.get(f"condition_{line.sku}") or Condition.RESELLABLE.value
                lines.append(ReturnLineIn(sku=line.sku, qty=qty, condition=condition))
    except ValueError as exc:
        if isinstance(exc, PydanticValidationError):
            raise _invalid(exc) from exc
        raise ValidationFailed(
            "invalid return", [{"field": "qty", "message": "a whole number"}]
        ) from exc
    if not lines:
        raise ValidationFailed(
            "nothing to return", [{"field": "qty", "message": "choose at least one item"}]
        )
    return lines


def _desk(ctx: ConsoleDep, store: str, permission: Permission) -> None:
    ctx.require(permission)
    ctx.require_store(store)


@router.get("")
async def find(
    store: Code, ctx: ConsoleDep, q: Annotated[str, Query(max_length=64)] = ""
) -> HTMLResponse:
    """An order number (or its start) or id; otherwise a phone or name finds the customer's
    orders."""
    try:
        _desk(ctx, store, Permission.READ)
        found: list[OrderOut] = []
        async with ctx.uow() as uow:
            await network.location_ref(uow, store)
            if q.strip():
                found = [o for _, o in await queries.list_orders(uow, limit=FOUND, q=q)][:FOUND]
                if not found:
                    people = await customer_search.list_customers(uow, limit=CUSTOMERS, q=q)
                    for _, person in people[:CUSTOMERS]:
                        rows = await queries.list_orders(uow, limit=FOUND, customer_id=person.id)
                        found += [o for _, o in rows[:FOUND]]
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render("returns_find.html", store=store, q=q, orders=found[:FOUND])


async def _order_page(
    ctx: ConsoleDep, store: str, order_id: str, status: int = 200, **extra: object
) -> HTMLResponse:
    async with ctx.uow() as uow:
        order = await queries.get_order(uow, order_id)
        returns = await service.returns_of_order(uow, order_id)
    return ctx.render(
        "returns_order.html",
        status,
        store=store,
        order=order,
        returns=returns,
        conditions=list(Condition),
        may_return=ctx.staff.can(Permission.RETURNS_WRITE),
        **extra,
    )


@router.get("/{order_id}")
async def order_page(store: Code, order_id: Code, ctx: ConsoleDep) -> HTMLResponse:
    try:
        _desk(ctx, store, Permission.READ)
        return await _order_page(ctx, store, order_id)
    except DomainError as exc:
        return ctx.error(exc)


@router.post("/{order_id}/quote")
async def quote_page(store: Code, order_id: Code, ctx: ConsoleDep) -> HTMLResponse:
    """The exact refund, per line and per tender, before anything is written."""
    try:
        _desk(ctx, store, Permission.RETURNS_WRITE)
        form = await ctx.request.form()
        async with ctx.uow() as uow:
            order = await queries.get_order(uow, order_id)
            lines = _lines(form, order)
            found = await quote.quote_return(
                uow,
                data=ReturnIn(
                    order_id=order_id, lines=lines, location=store, channel=COUNTER_CHANNEL
                ),
                actor=ctx.staff.actor,
                caller_location=ctx.caller_location(store),
            )
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render("returns_quote.html", store=store, order=order, quote=found)


@router.post("/{order_id}")
async def take_return(store: Code, order_id: Code, ctx: ConsoleDep) -> HTMLResponse:
    try:
        _desk(ctx, store, Permission.RETURNS_WRITE)
        form = await ctx.request.form()
        async with ctx.uow() as uow:
            order = await queries.get_order(uow, order_id)
            lines = _lines(form, order)
            done = await service.do_create_return(
                uow,
                data=ReturnIn(
                    order_id=order_id, lines=lines, location=store, channel=COUNTER_CHANNEL
                ),
                actor=ctx.staff.actor,
                caller_location=ctx.caller_location(store),
                providers=payment_providers(ctx.request),
            )
        return await _order_page(ctx, store, order_id, 201, taken=done)
    except DomainError as exc:
        return ctx.error(exc)


@router.post("/{order_id}/exchange")
async def exchange(
    store: Code,
    order_id: Code,
    ctx: ConsoleDep,
    sku: Annotated[str, Form(min_length=1, max_length=64)],
    new_sku: Annotated[str, Form(min_length=1, max_length=64)],
    qty: Annotated[int, Form(ge=1, le=99)] = 1,
    condition: Annotated[str, Form(max_length=16)] = Condition.RESELLABLE.value,
    pay_method: Annotated[str, Form(pattern="^(cash|card_present)?$")] = "",
    pay_amount: Annotated[int, Form(ge=0, le=100_000_000)] = 0,
) -> HTMLResponse:
    """One variant back, another out, at this store; the returned value pays for the new one.
    A dearer one is not written at once: the page names the difference, and the clerk
    confirms it taken at the till (cash or card), which the exchange must add up to."""
    try:
        _desk(ctx, store, Permission.RETURNS_WRITE)
        ctx.require(Permission.ORDERS_WRITE)
        try:
            data = ExchangeIn(
                order_id=order_id,
                channel=COUNTER_CHANNEL,
                location=store,
                lines=[ReturnLineIn(sku=sku, qty=qty, condition=condition)],
                new_order=ExchangeOrderIn(
                    lines=[LineIn(sku=new_sku, qty=qty)],
                    fulfillment=FulfilmentIn(mode=Mode.IN_STORE, location=store),
                    payments=[PaymentIn(method=pay_method, amount=pay_amount)]
                    if pay_method and pay_amount
                    else [],
                    attributed_staff=f"staff:{ctx.staff.id}",
                ),
            )
        except PydanticValidationError as exc:
            raise _invalid(exc) from exc
        try:
            async with ctx.uow() as uow:
                swapped = await exchanges.do_exchange(
                    uow,
                    data=data,
                    caller=Caller(actor=ctx.staff.actor, location=ctx.caller_location(store)),
                    providers=payment_providers(ctx.request),
                )
        except PaymentMismatch as exc:
            due = int(exc.extra.get("amount_due", 0))
            if pay_method or due <= 0:
                raise
            # Nothing was written (the unit of work rolled back): ask for the difference.
            difference = {"sku": sku, "new_sku": new_sku, "qty": qty, "condition": condition}
            return await _order_page(ctx, store, order_id, 200, due=due, difference=difference)
        return await _order_page(ctx, store, order_id, 201, swapped=swapped)
    except DomainError as exc:
        return ctx.error(exc)
