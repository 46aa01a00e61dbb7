"""Engine, sessions, the unit of work, tenant scoping and dialect differences, in one place.

Every tenant-owned table mixes in :class:`TenantScoped`. A session opened for a tenant gets a
criteria on every ORM statement (select, update, delete) that limits it to that tenant, and new
rows get the tenant's id at flush. A session opened with neither a tenant nor an explicit
``unscoped=True`` refuses to run ORM statements at all, so a forgotten filter fails closed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    SessionTransaction,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)

from omniretail import sqlite_driver
from omniretail.config import Settings, normalise_database_url
from omniretail.writer_turns import WriterTurns

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements an INTEGER PRIMARY KEY, PostgreSQL wants BIGINT for busy tables.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Timestamps are aware UTC in Python on both databases (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class TenantScoped:
    """Mixin for every tenant-owned table: the tenant filter is applied by the session."""

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(
            BigId, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
        )


class TenantScopeError(RuntimeError):
    """A statement ran on a session with no tenant: a programming error, never a client's."""


class ReadOnlyViolation(RuntimeError):
    """A read-only unit of work tried to write: a programming error, never a client's."""


# Session info key: the unit of work is read only (its writes are refused).
_READ_ONLY = "omni_read_only_uow"
# Session info key: the connection of the unit of work's transaction (UnitOfWork.connection).
_CONNECTION = "omni_connection"
# Execution option of a statement built once that binds its tenant itself, checked when built
# (``omniretail.scoped.tenant_bound``): the ORM hook adds no criteria to it.
TENANT_BOUND = "omni_tenant_bound"


def _scope_statement(state: ORMExecuteState) -> None:
    if state.session.info.get(_READ_ONLY) and (
        state.is_insert or state.is_update or state.is_delete
    ):
        raise ReadOnlyViolation("a read-only unit of work writes nothing")
    if not state.is_orm_statement or state.execution_options.get(TENANT_BOUND):
        # A Core statement (tables, no mapped classes): the ORM adds no criteria to it, so it
        # names the tenant itself (``omniretail.scoped``, ``orders.placing``). Or one proven,
        # when it was built, to bind its tenant on every table (``scoped.tenant_bound``):
        # run as built, the same object every time, so SQLAlchemy works out its cache key
        # once (a statement given criteria is a new object whose key is worked out again:
        # for a till sale's statement, most of its CPU).
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent statement carried the criteria
    if not (state.is_select or state.is_update or state.is_delete):
        return  # inserts are stamped in before_flush or name tenant_id themselves
    info = state.session.info
    if info.get("unscoped"):
        return
    tenant_id = info.get("tenant_id")
    if tenant_id is None:
        raise TenantScopeError("ORM statement on a session with no tenant (pass unscoped=True)")
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
        )
    )


def _stamp_tenant(session: Session, flush_context: Any, instances: Any) -> None:
    if session.info.get(_READ_ONLY) and (
        session.new or session.deleted or any(session.is_modified(o) for o in session.dirty)
    ):
        raise ReadOnlyViolation("a read-only unit of work writes nothing")
    tenant_id = session.info.get("tenant_id")
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        if tenant_id is None:
            if session.info.get("unscoped") and obj.tenant_id is not None:
                continue
            raise TenantScopeError(f"new {type(obj).__name__} without a tenant")
        if obj.tenant_id is None:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise TenantScopeError(f"{type(obj).__name__} of another tenant added")


class OmniSession(Session):
    """The sync session behind every AsyncSession we open; carries the tenant hooks."""


# Rows staged by UnitOfWork.stage_insert: (table, row, innermost savepoint when staged).
_STAGED = "omni_staged"
Staged = list[tuple[sa.Table, dict[str, Any], SessionTransaction | None]]
# Callbacks of UnitOfWork.on_rollback: (innermost savepoint when registered, callback).
_UNDO = "omni_undo"
Undo = list[tuple[SessionTransaction | None, Callable[[], None]]]


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    """A rolled-back savepoint takes the rows staged inside it (and inside its children) with
    it and runs the callbacks registered inside it; a rolled-back transaction takes them all."""
    staged: Staged | None = session.info.get(_STAGED)
    if staged:
        if previous.nested:
            staged[:] = [entry for entry in staged if not _within(entry[2], previous)]
        else:
            staged.clear()
    undo: Undo | None = session.info.get(_UNDO)
    if undo:
        kept: Undo = []
        ended: list[Callable[[], None]] = []
        for savepoint, callback in undo:
            if previous.nested and not _within(savepoint, previous):
                kept.append((savepoint, callback))
            else:
                ended.append(callback)
        undo[:] = kept
        for callback in reversed(ended):
            callback()


event.listen(OmniSession, "do_orm_execute", _scope_statement)
event.listen(OmniSession, "before_flush", _stamp_tenant)
event.listen(OmniSession, "after_soft_rollback", _drop_rolled_back)


# Execution option of a connection that only reads (see omniretail.scoped.TenantRead).
READ_ONLY = "omni_read_only"


class Database:
    """One engine and session factory per process; built by create_app() or the CLI."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = normalise_database_url(settings.database_url)
        self.engine: AsyncEngine = _create_engine(self.url, settings)
        self.dialect = self.engine.dialect.name
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=OmniSession
        )
        self._commit_listeners: list[Callable[[], None]] = []
        self._disposers: list[Callable[[], Awaitable[None]]] = []
        path = self.engine.url.database if self.is_sqlite else None
        self.turns = WriterTurns(
            exclusive=self.is_sqlite, path=path if path and path != ":memory:" else None
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def writer_turn(self, *, urgent: bool = False) -> contextlib.AbstractAsyncContextManager[None]:
        """A background writer's turn (wrap the whole unit of work): ``urgent`` for the
        platform pushes' group commit, which must commit before it acknowledges, normal for
        the outbox dispatcher's deliveries, which wait while an urgent writer is pending. On
        SQLite the writers also queue for the one write lock here (urgent first, and across
        this machine's processes through lock files) rather than in SQLite's busy handler,
        which sleeps and polls. See ``omniretail.writer_turns``."""
        return self.turns.turn(urgent=urgent)

    def on_outbox_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after a unit of work that wrote outbox events commits."""
        self._commit_listeners.append(callback)

    def notify_outbox(self) -> None:
        for callback in self._commit_listeners:
            callback()

    def uow(
        self, tenant_id: int | None = None, *, unscoped: bool = False, read_only: bool = False
    ) -> UnitOfWork:
        return UnitOfWork(self, tenant_id=tenant_id, unscoped=unscoped, read_only=read_only)

    def on_dispose(self, close: Callable[[], Awaitable[None]]) -> None:
        """Await ``close`` when the database is disposed (connections kept outside the engine's
        pool, such as ``omniretail.scoped.HotConnections``)."""
        self._disposers.append(close)

    async def dispose(self) -> None:
        disposers, self._disposers = self._disposers, []
        for close in disposers:
            await close()
        self.turns.close()
        await self.engine.dispose()


def _create_engine(url: str, settings: Settings) -> AsyncEngine:
    # hide_parameters: a failing statement is logged without its values (phones, names, codes).
    if url.startswith("sqlite"):
        parsed = make_url(url)
        engine = create_async_engine(
            url,
            connect_args={"timeout": 30},
            # A file: one thread hop a statement (sqlite_driver.py). A memory database or a
            # URL with options goes through aiosqlite as given.
            async_creator=sqlite_driver.connector(parsed.database, timeout=30)
            if parsed.database and parsed.database != ":memory:" and not parsed.query
            else None,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
            hide_parameters=True,
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=False,
        hide_parameters=True,
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that we can BEGIN IMMEDIATE ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers queue on the lock at BEGIN instead of failing with SQLITE_BUSY on upgrade;
        # a read-only unit of work or connection reads a snapshot without the write lock
        # (WAL readers never block writers).
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class UnitOfWork:
    """One use case, one transaction: commits on a clean exit, rolls back on an exception.

    Services flush, never commit. After a commit that wrote outbox events the dispatcher is woken.
    Rows staged with :meth:`stage_insert` (the outbox's events) are written just before the
    commit as one multi-row INSERT per table (a flush leaves them staged, so that a checkout's
    events all go in one statement); rows staged inside a savepoint that rolls back are
    dropped with it.
    A ``read_only`` unit of work always rolls back and refuses to write (its flushes and the
    INSERT, UPDATE and DELETE statements through its session raise :class:`ReadOnlyViolation`); on
    SQLite it reads a snapshot without taking the write lock (for work done before a write
    transaction, see ``orders.read_first``).
    """

    session: AsyncSession

    def __init__(
        self, db: Database, *, tenant_id: int | None, unscoped: bool, read_only: bool = False
    ) -> None:
        if tenant_id is None and not unscoped:
            raise TenantScopeError("a unit of work needs a tenant or unscoped=True")
        self.db = db
        self.tenant_id = tenant_id
        self.unscoped = unscoped
        self.read_only = read_only
        self.wrote_events = False
        self._turn: contextlib.AbstractAsyncContextManager[None] | None = None
        self._after_commit: list[Callable[[], None]] = []

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def require_tenant(self) -> int:
        if self.tenant_id is None:
            raise TenantScopeError("this use case needs a tenant")
        return self.tenant_id

    async def __aenter__(self) -> UnitOfWork:
        # A periodic job's unit of work that may write waits for its turn behind the platform
        # pushes (omniretail.writer_turns.background_writes); None for everything else.
        self._turn = None if self.read_only else self.db.turns.background_turn()
        if self._turn is not None:
            await self._turn.__aenter__()
        self.session = self.db.sessions()
        self.session.info["tenant_id"] = self.tenant_id
        self.session.info["unscoped"] = self.unscoped
        if self.read_only:
            self.session.info[_READ_ONLY] = True
            await self.session.connection(execution_options={READ_ONLY: True})
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        committed = False
        try:
            if self.read_only:
                # close() ends the read and keeps what was loaded usable (no expiry); it wrote
                # nothing, so what it read was committed by others.
                committed = exc_type is None
            elif exc_type is None:
                await self.write_staged()
                await self.session.commit()
                committed = True
            else:
                await self.session.rollback()
        finally:
            await self.session.close()
            if self._turn is not None:
                await self._turn.__aexit__(exc_type, exc, tb)
        if committed:
            for callback in self._after_commit:
                callback()
            if self.wrote_events:
                self.db.notify_outbox()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the unit of work has committed (a read-only one: once it
        has ended without an error), never after a rollback: to keep in the process what its
        transaction read only when no rollback can take it back (``scoped.read_ref``)."""
        self._after_commit.append(callback)

    async def flush(self) -> None:
        await self.session.flush()

    async def connection(self) -> AsyncConnection:
        """The connection of the unit of work's transaction, its ORM rows flushed first (as
        the ORM's autoflush would before a query), for Core statements that bind their tenant
        themselves (``omniretail.scoped.read_in``, ``orders.placing``). Kept for the
        transaction: asking the session each time cost about a fifth of a hot read."""
        session = self.session.sync_session
        if session.new or session.deleted or session.dirty:
            await self.session.flush()
        held = self.session.info.get(_CONNECTION)
        if held is not None and held[0] is session.get_transaction():
            kept: AsyncConnection = held[1]
            return kept
        connection = await self.session.connection()
        self.session.info[_CONNECTION] = (session.get_transaction(), connection)
        return connection

    def stage_insert(self, table: sa.Table, row: dict[str, Any]) -> None:
        """Insert ``row`` into ``table`` with the unit of work's other staged rows of that
        table, in staging order, at the commit (or an explicit :meth:`write_staged`); unless
        the savepoint it was staged in rolls back. Until then no query sees it."""
        staged: Staged = self.session.info.setdefault(_STAGED, [])
        staged.append((table, row, self.session.sync_session.get_nested_transaction()))

    def on_rollback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` if the savepoint open now (or, outside any, the transaction) rolls
        back: in-memory bookkeeping that must follow the database's (see
        ``inventory.batch_holds.BatchHold``)."""
        undo: Undo = self.session.info.setdefault(_UNDO, [])
        undo.append((self.session.sync_session.get_nested_transaction(), callback))

    async def write_staged(self) -> None:
        """Write the staged rows now: one statement per table (several only when the staged
        rows of a table name different columns)."""
        staged: Staged | None = self.session.info.get(_STAGED)
        if not staged:
            return
        batches: dict[tuple[sa.Table, tuple[str, ...]], list[dict[str, Any]]] = {}
        for table, row, _ in staged:
            batches.setdefault((table, tuple(row)), []).append(row)
        staged.clear()
        for (table, _), rows in batches.items():
            await self.session.execute(sa.insert(table), rows)


def dialect_insert(uow: UnitOfWork, table: Any) -> Any:
    """INSERT that supports ``on_conflict_do_nothing`` / ``on_conflict_do_update`` on both."""
    if uow.dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# Built once per table and columns: see add_up.
_ADD_UP: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Any] = {}


async def add_up(
    uow: UnitOfWork,
    table: Any,
    rows: list[dict[str, Any]],
    *,
    key: Sequence[str],
    measures: Sequence[str],
) -> None:
    """Add ``rows``' ``measures`` to the rows of ``table`` with the same ``key`` (a unique
    constraint's columns), inserting the keys not there yet: the projections' counters. The
    keys must be unique within ``rows``. On PostgreSQL one statement of one array per column,
    whatever the number of rows: its text never changes, so it is compiled and prepared once,
    and the rows cross as arrays the driver encodes (an executemany costs SQLAlchemy's
    parameter work row by row). On SQLite the same upsert row by row."""
    if not rows:
        return
    columns = (*key, *measures)
    if uow.dialect != "postgresql":
        insert = sqlite.insert(table)
        await uow.session.execute(
            insert.on_conflict_do_update(
                index_elements=list(key),
                set_={m: table.c[m] + getattr(insert.excluded, m) for m in measures},
            ),
            rows,
        )
        return
    cached = (table.name, tuple(key), tuple(measures))
    statement = _ADD_UP.get(cached)
    if statement is None:
        given = unnested("r", [(c, table.c[c].type) for c in columns])
        upsert = postgresql.insert(table).from_select(
            list(columns), sa.select(*(given.c[c] for c in columns))
        )
        statement = upsert.on_conflict_do_update(
            index_elements=list(key),
            set_={m: table.c[m] + getattr(upsert.excluded, m) for m in measures},
        )
        _ADD_UP[cached] = statement
    await uow.session.execute(statement, {f"r_{c}": [row[c] for row in rows] for c in columns})


LIKE_ESCAPE = "\\"


def contains(column: Any, q: str) -> sa.ColumnElement[bool]:
    """Case-insensitive "contains ``q``" on both databases, the user's ``%`` and ``_`` taken
    literally."""
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.func.lower(column).like(f"%{escaped}%", escape=LIKE_ESCAPE)


def unnested(alias: str, columns: list[tuple[str, Any]], *, numbered: str = "n") -> Any:
    """PostgreSQL: rows from one array bind per column (named ``<alias>_<column>``), numbered
    ``numbered`` in the order given: the same SQL text for any number of rows, so a statement
    built once with it is compiled and prepared once."""
    return (
        sa.func.unnest(
            *(
                sa.bindparam(f"{alias}_{name}", type_=postgresql.ARRAY(item))
                for name, item in columns
            )
        )
        .table_valued(*(sa.column(name, item) for name, item in columns), with_ordinality=numbered)
        .render_derived(name=alias)
    )
