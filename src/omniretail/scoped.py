"""Tenant-scoped Core statements for hot reads: no session, no ORM, one round trip.

The ORM path (:class:`omniretail.db.UnitOfWork`) scopes statements by adding criteria to each
one at execution time; that costs about a millisecond of Python per request. Hot reads instead
use statements built once at import, checked once when built, and executed by
:class:`TenantRead`, which binds the caller's tenant:

- :func:`tenant_statement` refuses a statement unless every tenant-owned table in it is limited
  by ``<table>.tenant_id = :tenant_id``; a statement that forgets the tenant cannot be built.
- :class:`TenantRead` runs only such statements and always binds ``tenant_id`` itself, so the
  value never comes from the caller's parameters.
- :func:`read_in` runs such a statement inside a unit of work (its transaction, its tenant),
  straight on the connection: the hot path's reads in a use case (the price quote's and the
  checkout's channel, SKUs and promotions) skip the ORM's per-statement criteria too.

Built once, the same statement object hits SQLAlchemy's compiled cache on every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import operators, visitors

from omniretail.db import READ_ONLY, Database, TenantScopeError, UnitOfWork

TENANT = "tenant_id"


@dataclass(frozen=True, slots=True)
class TenantStatement:
    """A Core statement proven to be limited to the bound tenant on every tenant-owned table."""

    statement: sa.Executable


def tenant_statement(statement: sa.Select[*tuple[Any, ...]]) -> TenantStatement:
    """Check ``statement`` and wrap it for :class:`TenantRead`; raise ``TenantScopeError`` if a
    tenant-owned table in it is not limited by ``tenant_id = :tenant_id``."""
    tables: set[sa.Table] = set()
    limited: set[sa.Table] = set()
    for element in visitors.iterate(statement):
        if isinstance(element, sa.Table) and TENANT in element.c:
            tables.add(element)
        elif isinstance(element, sa.BinaryExpression) and element.operator is operators.eq:
            for column, value in ((element.left, element.right), (element.right, element.left)):
                table = _limited_table(column, value)
                if table is not None:
                    limited.add(table)
    missing = sorted(t.name for t in tables - limited)
    if missing:
        raise TenantScopeError(f"statement not limited to the tenant on: {', '.join(missing)}")
    return TenantStatement(statement)


def _limited_table(column: Any, value: Any) -> sa.Table | None:
    if (
        isinstance(column, sa.Column)
        and column.name == TENANT
        and isinstance(column.table, sa.Table)
        and isinstance(value, sa.BindParameter)
        and value.key == TENANT
    ):
        return column.table
    return None


class TenantRead:
    """A read for one tenant outside any unit of work: one pooled connection, no transaction on
    PostgreSQL (a single statement sees one snapshot), a deferred (non-locking) one on SQLite."""

    connection: AsyncConnection

    def __init__(self, db: Database, tenant_id: int) -> None:
        self.db = db
        self.tenant_id = tenant_id

    async def __aenter__(self) -> TenantRead:
        self.connection = await self.db.engine.connect()
        if self.db.is_sqlite:
            await self.connection.execution_options(**{READ_ONLY: True})
        else:
            await self.connection.execution_options(isolation_level="AUTOCOMMIT")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.connection.close()

    async def first(self, scoped: TenantStatement, **params: Any) -> sa.Row[Any] | None:
        """The first row of ``scoped`` for this tenant, or None."""
        if TENANT in params:
            raise TenantScopeError("the tenant is bound by the read, never by its caller")
        result = await self.connection.execute(scoped.statement, {**params, TENANT: self.tenant_id})
        return result.first()


async def read_in(uow: UnitOfWork, scoped: TenantStatement, **params: Any) -> sa.Result[Any]:
    """Run ``scoped`` in ``uow``'s transaction for ``uow``'s tenant, past the ORM (no identity
    map, no loader criteria: the statement is already limited to the tenant)."""
    if TENANT in params:
        raise TenantScopeError("the tenant is bound by the unit of work, never by its caller")
    await uow.session.flush()  # as the ORM's autoflush would: see this use case's writes
    connection = await uow.session.connection()
    return await connection.execute(scoped.statement, {**params, TENANT: uow.require_tenant()})
