"""The customer as other people see it: identities, merges and the profile (channels, spend by
channel, lifetime value, favourite store, recent views and try-ons, consents)."""

from __future__ import annotations

import sqlalchemy as sa

from omniretail.customers.domain import BehaviourType, favourite_location
from omniretail.customers.models import (
    BehaviourEvent,
    Consent,
    Customer,
    CustomerChannel,
    CustomerIdentity,
    CustomerOrder,
)
from omniretail.customers.schemas import (
    BehaviourOut,
    ChannelSeen,
    ChannelSpend,
    ConsentOut,
    CustomerOut,
    IdentityOut,
    Profile,
)
from omniretail.db import UnitOfWork

RECENT = 10


async def to_out(
    uow: UnitOfWork, customer: Customer, *, requested: str | None = None, profile: bool = False
) -> CustomerOut:
    identities = await uow.session.scalars(
        sa.select(CustomerIdentity)
        .where(CustomerIdentity.customer_id == customer.id)
        .order_by(CustomerIdentity.id)
    )
    merged_from = await uow.session.scalars(
        sa.select(Customer.public_id)
        .where(Customer.merged_into_id == customer.id)
        .order_by(Customer.merged_at, Customer.id)
    )
    return CustomerOut(
        id=customer.public_id,
        name=customer.name,
        created_channel=customer.created_channel,
        created_at=customer.created_at,
        identities=[IdentityOut.model_validate(row) for row in identities],
        merged_from=list(merged_from),
        redirected_from=requested if requested and requested != customer.public_id else None,
        profile=await _profile(uow, customer.id) if profile else None,
    )


async def _profile(uow: UnitOfWork, pk: int) -> Profile:
    channels = [
        ChannelSeen.model_validate(row)
        for row in await uow.session.scalars(
            sa.select(CustomerChannel)
            .where(CustomerChannel.customer_id == pk)
            .order_by(CustomerChannel.first_seen_at, CustomerChannel.channel)
        )
    ]
    by_channel = {
        channel: ChannelSpend(orders=n, spend=int(spend or 0))
        for channel, n, spend in await uow.session.execute(
            sa.select(
                CustomerOrder.channel,
                sa.func.count(),
                sa.func.sum(CustomerOrder.amount - CustomerOrder.returned_amount),
            )
            .where(CustomerOrder.customer_id == pk)
            .group_by(CustomerOrder.channel)
        )
    }
    return Profile(
        channels=channels,
        first_seen_at=min((c.first_seen_at for c in channels), default=None),
        last_seen_at=max((c.last_seen_at for c in channels), default=None),
        orders_by_channel=by_channel,
        order_count=sum(s.orders for s in by_channel.values()),
        lifetime_value=sum(s.spend for s in by_channel.values()),
        favourite_store=await _favourite_store(uow, pk),
        recent_views=await recent_behaviour(uow, pk, BehaviourType.VIEW),
        recent_try_ons=await recent_behaviour(uow, pk, BehaviourType.TRY_ON),
        consents=[
            ConsentOut.model_validate(row)
            for row in await uow.session.scalars(
                sa.select(Consent).where(Consent.customer_id == pk).order_by(Consent.channel)
            )
        ],
    )


async def _favourite_store(uow: UnitOfWork, pk: int) -> str | None:
    orders = await uow.session.execute(
        sa.select(CustomerOrder.location, sa.func.count())
        .where(CustomerOrder.customer_id == pk, CustomerOrder.location.is_not(None))
        .group_by(CustomerOrder.location)
    )
    visits = await uow.session.execute(
        sa.select(BehaviourEvent.location, sa.func.count())
        .where(
            BehaviourEvent.customer_id == pk,
            BehaviourEvent.location.is_not(None),
            BehaviourEvent.type.in_([BehaviourType.STORE_VISIT, BehaviourType.TRY_ON]),
        )
        .group_by(BehaviourEvent.location)
    )
    return favourite_location([(str(c), int(n)) for c, n in [*orders, *visits]])


async def recent_behaviour(
    uow: UnitOfWork, pk: int, type_: BehaviourType, limit: int = RECENT
) -> list[BehaviourOut]:
    rows = await uow.session.scalars(
        sa.select(BehaviourEvent)
        .where(BehaviourEvent.customer_id == pk, BehaviourEvent.type == type_)
        .order_by(BehaviourEvent.at.desc(), BehaviourEvent.id.desc())
        .limit(limit)
    )
    return [behaviour_out(row) for row in rows]


def behaviour_out(row: BehaviourEvent) -> BehaviourOut:
    return BehaviourOut(
        id=row.id,
        type=BehaviourType(row.type).label,
        sku=row.sku,
        query=row.query,
        channel=row.channel,
        location=row.location,
        lat=row.lat,
        lng=row.lng,
        staff=row.staff,
        at=row.at,
    )
