"""Group-buy campaigns: one SKU at a group price for groups of a fixed size, picked up at the
campaign's stores, opened within its window."""

from __future__ import annotations

import sqlalchemy as sa

from omniretail.catalog import service as catalog
from omniretail.db import UnitOfWork
from omniretail.engagement.groupbuy_domain import campaign_errors
from omniretail.engagement.groupbuy_models import GroupBuy
from omniretail.engagement.groupbuy_schemas import GroupBuyIn, GroupBuyOut
from omniretail.errors import AlreadyExists, NotFound, ValidationFailed
from omniretail.network import service as network


def _campaign_out(row: GroupBuy) -> GroupBuyOut:
    return GroupBuyOut.model_validate(row)


async def do_create_group_buy(uow: UnitOfWork, *, data: GroupBuyIn) -> GroupBuyOut:
    """A campaign; 409 ``already_exists`` for a taken code, 422 naming each bad field (an
    unknown SKU or store, a store that offers no pickup, a group price not below list)."""
    variant = (await catalog.variants_by_sku(uow, [data.sku])).get(data.sku)
    errors = []
    if variant is None:
        errors.append({"field": "sku", "message": f"no SKU {data.sku!r}"})
    for i, code in enumerate(data.pickup_locations):
        try:
            store = await network.access_location(uow, code)
        except NotFound:
            errors.append({"field": f"pickup_locations.{i}", "message": f"no location {code!r}"})
            continue
        if not store.can_pickup:
            errors.append({"field": f"pickup_locations.{i}", "message": "offers no pickup"})
    errors += campaign_errors(
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        group_price=data.group_price,
        list_price=variant.price if variant is not None else data.group_price + 1,
        pickup_locations=data.pickup_locations,
    )
    if errors:
        raise ValidationFailed("the group buy cannot be sold as given", errors)
    if await uow.session.scalar(sa.select(GroupBuy.id).where(GroupBuy.code == data.code)):
        raise AlreadyExists(f"group buy {data.code!r} exists")
    row = GroupBuy(**data.model_dump())
    uow.session.add(row)
    await uow.flush()
    return _campaign_out(row)


async def access_group_buy(uow: UnitOfWork, code: str) -> GroupBuy:
    row = await uow.session.scalar(sa.select(GroupBuy).where(GroupBuy.code == code))
    if row is None:
        raise NotFound("group buy", code)
    return row


async def get_group_buy(uow: UnitOfWork, code: str) -> GroupBuyOut:
    return _campaign_out(await access_group_buy(uow, code))


async def list_group_buys(uow: UnitOfWork) -> list[GroupBuyOut]:
    rows = await uow.session.scalars(sa.select(GroupBuy).order_by(GroupBuy.id))
    return [_campaign_out(r) for r in rows]
