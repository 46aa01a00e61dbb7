from __future__ import annotations

from fastapi import APIRouter, Response

from omniretail.auth import service as auth
from omniretail.auth.domain import Permission
from omniretail.i18n import pick_locale
from omniretail.imports import service
from omniretail.imports.encoding import decode_csv, encode_csv
from omniretail.imports.schemas import ImportReport
from omniretail.imports.service import Kind
from omniretail.web import Ctx, CtxDep

router = APIRouter(prefix="/v1", tags=["import and export"])

_WRITE = {Kind.LOCATIONS: Permission.LOCATIONS_WRITE, Kind.PRODUCTS: Permission.CATALOG_WRITE}


async def _reader_locale(ctx: Ctx) -> str:
    """The request's ``Accept-Language``, else the tenant's ``locale`` setting."""
    header = ctx.request.headers.get("accept-language")
    if header:
        return pick_locale(header)
    async with ctx.uow() as uow:
        return pick_locale(None, (await auth.tenant_settings(uow)).get("locale"))


@router.post(
    "/imports/{kind}",
    response_model=ImportReport,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_csv(kind: Kind, ctx: CtxDep, dry_run: bool = True) -> ImportReport:
    """Check (``dry_run=true``, the default) or apply a CSV file, all rows or none; every bad
    row is reported with its line number (422 ``import_rejected``). UTF-8 (with or without a
    BOM), UTF-16, GBK and GB18030 files are read as Excel saves them."""
    ctx.require(_WRITE[kind])
    locale = await _reader_locale(ctx)
    text = decode_csv(await ctx.request.body(), locale=locale).text
    parsed = await service.parse_file(kind, text, currency=ctx.principal.currency)
    async with ctx.uow() as uow:
        return await service.do_import(
            uow, kind=kind, parsed=parsed, dry_run=dry_run, actor=ctx.actor, locale=locale
        )


@router.get(
    "/exports/{kind}", response_class=Response, responses={200: {"content": {"text/csv": {}}}}
)
async def export_csv(kind: Kind, ctx: CtxDep, bom: bool = False) -> Response:
    """The CSV ``omni import`` and ``POST /v1/imports`` read, in UTF-8; ``bom=true`` starts it
    with a byte-order mark so that Excel shows the Chinese instead of mojibake."""
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        text = await service.export(uow, kind=kind)
    return Response(
        encode_csv(text, bom=bom),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind.value}.csv"'},
    )
