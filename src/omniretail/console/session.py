"""Signed session cookies and CSRF tokens.

The session cookie holds only ids (tenant, staff user, session version, the CSRF token and the
store being worked at), signed and time-stamped with itsdangerous; it is HttpOnly, SameSite=Lax,
and Secure when the console is served over HTTPS. Every form carries the session's CSRF token,
and every POST is refused (403) without it. Before sign-in a separate signed cookie carries
the sign-in form's token (double submit).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "omni_console"
PRE_COOKIE = "omni_console_pre"
MAX_AGE_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    tenant_id: int
    staff_id: int
    version: int
    csrf: str
    store: str | None = None


class SessionCodec:
    def __init__(self, secret: str) -> None:
        self._session = URLSafeTimedSerializer(secret, salt="omni-console-session")
        self._pre = URLSafeTimedSerializer(secret, salt="omni-console-pre")

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data: dict[str, Any] = self._session.loads(raw, max_age=MAX_AGE_SECONDS)
            return Session(
                tenant_id=int(data["t"]),
                staff_id=int(data["s"]),
                version=int(data["v"]),
                csrf=str(data["c"]),
                store=data.get("l"),
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def write(self, request: Request, response: Response, session: Session) -> None:
        value = self._session.dumps(
            {
                "t": session.tenant_id,
                "s": session.staff_id,
                "v": session.version,
                "c": session.csrf,
                "l": session.store,
            }
        )
        _set(request, response, SESSION_COOKIE, value, MAX_AGE_SECONDS)

    def pre_token(self, request: Request) -> str | None:
        raw = request.cookies.get(PRE_COOKIE)
        if not raw:
            return None
        try:
            return str(self._pre.loads(raw, max_age=3600))
        except BadSignature:
            return None

    def write_pre(self, request: Request, response: Response, token: str) -> None:
        _set(request, response, PRE_COOKIE, self._pre.dumps(token), 3600)


def _set(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/console",
    )


def clear(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/console")


def new_session(tenant_id: int, staff_id: int, version: int, store: str | None) -> Session:
    return Session(tenant_id, staff_id, version, secrets.token_urlsafe(24), store)


def at_store(session: Session, store: str) -> Session:
    return replace(session, store=store)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
