"""The price quote's and the checkout's reads (issue 11): the tenant's terms read in the
transaction past the ORM, references kept by the process only once committed, statements that
bind their tenant themselves proven so when built, and read-only units of work that cannot
write."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from omniretail.auth import service as auth
from omniretail.auth.models import Tenant
from omniretail.channels import service as channels
from omniretail.channels.models import Channel
from omniretail.channels.schemas import ChannelKind
from omniretail.db import Database, ReadOnlyViolation, TenantScopeError
from omniretail.errors import NotFound
from omniretail.inventory.models import StockPosition
from omniretail.scoped import per_dialect, tenant_bound, tenant_statement
from tests.factories import TenantHandle, make_tenant

TENANTS = Tenant.__table__
POSITIONS = StockPosition.__table__
CHANNELS = Channel.__table__


def test_the_tenants_own_row_is_read_by_its_id_only() -> None:
    with pytest.raises(TenantScopeError, match="tenants"):
        tenant_statement(sa.select(TENANTS.c.currency))
    with pytest.raises(TenantScopeError, match="tenants"):
        tenant_statement(
            sa.select(TENANTS.c.currency).where(TENANTS.c.slug == sa.bindparam("tenant_id"))
        )
    tenant_statement(sa.select(TENANTS.c.currency).where(TENANTS.c.id == sa.bindparam("tenant_id")))


def test_a_statement_run_without_the_orms_criteria_must_bind_its_tenant_everywhere() -> None:
    tenant = sa.bindparam("sale_tenant", type_=sa.BigInteger)
    unbound = (
        sa.update(POSITIONS)
        .where(POSITIONS.c.sku == sa.bindparam("sku"))
        .values(on_hand=POSITIONS.c.on_hand - 1)
        .returning(POSITIONS.c.id)
        .cte("sold")
    )
    with pytest.raises(TenantScopeError, match="stock_positions"):
        tenant_bound(sa.select(unbound.c.id), bind="sale_tenant")
    other_bind = unbound.element.where(POSITIONS.c.tenant_id == sa.bindparam("tenant_id"))
    with pytest.raises(TenantScopeError, match="stock_positions"):
        tenant_bound(sa.select(other_bind.cte("sold").c.id), bind="sale_tenant")
    bound = unbound.element.where(POSITIONS.c.tenant_id == tenant).cte("sold")
    marked = tenant_bound(sa.select(bound.c.id), bind="sale_tenant")
    assert marked.get_execution_options()["omni_tenant_bound"] == "sale_tenant"


async def test_a_statement_built_per_database_binds_its_tenant_and_reads_one_of_many(
    db: Database, tenant: TenantHandle
) -> None:
    with pytest.raises(TenantScopeError, match="channels"):
        per_dialect(
            lambda one_of: sa.select(CHANNELS.c.code).where(one_of(CHANNELS.c.code, "codes")),
            bind="tenant_id",
        )
    built = per_dialect(
        lambda one_of: sa.select(CHANNELS.c.code).where(
            CHANNELS.c.tenant_id == sa.bindparam("tenant_id"), one_of(CHANNELS.c.code, "codes")
        ),
        bind="tenant_id",
    )
    other = await make_tenant(db, "other-shop")
    for owner, code in ((tenant.id, "mine"), (other.id, "theirs")):
        async with db.uow(owner) as uow:
            uow.session.add(Channel(code=code, kind=ChannelKind.WEB.value, name=code))
    async with db.uow(tenant.id) as uow:
        # Any number of values in one statement; the other tenant's row is not read.
        for codes in (["mine"], ["mine", "theirs", "none"]):
            read = await uow.session.execute(
                built[uow.dialect], {"tenant_id": uow.require_tenant(), "codes": codes}
            )
            assert read.scalars().all() == ["mine"]


async def test_a_read_only_unit_of_work_cannot_write(db: Database, tenant: TenantHandle) -> None:
    async with db.uow(tenant.id, read_only=True) as uow:
        uow.session.add(Channel(code="web", kind=ChannelKind.WEB.value, name="Web"))
        with pytest.raises(ReadOnlyViolation):
            await uow.flush()
    with pytest.raises(ReadOnlyViolation):
        async with db.uow(tenant.id, read_only=True) as uow:
            await uow.session.execute(sa.update(Channel).values(name="Renamed"))
    async with db.uow(tenant.id) as uow:
        with pytest.raises(NotFound):
            await channels.channel_ref(uow, "web")


def _counting(db: Database) -> list[str]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    return statements


async def test_a_channels_id_is_kept_by_the_process_once_committed_and_never_before(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    # Read in the transaction that created the channel, which then rolls back: not kept
    # (on SQLite the next channel would even take the same id).
    with pytest.raises(RuntimeError, match="rolled back"):
        async with db.uow(tenant.id) as uow:
            await channels.do_create_channel(uow, code="pos", kind=ChannelKind.POS, name="POS")
            await channels.channel_ref(uow, "pos")
            raise RuntimeError("rolled back")
    async with db.uow(tenant.id) as uow:
        with pytest.raises(NotFound):
            await channels.channel_ref(uow, "pos")
    async with db.uow(tenant.id) as uow:
        await channels.do_create_channel(uow, code="pos", kind=ChannelKind.POS, name="POS")
    async with db.uow(other_tenant.id) as uow:
        await channels.do_create_channel(uow, code="pos", kind=ChannelKind.POS, name="Rival POS")
    async with db.uow(tenant.id) as uow:
        ours = await channels.channel_ref(uow, "pos")  # read, kept at the commit
    statements = _counting(db)
    async with db.uow(tenant.id, read_only=True) as uow:
        assert await channels.channel_ref(uow, "pos") == ours
    assert [s for s in statements if not s.startswith(("BEGIN", "ROLLBACK"))] == []
    # Kept for one tenant: the other tenant's same code is its own channel.
    async with db.uow(other_tenant.id, read_only=True) as uow:
        theirs = await channels.channel_ref(uow, "pos")
    assert theirs != ours
    assert any("channels" in s for s in statements)


async def test_the_tenants_terms_are_read_in_each_unit_of_work(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        before = await auth.tenant_terms(uow)
        assert before.currency == "CNY"
        assert "delivery_fees" not in before.settings
        await auth.do_update_tenant_settings(uow, changes={"delivery_fees": {"ship": 800}})
        # The same unit of work sees its own change.
        assert (await auth.tenant_terms(uow)).settings["delivery_fees"] == {"ship": 800}
    async with db.uow(tenant.id) as uow:
        assert (await auth.tenant_terms(uow)).settings["delivery_fees"] == {"ship": 800}


async def test_an_id_read_inside_a_savepoint_that_rolls_back_is_not_kept(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        with pytest.raises(RuntimeError, match="rolled back"):
            async with uow.session.begin_nested():
                await channels.do_create_channel(uow, code="web", kind=ChannelKind.WEB, name="Web")
                await channels.channel_ref(uow, "web")
                raise RuntimeError("rolled back")
        with pytest.raises(NotFound):
            await channels.channel_ref(uow, "web")
    async with db.uow(tenant.id) as uow:
        with pytest.raises(NotFound):
            await channels.channel_ref(uow, "web")
