"""Nothing that sends offers may reach a customer who did not opt in on that channel."""

from __future__ import annotations

import datetime as dt

from omniretail.customers import service as customers
from omniretail.db import Database, utcnow
from tests.customers_factories import ident, make_customer
from tests.factories import TenantHandle


async def offered(db: Database, tenant: TenantHandle, cid: str, channel: str) -> bool:
    async with db.uow(tenant.id) as uow:
        return await customers.may_send_offer(uow, customer_id=cid, channel=channel)


async def set_consent(
    db: Database, tenant: TenantHandle, cid: str, channel: str, granted: bool, at: dt.datetime
) -> None:
    async with db.uow(tenant.id) as uow:
        await customers.do_set_consent(
            uow, customer_id=cid, channel=channel, granted=granted, source="test", at=at
        )


async def test_a_customer_without_consent_is_never_offered(
    db: Database, tenant: TenantHandle
) -> None:
    cid = await make_customer(db, tenant)
    assert not await offered(db, tenant, cid, "sms")
    assert not await offered(db, tenant, "cus_nobody", "sms")
    now = utcnow()
    await set_consent(db, tenant, cid, "sms", True, now)
    assert await offered(db, tenant, cid, "sms")
    assert not await offered(db, tenant, cid, "wechat")  # consent is per channel
    await set_consent(db, tenant, cid, "sms", False, now + dt.timedelta(minutes=1))
    assert not await offered(db, tenant, cid, "sms")


async def test_after_a_merge_the_most_recent_consent_decision_wins(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    a = await make_customer(db, tenant, ident("phone", "13800000001"))
    b = await make_customer(db, tenant, ident("phone", "13800000002"))
    now = utcnow()
    await set_consent(db, tenant, a, "sms", True, now - dt.timedelta(days=2))
    await set_consent(db, tenant, b, "sms", False, now - dt.timedelta(days=1))
    await set_consent(db, tenant, b, "email", True, now)
    async with db.uow(tenant.id) as uow:
        await customers.do_merge_customers(
            uow, survivor_id=a, absorbed_id=b, actor="test", reason="same person"
        )
    assert not await offered(db, tenant, a, "sms")  # the later opt-out wins
    assert await offered(db, tenant, a, "email")
    assert not await offered(db, other_tenant, a, "email")  # another tenant never can
