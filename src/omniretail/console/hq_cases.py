"""HQ after-sales cases desk: the cases, by status or owning store, paged; one case with its
timeline; a note, a status change or a new owning store. The same services and permissions
as ``GET /v1/cases`` (read) and ``POST /v1/cases/{id}/notes`` (returns:write)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError as PydanticValidationError

from omniretail.auth.domain import Permission
from omniretail.console.context import ConsoleDep
from omniretail.errors import DomainError, NotFound, ValidationFailed
from omniretail.orders.access import Caller
from omniretail.problems import status_for
from omniretail.returns import cases
from omniretail.returns.schemas import CaseNoteIn, CaseStatus
from omniretail.schemas import Code

router = APIRouter(prefix="/console/cases", include_in_schema=False)

PAGE = 50
MAX_ID = 2**63 - 1


@router.get("")
async def case_list(
    ctx: ConsoleDep,
    status: CaseStatus | None = None,
    owner_location: Annotated[str, Query(max_length=64)] = "",
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    try:
        ctx.require_hq()
        async with ctx.uow() as uow:
            rows = await cases.list_cases(
                uow,
                status=status,
                owner_location=owner_location.strip() or None,
                limit=PAGE,
                after=before,
            )
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render(
        "cases.html",
        found=[c for _, c in rows[:PAGE]],
        next_before=rows[PAGE - 1][0] if len(rows) > PAGE else None,
        case_status=status,
        statuses=list(CaseStatus),
        owner_location=owner_location,
    )


async def _case_page(
    ctx: ConsoleDep, case_id: str, status: int = 200, **extra: object
) -> HTMLResponse:
    async with ctx.uow() as uow:
        case = await cases.get_case(uow, case_id)
    return ctx.render(
        "case.html",
        status,
        case=case,
        statuses=list(CaseStatus),
        may_write=ctx.staff.can(Permission.RETURNS_WRITE),
        **extra,
    )


@router.get("/{case_id}")
async def case_page(case_id: Code, ctx: ConsoleDep) -> HTMLResponse:
    try:
        ctx.require_hq()
        return await _case_page(ctx, case_id)
    except DomainError as exc:
        return ctx.error(exc)


@router.post("/{case_id}/notes")
async def add_note(
    case_id: Code,
    ctx: ConsoleDep,
    body: Annotated[str, Form(max_length=4000)] = "",
    status: Annotated[str, Form(max_length=16)] = "",
    owner_location: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        ctx.require_hq()
        ctx.require(Permission.RETURNS_WRITE)
    except DomainError as exc:
        return ctx.error(exc)
    try:
        try:
            data = CaseNoteIn(
                body=body,
                status=status or None,
                owner_location=owner_location.strip() or None,
            )
        except PydanticValidationError as exc:
            raise ValidationFailed(
                "invalid note",
                [
                    {"field": ".".join(map(str, e["loc"])), "message": e["msg"]}
                    for e in exc.errors()
                ],
            ) from exc
        async with ctx.uow() as uow:
            await cases.do_add_case_note(
                uow, case_id=case_id, data=data, caller=Caller(actor=ctx.staff.actor)
            )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            return ctx.error(exc)
        return await _case_page(ctx, case_id, status_for(exc), problem=exc)
    return await _case_page(ctx, case_id, 200, noted=True)
