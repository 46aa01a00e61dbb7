"""Platform shops in the console, for admins (``connections:manage``, as
``POST /v1/connections``): connect a shop (platform, credentials, the channel it feeds, the
stores and warehouses whose stock it sells), then watch its messages arrive and become
orders. With ``OMNI_CONSOLE_SIMULATOR`` on (the demo, a trial), a button pushes a signed test
order the way the platform would (``connectors.simulator``) through the same inbound path as
a real push: verified, stored, acknowledged, applied by the worker."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from omniretail.auth.domain import Permission
from omniretail.catalog import service as catalog
from omniretail.channels import service as channels
from omniretail.config import Settings
from omniretail.connectors import inbound, simulator
from omniretail.connectors import service as connectors
from omniretail.connectors.platforms.base import Platform
from omniretail.connectors.schemas import ConnectionIn
from omniretail.connectors.vault import CredentialVault
from omniretail.console.context import ConsoleDep
from omniretail.errors import DomainError, ValidationFailed
from omniretail.network import service as network
from omniretail.problems import status_for

router = APIRouter(prefix="/console/connections", include_in_schema=False)

PAGE = 100
ConnectionId = Annotated[str, Path(pattern=r"^con_[0-9a-f]{16}$")]


def _platforms(ctx: ConsoleDep) -> dict[str, Platform]:
    platforms: dict[str, Platform] = ctx.request.app.state.platforms
    return platforms


def _vault(ctx: ConsoleDep) -> CredentialVault:
    vault: CredentialVault = ctx.request.app.state.connector_vault
    return vault


def _simulator_on(ctx: ConsoleDep) -> bool:
    settings: Settings = ctx.request.app.state.settings
    return settings.console_simulator


async def _list_page(
    ctx: ConsoleDep, platform: str, status: int = 200, **extra: object
) -> HTMLResponse:
    platforms = _platforms(ctx)
    async with ctx.uow() as uow:
        connections = await connectors.list_connections(
            uow, vault=_vault(ctx), channel=None, limit=PAGE, after=None
        )
        found_channels = await channels.list_channels(uow, limit=PAGE)
        locations = await network.list_locations(uow, limit=PAGE)
    response = ctx.render(
        "connections.html",
        status,
        connections=connections[:PAGE],
        platforms=sorted(platforms),
        platform=platform,
        credential_fields=platforms[platform].credential_fields,
        channels=found_channels[:PAGE],
        locations=locations[:PAGE],
        **extra,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("")
async def connections_page(
    ctx: ConsoleDep, platform: Annotated[str, Query(pattern=r"^[a-z_]{2,32}$")] = "douyin"
) -> HTMLResponse:
    try:
        ctx.require(Permission.CONNECTIONS_MANAGE)
        if platform not in _platforms(ctx):
            raise ValidationFailed("unknown platform", [{"field": "platform", "message": platform}])
        return await _list_page(ctx, platform)
    except DomainError as exc:
        return ctx.error(exc)


@router.post("")
async def connect_shop(
    ctx: ConsoleDep,
    platform: Annotated[str, Form(max_length=32)] = "",
    shop_id: Annotated[str, Form(max_length=64)] = "",
    channel: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        ctx.require(Permission.CONNECTIONS_MANAGE)
    except DomainError as exc:
        return ctx.error(exc)
    form = await ctx.request.form()
    locations = [str(v) for v in form.getlist("locations")][:200]
    credentials = {
        str(name).removeprefix("credential."): str(value)
        for name, value in form.multi_items()
        if str(name).startswith("credential.") and str(value).strip()
    }
    shown = platform if platform in _platforms(ctx) else "douyin"
    try:
        try:
            data = ConnectionIn(
                platform=platform,
                shop_id=shop_id,
                channel=channel,
                locations=locations,
                credentials=credentials,
            )
        except ValidationError as exc:
            raise ValidationFailed(
                "the connection is incomplete",
                [
                    {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                    for e in exc.errors()
                ],
            ) from exc
        async with ctx.uow() as uow:
            created = await connectors.do_create_connection(
                uow, data=data, platforms=_platforms(ctx), vault=_vault(ctx)
            )
    except DomainError as exc:
        return await _list_page(ctx, shown, status_for(exc), problem=exc)
    return RedirectResponse(f"/console/connections/{created.id}", status_code=303)


async def _connection_page(
    ctx: ConsoleDep, connection_id: str, template: str, status: int = 200, **extra: object
) -> HTMLResponse:
    async with ctx.uow() as uow:
        row = await connectors.access_connection(uow, connection_id)
        connection = connectors.connection_out(row, _vault(ctx))
        messages = await inbound.list_messages(
            uow, connection=row, status=None, limit=PAGE, after=None
        )
    return ctx.render(
        template,
        status,
        connection=connection,
        messages=list(reversed(messages[:PAGE])),  # newest first
        simulator_on=_simulator_on(ctx),
        **extra,
    )


@router.get("/{connection_id}")
async def connection_page(connection_id: ConnectionId, ctx: ConsoleDep) -> HTMLResponse:
    try:
        ctx.require(Permission.CONNECTIONS_MANAGE)
        return await _connection_page(ctx, connection_id, "connection.html")
    except DomainError as exc:
        return ctx.error(exc)


@router.get("/{connection_id}/messages")
async def connection_messages(connection_id: ConnectionId, ctx: ConsoleDep) -> HTMLResponse:
    """The messages table alone: the page polls it to show orders as they arrive."""
    try:
        ctx.require(Permission.CONNECTIONS_MANAGE)
        return await _connection_page(ctx, connection_id, "connection_messages.html")
    except DomainError as exc:
        return ctx.error(exc)


@router.post("/{connection_id}/simulate")
async def push_test_order(
    connection_id: ConnectionId,
    ctx: ConsoleDep,
    sku: Annotated[str, Form(max_length=64)] = "",
    qty: Annotated[int, Form(ge=1, le=99)] = 1,
) -> Response:
    """A signed "paid" push of one test order (platform order id ``SIM-…``), as the platform
    would send it; the worker then applies it like any other."""
    try:
        ctx.require(Permission.CONNECTIONS_MANAGE)
        if not _simulator_on(ctx):
            raise ValidationFailed(
                "the simulator is off here",
                [{"field": "simulator", "message": "set OMNI_CONSOLE_SIMULATOR=true"}],
            )
    except DomainError as exc:
        return ctx.error(exc)
    try:
        vault, platforms = _vault(ctx), _platforms(ctx)
        async with ctx.uow() as uow:
            row = await connectors.access_connection(uow, connection_id)
            platform, credentials = row.platform, vault.open(row.credentials)
            variant = (await catalog.variants_by_sku(uow, [sku])).get(sku)
        if variant is None:
            raise ValidationFailed("unknown SKU", [{"field": "sku", "message": f"no sku {sku!r}"}])
        order_id = f"SIM-{secrets.token_hex(4).upper()}"
        body = simulator.paid_body(platform, order_id, [(sku, qty)], variant.price * qty)
        headers, query = simulator.signed_request(platform, body, credentials)
        await inbound.receive_push(
            ctx.db,
            public_id=connection_id,
            platform=platforms[platform],
            headers={k.lower(): v for k, v in headers.items()},
            query=query,
            body=body,
            vault=vault,
        )
    except DomainError as exc:
        return await _connection_page(
            ctx, connection_id, "connection.html", status_for(exc), problem=exc
        )
    return await _connection_page(ctx, connection_id, "connection.html", 201, pushed=order_id)
