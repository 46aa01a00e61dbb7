"""Sign-in, sign-out and the person's language: ``/console/sign-in``, ``/console/sign-out``."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from omniretail.auth.seeds import StaffKeysMissing
from omniretail.auth.staff import SignInRefused, do_end_sessions, do_set_language, sign_in
from omniretail.auth.throttle import FailureThrottle
from omniretail.console.context import ConsoleDep, codec, render
from omniretail.console.session import clear, new_session, new_token, tokens_match
from omniretail.db import Database
from omniretail.errors import Unauthenticated

router = APIRouter(prefix="/console", include_in_schema=False)
log = logging.getLogger("omniretail.console")

Field = Annotated[str, Form(max_length=255)]


def _throttle(request: Request) -> FailureThrottle:
    found: FailureThrottle = request.app.state.console_signin_throttle
    return found


def _form(request: Request, status: int = 200, message: str | None = None) -> HTMLResponse:
    token = new_token()
    response = render(request, "sign_in.html", status, csrf=token, message=message)
    codec(request).write_pre(request, response, token)
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request) -> HTMLResponse:
    return _form(request)


@router.post("/sign-in")
async def sign_in_submit(
    request: Request,
    tenant: Field,
    login: Field,
    password: Annotated[str, Form(max_length=256)],
    csrf: Field = "",
    totp: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    if not tokens_match(codec(request).pre_token(request), csrf):
        return _form(request, 403, "csrf")
    throttle = _throttle(request)
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(address, None)
    if wait is not None:
        response = _form(request, 429, "throttled")
        response.headers["Retry-After"] = str(wait)
        return response
    db: Database = request.app.state.db
    try:
        staff = await sign_in(db, tenant=tenant, login=login, password=password, totp_code=totp)
    except SignInRefused:
        throttle.record_failure(address)
        return _form(request, 401, "refused")
    except Unauthenticated:  # locked
        throttle.record_failure(address)
        return _form(request, 423, "locked")
    except StaffKeysMissing:
        log.error("a staff user's TOTP seed cannot be opened: check OMNI_STAFF_KEYS")
        return _form(request, 503, "unavailable")
    store = staff.locations[0] if staff.store_bound else None
    session = new_session(staff.tenant_id, staff.id, staff.session_version, store)
    target = f"/console/stores/{store}/queue" if store else "/console/dashboard"
    redirect = RedirectResponse(target, status_code=303)
    codec(request).write(request, redirect, session)
    return redirect


@router.post("/sign-out")
async def sign_out(ctx: ConsoleDep, everywhere: Annotated[str, Form()] = "") -> Response:
    if everywhere:
        async with ctx.uow() as uow:
            await do_end_sessions(uow, staff_id=ctx.staff.id)
    response = RedirectResponse("/console/sign-in", status_code=303)
    clear(response)
    return response


@router.post("/language")
async def switch_language(ctx: ConsoleDep) -> Response:
    async with ctx.uow() as uow:
        await do_set_language(
            uow, staff_id=ctx.staff.id, language="en" if ctx.staff.language == "zh-CN" else "zh-CN"
        )
    back = urlsplit(ctx.request.headers.get("referer") or "").path
    return RedirectResponse(back if back.startswith("/console/") else "/console", status_code=303)


@router.get("")
async def home(ctx: ConsoleDep) -> Response:
    if ctx.staff.store_bound:
        store = ctx.session.store or ctx.staff.locations[0]
        return RedirectResponse(f"/console/stores/{store}/queue", status_code=303)
    return RedirectResponse("/console/dashboard", status_code=303)
