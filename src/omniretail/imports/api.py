from __future__ import annotations

from fastapi import APIRouter, Response

from omniretail.auth.domain import Permission
from omniretail.errors import ValidationFailed
from omniretail.imports import service
from omniretail.imports.schemas import ImportReport
from omniretail.imports.service import Kind
from omniretail.web import CtxDep

router = APIRouter(prefix="/v1", tags=["import and export"])

_WRITE = {Kind.LOCATIONS: Permission.LOCATIONS_WRITE, Kind.PRODUCTS: Permission.CATALOG_WRITE}


@router.post(
    "/imports/{kind}",
    response_model=ImportReport,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_csv(kind: Kind, ctx: CtxDep, dry_run: bool = True) -> ImportReport:
    """Check (``dry_run=true``, the default) or apply a CSV file, all rows or none; every bad
    row is reported with its line number (422 ``import_rejected``)."""
    ctx.require(_WRITE[kind])
    try:
        text = (await ctx.request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "the file is not UTF-8 text", [{"field": "body", "message": "save the CSV as UTF-8"}]
        ) from exc
    parsed = await service.parse_file(kind, text, currency=ctx.principal.currency)
    async with ctx.uow() as uow:
        return await service.do_import(
            uow, kind=kind, parsed=parsed, dry_run=dry_run, actor=ctx.actor
        )


@router.get(
    "/exports/{kind}", response_class=Response, responses={200: {"content": {"text/csv": {}}}}
)
async def export_csv(kind: Kind, ctx: CtxDep) -> Response:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        text = await service.export(uow, kind=kind)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind.value}.csv"'},
    )
