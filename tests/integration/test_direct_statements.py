"""Statements handed straight to the driver inside a unit of work (``scoped.read_in``,
``scoped.execute_bound``; issue 11), on both databases: the tenant bound by the unit of work
only, the transaction's own (begun by the first of them, rolled back with it), parameters
processed as SQLAlchemy would (a literal, a timestamp, an array), rows by column name, and a
driver error raised as SQLAlchemy raises it, without its values."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from omniretail.channels.models import Channel
from omniretail.db import Database, TenantScopeError, UTCDateTime
from omniretail.scoped import ONE_OF, execute_bound, read_in, tenant_bound, tenant_statement
from tests.factories import TenantHandle

CHANNELS = Channel.__table__
WHEN = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)


def _insert() -> sa.Insert:
    """One channel, its kind a literal, its time a timestamp bind; yields its id and code."""
    tenant = sa.bindparam("direct_tenant", type_=sa.BigInteger)
    written = (
        sa.insert(CHANNELS)
        .values(
            tenant_id=tenant,
            code=sa.bindparam("code", type_=sa.String),
            kind=sa.literal("app", sa.String),
            name=sa.bindparam("name", type_=sa.String),
            created_at=sa.bindparam("at", type_=UTCDateTime),
        )
        .returning(CHANNELS.c.id, CHANNELS.c.code, CHANNELS.c.created_at)
    )
    return tenant_bound(written, bind="direct_tenant")


_INSERT = _insert()
_READ = {
    dialect: tenant_statement(
        sa.select(CHANNELS.c.code, CHANNELS.c.kind, CHANNELS.c.created_at)
        .where(
            CHANNELS.c.tenant_id == sa.bindparam("tenant_id"),
            one_of(CHANNELS.c.code, "codes"),
        )
        .order_by(CHANNELS.c.code)
    )
    for dialect, one_of in ONE_OF.items()
}


async def test_a_write_and_a_read_go_in_the_units_transaction_for_its_tenant(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        written = await execute_bound(
            uow, _INSERT, "direct_tenant", {"code": "d-1", "name": "One", "at": WHEN}, rows=True
        )
        assert [(row.code, row.created_at) for row in written] == [("d-1", WHEN)]
        await execute_bound(
            uow, _INSERT, "direct_tenant", {"code": "d-2", "name": "Two", "at": WHEN}
        )
        rows = await read_in(uow, _READ[uow.dialect], codes=["d-2", "d-1", "nope"])
        assert [(r.code, r.kind, r.created_at) for r in rows] == [
            ("d-1", "app", WHEN),
            ("d-2", "app", WHEN),
        ]
    async with db.uow(other_tenant.id) as uow:  # the other tenant reads none of them
        assert await read_in(uow, _READ[uow.dialect], codes=["d-1", "d-2"]) == []


async def test_the_first_statement_begins_the_transaction_that_rolls_back(
    db: Database, tenant: TenantHandle
) -> None:
    with pytest.raises(RuntimeError):
        async with db.uow(tenant.id) as uow:
            await execute_bound(
                uow, _INSERT, "direct_tenant", {"code": "gone", "name": "G", "at": WHEN}
            )
            raise RuntimeError("the use case fails after its write")
    async with db.uow(tenant.id) as uow:
        assert await read_in(uow, _READ[uow.dialect], codes=["gone"]) == []


async def test_the_tenant_is_never_the_callers(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        with pytest.raises(TenantScopeError):
            await execute_bound(
                uow,
                _INSERT,
                "direct_tenant",
                {"direct_tenant": other_tenant.id, "code": "x", "name": "X", "at": WHEN},
            )
        with pytest.raises(TenantScopeError):
            await read_in(uow, _READ[uow.dialect], codes=["x"], tenant_id=other_tenant.id)


async def test_a_driver_error_is_sqlalchemys_without_its_values(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        await execute_bound(
            uow, _INSERT, "direct_tenant", {"code": "twice", "name": "A", "at": WHEN}
        )
    with pytest.raises(sa.exc.IntegrityError) as raised:
        async with db.uow(tenant.id) as uow:
            await execute_bound(
                uow, _INSERT, "direct_tenant", {"code": "twice", "name": "secret-name", "at": WHEN}
            )
    assert "secret-name" not in str(raised.value)
    async with db.uow(tenant.id) as uow:  # the pool's connection is usable again
        assert [r.code for r in await read_in(uow, _READ[uow.dialect], codes=["twice"])] == [
            "twice"
        ]
