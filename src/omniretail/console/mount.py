"""Mount the console on the app: routers, static files, the session codec and error pages."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from omniretail.auth.throttle import FailureThrottle
from omniretail.console import (
    aisle,
    analytics,
    guide,
    hq,
    hq_cases,
    hq_catalogue,
    hq_connections,
    hq_customers,
    hq_group_buys,
    hq_inventory,
    hq_keys,
    hq_lists,
    hq_promotions,
    returns_desk,
    signin,
    staff_admin,
    store,
)
from omniretail.console.context import CsrfRefused, SignInNeeded, render
from omniretail.console.session import SessionCodec, clear

log = logging.getLogger("omniretail.console")

SIGNIN_FAILURES = 10  # per client address per window, on top of each account's lock-out
SIGNIN_WINDOW_SECONDS = 300.0


def install_console(app: FastAPI) -> None:
    secret = os.environ.get("OMNI_CONSOLE_SECRET")
    if not secret:
        # Sessions then last as long as the process: fine for one process in development.
        log.warning("OMNI_CONSOLE_SECRET is not set: console sessions end when the server stops")
        secret = secrets.token_urlsafe(32)
    app.state.console_sessions = SessionCodec(secret)
    app.state.console_signin_throttle = FailureThrottle(
        limit=SIGNIN_FAILURES, window_seconds=SIGNIN_WINDOW_SECONDS
    )
    app.mount(
        "/console/static",
        StaticFiles(directory=str(Path(__file__).parent / "static")),
        name="console-static",
    )
    for router in (
        aisle.router,
        returns_desk.router,
        guide.router,
        hq_keys.router,
        hq_connections.router,
        hq_inventory.router,
        hq_customers.router,
        hq_cases.router,
        hq_group_buys.router,
        hq_promotions.router,
        hq_catalogue.router,
        signin.router,
        store.router,
        hq.router,
        analytics.router,
        hq_lists.router,
        staff_admin.router,
    ):
        app.include_router(router)

    @app.exception_handler(SignInNeeded)
    async def _sign_in(_: Request, __: SignInNeeded) -> Response:
        response = RedirectResponse("/console/sign-in", status_code=303)
        clear(response)
        return response

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, __: CsrfRefused) -> HTMLResponse:
        return render(request, "csrf.html", 403)
