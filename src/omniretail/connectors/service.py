"""Connections and SKU mappings: who a platform shop is, which of our locations serve it,
which channel it feeds, and how its SKU ids map to ours."""

from __future__ import annotations

import csv
import io
import secrets
from typing import Any

import sqlalchemy as sa

from omniretail.catalog import service as catalog
from omniretail.channels import service as channels
from omniretail.connectors.models import Connection, SkuMapping
from omniretail.connectors.platforms.base import Platform
from omniretail.connectors.schemas import (
    ConnectionCheckOut,
    ConnectionIn,
    ConnectionOut,
    MappingIn,
    MappingOut,
)
from omniretail.connectors.vault import CredentialVault
from omniretail.db import UnitOfWork
from omniretail.errors import NotFound, ValidationFailed
from omniretail.events import record_event
from omniretail.network import service as network


def connection_out(row: Connection, vault: CredentialVault) -> ConnectionOut:
    return ConnectionOut(
        id=row.public_id,
        platform=row.platform,
        shop_id=row.shop_id,
        channel=row.channel_code,
        locations=list(row.locations),
        credential_fields=sorted(vault.open(row.credentials)),
        active=row.active,
        webhook_path=f"/hooks/{row.platform}/{row.public_id}",
        created_at=row.created_at,
    )


async def do_create_connection(
    uow: UnitOfWork,
    *,
    data: ConnectionIn,
    platforms: dict[str, Platform],
    vault: CredentialVault,
) -> ConnectionOut:
    """Validate against the platform's plugin and our network, then store the credentials
    sealed with the vault's newest key."""
    errors: list[dict[str, Any]] = []
    platform = platforms.get(data.platform)
    if platform is None:
        errors.append({"field": "platform", "message": f"one of {', '.join(sorted(platforms))}"})
    else:
        errors += [
            {"field": f"credentials.{name}", "message": "required by this platform"}
            for name in platform.credential_fields
            if name not in data.credentials
        ]
    try:
        await channels.channel_ref(uow, data.channel)
    except NotFound:
        errors.append({"field": "channel", "message": f"no channel {data.channel!r}"})
    for i, code in enumerate(data.locations):
        try:
            await network.location_ref(uow, code)
        except NotFound:
            errors.append({"field": f"locations.{i}", "message": f"no location {code!r}"})
    if errors:
        raise ValidationFailed("the connection names what does not exist", errors)
    row = Connection(
        public_id=f"con_{secrets.token_hex(8)}",
        platform=data.platform,
        shop_id=data.shop_id,
        channel_code=data.channel,
        locations=list(dict.fromkeys(data.locations)),
        credentials=vault.seal(dict(data.credentials)),
        active=True,
    )
    uow.session.add(row)
    await uow.flush()
    record_event(
        uow,
        "connection.created",
        aggregate_type="connection",
        aggregate_id=row.public_id,
        payload={"connection_id": row.public_id, "platform": row.platform},
    )
    return connection_out(row, vault)


async def access_connection(
    uow: UnitOfWork, public_id: str, *, channel: str | None = None
) -> Connection:
    """The connection, if this tenant has it and (for a channel key) it feeds that channel."""
    row = await uow.session.scalar(sa.select(Connection).where(Connection.public_id == public_id))
    if row is None or (channel is not None and row.channel_code != channel):
        raise NotFound("connection", public_id)
    return row


async def list_connections(
    uow: UnitOfWork, *, vault: CredentialVault, channel: str | None, limit: int, after: Any
) -> list[ConnectionOut]:
    query = sa.select(Connection).order_by(Connection.public_id).limit(limit + 1)
    if channel is not None:
        query = query.where(Connection.channel_code == channel)
    if after is not None:
        query = query.where(Connection.public_id > str(after))
    return [connection_out(row, vault) for row in await uow.session.scalars(query)]


async def check_connection(
    uow: UnitOfWork, public_id: str, *, platforms: dict[str, Platform], vault: CredentialVault
) -> ConnectionCheckOut:
    """What can be checked without the network: the credentials open with our keys, hold
    every field the platform needs, and sign a sample message that verifies."""
    row = await access_connection(uow, public_id)
    platform = platforms[row.platform]
    credentials = vault.open(row.credentials)
    missing = [f for f in platform.credential_fields if not credentials.get(f)]
    if missing:
        return ConnectionCheckOut(ok=False, detail=f"missing {', '.join(missing)}")
    sample = b'{"ping":true}'
    headers, query = platform.signed_headers(
        body=sample, credentials=credentials, timestamp="0", nonce="check"
    )
    ok = platform.verify(
        headers={k.lower(): v for k, v in headers.items()},
        query=query,
        body=sample,
        credentials=credentials,
    )
    return ConnectionCheckOut(
        ok=ok, detail="credentials open and sign" if ok else "signature check failed"
    )


async def do_map_skus(
    uow: UnitOfWork, *, connection: Connection, items: list[MappingIn]
) -> list[MappingOut]:
    """Insert or replace mappings; every SKU must be one of ours (422 otherwise, none saved)."""
    known = await catalog.variants_by_sku(uow, sorted({i.sku for i in items}))
    errors = [
        {"field": f"items.{n}.sku", "message": f"no sku {item.sku!r}"}
        for n, item in enumerate(items)
        if item.sku not in known
    ]
    if errors:
        raise ValidationFailed("unknown SKUs", errors)
    wanted = {i.platform_sku: i.sku for i in items}
    existing = {
        m.platform_sku: m
        for m in await uow.session.scalars(
            sa.select(SkuMapping).where(
                SkuMapping.connection_id == connection.id,
                SkuMapping.platform_sku.in_(list(wanted)),
            )
        )
    }
    for platform_sku, sku in wanted.items():
        if platform_sku in existing:
            existing[platform_sku].sku = sku
        else:
            uow.session.add(
                SkuMapping(connection_id=connection.id, platform_sku=platform_sku, sku=sku)
            )
    await uow.flush()
    return [MappingOut(platform_sku=p, sku=s) for p, s in wanted.items()]


def parse_mapping_csv(text: str) -> list[MappingIn]:
    """``platform_sku,sku`` with a header row; errors name the line."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or {"platform_sku", "sku"} - set(reader.fieldnames):
        raise ValidationFailed(
            "the CSV needs a header platform_sku,sku",
            [{"field": "body", "message": "header platform_sku,sku"}],
        )
    items, errors = [], []
    for n, row in enumerate(reader, start=2):
        try:
            items.append(MappingIn(platform_sku=row["platform_sku"], sku=row["sku"]))
        except ValueError:
            errors.append({"field": f"line {n}", "message": "platform_sku and sku required"})
        if len(errors) >= 100:
            break
    if errors or not items:
        raise ValidationFailed(
            "bad mapping rows", errors or [{"field": "body", "message": "empty"}]
        )
    return items


async def list_mappings(
    uow: UnitOfWork, *, connection: Connection, limit: int, after: Any
) -> list[MappingOut]:
    query = (
        sa.select(SkuMapping)
        .where(SkuMapping.connection_id == connection.id)
        .order_by(SkuMapping.platform_sku)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(SkuMapping.platform_sku > str(after))
    return [
        MappingOut(platform_sku=m.platform_sku, sku=m.sku) for m in await uow.session.scalars(query)
    ]


async def our_skus(uow: UnitOfWork, connection_id: int, platform_skus: list[str]) -> dict[str, str]:
    rows = await uow.session.execute(
        sa.select(SkuMapping.platform_sku, SkuMapping.sku).where(
            SkuMapping.connection_id == connection_id, SkuMapping.platform_sku.in_(platform_skus)
        )
    )
    return {row.platform_sku: row.sku for row in rows}


async def do_rotate_credentials(uow: UnitOfWork, *, vault: CredentialVault) -> int:
    """Re-encrypt every connection of the tenant with the vault's newest key."""
    rows = (await uow.session.scalars(sa.select(Connection))).all()
    for row in rows:
        row.credentials = vault.rotate(row.credentials)
    await uow.flush()
    return len(rows)
