"""A shorter way through FastAPI's request handler for the plain routes (the speed issue).

FastAPI's handler spends more per request than the hot routes' own work: ``solve_dependencies``
walks the dependency tree generically (cache keys, scopes, exit stacks) to find the one
dependency our routes have, :func:`web.context`; the body is parsed to Python objects with
``json.loads`` (after a MIME parse of the Content-Type) and then validated. :class:`LeanRoute`
builds, once per route, a plan for a route of the plain shape, an ``async def`` endpoint whose
parameters are the request context (``CtxDep``), path parameters and at most one JSON body
model, and nothing else, and per request:

1. validates the path parameters with FastAPI's own ``request_params_to_args``;
2. validates a body sent as ``Content-Type: application/json`` straight from its bytes with the
   model's own validator (``model_validate_json``: one pass in pydantic-core);
3. calls :func:`web.context` and the endpoint, and shapes a returned model with FastAPI's own
   ``serialize_response``, as FastAPI does.

Whenever it is not that simple (a path parameter or a body that does not validate, an empty
body, another Content-Type, a dependency override) the request is handed to FastAPI's own
handler, which then answers it exactly as before: the same errors (422 with their field paths,
in the same order relative to authentication), from the same body (the request keeps the bytes
it read). A body that validates from bytes validates from ``json.loads`` to the same model:
pydantic-core's JSON parser refuses what Python's accepts and it does not (a byte order mark,
NaN, lone surrogates), and those go to FastAPI's handler. Routes of any other shape get
FastAPI's handler alone. ``tests/unit/test_lean_route.py`` checks which routes take the plan.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import params
from fastapi._body_limit import get_body_limit_error
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.routing import (
    APIRoute,
    _effective_route_context_var,
    _extract_endpoint_context,
    serialize_response,
)
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from omniretail.schemas import validate_json
from omniretail.web import context

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
JSON_TYPE = b"application/json"


@dataclass(frozen=True, slots=True)
class Plan:
    """What a plain route needs per request (see the module)."""

    call: Callable[..., Coroutine[Any, Any, Any]]
    path: str | None
    ctx_name: str
    request_name: str | None
    path_params: list[Any]
    body_name: str | None
    body_model: type[BaseModel] | None
    route: Any  # the APIRoute, or its effective context in an included router

    def serialize_args(self) -> dict[str, Any]:
        route = self.route
        return {
            "field": route.response_field,
            "include": route.response_model_include,
            "exclude": route.response_model_exclude,
            "by_alias": route.response_model_by_alias,
            "exclude_unset": route.response_model_exclude_unset,
            "exclude_defaults": route.response_model_exclude_defaults,
            "exclude_none": route.response_model_exclude_none,
            "is_coroutine": True,
        }


def _only_request(dependant: Dependant) -> bool:
    """A dependant that takes the request and nothing else."""
    return not (
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.dependencies
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    )


def plan_of(route: Any) -> Plan | None:
    """The plan for ``route`` (an APIRoute or its effective context), or None when its shape is
    not the plain one."""
    dependant: Dependant = route.dependant
    call = dependant.call
    if (
        call is None
        or not inspect.iscoroutinefunction(call)
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or len(dependant.dependencies) != 1
        or getattr(route, "stream_item_field", None) is not None
        or getattr(route, "is_json_stream", False)
    ):
        return None
    (sub,) = dependant.dependencies
    if sub.call is not context or sub.name is None or not _only_request(sub):
        return None
    body_name: str | None = None
    body_model: type[BaseModel] | None = None
    if dependant.body_params:
        if len(dependant.body_params) != 1 or route._embed_body_fields:
            return None
        (field,) = dependant.body_params
        annotation = field.field_info.annotation
        if (
            type(field.field_info) is not params.Body
            or not isinstance(annotation, type)
            or not issubclass(annotation, BaseModel)
            or field.alias != field.name
        ):
            return None
        body_name, body_model = field.name, annotation
    response_class = route.response_class
    if (
        not isinstance(response_class, DefaultPlaceholder)
        or response_class.value is not JSONResponse
    ):
        return None
    return Plan(
        call=call,
        path=dependant.path,
        ctx_name=sub.name,
        request_name=dependant.request_param_name,
        path_params=list(dependant.path_params),
        body_name=body_name,
        body_model=body_model,
        route=route,
    )


def _json_body(scope: Scope) -> bool:
    """The request's (first) Content-Type is exactly ``application/json``."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value == JSON_TYPE)
    return False


async def _read_body(request: Request) -> bytes:
    """The body, with FastAPI's answer to a body that cannot be read."""
    try:
        return await request.body()
    except HTTPException:
        raise
    except Exception as exc:
        if MAX_BODY_SIZE_SCOPE_KEY in request.scope and (error := get_body_limit_error(exc)):
            raise error from exc
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc


def lean_handler(plan: Plan, full: Handler) -> Handler:
    """The plan's handler; ``full`` (FastAPI's) answers whatever the plan does not."""
    route = plan.route
    call = plan.call
    path_params = plan.path_params
    body_name, body_model = plan.body_name, plan.body_model
    status: int = route.status_code or 200  # FastAPI's: the response class's default else
    overrides = route.dependency_overrides_provider
    serialize_args = plan.serialize_args()
    dump_json = route.response_field is not None

    async def handler(request: Request) -> Response:
        if overrides is not None and getattr(overrides, "dependency_overrides", None):
            return await full(request)
        values: dict[str, Any] = {}
        if path_params:
            found, errors = request_params_to_args(path_params, request.path_params)
            if errors:
                return await full(request)
            values.update(found)
        if body_model is not None:
            assert body_name is not None
            body = await _read_body(request)
            if not body or not _json_body(request.scope):
                return await full(request)
            try:
                values[body_name] = validate_json(body_model, body)
            except ValidationError:
                return await full(request)
        values[plan.ctx_name] = await context(request)
        if plan.request_name is not None:
            values[plan.request_name] = request
        raw = await call(**values)
        if isinstance(raw, Response):
            return raw
        endpoint_ctx = _extract_endpoint_context(call)
        if plan.path:
            mount_path = request.scope.get("root_path", "").rstrip("/")
            endpoint_ctx["path"] = f"{request.method} {mount_path}{plan.path}"
        content = await serialize_response(
            response_content=raw, endpoint_ctx=endpoint_ctx, dump_json=dump_json, **serialize_args
        )
        response = (
            Response(content=content, media_type="application/json", status_code=status)
            if dump_json
            else JSONResponse(content, status_code=status)
        )
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        return response

    return handler


class LeanRoute(APIRoute):
    """An APIRoute whose plain shape takes the plan (see the module)."""

    def get_route_handler(self) -> Handler:
        full = super().get_route_handler()
        effective = _effective_route_context_var.get()
        route: Any = self
        if effective is not None and effective.original_route is self:
            route = effective
        plan = plan_of(route)
        return full if plan is None else lean_handler(plan, full)
