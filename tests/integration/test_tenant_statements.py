"""Hot reads run Core statements that cannot forget the tenant: a statement without the filter is
refused when built, the tenant is bound by the read, and each tenant sees only its rows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.auth.models import ApiKey
from omniretail.db import Database, TenantScopeError
from omniretail.errors import NotFound
from omniretail.network import service as network
from omniretail.network.models import Location
from omniretail.network.schemas import LocationIn
from omniretail.scoped import (
    TenantRead,
    read_in,
    read_unscoped,
    tenant_statement,
    unscoped_statement,
)
from tests.factories import TenantHandle, location_body

TENANT = sa.bindparam("tenant_id")


def test_a_statement_without_the_tenant_filter_cannot_be_built() -> None:
    with pytest.raises(TenantScopeError, match="locations"):
        tenant_statement(sa.select(Location.name).where(Location.code == sa.bindparam("code")))


def test_a_tenant_filter_on_a_literal_value_is_refused() -> None:
    with pytest.raises(TenantScopeError):
        tenant_statement(sa.select(Location.name).where(Location.tenant_id == 1))


def test_every_tenant_owned_table_of_a_join_needs_the_filter() -> None:
    joined = (
        sa.select(Location.code, ApiKey.label)
        .join(ApiKey, ApiKey.location_id == Location.id)
        .where(Location.tenant_id == TENANT)
    )
    with pytest.raises(TenantScopeError, match="api_keys"):
        tenant_statement(joined)
    tenant_statement(joined.where(ApiKey.tenant_id == TENANT))


async def test_the_caller_cannot_bind_the_tenant(db: Database, tenant: TenantHandle) -> None:
    scoped = tenant_statement(sa.select(Location.code).where(Location.tenant_id == TENANT))
    async with TenantRead(db, tenant.id) as read:
        with pytest.raises(TenantScopeError):
            await read.first(scoped, tenant_id=tenant.id + 1)


async def test_a_hot_read_sees_only_its_tenants_location(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    async with db.uow(other_tenant.id) as uow:
        data = LocationIn.model_validate(location_body("SECRET-HQ", name="Rival flagship"))
        created = await network.do_create_location(uow, data=data)
    async with TenantRead(db, other_tenant.id) as read:
        assert await network.read_location(read, "SECRET-HQ") == created
    async with TenantRead(db, tenant.id) as read:
        with pytest.raises(NotFound):
            await network.read_location(read, "SECRET-HQ")


async def test_a_read_in_a_unit_of_work_binds_its_tenant_and_sees_only_its_rows(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    async with db.uow(other_tenant.id) as uow:
        data = LocationIn.model_validate(location_body("RIVAL-1", name="Rival store"))
        await network.do_create_location(uow, data=data)
        assert (await network.location_ref(uow, "RIVAL-1"))[1] == "RIVAL-1"
    scoped = tenant_statement(
        sa.select(Location.code).where(
            Location.tenant_id == TENANT, Location.code == sa.bindparam("code")
        )
    )
    async with db.uow(tenant.id) as uow:
        with pytest.raises(TenantScopeError):
            await read_in(uow, scoped, code="RIVAL-1", tenant_id=other_tenant.id)
        assert await read_in(uow, scoped, code="RIVAL-1") == []
        with pytest.raises(NotFound):
            await network.location_ref(uow, "RIVAL-1")


async def test_a_read_in_a_unit_of_work_sees_the_unit_of_works_own_writes(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        uow.session.add(Location(code="NEW-1", name="New", type="store", lat=31.2, lng=121.4))
        location_id, _ = await network.location_ref(uow, "NEW-1")
        assert location_id is not None


async def test_a_statement_across_tenants_is_read_only_where_named_so(
    db: Database, tenant: TenantHandle
) -> None:
    across = unscoped_statement(
        sa.select(Location.name).where(Location.code == sa.bindparam("code"))
    )
    async with TenantRead(db, tenant.id) as hot:
        with pytest.raises(TenantScopeError):
            await hot.first(across, code="ST-1")
    scoped = tenant_statement(
        sa.select(Location.name).where(
            Location.tenant_id == TENANT, Location.code == sa.bindparam("code")
        )
    )
    with pytest.raises(TenantScopeError):
        await read_unscoped(db, scoped, code="ST-1")


async def test_the_key_look_up_reads_across_tenants_the_hot_way(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    ours = await auth.authenticate(db, f"Bearer {tenant.admin_key}")
    theirs = await auth.authenticate(db, f"Bearer {other_tenant.admin_key}")
    assert (ours.tenant_id, theirs.tenant_id) == (tenant.id, other_tenant.id)
    assert ours.key_id != theirs.key_id
