"""What every request leaves behind: its id (``X-Request-ID``, accepted from the caller or made
here, and returned), one JSON access line, and its metrics. Pure ASGI (no BaseHTTPMiddleware):
it adds no task and no buffering to the request path."""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omniretail.db import Database
from omniretail.logs import REQUEST_FIELDS
from omniretail.metrics import (
    CHECKOUTS,
    LATENCY,
    REQUESTS,
    checkout_outcome,
    exposition,
    observe_database,
)
from omniretail.problems import problem, scope_problem

access_log = logging.getLogger("omniretail.access")

REQUEST_ID_HEADER = b"x-request-id"
# A caller's id is kept if it is a plausible token; anything else is replaced, never echoed.
_ACCEPTABLE_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
UNMATCHED = "unmatched"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER and _ACCEPTABLE_ID.match(value):
            return str(value.decode("ascii"))
    return os.urandom(16).hex()  # 32 hex digits, as uuid4().hex was, without the UUID object


def _route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/orders/{order_id}``): a bounded label, never the
    raw path with its ids."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED


def note_principal(tenant: str, tenant_id: int, key_id: int, role: str) -> None:
    """Called once the caller is authenticated: the rest of the request's lines carry it."""
    fields = REQUEST_FIELDS.get()
    if fields is not None:
        fields.update(tenant=tenant, tenant_id=tenant_id, key_id=key_id, role=role)


_LIVE_BODY = b'{"status":"ok"}'
_LIVE_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_LIVE_BODY)).encode("ascii")),
]


# The labelled children of the request metrics, by (method, route template, status): looking
# them up through ``labels()`` took a lock and a few tuples per request. Bounded like the
# series themselves (methods, templates and statuses); cleared if ever it is not.
_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_MAX_SERIES = 4096


def _series(method: str, route: str, status: int) -> tuple[Any, Any]:
    if len(_SERIES) >= _MAX_SERIES:
        _SERIES.clear()
    found = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
    _SERIES[(method, route, status)] = found
    return found


class Front:
    """The one pure-ASGI layer in front of the routed app (issue 11: it was three, Liveness,
    RequestTelemetry and app.BodyLimit, each a Python frame and a wrapped ``send`` per ASGI
    message). In order:

    - **Liveness**: ``GET /healthz`` is answered here, before routing and everything else: a
      liveness probe asks whether the process answers, nothing more, so it costs no more than
      the ASGI server's own floor. It still carries a request id; it is not counted in the
      request metrics nor written to the access log (probers poll it every few seconds). The
      route in ``app.py`` stays for the OpenAPI document and is what any other method on the
      path reaches.
    - **Request id and telemetry**: the caller's ``X-Request-ID`` (if plausible) or a new one,
      returned on the answer; one JSON access line and the request metrics once it is over.
    - **Body limit**: a NUL in the path or query is 400 (no database stores it as text); a body
      over ``max_bytes`` is 413 before it is buffered in full, whether declared by
      Content-Length or streamed (chunked) past the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/healthz" and scope["method"] == "GET":
            headers = [*_LIVE_HEADERS, (REQUEST_ID_HEADER, _request_id(scope).encode("ascii"))]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": _LIVE_BODY})
            return
        request_id = _request_id(scope)
        id_header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        fields: dict[str, Any] = {"request_id": request_id}
        token = REQUEST_FIELDS.set(fields)
        started = time.perf_counter()
        status = 500
        started_answer = False
        seen = 0
        too_large = False
        max_bytes = self.max_bytes

        async def limited() -> Message:
            # A streamed (chunked) body has no Content-Length: count it as it comes. Past the
            # limit the app is told the client left, and whatever it answers is replaced by 413.
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def front_send(message: Message) -> None:
            nonlocal status, started_answer
            if too_large:
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                started_answer = True
                headers = [
                    (k, v) for k, v in message.get("headers", ()) if k.lower() != REQUEST_ID_HEADER
                ]
                headers.append(id_header)
                message = {**message, "headers": headers}
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, front_send)
                return
            try:
                await self.app(scope, limited, front_send)
            except Exception:
                if not too_large:
                    raise
            if too_large and not started_answer:
                too_large = False  # the 413 itself goes out
                await self._too_large(scope)(scope, receive, front_send)
        finally:
            elapsed = time.perf_counter() - started
            self._record(scope, status, elapsed, fields)
            REQUEST_FIELDS.reset(token)

    def _refusal(self, scope: Scope) -> Response | None:
        """A NUL in the URL (400) or a declared body over the limit (413), else None."""
        query = scope.get("query_string", b"")
        path = scope["path"]
        if "\x00" in path or "%00" in path or b"\x00" in query or b"%00" in query:
            return scope_problem(
                scope, 400, "invalid_url", "Invalid URL", "the URL must not contain NUL characters"
            )
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_bytes:
                    return self._too_large(scope)
                break
        return None

    def _too_large(self, scope: Scope) -> Response:
        return scope_problem(
            scope,
            413,
            "payload_too_large",
            "Payload too large",
            f"the body exceeds {self.max_bytes} bytes",
        )

    def _record(self, scope: Scope, status: int, elapsed: float, fields: dict[str, Any]) -> None:
        method = scope["method"]
        route = _route_template(scope)
        if route == "/metrics":
            return
        counted = _SERIES.get((method, route, status))
        if counted is None:
            counted = _series(method, route, status)
        counted[0].inc()
        counted[1].observe(elapsed)
        if method == "POST" and route == "/v1/orders":
            CHECKOUTS.labels(checkout_outcome(status)).inc()
        level = logging.ERROR if status >= 500 else logging.INFO
        access_log.log(
            level,
            "%s %s %s",
            method,
            route,
            status,
            extra={
                **fields,
                "method": method,
                "route": route,
                "status": status,
                "latency_ms": round(elapsed * 1000, 2),
            },
        )


def _may_scrape(request: Request, token: str | None) -> bool:
    if token is not None:
        sent = request.headers.get("authorization", "")
        return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())
    host = request.client.host if request.client else ""
    return host in LOOPBACK


def install_telemetry(app: FastAPI, database: Database, *, metrics_token: str | None) -> None:
    """``GET /metrics`` (the requests it counts are timed and numbered by :class:`Front`)."""

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if not _may_scrape(request, metrics_token):
            return problem(
                403,
                "forbidden",
                "Forbidden",
                "set OMNI_METRICS_TOKEN and scrape with it, or scrape from this host",
            )
        await observe_database(database)
        body, content_type = exposition()
        return Response(body, media_type=content_type)
