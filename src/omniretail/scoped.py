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

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import operators, visitors

from omniretail.db import READ_ONLY, Database, TenantScopeError, UnitOfWork

TENANT = "tenant_id"


@dataclass(frozen=True, slots=True)
class TenantStatement:
    """A Core statement proven to be limited to the bound tenant on every tenant-owned table."""

    statement: sa.Executable
    # PostgreSQL's SQL text and how to bind and read it, worked out on first use.
    _direct: dict[str, _Direct] = field(default_factory=dict, compare=False, repr=False)

    def direct(self, dialect: sa.Dialect) -> _Direct:
        found = self._direct.get(dialect.name)
        if found is None:
            found = self._direct[dialect.name] = _Direct.compile(self.statement, dialect)
        return found


@dataclass(slots=True)
class _Direct:
    """A statement compiled once for asyncpg: its ``$n`` SQL, the order of its parameters, and
    the row it yields (each column through its SQLAlchemy type's result processor, as
    SQLAlchemy would; those depend on the types the server names, learnt on first use)."""

    sql: str
    names: tuple[str, ...]
    row: Callable[..., Any]
    types: tuple[Any, ...]
    dialect: sa.Dialect
    processors: tuple[Callable[[Any], Any] | None, ...] | None = None

    @classmethod
    def compile(cls, statement: sa.Executable, dialect: sa.Dialect) -> _Direct:
        compiled = cast(Any, statement).compile(dialect=dialect)
        if any(
            bind.expanding or bind.type._cached_bind_processor(dialect) is not None
            for bind in compiled.binds.values()
        ):
            raise TenantScopeError("a direct read takes plain parameters only")
        columns = compiled._result_columns
        row = collections.namedtuple("DirectRow", [c[0] for c in columns], rename=True)  # type: ignore[misc]
        return cls(
            compiled.string,
            tuple(compiled.positiontup or ()),
            row,
            tuple(c[3] for c in columns),
            dialect,
        )

    async def learn(self, driver: Any) -> None:
        prepared = await driver.prepare(self.sql)
        oids = [attribute.type.oid for attribute in prepared.get_attributes()]
        self.processors = tuple(
            type_._cached_result_processor(self.dialect, oid)
            for type_, oid in zip(self.types, oids, strict=True)
        )

    def make_row(self, record: Sequence[Any]) -> Any:
        assert self.processors is not None
        return self.row(
            *(
                value if process is None or value is None else process(value)
                for process, value in zip(self.processors, record, strict=True)
            )
        )


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
    PostgreSQL (a single statement sees one snapshot), a deferred (non-locking) one on SQLite.

    On PostgreSQL the statement goes straight to asyncpg on the pooled connection, compiled once
    (``TenantStatement.direct``): SQLAlchemy's execution (its context, the greenlet hop, the
    result wrapper) cost four times the driver's own work on the location GET, and a read that
    begins no transaction needs none of it. The tenant is still bound here and only here."""

    connection: AsyncConnection

    def __init__(self, db: Database, tenant_id: int) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self._driver: Any = None

    async def __aenter__(self) -> TenantRead:
        self.connection = await self.db.engine.connect()
        if self.db.is_sqlite:
            await self.connection.execution_options(**{READ_ONLY: True})
        else:
            # Nothing is executed through SQLAlchemy: it begins no transaction, and the pool's
            # reset on return (a rollback of nothing) sends nothing.
            self._driver = (await self.connection.get_raw_connection()).driver_connection
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.connection.close()

    async def first(self, scoped: TenantStatement, **params: Any) -> Any:
        """The first row of ``scoped`` for this tenant, or None."""
        if TENANT in params:
            raise TenantScopeError("the tenant is bound by the read, never by its caller")
        values = {**params, TENANT: self.tenant_id}
        if self._driver is None:
            result = await self.connection.execute(scoped.statement, values)
            return result.first()
        direct = scoped.direct(self.connection.dialect)
        try:
            if direct.processors is None:
                await direct.learn(self._driver)
            record = await self._driver.fetchrow(
                direct.sql, *(values[name] for name in direct.names)
            )
        except (OSError, asyncpg.exceptions.ConnectionDoesNotExistError):
            # A broken connection must not go back to the pool for the next request.
            await self.connection.invalidate()
            raise
        return None if record is None else direct.make_row(record)


async def read_in(uow: UnitOfWork, scoped: TenantStatement, **params: Any) -> sa.Result[Any]:
    """Run ``scoped`` in ``uow``'s transaction for ``uow``'s tenant, past the ORM (no identity
    map, no loader criteria: the statement is already limited to the tenant)."""
    if TENANT in params:
        raise TenantScopeError("the tenant is bound by the unit of work, never by its caller")
    await uow.session.flush()  # as the ORM's autoflush would: see this use case's writes
    connection = await uow.session.connection()
    return await connection.execute(scoped.statement, {**params, TENANT: uow.require_tenant()})
