"""The OpenAPI document tells the truth, and a client generated from it works (issue 12)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from omniretail.app import create_app
from omniretail.config import Settings
from omniretail.openapi import REQUEST_EXAMPLES
from tests.factories import TenantHandle

SDK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
SCHEMA_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


@pytest.fixture(scope="module")
def spec_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('spec')}/spec.db"
    return create_app(Settings(database_url=url, run_dispatcher=False))


@pytest.fixture(scope="module")
def spec(spec_app: FastAPI) -> dict[str, Any]:
    return spec_app.openapi()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def api_routes(app: FastAPI) -> dict[str, APIRoute]:
    return {
        found.original_route.name: found.original_route
        for found in iter_route_contexts(app.routes)
        # The console's pages are routes too, some with the same names: not the API's.
        if isinstance(found.original_route, APIRoute) and found.original_route.include_in_schema
    }


def test_every_authenticated_operation_names_the_bearer_scheme(spec: dict[str, Any]) -> None:
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }
    # Signed by the platform or gateway instead of an API key (docs/security.md).
    open_ops = {
        "healthz",
        "readyz",
        "sandbox_callback",
        "receive_push",
        "wechat_pay_notify",
        "alipay_notify",
    }
    for _, _, operation in operations(spec):
        if operation["operationId"] in open_ops:
            assert "security" not in operation
        else:
            assert operation["security"] == [{"bearer": []}], operation["operationId"]
            assert {"401", "403", "429"} <= operation["responses"].keys()


def test_errors_are_problem_json_with_one_schema(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert {"type", "title", "status", "detail", "code", "errors"} <= schemas["Problem"][
        "properties"
    ].keys()
    for _, path, operation in operations(spec):
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        assert "400" in errors
        if "{" in path:
            assert "404" in errors, operation["operationId"]
        if "requestBody" in operation:
            assert {"413", "422"} <= errors.keys(), operation["operationId"]
        for response in errors.values():
            assert response["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
    retry = spec["paths"]["/v1/me"]["get"]["responses"]["429"]["headers"]
    assert "Retry-After" in retry


def test_operation_ids_and_schema_names_read_like_an_sdk(spec: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(spec)]
    assert len(ids) == len(set(ids))
    assert all(SDK_NAME.match(i) for i in ids), [i for i in ids if not SDK_NAME.match(i)]
    assert "list_locations" in ids
    names = spec["components"]["schemas"].keys()
    assert all(SCHEMA_NAME.match(n) for n in names), [n for n in names if not SCHEMA_NAME.match(n)]
    assert {"PricingPromotionIn", "LoyaltyPromotionIn", "OrderOutPage"} <= names
    text = json.dumps(spec)
    for ref in re.findall(r'"#/components/schemas/([^"]+)"', text):
        assert ref in names


def undescribed_properties(node: Any, where: str) -> Iterator[str]:
    """``Schema.field`` (``Schema.field.inner`` when nested inline) for every property without
    a description, at any depth of ``node``."""
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if not (isinstance(prop, dict) and str(prop.get("description", "")).strip()):
                yield f"{where}.{name}"
            yield from undescribed_properties(prop, f"{where}.{name}")
        for key, value in node.items():
            if key != "properties":
                yield from undescribed_properties(value, where)
    elif isinstance(node, list):
        for item in node:
            yield from undescribed_properties(item, where)


def test_undescribed_properties_are_named_by_schema_and_field() -> None:
    schema = {
        "properties": {
            "ok": {"type": "string", "description": "fine"},
            "bare": {"type": "integer", "title": "Bare"},
            "inner": {
                "description": "an inline object",
                "anyOf": [{"properties": {"deep": {"type": "string"}}}, {"type": "null"}],
            },
        }
    }
    assert list(undescribed_properties(schema, "OrderOut")) == [
        "OrderOut.bare",
        "OrderOut.inner.deep",
    ]


def test_every_schema_property_has_a_description(spec: dict[str, Any]) -> None:
    """A new field or endpoint must say what its fields mean (units, formats, enums)."""
    missing = [
        found
        for name, schema in spec["components"]["schemas"].items()
        for found in undescribed_properties(schema, name)
    ]
    for method, path, operation in operations(spec):
        where = f"{operation['operationId']} ({method.upper()} {path})"
        missing += undescribed_properties(operation, where)
    assert "Problem" in spec["components"]["schemas"]
    assert missing == [], "properties without a description:\n" + "\n".join(missing)


def _api_reference_script() -> ModuleType:
    path = Path(__file__).parents[2] / "scripts" / "api_reference.py"
    found = importlib.util.spec_from_file_location("api_reference", path)
    assert found is not None
    assert found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def test_docs_api_md_lists_every_operation_as_the_document_does(spec: dict[str, Any]) -> None:
    script = _api_reference_script()
    written = script.REFERENCE.read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `[A-Z]+ \S+` \| `(\w+)` \|", written, re.M))
    unlisted = sorted(
        operation["operationId"]
        for _, _, operation in operations(spec)
        if operation["operationId"] not in listed
    )
    assert unlisted == [], f"docs/api.md lacks {unlisted}: run scripts/api_reference.py"
    assert script.with_operations(written, spec) == written, "run scripts/api_reference.py"


def test_idempotency_key_is_advertised_exactly_where_a_handler_honours_it(
    spec: dict[str, Any], spec_app: FastAPI
) -> None:
    routes = api_routes(spec_app)
    advertised = {
        operation["operationId"]
        for _, _, operation in operations(spec)
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
    }
    honoured = {
        name
        for name, route in routes.items()
        if re.search(r"ctx\.create\(|posting_key\(ctx\)", inspect.getsource(route.endpoint))
    }
    # link_identity and merge_customer replay too, but are not creations: integrators
    # retry them by sending them again (they are naturally idempotent).
    assert advertised == honoured - {"link_identity", "merge_customer"}
    assert "list_orders" not in advertised
    assert "place_order" in advertised


def test_request_examples_are_valid_bodies(spec: dict[str, Any], spec_app: FastAPI) -> None:
    routes = api_routes(spec_app)
    by_id = {operation["operationId"]: operation for _, _, operation in operations(spec)}
    for name, example in REQUEST_EXAMPLES.items():
        body_field = routes[name].body_field
        assert body_field is not None
        model = body_field.field_info.annotation
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        model.model_validate(example)
        content = by_id[name]["requestBody"]["content"]["application/json"]
        assert content["example"] == example


async def test_docs_load_their_assets_from_this_server(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        html = (await client.get(page)).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, page
        for asset in assets:
            assert asset.startswith("/"), asset
            response = await client.get(asset)
            assert response.status_code == 200, asset
            assert len(response.content) > 100


@pytest.fixture(scope="module")
def generated_client(spec: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """A client generated by openapi-python-client from /openapi.json (offline)."""
    out = tmp_path_factory.mktemp("sdk")
    spec_file = out / "openapi.json"
    spec_file.write_text(json.dumps(spec))
    generator = Path(sys.executable).with_name("openapi-python-client")
    done = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(spec_file),
            "--meta",
            "none",
            "--output-path",
            str(out / "omni_sdk"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = re.findall(r"WARNING parsing (\S+ \S+)", done.stdout)
    assert skipped == [], skipped
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("omni_sdk")
    finally:
        sys.path.remove(str(out))


async def test_a_generated_client_lists_creates_and_reads_problems(
    generated_client: ModuleType, app: FastAPI, tenant: TenantHandle
) -> None:
    sdk = generated_client
    create_channel = importlib.import_module("omni_sdk.api.channels.create_channel")
    list_channels = importlib.import_module("omni_sdk.api.channels.list_channels")
    create_location = importlib.import_module("omni_sdk.api.locations.create_location")
    models = importlib.import_module("omni_sdk.models")
    transport = httpx.ASGITransport(app=app)
    http = httpx.AsyncClient(
        transport=transport,
        base_url="http://omni.test",
        headers={"Authorization": f"Bearer {tenant.admin_key}"},
    )
    api = sdk.AuthenticatedClient(base_url="http://omni.test", token=tenant.admin_key)
    api.set_async_httpx_client(http)
    async with http:
        made = await create_channel.asyncio_detailed(
            client=api,
            body=models.ChannelIn(code="jd", kind=models.ChannelKind.MARKETPLACE, name="JD"),
            idempotency_key="k-1",
        )
        assert made.status_code == 201
        assert made.parsed.code == "jd"
        listed = await list_channels.asyncio(client=api)
        assert "jd" in [c.code for c in listed.items]
        # A bad body: the client parses the 422 problem+json into its Problem model.
        refused = await create_location.asyncio_detailed(
            client=api,
            body=models.LocationIn.from_dict(
                {"code": "ST-9", "name": "x", "type": "store", "lat": 91, "lng": 0}
            ),
        )
        assert refused.status_code == 422
        assert isinstance(refused.parsed, models.Problem)
        assert refused.parsed.code == "validation_error"
        assert refused.parsed.errors[0].field == "lat"
        anonymous = sdk.AuthenticatedClient(base_url="http://omni.test", token="nope")
        anonymous.set_async_httpx_client(
            httpx.AsyncClient(transport=transport, base_url="http://omni.test")
        )
        denied = await list_channels.asyncio_detailed(client=anonymous)
        assert denied.status_code == 401
        assert isinstance(denied.parsed, models.Problem)
        assert denied.parsed.code == "unauthenticated"
