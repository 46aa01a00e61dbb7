"""The tenant filter lives in the session: a forgotten filter cannot leak or write across."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from omniretail.channels.models import Channel
from omniretail.channels.schemas import ChannelKind
from omniretail.channels.service import do_create_channel
from omniretail.db import Database, TenantScopeError
from tests.factories import TenantHandle


async def test_a_tenant_session_sees_only_its_rows(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    for handle in (tenant, other_tenant):
        async with db.uow(handle.id) as uow:
            await do_create_channel(uow, code="app", kind=ChannelKind.APP, name=handle.slug)
    async with db.uow(tenant.id) as uow:
        names = (await uow.session.scalars(sa.select(Channel.name))).all()
    assert names == ["acme"]


async def test_orm_updates_and_deletes_are_scoped(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    for handle in (tenant, other_tenant):
        async with db.uow(handle.id) as uow:
            await do_create_channel(uow, code="app", kind=ChannelKind.APP, name=handle.slug)
    async with db.uow(tenant.id) as uow:
        await uow.session.execute(sa.update(Channel).values(name="renamed"))
        await uow.session.execute(sa.delete(Channel).where(Channel.code == "nothing"))
    async with db.uow(unscoped=True) as uow:
        rows = dict((await uow.session.execute(sa.select(Channel.tenant_id, Channel.name))).all())
    assert rows == {tenant.id: "renamed", other_tenant.id: "rival"}


async def test_a_session_without_a_tenant_refuses_to_query(db: Database) -> None:
    with pytest.raises(TenantScopeError):
        db.uow()
    async with db.uow(unscoped=True) as uow:
        uow.session.info["unscoped"] = False  # simulate a forgotten scope
        with pytest.raises(TenantScopeError):
            await uow.session.scalars(sa.select(Channel))


async def test_a_row_of_another_tenant_cannot_be_added(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    with pytest.raises(TenantScopeError):
        async with db.uow(tenant.id) as uow:
            uow.session.add(Channel(tenant_id=other_tenant.id, code="x", kind="app", name="x"))
            await uow.flush()


async def test_a_unit_of_work_rolls_back_on_error(db: Database, tenant: TenantHandle) -> None:
    with pytest.raises(RuntimeError):
        async with db.uow(tenant.id) as uow:
            await do_create_channel(uow, code="app", kind=ChannelKind.APP, name="x")
            raise RuntimeError("payment refused")
    async with db.uow(tenant.id) as uow:
        assert (await uow.session.scalars(sa.select(Channel))).all() == []
