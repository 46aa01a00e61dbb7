"""Route lookup by the path's first two segments (issue 11).

FastAPI's router tries its routes one at a time, in declaration order, each try a few
microseconds of Python (the included router's effective contexts, scope bookkeeping, a regex):
``POST /v1/reservations`` came after 14 included routers and about 80 routes, ~250 µs a request
before its handler ran, the price quote ~50 µs, the location GET ~10 µs.

:class:`Dispatch` sits in front of the app's router. From the routes it indexes, once, each
"leaf" (an operation with its full path regex and methods, or a mount) under the literal first
two segments of its path (``/v1/reservations`` → ``("v1", "reservations")``), or under the
first alone when the second is a parameter, or nowhere (tried on every request) when the first
is. A request then tries only the leaves of its own segments, still in declaration order, with
the route's own regex and methods; the first that matches fully names the top-level route, which
is handled exactly as the router would have handled it. Anything else (no full match: 404, 405,
a trailing-slash redirect, a ``root_path``, websockets, lifespan) goes to the router itself, so
the answer is the router's. What cannot be indexed (a host route, a route without a regex) is
tried on every request through its own ``matches``, in its place in the order.

Same choice as the router, because: a leaf left out of a request's candidates has a literal
first (or second) segment that differs from the request's, so its regex cannot match; the
candidates keep the declaration order; and the first full match wins in both.
``tests/unit/test_dispatch.py`` checks every registered operation.

A leaf that is an operation declared directly on an included router (not on a router included
in it) keeps its effective route context: when it is chosen, the request goes to that
operation as the included router's ``_handle_selected`` would send it after trying its own
routes in order (it would pick the same one: the earlier ones did not match), without the
second scan (issue 11: ~25 µs a request for ``POST /v1/reservations``, sixth in its router).

Routes are indexed on the first request and again whenever the app's list of top-level routes
changes length (a route added after ``create_app``); routes added later to an already included
router are not seen (``create_app`` includes its routers whole).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.routing import (
    _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY,
    _FASTAPI_INCLUDED_ROUTER_KEY,
    APIRoute,
    APIRouter,
    _apply_router_form_limits,
    _get_fastapi_scope,
    _IncludedRouter,
    _update_scope,
)
from fastapi.telemetry._api import _route_selected
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Receive, Scope, Send

WILD = "{"


@dataclass(frozen=True, slots=True)
class Leaf:
    """One way a top-level route can match: ``regex`` and ``methods`` (None: any method), or
    neither when only the route's own ``matches`` can tell; ``context``, the effective route
    context of an operation declared directly on the included router ``top`` (else None)."""

    top: int
    regex: re.Pattern[str] | None
    methods: frozenset[str] | None
    context: Any = None


def _segments(path_format: str) -> tuple[str | None, str | None]:
    """The first two segments of a path template, None where a parameter (or nothing) is."""
    parts = path_format.split("/", 3)
    first = parts[1] if len(parts) > 1 and parts[1] and WILD not in parts[1] else None
    second = parts[2] if first and len(parts) > 2 and parts[2] and WILD not in parts[2] else None
    return first, second


def _leaves_of(top: int, route: BaseRoute) -> Iterator[tuple[Leaf, str | None]]:
    """Each leaf of a top-level route with its path template (None: not indexable)."""
    if isinstance(route, _IncludedRouter):
        # effective_route_contexts(), with each context's place: on this router or deeper.
        for candidate in route.effective_candidates():
            if isinstance(candidate, _IncludedRouter):
                for context in candidate.effective_route_contexts():
                    yield _context_leaf(top, context, direct=False)
            else:
                yield _context_leaf(top, candidate, direct=True)
        return
    yield from _plain_leaf(top, route)


def _context_leaf(top: int, context: Any, *, direct: bool) -> tuple[Leaf, str | None]:
    inner = context.starlette_route
    if context.path_regex is not None and context.path_format:
        methods = frozenset(context.methods) if context.methods else None
        operation = direct and isinstance(context.original_route, APIRoute)
        leaf = Leaf(top, context.path_regex, methods, context if operation else None)
        return leaf, context.path_format
    if isinstance(inner, Route | Mount):
        return next(_plain_leaf(top, inner))
    return Leaf(top, None, None), None


def _plain_leaf(top: int, route: BaseRoute) -> Iterator[tuple[Leaf, str | None]]:
    if isinstance(route, Route):
        methods = frozenset(route.methods) if route.methods else None
        yield Leaf(top, route.path_regex, methods), route.path_format
    elif isinstance(route, Mount) and route.path:
        # A mount matches its path and everything under it, whatever the method.
        yield Leaf(top, route.path_regex, None), route.path
    else:
        yield Leaf(top, None, None), None


class RouteIndex:
    """The leaves of ``routes`` by their first two literal segments (see the module)."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self.size = len(routes)
        # Each leaf with its place in declaration order (top-level route, then as each route
        # lists its leaves): a request's candidates are tried in that order.
        by_pair: dict[tuple[str, str], list[tuple[int, Leaf]]] = {}
        by_first: dict[str, list[tuple[int, Leaf]]] = {}
        everywhere: list[tuple[int, Leaf]] = []
        place = 0
        for top, route in enumerate(routes):
            for leaf, path_format in _leaves_of(top, route):
                place += 1
                first, second = _segments(path_format) if path_format else (None, None)
                if first is None:
                    everywhere.append((place, leaf))
                elif second is None:
                    by_first.setdefault(first, []).append((place, leaf))
                else:
                    by_pair.setdefault((first, second), []).append((place, leaf))

        def ordered(*groups: list[tuple[int, Leaf]]) -> tuple[Leaf, ...]:
            return tuple(leaf for _, leaf in sorted(item for group in groups for item in group))

        self.everywhere = ordered(everywhere)
        self.by_first = {first: ordered(leaves, everywhere) for first, leaves in by_first.items()}
        self.by_pair = {
            pair: ordered(leaves, by_first.get(pair[0], []), everywhere)
            for pair, leaves in by_pair.items()
        }

    def candidates(self, path: str) -> tuple[Leaf, ...]:
        parts = path.split("/", 3)
        first = parts[1] if len(parts) > 1 else ""
        if len(parts) > 2:
            found = self.by_pair.get((first, parts[2]))
            if found is not None:
                return found
        return self.by_first.get(first, self.everywhere)


class Dispatch:
    """The app's router, reached through the index (see the module)."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self._index: RouteIndex | None = None

    def index(self) -> RouteIndex:
        routes = self.router.routes
        if self._index is None or self._index.size != len(routes):
            self._index = RouteIndex(routes)
        return self._index

    def choose(self, scope: Scope) -> tuple[BaseRoute, Scope, Any] | None:
        """The top-level route the router would handle ``scope`` with, its child scope and the
        effective context of the operation in it (when the leaf has one, see the module), when
        one matches fully; None when the router must decide (no full match)."""
        if scope["type"] != "http" or scope.get("root_path"):
            return None
        path: str = scope["path"]
        method: str = scope["method"]
        routes = self.router.routes
        for leaf in self.index().candidates(path):
            route = routes[leaf.top]
            if leaf.regex is not None:
                if leaf.regex.match(path) is None:
                    continue
                if leaf.methods is not None and method not in leaf.methods:
                    continue
                if isinstance(route, _IncludedRouter):
                    # Its own matching (and choice among its leaves) happens in its handle();
                    # an included router's match adds nothing to the scope.
                    return route, {}, leaf.context
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                return route, child_scope, None
            if leaf.regex is not None:
                return None  # unexpected: let the router decide
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = self.choose(scope)
        if chosen is None:
            await self.router(scope, receive, send)
            return
        route, child_scope, context = chosen
        # What the router does with its first full match (fastapi.routing.APIRouter.app).
        router = self.router
        _apply_router_form_limits(scope, router.form_limits)
        if "router" not in scope:
            scope["router"] = router
        _update_scope(scope, child_scope)
        if context is not None and isinstance(route, _IncludedRouter):
            await self._operation(route, context, scope, receive, send)
            return
        await route.handle(scope, receive, send)

    @staticmethod
    async def _operation(
        included: _IncludedRouter, context: Any, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """What ``included.handle`` does when its scan stops at ``context``
        (``_IncludedRouter.handle``, ``APIRouter.handle``, ``_handle_selected``)."""
        _apply_router_form_limits(scope, included.include_context.form_limits)
        fastapi_scope = _get_fastapi_scope(scope)
        fastapi_scope[_FASTAPI_INCLUDED_ROUTER_KEY] = included
        match, child_scope = context.matches(scope)
        if match != Match.FULL:  # unexpected: let the included router decide
            await included.handle(scope, receive, send)
            return
        original = context.original_route
        child_scope["route"] = original  # as APIRoute.matches adds
        _update_scope(scope, child_scope)
        _route_selected(
            scope=scope,
            path=getattr(context.starlette_route, "path_format", None) or context.path_format,
            mount=False,
        )
        fastapi_scope[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = context
        scope["route"] = original
        await original.handle(scope, receive, send)
