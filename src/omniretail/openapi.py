"""The OpenAPI document, told truthfully, and the interactive docs served from the package.

Composed here once, over whatever the routers declare, so no router has to repeat it:
- the bearer security scheme on every operation that authenticates;
- every error an operation can answer, as ``application/problem+json`` with one ``Problem``
  schema (the body :mod:`omniretail.problems` really sends, 422 included);
- operationIds that are the handlers' names (``list_locations``) and schema names without
  module paths, so a generated client reads like an SDK;
- ``Idempotency-Key`` only where a handler honours it (the creating POSTs);
- examples on the main requests.

``/docs`` (Swagger UI, from the ``swagger-ui-bundle`` package) and ``/redoc`` (ReDoc, vendored
from the npm registry under ``static/redoc``) load nothing from a CDN.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.staticfiles import StaticFiles

from omniretail.problems import PROBLEM
from omniretail.web import IDEMPOTENCY_KEY_MAX, context

STATIC = Path(__file__).parent / "static"
SECURITY_SCHEME = "bearer"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
MUTATING = {"post", "put", "patch", "delete"}
# ``web.context`` reads the header from the scope itself (issue 11), so FastAPI no longer
# describes it: this is the parameter it described, with the same bounds the dependency checks.
IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "in": "header",
    "name": IDEMPOTENCY_HEADER,
    "required": False,
    "schema": {
        "anyOf": [
            {"maxLength": IDEMPOTENCY_KEY_MAX, "minLength": 1, "type": "string"},
            {"type": "null"},
        ],
        "title": IDEMPOTENCY_HEADER,
    },
    "description": "Send the same key to retry safely: the first response is replayed "
    "(`Idempotent-Replayed: true`); another body with the key is 409.",
}

PROBLEM_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "title": "Problem",
        "description": "An error, as RFC 9457 problem details. `code` is stable and "
        "machine-readable; other members may carry details of the error "
        "(`retry_after_seconds`, `lines`, ...).",
        "type": "object",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "format": "uri", "description": "identifies the problem"},
            "title": {"type": "string", "description": "short, human-readable summary"},
            "status": {"type": "integer", "description": "the HTTP status code"},
            "detail": {"type": "string", "description": "what went wrong in this request"},
            "code": {"type": "string", "description": "machine-readable error code"},
            "errors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/ProblemError"},
                "description": "one entry per invalid field or line",
            },
        },
        "additionalProperties": True,
    },
    "ProblemError": {
        "title": "ProblemError",
        "type": "object",
        "properties": {
            "field": {"type": "string", "description": "dotted path of the invalid field"},
            "location": {"type": "string", "description": "body, query, path or header"},
            "message": {"type": "string", "description": "what is wrong, for a person"},
            "type": {"type": "string", "description": "kind of validation error"},
            "line": {"type": "integer", "description": "line of a CSV file, when it is one"},
        },
        "additionalProperties": True,
    },
}

_ERRORS: dict[str, str] = {
    "400": "Malformed request (body not JSON, NUL in the URL)",
    "401": "Missing or unknown API key",
    "403": "The key's role or scope does not allow this",
    "404": "No such resource in this tenant",
    "409": "Conflicts with the resource's state (or an Idempotency-Key reused with another body)",
    "413": "Request body too large",
    "422": "Invalid parameters or body; `errors` names each field",
    "429": "Too many failed authentications from this address; retry after `Retry-After`",
}

_HEADERS: dict[str, dict[str, Any]] = {
    "401": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`"}},
    "429": {
        "Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"},
    },
}

# Errors that the shared rules below cannot see: the callback authenticates by its signature.
EXTRA_ERRORS: dict[str, set[str]] = {"sandbox_callback": {"401", "404", "409"}}

# Requests worth an example: what an integrator sends first. Checked against the request models
# by tests/e2e/test_openapi.py, so an example that drifts from its model fails.
REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "create_key": {"role": "store", "location": "ST-001", "label": "Nanjing Rd POS 1"},
    "create_channel": {"code": "jd", "kind": "marketplace", "name": "JD shop"},
    "create_location": {
        "code": "ST-101",
        "name": "Lumen Jing'an",
        "type": "store",
        "lat": 31.2243,
        "lng": 121.4462,
        "address": "1601 Nanjing West Road, Shanghai",
        "capabilities": {"ship": True, "pickup": True, "local_delivery": True},
        "delivery_radius_km": 5,
        "opening_hours": {"mon": ["10:00-22:00"], "sat": ["10:00-23:00"]},
    },
    "create_product": {
        "code": "LM9001",
        "title": "Linen shirt",
        "category": "Women/Tops",
        "attributes": {"material": "linen"},
        "variants": [
            {"sku": "LM9001-WHI-M", "barcode": "6930000090012", "price": 39900},
            {"sku": "LM9001-WHI-L", "price": 39900, "attributes": {"size": "L"}},
        ],
    },
    "create_customer": {
        "name": "Li Wei",
        "identities": [{"type": "phone", "value": "138 0013 8000"}],
        "channel": "app",
    },
    "price_quote": {
        "channel": "app",
        "location": "ST-001",
        "lines": [{"sku": "LM0001-BLA-M", "qty": 2}],
        "coupon_codes": [],
    },
    "place_order": {
        "channel": "app",
        "lines": [{"sku": "LM0001-BLA-M", "qty": 1}],
        "fulfillment": {"mode": "pickup", "location": "ST-001"},
        "payments": [{"method": "sandbox", "amount": 39900}],
    },
    "create_reservation": {
        "lines": [{"sku": "LM0001-BLA-M", "location": "ST-001", "qty": 1}],
        "ttl_seconds": 900,
        "reference": "cart-8841",
    },
    "change_settings": {
        "timezone": "Asia/Shanghai",
        "locale": "zh-CN",
        "delivery_fees": {"local_delivery": 800},
    },
    "update_product": {
        "title": "Linen shirt, relaxed",
        "variants": [{"sku": "LM9001-WHI-M", "price": 35900}],
    },
    "create_promotion": {
        "code": "SPRING10",
        "title": "Spring: 10% off tops",
        "scope": {"categories": ["women/tops"], "channels": ["app", "miniprogram"]},
        "discount": {"kind": "percent", "value": 10},
        "starts_at": "2026-03-01T00:00:00+08:00",
        "ends_at": "2026-04-01T00:00:00+08:00",
        "stacking": "stackable",
        "priority": 100,
    },
    "create_coupon": {
        "code": "WELCOME50",
        "promotion": "WELCOME",
        "max_redemptions": 10000,
        "per_customer_limit": 1,
    },
    "reject_fulfilment": {
        "reason": "not_in_stock",
        "lines": [{"sku": "LM0001-BLA-M", "qty": 1}],
        "note": "last one sold at the till",
    },
    "fulfilment_actions": {
        "actions": [
            {"fulfillment_id": "ful_0b7e4d2a9c1f3e85", "action": "accept"},
            {"fulfillment_id": "ful_6a3c8e1d5b2f7094", "action": "reject", "reason": "damaged"},
        ]
    },
    "verify_pickup": {"code": "48213907", "location": "ST-001"},
    "hand_over": {"code": "48213907", "location": "ST-001"},
    "create_return": {
        "order_id": "ord_5f2c9a1e7b3d4c60",
        "lines": [{"sku": "LM0001-BLA-M", "qty": 1, "condition": "resellable"}],
        "location": "ST-001",
        "channel": "pos",
    },
    "open_case": {
        "order_id": "ord_5f2c9a1e7b3d4c60",
        "type": "missing_item",
        "subject": "Parcel arrived without the belt",
        "channel": "app",
        "note": "Customer called at 10:05",
    },
    "exchange": {
        "order_id": "ord_5f2c9a1e7b3d4c60",
        "channel": "pos",
        "location": "ST-001",
        "lines": [{"sku": "LM0001-BLA-M", "qty": 1}],
        "new_order": {
            "lines": [{"sku": "LM0001-BLA-L", "qty": 1}],
            "fulfillment": {"mode": "in_store", "location": "ST-001"},
        },
    },
    "create_connection": {
        "platform": "douyin",
        "shop_id": "7283910",
        "channel": "douyin",
        "locations": ["WH-SH"],
        "credentials": {"app_key": "your-app-key", "app_secret": "your-app-secret"},
    },
    "map_skus": {"items": [{"platform_sku": "3581772901", "sku": "LM0001-BLA-M"}]},
    "count_stock": {"on_hand": 12, "safety_stock": 1, "reference": "cycle count 2026-11-27"},
    "post_movements": {
        "batch_id": "erp-20261127-0001",
        "lines": [
            {"sku": "LM0001-BLA-M", "location": "WH-SH", "reason": "receipt", "qty": 40},
            {"sku": "LM0001-BLA-M", "location": "ST-001", "reason": "damage", "qty": 1},
        ],
    },
    "put_buffers": {"default": 1, "skus": {"LM0001-BLA-M": 3}},
    "resolve_customer": {
        "identity": {"type": "wechat_unionid", "value": "o6_bmasdasdsad6_2sgVt7hMZOPfL"},
        "create_if_missing": True,
        "channel": "miniprogram",
    },
    "set_consent": {"granted": True, "source": "app settings"},
    "record_behaviour": {
        "events": [
            {
                "type": "try_on",
                "identity": {"type": "member_card", "value": "M00012345"},
                "sku": "LM0001-BLA-M",
                "channel": "pos",
                "location": "ST-001",
                "at": "2026-11-27T15:30:00+08:00",
            }
        ]
    },
    "adjust_points": {"points": 200, "reason": "apology for a late delivery"},
    "redeem_points": {"points": 1000, "reason": "gift at the counter"},
    "set_rules": {
        "points_per_unit": 1,
        "redeem_points_per_unit": 100,
        "expiry_days": 365,
        "pending_days": 7,
        "tiers": [
            {"code": "member", "min_spend": 0},
            {"code": "gold", "min_spend": 500000, "points_multiplier_pct": 150},
        ],
    },
    "create_plan": {
        "code": "lumen-plus",
        "name": "Lumen Plus",
        "fee": 19900,
        "term_days": 365,
        "free_delivery": True,
        "points_multiplier_pct": 200,
    },
    "start_membership": {"plan": "lumen-plus", "payment_ref": "wx-4200001234"},
    "queue_outbound_message": {
        "customer_id": "cus_8e1f0a3b5c7d9e2f4a6b",
        "medium": "sms",
        "template": "tryon_coupon",
        "locale": "zh-CN",
        "params": {"sku": "LM0001-BLA-M", "store": "Jing'an", "coupon": "TRY-8K2M", "days": "7"},
    },
    "create_campaign": {
        "code": "tryon-nov",
        "title": "Tried on, did not buy",
        "promotion": "TRYON15",
        "delay_minutes": 1440,
        "coupon_days": 7,
        "holdout_percent": 10,
    },
    "report_presence": {"customer_id": "cus_8e1f0a3b5c7d9e2f4a6b", "lat": 31.2243, "lng": 121.4462},
    "create_group_buy": {
        "code": "linen-for-3",
        "title": "Linen shirt, 3 friends",
        "sku": "LM0001-BLA-M",
        "group_size": 3,
        "group_price": 29900,
        "starts_at": "2026-12-01T10:00:00+08:00",
        "ends_at": "2026-12-08T22:00:00+08:00",
        "group_window_minutes": 1440,
        "pickup_locations": ["ST-001", "ST-101"],
        "per_customer_limit": 1,
    },
    "open_group": {
        "channel": "app",
        "customer_id": "cus_8e1f0a3b5c7d9e2f4a6b",
        "pickup_location": "ST-001",
        "payment": {"method": "sandbox", "amount": 29900},
    },
    "join_group": {
        "channel": "app",
        "customer_id": "cus_3c5e7a9b1d2f4e6a8c0b",
        "pickup_location": "ST-101",
        "payment": {"method": "sandbox", "amount": 29900},
    },
    "create_subscription": {
        "url": "https://erp.example.com/hooks/omniretail",
        "event_types": ["order.placed", "return.completed"],
        "description": "ERP order import",
    },
}


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _authenticates(route: APIRoute) -> bool:
    return any(dep.call is context for dep in _dependants(route.dependant))


def schema_name(name: str) -> str:
    """``omniretail__pricing__schemas__PromotionIn`` -> ``PricingPromotionIn`` (two models of one
    name in two contexts); ``Page_OrderOut_`` -> ``OrderOutPage``."""
    parts = name.split("__")
    if len(parts) >= 3 and parts[0] == "omniretail":
        area = "".join(word.capitalize() for word in parts[1].split("_"))
        return f"{area}{parts[-1]}"
    if name.startswith("Page_") and name.endswith("_"):
        return f"{name[5:-1]}Page"
    return name


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                target = value.rsplit("/", 1)[-1]
                out[key] = value[: -len(target)] + renames.get(target, target)
            else:
                out[key] = _rename_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


# Creating POSTs that do not store their response under Idempotency-Key, and why retrying them
# is safe anyway. tests/e2e/test_openapi.py checks this against the handlers.
KEYED_OTHERWISE: dict[str, str] = {
    "post_movements": "a batch applies once per `batch_id`",
    "redeem_coupon": "a coupon use is taken once per `order_ref`",
    "sign_up": "a tenant is created once per `slug` (a repeat is 409)",
}


def honours_idempotency_key(method: str, route: APIRoute) -> bool:
    """Creating POSTs store their response under the key; other operations ignore it."""
    return (
        method == "post" and route.status_code in (201, 202) and route.name not in KEYED_OTHERWISE
    )


def _error_statuses(method: str, path: str, operation: dict[str, Any], secured: bool) -> list[str]:
    statuses = ["400", *EXTRA_ERRORS.get(operation["operationId"], ())]
    if secured:
        statuses += ["401", "403", "429"]
    if "{" in path:
        statuses.append("404")
    if secured and method in MUTATING:
        statuses.append("409")
    if "requestBody" in operation:
        statuses.append("413")
    if "requestBody" in operation or operation.get("parameters"):
        statuses.append("422")
    return sorted(set(statuses))


def _problem_response(status: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _ERRORS[status],
        "content": {PROBLEM: {"schema": PROBLEM_REF}},
    }
    if status in _HEADERS:
        response["headers"] = _HEADERS[status]
    return response


def _offer_files_as_bytes(operation: dict[str, Any]) -> None:
    """A CSV upload is bytes in any encoding the server detects: say so, so that clients send
    the file as it is rather than text they must decode first."""
    content = operation.get("requestBody", {}).get("content", {})
    if "text/csv" in content:
        content["text/csv"] = {"schema": {"type": "string", "format": "binary"}}
        content["application/octet-stream"] = {"schema": {"type": "string", "format": "binary"}}


def _tell_the_truth(spec: dict[str, Any], routes: dict[tuple[str, str], APIRoute]) -> None:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            route = routes[(method, path)]
            secured = _authenticates(route)
            operation["operationId"] = route.name
            if secured:
                operation["security"] = [{SECURITY_SCHEME: []}]
            if secured and honours_idempotency_key(method, route):
                operation.setdefault("parameters", []).append(dict(IDEMPOTENCY_PARAMETER))
            if not operation.get("parameters"):
                operation.pop("parameters", None)
            responses = operation["responses"]
            responses.pop("422", None)
            for status in _error_statuses(method, path, operation, secured):
                responses[status] = _problem_response(status)
            _offer_files_as_bytes(operation)
            example = REQUEST_EXAMPLES.get(route.name)
            if example is not None and "requestBody" in operation:
                content = operation["requestBody"]["content"]["application/json"]
                content["example"] = example


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The document served at ``/openapi.json`` (built once, then cached on the app)."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        separate_input_output_schemas=False,
    )
    routes = {
        (method.lower(), str(found.path_format)): found.original_route
        for found in iter_route_contexts(app.routes)
        if isinstance(found.original_route, APIRoute)
        for method in found.methods or ()
    }
    _tell_the_truth(spec, routes)
    # Each path's operations in the order the routers declare them (FastAPI's models put GET
    # first once no operation carries a header parameter of its own): docs/api.md lists them so.
    declared = list(routes)
    for path, item in spec["paths"].items():
        spec["paths"][path] = dict(
            sorted(item.items(), key=lambda pair: declared.index((pair[0], path)))
        )
    components = spec.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    renames = {name: schema_name(name) for name in schemas}
    spec = cast(dict[str, Any], _rename_refs(spec, renames))
    spec["components"]["schemas"] = {
        renames[name]: {**body, "title": renames[name]}
        for name, body in spec["components"]["schemas"].items()
    }
    spec["components"]["schemas"].update(PROBLEM_SCHEMAS)
    spec["components"]["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`omni key create`, `POST /v1/keys`) as a bearer token.",
        }
    }
    app.openapi_schema = spec
    return spec


def install_openapi(app: FastAPI) -> None:
    """Serve the truthful document and the offline docs. The app must be created with
    ``docs_url=None, redoc_url=None``."""

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount(
        "/docs-assets/swagger",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="swagger-assets",
    )
    app.mount("/docs-assets/redoc", StaticFiles(directory=STATIC / "redoc"), name="redoc-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/docs-assets/swagger/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger/swagger-ui.css",
            swagger_favicon_url="/docs-assets/swagger/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            redoc_js_url="/docs-assets/redoc/redoc.standalone.js",
            redoc_favicon_url="/docs-assets/swagger/favicon-32x32.png",
            with_google_fonts=False,
        )
