"""HTTP surface of the connectors: connection management (admin), read views scoped to a
channel key's own channel, and the platforms' signed webhooks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from omniretail.auth.domain import Permission
from omniretail.connectors import inbound, service, stock
from omniretail.connectors.models import Connection
from omniretail.connectors.platforms.base import Platform
from omniretail.connectors.schemas import (
    ConnectionCheckOut,
    ConnectionIn,
    ConnectionOut,
    MappingOut,
    MappingsIn,
    MessageOut,
    StockPushOut,
)
from omniretail.connectors.vault import CredentialVault
from omniretail.db import Database, UnitOfWork
from omniretail.errors import NotFound, ValidationFailed
from omniretail.schemas import Page
from omniretail.web import Ctx, CtxDep, PageDep, ServerIdPath, keyed_page, page

router = APIRouter(prefix="/v1/connections", tags=["connections"])
hooks = APIRouter(prefix="/hooks", tags=["connections"])

ConnectionId = Annotated[str, Path(pattern=r"^con_[0-9a-f]{16}$")]
MAX_CSV_BYTES = 2 * 1024 * 1024


def _vault(request: Request) -> CredentialVault:
    vault: CredentialVault = request.app.state.connector_vault
    return vault


def _platforms(request: Request) -> dict[str, Platform]:
    platforms: dict[str, Platform] = request.app.state.platforms
    return platforms


async def _scoped(ctx: Ctx, uow: UnitOfWork, connection_id: str) -> Connection:
    """A channel key sees only connections feeding its channel (others are 404)."""
    return await service.access_connection(uow, connection_id, channel=ctx.principal.channel_code)


@router.post("", status_code=201, response_model=ConnectionOut)
async def create_connection(body: ConnectionIn, ctx: CtxDep) -> JSONResponse:
    ctx.require(Permission.CONNECTIONS_MANAGE)
    async with ctx.uow() as uow:
        return await ctx.create(
            uow,
            lambda: service.do_create_connection(
                uow,
                data=body,
                platforms=_platforms(ctx.request),
                vault=_vault(ctx.request),
            ),
        )


@router.get("", response_model=Page[ConnectionOut])
async def list_connections(ctx: CtxDep, paging: PageDep) -> dict[str, Any]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        items = await service.list_connections(
            uow,
            vault=_vault(ctx.request),
            channel=ctx.principal.channel_code,
            limit=paging.limit,
            after=paging.after,
        )
    return page(list(items), limit=paging.limit, last_key=lambda c: c.id)


@router.get("/{connection_id}", response_model=ConnectionOut)
async def get_connection(connection_id: ConnectionId, ctx: CtxDep) -> ConnectionOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return service.connection_out(await _scoped(ctx, uow, connection_id), _vault(ctx.request))


@router.post("/{connection_id}/test", response_model=ConnectionCheckOut)
async def test_connection(connection_id: ConnectionId, ctx: CtxDep) -> ConnectionCheckOut:
    ctx.require(Permission.CONNECTIONS_MANAGE)
    async with ctx.uow() as uow:
        return await service.check_connection(
            uow, connection_id, platforms=_platforms(ctx.request), vault=_vault(ctx.request)
        )


@router.post("/{connection_id}/mappings", response_model=list[MappingOut])
async def map_skus(connection_id: ConnectionId, body: MappingsIn, ctx: CtxDep) -> list[MappingOut]:
    ctx.require(Permission.CONNECTIONS_MANAGE)
    async with ctx.uow() as uow:
        connection = await service.access_connection(uow, connection_id)
        return await service.do_map_skus(uow, connection=connection, items=body.items)


@router.post(
    "/{connection_id}/mappings.csv",
    response_model=list[MappingOut],
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
async def map_skus_csv(connection_id: ConnectionId, ctx: CtxDep) -> list[MappingOut]:
    ctx.require(Permission.CONNECTIONS_MANAGE)
    raw = await ctx.request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise ValidationFailed("the CSV is too large", [{"field": "body", "message": "2 MB max"}])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("not UTF-8", [{"field": "body", "message": "UTF-8"}]) from exc
    items = service.parse_mapping_csv(text)
    async with ctx.uow() as uow:
        connection = await service.access_connection(uow, connection_id)
        return await service.do_map_skus(uow, connection=connection, items=items)


@router.get("/{connection_id}/mappings", response_model=Page[MappingOut])
async def list_mappings(
    connection_id: ConnectionId, ctx: CtxDep, paging: PageDep
) -> dict[str, Any]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        connection = await _scoped(ctx, uow, connection_id)
        items = await service.list_mappings(
            uow, connection=connection, limit=paging.limit, after=paging.after
        )
    return page(list(items), limit=paging.limit, last_key=lambda m: m.platform_sku)


@router.get("/{connection_id}/messages", response_model=Page[MessageOut])
async def list_messages(
    connection_id: ConnectionId,
    ctx: CtxDep,
    paging: PageDep,
    status: Annotated[str | None, Query(pattern=r"^(received|applied|parked)$")] = None,
) -> dict[str, Any]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        connection = await _scoped(ctx, uow, connection_id)
        items = await inbound.list_messages(
            uow, connection=connection, status=status, limit=paging.limit, after=paging.after
        )
    return page(list(items), limit=paging.limit, last_key=lambda m: m.id)


@router.post("/{connection_id}/messages/{message_id}/retry", response_model=MessageOut)
async def retry_message(
    connection_id: ConnectionId, message_id: ServerIdPath, ctx: CtxDep
) -> MessageOut:
    ctx.require(Permission.CONNECTIONS_MANAGE)
    async with ctx.uow() as uow:
        connection = await service.access_connection(uow, connection_id)
        return await inbound.do_retry_message(uow, connection=connection, message_id=message_id)


@router.get("/{connection_id}/stock-pushes", response_model=Page[StockPushOut])
async def list_stock_pushes(
    connection_id: ConnectionId,
    ctx: CtxDep,
    paging: PageDep,
    sku: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        connection = await _scoped(ctx, uow, connection_id)
        rows = await stock.list_pushes(
            uow, connection=connection, sku=sku, limit=paging.limit, after=paging.after
        )
    return keyed_page(list(rows), limit=paging.limit)


@hooks.post("/{platform}/{connection_id}", include_in_schema=True)
async def receive_push(
    platform: Annotated[str, Path(pattern=r"^[a-z_]{2,32}$")],
    connection_id: ConnectionId,
    request: Request,
) -> Response:
    """A platform's signed push. No API key: the signature over the raw body is the
    credential. 401 (and nothing stored) when it does not match; the platform's own reply
    shape once the messages are stored; applying them is the worker's job."""
    plugin = _platforms(request).get(platform)
    if plugin is None:
        raise NotFound("platform", platform)
    body = await request.body()
    db: Database = request.app.state.db
    ack, _ = await inbound.receive_push(
        db,
        public_id=connection_id,
        platform=plugin,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=body,
        vault=_vault(request),
    )
    if isinstance(ack.body, str):
        return PlainTextResponse(ack.body)
    return JSONResponse(ack.body)
