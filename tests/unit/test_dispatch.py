"""The route index (omniretail.dispatch) chooses the route the router would, for every
registered route, every method and a few paths that match nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import _IncludedRouter, iter_route_contexts
from starlette.routing import BaseRoute, Match

from omniretail.app import create_app
from omniretail.config import Settings
from omniretail.dispatch import Dispatch

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SAMPLES = {
    "int": "7",
    "float": "1.5",
    "path": "a/b.css",
    "uuid": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('dispatch')}/dispatch.db"
    return create_app(Settings(database_url=url, run_dispatcher=False))


def scope_of(app: FastAPI, method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": b"",
        "app": app,
    }


def the_routers_choice(app: FastAPI, scope: dict[str, Any]) -> BaseRoute | None:
    """The first route that matches fully, tried in order: what APIRouter.app does."""
    for route in app.router.routes:
        match, _ = route.matches(dict(scope))
        if match == Match.FULL:
            return route
    return None


def sample_paths(app: FastAPI) -> list[str]:
    paths = []
    for context in iter_route_contexts(app.routes):
        template = getattr(context, "path_format", "") or getattr(context.route, "path", "")
        if not template:
            continue
        kinds = re.findall(r"{(\w+)(?::(\w+))?}", template)
        path = template
        for name, kind in kinds:
            value = SAMPLES.get(kind, f"x-{name}")
            path = path.replace(f"{{{name}:{kind}}}" if kind else f"{{{name}}}", value)
        paths.append(path)
        if template.endswith("{path}") or "{" not in template:
            paths.append(path.rstrip("/") + "/")  # a trailing slash: a redirect, or a mount's
    return paths


def test_every_registered_route_is_chosen_as_the_router_would(app: FastAPI) -> None:
    dispatch = Dispatch(app.router)
    paths = sample_paths(app)
    assert len(paths) > 150
    assert "/v1/reservations" in paths
    chosen = 0
    for path in paths:
        for method in METHODS:
            scope = scope_of(app, method, path)
            expected = the_routers_choice(app, scope)
            found = dispatch.choose(dict(scope))
            assert (found[0] if found else None) is expected, (method, path)
            chosen += found is not None
    assert chosen > len(paths)  # most paths have at least one method


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/nope",
        "/v1",
        "/v1/",
        "/v1/nope",
        "/v1/locations/",
        "/v1/locations/a/b/c",
        "/healthz/",
        "/console",
        "/docs-assets",
        "/docs-assets/swagger",
        "//v1/me",
    ],
)
def test_paths_that_match_nothing_fully_go_to_the_router(app: FastAPI, path: str) -> None:
    dispatch = Dispatch(app.router)
    for method in METHODS:
        scope = scope_of(app, method, path)
        expected = the_routers_choice(app, scope)
        found = dispatch.choose(dict(scope))
        assert (found[0] if found else None) is expected, (method, path)


def test_a_route_added_after_the_first_request_is_indexed(app: FastAPI) -> None:
    dispatch = Dispatch(app.router)
    scope = scope_of(app, "GET", "/added-later/7")
    assert dispatch.choose(dict(scope)) is None

    @app.get("/added-later/{n}")
    async def added_later(n: int) -> dict[str, int]:
        return {"n": n}

    try:
        found = dispatch.choose(dict(scope))
        assert found is not None
        assert found[0] is the_routers_choice(app, scope)
        assert found[1]["path_params"] == {"n": "7"}
    finally:
        app.router.routes.pop()


def test_a_request_under_a_root_path_is_left_to_the_router(app: FastAPI) -> None:
    scope = {**scope_of(app, "GET", "/api/v1/me"), "root_path": "/api"}
    assert Dispatch(app.router).choose(scope) is None


def test_an_operation_is_reached_as_its_included_router_would_reach_it(app: FastAPI) -> None:
    """A chosen leaf's effective context is the one the included router's own scan picks."""
    dispatch = Dispatch(app.router)
    shortcuts = 0
    for path in sample_paths(app):
        for method in METHODS:
            scope = scope_of(app, method, path)
            found = dispatch.choose(dict(scope))
            if found is None or found[2] is None:
                continue
            included = found[0]
            assert isinstance(included, _IncludedRouter), (method, path)
            match, _, _, context = included._match(dict(scope))
            assert match == Match.FULL, (method, path)
            assert context is found[2], (method, path)
            shortcuts += 1
    assert shortcuts > 150
