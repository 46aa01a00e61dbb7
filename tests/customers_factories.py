"""Customers and points built through the services, as other contexts would."""

from __future__ import annotations

import datetime as dt
import itertools

from omniretail.channels import service as channels
from omniretail.channels.schemas import ChannelKind
from omniretail.customers import service as customers
from omniretail.customers.domain import IdentityType
from omniretail.customers.schemas import IdentityIn
from omniretail.db import Database, utcnow
from omniretail.loyalty import service as loyalty
from tests.factories import TenantHandle

_orders = itertools.count(1)
_phones = itertools.count(13800138000)

CHANNELS = [
    ("app", ChannelKind.APP),
    ("miniprogram", ChannelKind.MINIPROGRAM),
    ("pos", ChannelKind.POS),
    ("douyin", ChannelKind.DOUYIN),
]


async def make_channels(db: Database, tenant: TenantHandle) -> None:
    async with db.uow(tenant.id) as uow:
        for code, kind in CHANNELS:
            await channels.do_create_channel(uow, code=code, kind=kind, name=code.title())


def ident(type_: str, value: str) -> IdentityIn:
    return IdentityIn(type=IdentityType(type_), value=value)


def next_phone() -> str:
    return str(next(_phones))


async def make_customer(
    db: Database, tenant: TenantHandle, *identities: IdentityIn, channel: str | None = None
) -> str:
    async with db.uow(tenant.id) as uow:
        out = await customers.do_create_customer(
            uow, identities=list(identities) or [ident("phone", next_phone())], channel=channel
        )
    return out.id


async def earn(
    db: Database,
    tenant: TenantHandle,
    customer_id: str,
    paid_amount: int,
    *,
    channel: str = "app",
    order_ref: str | None = None,
    at: dt.datetime | None = None,
) -> int:
    async with db.uow(tenant.id) as uow:
        earned = await loyalty.do_earn_for_order(
            uow,
            customer_id=customer_id,
            order_ref=order_ref or f"ORD-{next(_orders)}",
            channel=channel,
            paid_amount=paid_amount,
            at=at or utcnow(),
        )
    return earned.points


async def grant(db: Database, tenant: TenantHandle, customer_id: str, points: int) -> None:
    async with db.uow(tenant.id) as uow:
        await loyalty.do_adjust_points(
            uow,
            customer_id=customer_id,
            points=points,
            reason="test grant",
            idempotency_key=f"grant-{next(_orders)}",
            actor="test",
        )


async def balance(db: Database, tenant: TenantHandle, customer_id: str) -> int:
    async with db.uow(tenant.id) as uow:
        check = await loyalty.check_points_ledger(uow, customer_id=customer_id)
    assert check.consistent, check
    return check.balance
