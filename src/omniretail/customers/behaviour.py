"""Behaviour events (views, try-ons, scans, carts, store visits, searches) from every channel.

A line names its customer by id or by any identity. An identity nobody has yet creates an
anonymous customer holding it (documented choice): browsing before sign-up is kept, and merges
into the real customer as soon as the identity is linked to them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from omniretail.channels import service as channels
from omniretail.customers.domain import BehaviourType
from omniretail.customers.models import BehaviourEvent, Customer
from omniretail.customers.profile import behaviour_out
from omniretail.customers.schemas import BehaviourAccepted, BehaviourIn, BehaviourOut
from omniretail.customers.service import (
    Identity,
    access_customer,
    check_identities,
    resolve_customer,
    touch_channel,
)
from omniretail.db import UnitOfWork
from omniretail.errors import NotFound, ValidationFailed
from omniretail.events import record_event

# Behaviour that says a customer was interested in a SKU (a search or a visit names none).
LOOKED_AT = frozenset(
    t.label
    for t in (
        BehaviourType.VIEW,
        BehaviourType.TRY_ON,
        BehaviourType.SCAN,
        BehaviourType.ADD_TO_CART,
    )
)


async def _check_channels(uow: UnitOfWork, lines: Sequence[BehaviourIn]) -> None:
    errors = []
    known: dict[str, bool] = {}
    for i, line in enumerate(lines):
        if line.channel not in known:
            try:
                await channels.channel_ref(uow, line.channel)
                known[line.channel] = True
            except NotFound:
                known[line.channel] = False
        if not known[line.channel]:
            errors.append({"field": f"events.{i}.channel", "message": "no such channel"})
    if errors:
        raise ValidationFailed("unknown channel", errors)


async def do_record_behaviour(
    uow: UnitOfWork, *, lines: Sequence[BehaviourIn], actor: str = "system"
) -> BehaviourAccepted:
    """Store a batch; all lines or none. Unknown customer ids are a 422 naming the line."""
    await _check_channels(uow, lines)
    by_id: dict[str, Customer] = {}
    by_identity: dict[Identity, Customer] = {}
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[int, str], dt.datetime] = {}
    tried_on: list[tuple[str, BehaviourIn]] = []
    looked_at: dict[str, list[BehaviourIn]] = {}
    errors = []
    for i, line in enumerate(lines):
        if line.customer_id is not None:
            if line.customer_id not in by_id:
                try:
                    by_id[line.customer_id] = await access_customer(uow, line.customer_id)
                except NotFound:
                    errors.append({"field": f"events.{i}.customer_id", "message": "not found"})
                    continue
            customer = by_id[line.customer_id]
        else:
            assert line.identity is not None
            identity = check_identities([line.identity], field=f"events.{i}.identity")[0]
            if identity not in by_identity:
                by_identity[identity], _ = await resolve_customer(
                    uow,
                    identities=[identity],
                    create_if_missing=True,
                    channel=line.channel,
                    actor=actor,
                    at=line.at,
                )
            customer = by_identity[identity]
        rows.append(
            {
                "tenant_id": uow.require_tenant(),
                "customer_id": customer.id,
                "type": BehaviourType.from_label(line.type).value,
                "sku": line.sku,
                "query": line.query,
                "channel": line.channel,
                "location": line.location,
                "lat": line.lat,
                "lng": line.lng,
                "staff": line.staff,
                "at": line.at,
            }
        )
        key = (customer.id, line.channel)
        seen[key] = max(seen.get(key, line.at), line.at)
        if line.type == BehaviourType.TRY_ON.label and line.sku:
            tried_on.append((customer.public_id, line))
        if line.type in LOOKED_AT and line.sku:
            looked_at.setdefault(customer.public_id, []).append(line)
    if errors:
        raise ValidationFailed("unknown customer", errors)
    await uow.session.execute(sa.insert(BehaviourEvent), rows)
    # A try-on is the one behaviour other contexts react to (engagement's campaigns).
    for public_id, line in tried_on:
        record_event(
            uow,
            "customer.tried_on",
            aggregate_type="customer",
            aggregate_id=public_id,
            payload={
                "customer_id": public_id,
                "sku": line.sku,
                "location": line.location,
                "channel": line.channel,
                "at": line.at.isoformat(),
            },
        )
    # What a customer looked at feeds the pairings and experience-store attribution
    # (engagement): one event per customer and batch, however many lines it had.
    for public_id, looked in looked_at.items():
        record_event(
            uow,
            "customer.looked_at",
            aggregate_type="customer",
            aggregate_id=public_id,
            payload={
                "customer_id": public_id,
                "items": [
                    {
                        "type": line.type,
                        "sku": line.sku,
                        "channel": line.channel,
                        "location": line.location,
                        "staff": line.staff,
                        "at": line.at.isoformat(),
                    }
                    for line in looked
                ],
            },
        )
    for (customer_pk, channel), at in seen.items():
        await touch_channel(uow, customer_pk, channel, at)
    customers = {c.public_id for c in [*by_id.values(), *by_identity.values()]}
    return BehaviourAccepted(accepted=len(rows), customers=sorted(customers))


async def list_behaviour(
    uow: UnitOfWork,
    *,
    customer_id: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    type_: BehaviourType | None = None,
    limit: int = 50,
    after: Any = None,
) -> list[BehaviourOut]:
    """Newest first; page with ``after`` = [at (ISO), id] of the last event seen."""
    customer = await access_customer(uow, customer_id)
    query = (
        sa.select(BehaviourEvent)
        .where(BehaviourEvent.customer_id == customer.id)
        .order_by(BehaviourEvent.at.desc(), BehaviourEvent.id.desc())
        .limit(limit + 1)
    )
    if since is not None:
        query = query.where(BehaviourEvent.at >= since)
    if until is not None:
        query = query.where(BehaviourEvent.at < until)
    if type_ is not None:
        query = query.where(BehaviourEvent.type == type_.value)
    if after is not None:
        at, row_id = _parse_after(after)
        query = query.where(
            sa.or_(
                BehaviourEvent.at < at,
                sa.and_(BehaviourEvent.at == at, BehaviourEvent.id < row_id),
            )
        )
    return [behaviour_out(row) for row in await uow.session.scalars(query)]


def _parse_after(after: Any) -> tuple[dt.datetime, int]:
    try:
        at = dt.datetime.fromisoformat(after[0])
        if at.tzinfo is None:
            raise ValueError("naive")
        return at, int(after[1])
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise ValidationFailed(
            "invalid cursor", [{"field": "cursor", "message": "use next_cursor as given"}]
        ) from exc
