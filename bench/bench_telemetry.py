"""What the request telemetry costs per request: the pure-ASGI middleware (request id, JSON
access line with redaction, Prometheus counters) around a trivial app, against the bare app."""

from __future__ import annotations

import io
import logging
import statistics
import time

from starlette.types import Message, Receive, Scope, Send

from bench.common import summary
from omniretail.logs import RedactingFilter, json_formatter
from omniretail.observability import RequestTelemetry

REQUESTS = 20_000


async def bare(scope: Scope, receive: Receive, send: Send) -> None:
    scope["route"] = None
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def timed(app: object, n: int) -> list[float]:
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/me",
        "headers": [(b"authorization", b"Bearer omk_abcdefghij_" + b"s" * 40)],
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(_: Message) -> None:
        return None

    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await app(dict(scope), receive, send)  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return samples


async def main() -> None:
    sink = logging.StreamHandler(io.StringIO())
    sink.setFormatter(json_formatter())
    sink.addFilter(RedactingFilter())
    access = logging.getLogger("omniretail.access")
    access.addHandler(sink)
    access.setLevel(logging.INFO)
    access.propagate = False
    plain = await timed(bare, REQUESTS)
    wrapped = await timed(RequestTelemetry(bare), REQUESTS)
    print(f"   bare ASGI app:          {summary(plain)}")
    print(f"   with telemetry + JSON:  {summary(wrapped)}")
    extra = (statistics.median(wrapped) - statistics.median(plain)) * 1e6
    print(f"   telemetry adds {extra:.0f} µs per request at the median (line, counters, histogram)")
