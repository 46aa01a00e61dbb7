"""Guide screen (store): identify a member by phone or member code, then see them whole:
orders on every channel, recent views and try-ons, points and tier, consent, and what goes with
what they bought or looked at that is in stock here (pairing suggestions). Read only; the same
service calls as ``GET /v1/customers/{id}``, ``GET /v1/orders?customer_id=`` and
``GET /v1/customers/{id}/suggestions?location=`` with a store key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from omniretail.auth.domain import Permission
from omniretail.auth.staff_domain import mask_phone
from omniretail.console.context import ConsoleDep
from omniretail.customers import search as customer_search
from omniretail.customers import service as customers
from omniretail.customers.schemas import CustomerOut
from omniretail.engagement import suggestions as engagement
from omniretail.engagement.schemas import SuggestionOut
from omniretail.errors import DomainError
from omniretail.loyalty import service as loyalty
from omniretail.network import service as network
from omniretail.orders import queries
from omniretail.orders.schemas import OrderOut
from omniretail.schemas import Code

router = APIRouter(prefix="/console/stores/{store}/guide", include_in_schema=False)

CANDIDATES = 5  # people a phone, member code or name may match
ORDERS = 10  # the newest orders shown, every channel
SUGGESTIONS = 8  # pairings in stock here


@router.get("")
async def guide(
    store: Code,
    ctx: ConsoleDep,
    q: Annotated[str, Query(max_length=64)] = "",
    customer: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    try:
        ctx.require(Permission.READ)
        ctx.require_store(store)
        candidates: list[CustomerOut] = []
        person: CustomerOut | None = None
        orders: list[OrderOut] = []
        suggestions: list[SuggestionOut] = []
        points = None
        async with ctx.uow() as uow:
            await network.location_ref(uow, store)
            if customer:
                person = await customers.get_customer(uow, customer)
            elif q.strip():
                rows = await customer_search.list_customers(uow, limit=CANDIDATES, q=q)
                candidates = [c for _, c in rows[:CANDIDATES]]
                if len(candidates) == 1:
                    person = await customers.get_customer(uow, candidates[0].id)
            if person is not None:
                points = await loyalty.points_summary(uow, customer_id=person.id)
                orders = [
                    o
                    for _, o in await queries.list_orders(uow, limit=ORDERS, customer_id=person.id)
                ][:ORDERS]
                suggestions = (
                    await engagement.customer_suggestions(
                        uow, customer_id=person.id, location=store, limit=SUGGESTIONS
                    )
                ).items
    except DomainError as exc:
        return ctx.error(exc)
    phone = (
        next((i.value for i in person.identities if i.type == "phone"), None) if person else None
    )
    return ctx.render(
        "guide.html",
        store=store,
        q=q,
        candidates=candidates,
        person=person,
        masked_phone=mask_phone(phone),
        points=points,
        orders=orders,
        suggestions=suggestions,
    )
