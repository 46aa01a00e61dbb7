"""HQ catalogue and prices: products by code (searched by code, title, SKU or barcode), paged;
one product with its variants and each variant's price history; the catalogue as CSV (the
file ``omni import`` reads, with a BOM for Excel). Read only, as ``GET /v1/products``,
``GET /v1/skus/{sku}/prices`` and ``GET /v1/exports/products``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from omniretail.catalog import service as catalog
from omniretail.console.context import ConsoleDep
from omniretail.errors import DomainError
from omniretail.imports import service as imports
from omniretail.imports.encoding import encode_csv
from omniretail.imports.service import Kind
from omniretail.schemas import Code

router = APIRouter(prefix="/console/catalogue", include_in_schema=False)

PAGE = 50
PRICE_CHANGES = 20  # the newest per variant


@router.get("")
async def products(
    ctx: ConsoleDep,
    q: Annotated[str, Query(max_length=64)] = "",
    after: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    try:
        ctx.require_hq()
        async with ctx.uow() as uow:
            rows = await catalog.list_products(
                uow, limit=PAGE, after=after or None, q=q.strip() or None
            )
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render(
        "catalogue.html",
        q=q,
        products=rows[:PAGE],
        next_after=rows[PAGE - 1].code if len(rows) > PAGE else None,
    )


@router.get("/export.csv")
async def export(ctx: ConsoleDep) -> Response:
    try:
        ctx.require_hq()
        async with ctx.uow() as uow:
            text = await imports.export(uow, kind=Kind.PRODUCTS)
    except DomainError as exc:
        return ctx.error(exc)
    return Response(
        encode_csv(text, bom=True),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="products.csv"'},
    )


@router.get("/{code}")
async def product(code: Code, ctx: ConsoleDep) -> HTMLResponse:
    try:
        ctx.require_hq()
        async with ctx.uow() as uow:
            found = await catalog.get_product(uow, code)
            prices = {
                v.sku: await catalog.price_history(uow, v.sku, limit=PRICE_CHANGES)
                for v in found.variants
            }
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render("product.html", product=found, prices=prices)
