"""What every console page shares: the signed-in person, rendering, CSRF and error pages."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from omniretail.auth.domain import Permission
from omniretail.auth.staff import StaffIdentity, staff_identity
from omniretail.console.i18n import translator
from omniretail.console.session import Session, SessionCodec, tokens_match
from omniretail.db import Database, UnitOfWork
from omniretail.errors import DomainError, Forbidden
from omniretail.problems import status_for

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class SignInNeeded(Exception):
    """No valid session: the page answers with a redirect to the sign-in form."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token: refused before anything runs."""


@dataclass(slots=True)
class Console:
    request: Request
    db: Database
    staff: StaffIdentity
    session: Session

    def uow(self) -> UnitOfWork:
        return self.db.uow(self.staff.tenant_id)

    def require(self, permission: Permission) -> None:
        if not self.staff.can(permission):
            raise Forbidden(f"role {self.staff.role.value} may not {permission.value}")

    def require_hq(self, permission: Permission = Permission.READ) -> None:
        """HQ screens: the role may ``permission`` and is not bound to stores."""
        self.require(permission)
        if self.staff.store_bound:
            raise Forbidden("HQ screens are for HQ roles")

    def require_store(self, store: str) -> None:
        """Store roles see and act for their own stores only."""
        if self.staff.store_bound and store not in self.staff.locations:
            raise Forbidden(f"you work for {', '.join(self.staff.locations)} only")

    def caller_location(self, store: str) -> str | None:
        """The location a store role acts for (the service refuses any other's work)."""
        return store if self.staff.store_bound else None

    def local_time(self, moment: dt.datetime | None) -> str:
        """A time as the store reads it: in the tenant's time zone."""
        if moment is None:
            return ""
        return moment.astimezone(zoneinfo.ZoneInfo(self.staff.timezone)).strftime("%m-%d %H:%M")

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        values.setdefault("local_time", self.local_time)
        return render(
            self.request, template, status, staff=self.staff, session=self.session, **values
        )

    def error(self, exc: DomainError) -> HTMLResponse:
        return self.render("error.html", status_for(exc), problem=exc)


def codec(request: Request) -> SessionCodec:
    found: SessionCodec = request.app.state.console_sessions
    return found


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    staff: StaffIdentity | None = values.get("staff")
    t = translator(staff.language if staff else request.query_params.get("lang", "zh-CN"))
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"t": t, "lang": "en" if t("sign_in") == "Sign in" else "zh-CN", **values},
        status_code=status,
    )


async def console(request: Request) -> Console:
    session = codec(request).read(request)
    if session is None:
        raise SignInNeeded
    db: Database = request.app.state.db
    staff = await staff_identity(
        db, tenant_id=session.tenant_id, staff_id=session.staff_id, session_version=session.version
    )
    if staff is None:
        raise SignInNeeded
    if request.method == "POST":
        form = await request.form()
        given = request.headers.get("X-CSRF-Token") or form.get("csrf")
        if not tokens_match(session.csrf, given if isinstance(given, str) else None):
            raise CsrfRefused
    return Console(request=request, db=db, staff=staff, session=session)


ConsoleDep = Annotated[Console, Depends(console)]
