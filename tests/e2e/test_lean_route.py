"""The plain routes' shorter handler (omniretail.lean_route) answers every request as FastAPI's
own handler does: the same statuses, problems (with their field paths) and bodies, whether the
request takes the plan or is handed over."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import _IncludedRouter

from omniretail import lean_route
from omniretail.app import create_app
from omniretail.db import Database
from tests.e2e.test_inventory_api import batch, setup_shop
from tests.factories import Api, TenantHandle

HOLD = b'{"lines":[{"sku":"TEE-S","location":"ST-1","qty":1}],"ttl_seconds":600}'
JSON = "application/json"
SALE = (
    b'{"channel":"pos","fulfillment":{"mode":"in_store","location":"ST-1"},'
    b'"payments":[{"method":"cash","amount":9900}],"lines":[{"sku":"TEE-S","qty":1}]}'
)
QUOTE = b'{"channel":"pos","lines":[{"sku":"TEE-S","qty":2}]}'
# Answers that differ between two runs of the same request (a new reservation or order each
# time), at any depth.
VOLATILE = {"id", "order_id", "number", "provider_ref", "created_at", "updated_at", "expires_at"}
VOLATILE |= {"promised_at", "placed_at"}


def contexts(app: FastAPI) -> dict[tuple[str, str], Any]:
    found = {}
    for route in app.router.routes:
        if isinstance(route, _IncludedRouter):
            for context in route.effective_route_contexts():
                for method in context.methods or ():
                    found[(method, context.path_format)] = context
    return found


@pytest.fixture
async def plain(db: Database, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """The same app with FastAPI's handler alone (no route takes the plan)."""
    with monkeypatch.context() as patch:
        patch.setattr(lean_route, "plan_of", lambda route: None)
        app = create_app(db.settings, db=db)
        contexts(app)  # handlers are built here, while plan_of is patched
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://omni.test") as http:
        yield http


def test_the_hot_routes_take_the_plan_and_the_others_do_not(app: FastAPI) -> None:
    found = contexts(app)
    for operation in [
        ("POST", "/v1/reservations"),
        ("GET", "/v1/me"),
        ("GET", "/v1/locations/{code}"),
        ("GET", "/v1/reservations/{reservation_id}"),
        ("POST", "/v1/orders"),
        ("GET", "/v1/orders/{order_id}"),
        ("POST", "/v1/price-quotes"),
    ]:
        assert isinstance(found[operation].original_route, lean_route.LeanRoute), operation
        assert lean_route.plan_of(found[operation]) is not None, operation
    # Query parameters, another dependency: FastAPI's handler.
    assert lean_route.plan_of(found[("GET", "/v1/inventory")]) is None
    assert lean_route.plan_of(found[("GET", "/v1/availability")]) is None
    assert lean_route.plan_of(found[("GET", "/v1/orders")]) is None


def answer(response: httpx.Response) -> tuple[int, str | None, Any]:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return response.status_code, response.headers.get("content-type"), steady(body)


def steady(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: steady(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [steady(v) for v in value]
    return value


CASES: list[tuple[str, str, bytes | None, dict[str, str]]] = [
    ("POST", "/v1/reservations", HOLD, {"Content-Type": JSON}),
    ("POST", "/v1/reservations", HOLD, {"Content-Type": JSON, "Idempotency-Key": "k-1"}),
    ("POST", "/v1/reservations", HOLD, {"Content-Type": JSON, "Idempotency-Key": ""}),
    ("POST", "/v1/reservations", HOLD, {"Content-Type": "application/json; charset=utf-8"}),
    ("POST", "/v1/reservations", HOLD, {"Content-Type": "text/plain"}),
    ("POST", "/v1/reservations", HOLD, {}),
    ("POST", "/v1/reservations", b"\xef\xbb\xbf" + HOLD, {"Content-Type": JSON}),
    ("POST", "/v1/reservations", b"", {"Content-Type": JSON}),
    ("POST", "/v1/reservations", b'{"lines": [', {"Content-Type": JSON}),
    ("POST", "/v1/reservations", b'{"lines":[]}', {"Content-Type": JSON}),
    ("POST", "/v1/reservations", HOLD.replace(b'"qty":1', b'"qty":0'), {"Content-Type": JSON}),
    ("POST", "/v1/reservations", HOLD.replace(b'"qty":1', b'"qty":NaN'), {"Content-Type": JSON}),
    ("POST", "/v1/reservations", HOLD.replace(b'"qty":1', b'"qty":1.0'), {"Content-Type": JSON}),
    ("POST", "/v1/reservations", HOLD.replace(b"}]", b',"x":1}]'), {"Content-Type": JSON}),
    ("POST", "/v1/reservations", HOLD[:-1] + b',"reference":"\\ud800"}', {"Content-Type": JSON}),
    ("POST", "/v1/reservations", HOLD[:-1] + b',"reference":"a\\u0000"}', {"Content-Type": JSON}),
    ("POST", "/v1/reservations", HOLD[:-1] + b',"reference":"\xff"}', {"Content-Type": JSON}),
    ("POST", "/v1/reservations", HOLD.replace(b"TEE-S", b"NOPE"), {"Content-Type": JSON}),
    ("POST", "/v1/reservations", HOLD.replace(b'"qty":1', b'"qty":99'), {"Content-Type": JSON}),
    ("POST", "/v1/orders", SALE, {"Content-Type": JSON}),
    ("POST", "/v1/orders", SALE, {"Content-Type": JSON, "Idempotency-Key": "o-1"}),
    ("POST", "/v1/orders", SALE, {"Content-Type": "text/plain"}),
    ("POST", "/v1/orders", SALE.replace(b'"qty":1', b'"qty":-1'), {"Content-Type": JSON}),
    ("POST", "/v1/orders", SALE.replace(b'"pos"', b'"nope"'), {"Content-Type": JSON}),
    ("POST", "/v1/orders", SALE.replace(b'"in_store"', b'"teleport"'), {"Content-Type": JSON}),
    ("POST", "/v1/orders", SALE.replace(b"9900", b"1"), {"Content-Type": JSON}),
    ("POST", "/v1/orders", SALE.replace(b'"qty":1', b'"qty":999'), {"Content-Type": JSON}),
    ("POST", "/v1/orders", SALE[:-1] + b',"points_to_redeem":"x"}', {"Content-Type": JSON}),
    ("POST", "/v1/orders", b'{"lines":', {"Content-Type": JSON}),
    ("POST", "/v1/price-quotes", QUOTE, {"Content-Type": JSON}),
    ("POST", "/v1/price-quotes", QUOTE.replace(b'"qty":2', b'"qty":0'), {"Content-Type": JSON}),
    ("POST", "/v1/price-quotes", QUOTE.replace(b"TEE-S", b"NOPE"), {"Content-Type": JSON}),
    ("GET", "/v1/orders/ord_nope", None, {}),
    ("POST", "/v1/orders/ord_nope/cancel", b"{}", {"Content-Type": JSON}),
    ("GET", "/v1/me", None, {}),
    ("GET", "/v1/locations/ST-1", None, {}),
    ("GET", "/v1/locations/bad%20code", None, {}),
    ("GET", "/v1/locations/NOPE", None, {}),
    ("GET", "/v1/reservations/0", None, {}),
    ("GET", "/v1/reservations/99999", None, {}),
]


@pytest.mark.parametrize("auth", ["good", "none", "wrong"])
async def test_every_answer_is_fastapis(
    admin: Api, tenant: TenantHandle, plain: httpx.AsyncClient, auth: str
) -> None:
    await setup_shop(admin)
    channel = {"code": "pos", "kind": "pos", "name": "Till"}
    assert (await admin.post("/v1/channels", channel)).status_code == 201
    await admin.post("/v1/inventory/movements", batch("init", ("TEE-S", "ST-1", "receipt", 50)))
    bearer = {"good": tenant.admin_key, "wrong": "omni_nope"}.get(auth)
    statuses: set[tuple[str, str, int]] = set()
    for method, path, content, headers in CASES:
        sent = headers | ({"Authorization": f"Bearer {bearer}"} if bearer else {})
        ours = await admin.client.request(method, path, content=content, headers=sent)
        theirs = await plain.request(method, path, content=content, headers=sent)
        assert answer(ours) == answer(theirs), (method, path, content, headers)
        statuses.add((method, path, ours.status_code))
    if auth == "good":  # the cases reach the endpoints, not only the refusals before them
        for succeeded in [("POST", "/v1/orders", 201), ("POST", "/v1/price-quotes", 200)]:
            assert succeeded in statuses
    if auth == "good":  # the key's replay, from either app
        sent = {"Content-Type": JSON, "Idempotency-Key": "k-1", "Authorization": f"Bearer {bearer}"}
        ours = await admin.client.post("/v1/reservations", content=HOLD, headers=sent)
        theirs = await plain.post("/v1/reservations", content=HOLD, headers=sent)
        assert ours.headers["idempotent-replayed"] == theirs.headers["idempotent-replayed"]
        assert ours.json() == theirs.json()
