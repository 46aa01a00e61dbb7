from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from omniretail.auth.domain import Permission
from omniretail.catalog import service
from omniretail.catalog.schemas import (
    PriceChangeOut,
    ProductIn,
    ProductOut,
    ProductPatch,
    ProductStatus,
)
from omniretail.schemas import Code, Page
from omniretail.web import CtxDep, PageDep, page

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.post("/products", status_code=201, response_model=ProductOut)
async def create_product(body: ProductIn, ctx: CtxDep) -> JSONResponse:
    ctx.require(Permission.CATALOG_WRITE)
    async with ctx.uow() as uow:
        return await ctx.create(
            uow, lambda: service.do_create_product(uow, data=body, actor=ctx.actor)
        )


@router.get("/products", response_model=Page[ProductOut])
async def list_products(
    ctx: CtxDep,
    paging: PageDep,
    category: Annotated[str | None, Query(max_length=200)] = None,
    status: ProductStatus | None = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="code, title, SKU or barcode")
    ] = None,
) -> dict[str, Any]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        items = await service.list_products(
            uow, limit=paging.limit, after=paging.after, category=category, status=status, q=q
        )
    return page(list(items), limit=paging.limit, last_key=lambda p: p.code)


@router.get("/products/{code}", response_model=ProductOut)
async def get_product(code: Code, ctx: CtxDep) -> ProductOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await service.get_product(uow, code)


@router.patch("/products/{code}", response_model=ProductOut)
async def update_product(code: Code, body: ProductPatch, ctx: CtxDep) -> ProductOut:
    ctx.require(Permission.CATALOG_WRITE)
    async with ctx.uow() as uow:
        return await service.do_update_product(uow, code=code, patch=body, actor=ctx.actor)


@router.get("/skus/{sku}", response_model=ProductOut)
async def lookup_sku(sku: Code, ctx: CtxDep) -> ProductOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await service.product_by_sku(uow, sku)


@router.get("/skus/{sku}/price-history", response_model=list[PriceChangeOut])
async def sku_price_history(sku: Code, ctx: CtxDep) -> list[PriceChangeOut]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await service.price_history(uow, sku)


@router.get("/barcodes/{barcode}", response_model=ProductOut)
async def lookup_barcode(
    barcode: Annotated[str, Path(pattern=r"^\d{8,14}$")], ctx: CtxDep
) -> ProductOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await service.product_by_barcode(uow, barcode)
