"""What every endpoint shares: the authenticated request context, permissions, idempotent
creation and list pagination. Thin by design: rules live in the services."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from omniretail.auth.domain import Permission, Principal
from omniretail.auth.service import authenticate
from omniretail.auth.throttle import FailureThrottle
from omniretail.db import Database, UnitOfWork
from omniretail.errors import Forbidden, RateLimited, Unauthenticated, ValidationFailed
from omniretail.idempotency import fingerprint, run_idempotent
from omniretail.observability import note_principal
from omniretail.schemas import dump_without_secrets

# Server ids are 64-bit integers in the database; a larger one is simply not one of ours.
ServerIdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]


@dataclass(slots=True)
class Ctx:
    request: Request
    db: Database
    principal: Principal
    idempotency_key: str | None

    def uow(self) -> UnitOfWork:
        return self.db.uow(self.principal.tenant_id)

    @property
    def actor(self) -> str:
        """Who did it, for audit logs and ledgers: the key and its role."""
        return f"key:{self.principal.key_id}:{self.principal.role}"

    def require(self, permission: Permission) -> None:
        if not self.principal.can(permission):
            raise Forbidden(f"role {self.principal.role} may not {permission.value}")

    def require_location(self, location_id: int) -> None:
        """Store keys act on their own location only."""
        if self.principal.location_id is not None and self.principal.location_id != location_id:
            raise Forbidden(f"this key acts for location {self.principal.location_code!r} only")

    def require_channel(self, channel_code: str) -> None:
        if self.principal.channel_code is not None and self.principal.channel_code != channel_code:
            raise Forbidden(f"this key acts for channel {self.principal.channel_code!r} only")

    async def create(
        self,
        uow: UnitOfWork,
        make: Callable[[], Awaitable[BaseModel]],
        *,
        status: int = 201,
    ) -> JSONResponse:
        """Run a creating use case under the request's Idempotency-Key, if any."""
        if self.idempotency_key is None:
            # Nothing kept for a replay: no fingerprint, no second dump without secrets.
            return model_response(await make(), status=status)

        async def _create() -> tuple[int, Any, Any]:
            created = await make()
            return status, created.model_dump(mode="json"), dump_without_secrets(created)

        body = await self.request.body()
        outcome = await run_idempotent(
            uow,
            key=self.idempotency_key,
            owner=f"key:{self.principal.key_id}",
            request_fingerprint=fingerprint(self.request.method, self.request.url.path, body),
            create=_create,
        )
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
        return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


class RenderedJSON(JSONResponse):
    """A ``JSONResponse`` whose body may come rendered already (bytes, by ``model_response``)."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else super().render(content)


def model_response(model: BaseModel, *, status: int = 200) -> JSONResponse:
    """``JSONResponse(model.model_dump(mode="json"))`` in one pass of pydantic-core: the same
    bytes (compact, non-ASCII as UTF-8) without the dict and ``json.dumps`` in between."""
    return RenderedJSON(type(model).__pydantic_serializer__.to_json(model), status_code=status)


IDEMPOTENCY_KEY_MAX = 255


def _idempotency_error(value: str) -> RequestValidationError:
    """The error FastAPI's own ``Header(min_length=1, max_length=255)`` gave, field for field."""
    if value:
        kind, msg, ctx = (
            "string_too_long",
            f"String should have at most {IDEMPOTENCY_KEY_MAX} characters",
            {"max_length": IDEMPOTENCY_KEY_MAX},
        )
    else:
        kind, msg, ctx = (
            "string_too_short",
            "String should have at least 1 character",
            {"min_length": 1},
        )
    error = {"type": kind, "loc": ("header", "Idempotency-Key"), "msg": msg, "input": value}
    return RequestValidationError([{**error, "ctx": ctx}])


async def context(request: Request) -> Ctx:
    """The authenticated caller. One dependency that reads its two headers from the ASGI scope
    itself (issue 11): declared as ``Header`` parameters with a ``Depends(database)`` beneath,
    FastAPI spent more resolving them per request than authenticating costs. The
    ``Idempotency-Key`` parameter is still advertised where it is honoured
    (``openapi.IDEMPOTENCY_PARAMETER``) and still refused with 422 when empty or too long."""
    authorization: str | None = None
    idempotency_key: str | None = None
    for name, value in request.scope["headers"]:
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"idempotency-key" and idempotency_key is None:
            idempotency_key = value.decode("latin-1")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
        raise _idempotency_error(idempotency_key)
    app_state = request.app.state
    db: Database = app_state.db
    throttle: FailureThrottle = app_state.auth_throttle
    client = request.scope.get("client")
    address = client[0] if client else "unknown"
    wait = throttle.retry_after(address, authorization)
    if wait is not None:
        raise RateLimited(
            "too many failed authentications from this address; wait and try again",
            retry_after_seconds=wait,
        )
    try:
        principal = await authenticate(db, authorization)
    except Unauthenticated:
        throttle.record_failure(address)
        raise
    if authorization is not None:
        throttle.record_success(authorization)
    note_principal(principal.tenant_slug, principal.tenant_id, principal.key_id, principal.role)
    request.state.locale = principal.locale  # the language of this request's problems
    return Ctx(request=request, db=db, principal=principal, idempotency_key=idempotency_key)


CtxDep = Annotated[Ctx, Depends(context)]


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    after: Any


def encode_cursor(last: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))["after"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationFailed(
            "invalid cursor", [{"field": "cursor", "message": "use next_cursor as given"}]
        ) from exc


async def page_request(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> PageRequest:
    return PageRequest(limit=limit, after=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageRequest, Depends(page_request)]


def id_page_request(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> PageRequest:
    """Pages keyed by a server id: the cursor must hold one of our 64-bit ids."""
    after = decode_cursor(cursor) if cursor else None
    if after is not None and (
        isinstance(after, bool) or not isinstance(after, int) or not 1 <= after < 2**63
    ):
        raise ValidationFailed(
            "invalid cursor", [{"field": "cursor", "message": "use next_cursor as given"}]
        )
    return PageRequest(limit=limit, after=after)


IdPageDep = Annotated[PageRequest, Depends(id_page_request)]


def page(items: list[BaseModel], *, limit: int, last_key: Callable[[Any], Any]) -> dict[str, Any]:
    """Keyset page: the service fetched ``limit + 1`` rows to know whether more exist."""
    more = len(items) > limit
    items = items[:limit]
    return {
        "items": [item.model_dump(mode="json") for item in items],
        "next_cursor": encode_cursor(last_key(items[-1])) if more and items else None,
    }


def keyed_page(rows: list[tuple[Any, BaseModel]], *, limit: int) -> dict[str, Any]:
    """Keyset page over rows that carry their own cursor value (an internal id, say)."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [item.model_dump(mode="json") for _, item in rows],
        "next_cursor": encode_cursor(rows[-1][0]) if more and rows else None,
    }
