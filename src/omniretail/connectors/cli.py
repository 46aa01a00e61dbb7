"""``omni connections`` and ``omni channel-sim``: key rotation, stock resync, and the local
platform simulator."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from omniretail.cli_support import run, tenant_id
from omniretail.connectors import service, stock
from omniretail.connectors.platforms import builtin_platforms
from omniretail.connectors.simulator import push_orders
from omniretail.connectors.vault import CredentialVault
from omniretail.db import Database

connections_app = typer.Typer(help="Channel connections.", no_args_is_help=True)
Tenant = Annotated[str, typer.Option(help="tenant slug")]


def _vault(db: Database) -> CredentialVault:
    return CredentialVault.from_setting(db.settings.connector_keys)


@connections_app.command("rotate-keys")
def rotate_keys(tenant: Tenant) -> None:
    """Re-encrypt the tenant's credentials with the first key of OMNI_CONNECTOR_KEYS."""

    async def work(db: Database) -> int:
        async with db.uow(await tenant_id(db, tenant)) as uow:
            return await service.do_rotate_credentials(uow, vault=_vault(db))

    typer.echo(json.dumps({"tenant": tenant, "rotated": run(work)}))


@connections_app.command("resync")
def resync(tenant: Tenant, connection: Annotated[str, typer.Option(help="con_…")]) -> None:
    """Push every SKU's available-to-sell to the connection again."""

    async def work(db: Database) -> int:
        async with db.uow(await tenant_id(db, tenant)) as uow:
            row = await service.access_connection(uow, connection)
            return await stock.do_resync_connection(
                uow, connection=row, platforms=builtin_platforms()
            )

    typer.echo(json.dumps({"connection": connection, "pushed": run(work)}))


def channel_sim(
    platform: Annotated[str, typer.Argument(help="douyin, youzan, xiaohongshu or wechat")],
    connection: Annotated[str, typer.Option(help="connection id (con_…)")],
    credential: Annotated[
        list[str], typer.Option(help="name=value, as given to the connection (repeat)")
    ],
    sku: Annotated[str, typer.Option(help="the platform's SKU id to order")],
    price: Annotated[int, typer.Option(help="paid amount in fen")],
    orders: Annotated[int, typer.Option(min=1, max=10_000)] = 1,
    url: Annotated[str, typer.Option(help="where omni serve listens")] = "http://127.0.0.1:8000",
    prefix: Annotated[str, typer.Option(help="platform order id prefix")] = "SIM",
) -> None:
    """Play a platform: sign and push paid orders to our webhook, as the platform would."""
    if platform not in builtin_platforms():
        typer.echo(f"error: unknown platform {platform!r}", err=True)
        raise typer.Exit(2)
    pairs = [c.split("=", 1) for c in credential]
    if any(len(p) != 2 for p in pairs):
        typer.echo("error: --credential takes name=value", err=True)
        raise typer.Exit(2)
    sent = asyncio.run(
        push_orders(
            base_url=url,
            platform=platform,
            connection_id=connection,
            credentials={p[0]: p[1] for p in pairs},
            sku=sku,
            price=price,
            orders=orders,
            prefix=prefix,
        )
    )
    for order_id, status, reply in sent:
        typer.echo(json.dumps({"order": order_id, "status": status, "reply": reply}))
    if any(status != 200 for _, status, _ in sent):
        raise typer.Exit(1)
