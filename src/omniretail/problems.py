"""The one mapping from errors to problem+json (RFC 9457) responses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from omniretail.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)
from omniretail.i18n import pick_locale
from omniretail.problem_texts import problem_detail, problem_title

log = logging.getLogger("omniretail.problems")

PROBLEM = "application/problem+json"

_STATUS_BY_CATEGORY: list[tuple[type[DomainError], int]] = [
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (ValidationFailed, 422),
    (RateLimited, 429),
    (TooLarge, 413),
    (Unavailable, 503),
]


def status_for(error: DomainError) -> int:
    for category, status in _STATUS_BY_CATEGORY:
        if isinstance(error, category):
            return status
    return 400


def problem(status: int, code: str, title: str, detail: str, /, **extra: Any) -> JSONResponse:
    # The standard members win over an error's extras of the same name.
    body = {
        **extra,
        "type": f"https://omniretail.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if "retry_after_seconds" in extra:
        headers["Retry-After"] = str(extra["retry_after_seconds"])
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def request_locale(request: Request) -> str:
    """The language of a problem's title and detail: ``Accept-Language``, else the
    authenticated tenant's locale, else English."""
    tenant_locale = getattr(request.state, "locale", None)
    return pick_locale(request.headers.get("accept-language"), tenant_locale)


def localised_problem(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    /,
    worded_in: str | None = None,
    **extra: Any,
) -> JSONResponse:
    """:func:`problem` with the title and detail in the reader's language (the code stays).
    A detail already ``worded_in`` a language is kept, with the title in that language."""
    locale = worded_in or request_locale(request)
    return problem(
        status,
        code,
        problem_title(code, locale, title),
        detail if worded_in else problem_detail(code, locale, detail),
        **extra,
    )


def scope_problem(
    scope: Scope, status: int, code: str, title: str, detail: str, /, **extra: Any
) -> JSONResponse:
    """:func:`localised_problem` for ASGI middleware that answers before a request exists
    (a NUL in the URL, a body over the limit). Only ``Accept-Language`` chooses the language
    here: the API key has not been read yet, so the tenant and its locale are not known."""
    locale = pick_locale(Headers(scope=scope).get("accept-language"))
    return problem(
        status,
        code,
        problem_title(code, locale, title),
        problem_detail(code, locale, detail),
        **extra,
    )


def _validation_errors(exc: RequestValidationError) -> tuple[int, str, list[dict[str, Any]]]:
    errors = []
    status = 422
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            status = 400
        loc = [str(part) for part in err.get("loc", ())]
        errors.append(
            {
                "field": ".".join(loc[1:] if loc[:1] == ["body"] else loc),
                "location": loc[0] if loc else "",
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
        )
    detail = "the request body is not valid JSON" if status == 400 else "invalid request"
    return status, detail, errors


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return localised_problem(
            request,
            status_for(exc),
            exc.code,
            exc.title,
            exc.detail,
            worded_in=exc.locale,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, detail, errors = _validation_errors(exc)
        code = "malformed_json" if status == 400 else "validation_error"
        return localised_problem(request, status, code, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return localised_problem(request, exc.status_code, code, str(exc.detail), str(exc.detail))

    @app.exception_handler(OperationalError)
    async def _busy(_: Request, exc: OperationalError) -> JSONResponse:
        # SQLite's writer waited its whole busy timeout behind another long write: the request
        # changed nothing and may simply be sent again.
        if "database is locked" in str(exc.orig):
            return problem(
                503,
                "database_busy",
                "Database busy",
                "the database is busy with another write; retry shortly",
                retry_after_seconds=1,
            )
        log.exception("database error", exc_info=exc)
        return problem(500, "internal_error", "Internal error", "an unexpected error occurred")

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(_: Request, exc: PoolTimeout) -> JSONResponse:
        # Every pooled connection stayed busy for the pool's whole timeout (a burst, or SQLite's
        # one writer): nothing was done, so the client is told to come back, not that we broke.
        log.warning("database pool exhausted: %s", exc)
        return problem(
            503,
            "database_busy",
            "Database busy",
            "the database is busy with another write; retry shortly",
            retry_after_seconds=1,
        )

    @app.exception_handler(DBAPIError)
    async def _rolled_back(_: Request, exc: DBAPIError) -> JSONResponse:
        # PostgreSQL broke a deadlock or a serialization conflict by rolling this request's
        # transaction back (SQLSTATE class 40): nothing of it was kept, and sent again it
        # normally goes through (a key replays its first answer).
        if str(getattr(exc.orig, "sqlstate", "") or "").startswith("40"):
            log.warning("transaction rolled back by the database: %s", exc.orig)
            return problem(
                503,
                "database_conflict",
                "Database conflict",
                "a concurrent write collided with this one and it was undone; retry shortly",
                retry_after_seconds=1,
            )
        log.exception("database error", exc_info=exc)
        return problem(500, "internal_error", "Internal error", "an unexpected error occurred")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem(500, "internal_error", "Internal error", "an unexpected error occurred")
