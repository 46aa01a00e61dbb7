"""Guide screen (store): identify a member by phone or member code, then see them whole:
orders on every channel, recent views and try-ons, points and tier, consent, and what of the
products they looked at is in stock here (suggestions). Read only; the same service calls as
``GET /v1/customers/{id}`` and ``GET /v1/orders?customer_id=`` with a store key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from omniretail.auth.domain import Permission
from omniretail.auth.staff_domain import mask_phone
from omniretail.catalog import service as catalog
from omniretail.console.context import ConsoleDep
from omniretail.customers import search as customer_search
from omniretail.customers import service as customers
from omniretail.customers.schemas import CustomerOut
from omniretail.db import UnitOfWork
from omniretail.errors import DomainError
from omniretail.inventory import service as inventory
from omniretail.loyalty import service as loyalty
from omniretail.network import service as network
from omniretail.orders import queries
from omniretail.orders.schemas import OrderOut
from omniretail.schemas import Code

router = APIRouter(prefix="/console/stores/{store}/guide", include_in_schema=False)

CANDIDATES = 5  # people a phone, member code or name may match
ORDERS = 10  # the newest orders shown, every channel
SUGGESTED_PRODUCTS = 5  # products looked at lately whose variants are checked here


@dataclass(frozen=True, slots=True)
class Suggestion:
    sku: str
    title: str
    attributes: dict[str, object]
    price: int
    available_here: int
    looked_at: bool  # this very variant was viewed or tried on


async def _suggestions(uow: UnitOfWork, store: str, looked_at: list[str]) -> list[Suggestion]:
    """Every variant, available here, of the products behind the SKUs looked at lately."""
    seen_products: set[str] = set()
    found: list[Suggestion] = []
    for sku in looked_at:
        if len(seen_products) >= SUGGESTED_PRODUCTS:
            break
        try:
            product = await catalog.product_by_sku(uow, sku)
        except DomainError:
            continue  # a view of a SKU since removed from the catalogue
        if product.code in seen_products:
            continue
        seen_products.add(product.code)
        for variant in product.variants:
            here = next(
                (
                    p.available
                    for p in (await inventory.stock_of_sku(uow, variant.sku)).positions
                    if p.location == store
                ),
                0,
            )
            if here > 0:
                found.append(
                    Suggestion(
                        sku=variant.sku,
                        title=product.title,
                        attributes=dict(variant.attributes),
                        price=variant.price,
                        available_here=here,
                        looked_at=variant.sku in looked_at,
                    )
                )
    return found


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
        suggestions: list[Suggestion] = []
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
                profile = person.profile
                looked_at = (
                    [e.sku for e in [*profile.recent_try_ons, *profile.recent_views] if e.sku]
                    if profile
                    else []
                )
                suggestions = await _suggestions(uow, store, looked_at)
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
