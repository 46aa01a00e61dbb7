"""Endless aisle: the clerk orders a variant that is not on the shelf here for pickup at a
nearby store, attributed to this store and clerk. The same checkout, pricing and permission
rules as ``POST /v1/orders`` with a store key: in-person tenders are for in-store sales only,
so the customer pays online (the sandbox provider here) and the order waits for payment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError as PydanticValidationError

from omniretail.auth.domain import Permission
from omniretail.console.context import ConsoleDep
from omniretail.errors import DomainError, ValidationFailed
from omniretail.orders import checkout, pricing_port
from omniretail.orders.access import Caller
from omniretail.orders.domain import Mode
from omniretail.orders.numbers import with_fresh_number
from omniretail.orders.schemas import FulfilmentIn, LineIn, OrderIn, OrderOut, PaymentIn
from omniretail.payments.providers import PaymentProvider
from omniretail.schemas import Code

router = APIRouter(prefix="/console/stores/{store}", include_in_schema=False)

COUNTER_CHANNEL = "pos"  # orders taken at a store counter are the store POS channel's
ONLINE_PAYMENT = "sandbox"  # the built-in online provider; a real one plugs in the same way


def payment_providers(request: Request) -> dict[str, PaymentProvider]:
    found: dict[str, PaymentProvider] = request.app.state.payment_providers
    return found


def _checked(sku: str, qty: int, pickup_at: str) -> tuple[LineIn, FulfilmentIn]:
    try:
        return LineIn(sku=sku, qty=qty), FulfilmentIn(mode=Mode.PICKUP, location=pickup_at)
    except PydanticValidationError as exc:
        raise ValidationFailed(
            "invalid order",
            [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()],
        ) from exc


@router.post("/aisle-orders")
async def aisle_order(
    store: Code,
    ctx: ConsoleDep,
    sku: Annotated[str, Form(min_length=1, max_length=64)],
    pickup_at: Annotated[str, Form(min_length=1, max_length=64)],
    qty: Annotated[int, Form(ge=1, le=99)] = 1,
) -> HTMLResponse:
    try:
        ctx.require(Permission.ORDERS_WRITE)
        ctx.require_store(store)
        caller = Caller(actor=ctx.staff.actor, location=ctx.caller_location(store))
        line, where = _checked(sku, qty, pickup_at)

        async def placed() -> OrderOut:
            async with ctx.uow() as uow:
                quote = await pricing_port.price_cart(
                    uow,
                    channel=COUNTER_CHANNEL,
                    customer_id=None,
                    location=where.location,
                    lines=[(line.sku, line.qty)],
                    coupon_codes=[],
                )
                return await checkout.do_place_order(
                    uow,
                    data=OrderIn(
                        channel=COUNTER_CHANNEL,
                        lines=[line],
                        fulfillment=where,
                        payments=[PaymentIn(method=ONLINE_PAYMENT, amount=max(1, quote.total))],
                        attributed_location=store,
                        attributed_staff=f"staff:{ctx.staff.id}",
                    ),
                    caller=caller,
                    providers=payment_providers(ctx.request),
                )

        # The number drawn taken: the whole placing again, under another number.
        order = await with_fresh_number(placed)
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render("aisle_done.html", 201, store=store, order=order)
