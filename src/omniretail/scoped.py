"""Tenant-scoped Core statements for hot reads: no session, no ORM, one round trip.

The ORM path (:class:`omniretail.db.UnitOfWork`) scopes statements by adding criteria to each
one at execution time; that costs about a millisecond of Python per request. Hot reads instead
use statements built once at import, checked once when built, and executed by
:class:`TenantRead`, which binds the caller's tenant:

- :func:`tenant_statement` refuses a statement unless every tenant-owned table in it is limited
  by ``<table>.tenant_id = :tenant_id`` (the ``tenants`` table itself by ``tenants.id =
  :tenant_id``); a statement that forgets the tenant cannot be built.
- :class:`TenantRead` runs only such statements and always binds ``tenant_id`` itself, so the
  value never comes from the caller's parameters.
- :func:`read_in` runs such a statement inside a unit of work (its transaction, its tenant),
  straight on the connection: the hot path's reads in a use case (the price quote's and the
  checkout's channel, SKUs and promotions) skip the ORM's per-statement criteria too.

Built once, the same statement object hits SQLAlchemy's compiled cache on every request.
"""

from __future__ import annotations

import asyncio
import collections
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import operators, visitors

from omniretail.db import READ_ONLY, TENANT_BOUND, Database, TenantScopeError, UnitOfWork
from omniretail.inline_reads import UNREAD, InlineReads

TENANT = "tenant_id"
_S = TypeVar("_S", bound=sa.Executable)
# The tenants' own table: a statement reading it is limited by ``tenants.id = :tenant_id``.
TENANTS = "tenants"


@dataclass(frozen=True, slots=True, eq=False)
class TenantStatement:
    """A Core statement proven to be limited to the bound tenant on every tenant-owned table.

    Compared and hashed by identity (a statement is built once, at import)."""

    statement: sa.Executable
    # The tables it reads: a write to one drops its cached rows (see ReadCache).
    tables: frozenset[str] = frozenset()
    # How long a row it read may be served again from the process's ReadCache; 0: never.
    cache_seconds: float = 0.0
    # Made by unscoped_statement(): read by read_unscoped() only, never by TenantRead.
    unscoped: bool = False

    def direct(self, dialect: sa.Dialect) -> _Direct:
        """Its SQL text for ``dialect`` and how to bind and read it (:func:`direct_of`)."""
        found = direct_of(self.statement, dialect)
        if found is None:
            raise TenantScopeError("a direct statement takes no expanding parameters")
        return found


class _Expanding(Exception):
    """A statement with an expanding ``IN`` cannot be compiled once."""


@dataclass(slots=True)
class _Direct:
    """A statement compiled once for a driver (asyncpg, or ``sqlite3`` for
    :mod:`omniretail.inline_reads`): its SQL, the order of its parameters with each one's bind
    processor (None: passed as given), and the row it yields (each column through its
    SQLAlchemy type's result processor, as SQLAlchemy would; on PostgreSQL those depend on the
    types the server names, learnt on first use)."""

    sql: str
    names: tuple[str, ...]
    row: Callable[..., Any]
    types: tuple[Any, ...]
    dialect: sa.Dialect
    binders: tuple[Callable[[Any], Any] | None, ...] = ()
    defaults: tuple[Any, ...] = ()
    processors: tuple[Callable[[Any], Any] | None, ...] | None = None

    @classmethod
    def compile(cls, statement: sa.Executable, dialect: sa.Dialect) -> _Direct:
        compiled = cast(Any, statement).compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        binds = [compiled.binds[name] for name in names]
        if any(bind.expanding for bind in binds):
            raise _Expanding
        binders = tuple(_binder(bind, dialect) for bind in binds)
        # A literal's value (sa.literal), or _REQUIRED: the caller's.
        defaults = tuple(_REQUIRED if bind.required else bind.effective_value for bind in binds)
        columns = compiled._result_columns
        row = collections.namedtuple("DirectRow", [c[0] for c in columns], rename=True)  # type: ignore[misc]
        types = tuple(c[3] for c in columns)
        direct = cls(compiled.string, names, row, types, dialect, binders, defaults)
        if dialect.name == "sqlite":  # its processors do not depend on what the server says
            direct.processors = tuple(t._cached_result_processor(dialect, None) for t in types)
        return direct

    def values(self, params: dict[str, Any]) -> list[Any]:
        """The driver's positional values for ``params``, each through its bind processor."""
        values = []
        for name, bind, default in zip(self.names, self.binders, self.defaults, strict=True):
            value = params[name] if default is _REQUIRED else params.get(name, default)
            values.append(value if bind is None or value is None else bind(value))
        return values

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


_REQUIRED = object()


def _binder(bind: Any, dialect: sa.Dialect) -> Callable[[Any], Any] | None:
    """What SQLAlchemy would do to a parameter before the driver gets it, or None for nothing.
    An array of items that need nothing is given to asyncpg as it is: SQLAlchemy's array
    processor only copies it into a list, item by item (asyncpg takes any sequence)."""
    if bind is None:
        return None
    type_ = bind.type
    if isinstance(type_, sa.ARRAY) and dialect.name == "postgresql":
        item = type_.item_type.dialect_impl(dialect)._cached_bind_processor(dialect)
        if item is None and not isinstance(type_.item_type, sa.ARRAY):
            return None
    processor: Callable[[Any], Any] | None = type_._cached_bind_processor(dialect)
    return processor


def tenant_statement(
    statement: sa.Select[*tuple[Any, ...]], *, cache_seconds: float = 0.0
) -> TenantStatement:
    """Check ``statement`` and wrap it for :class:`TenantRead`; raise ``TenantScopeError`` if a
    tenant-owned table in it is not limited by ``tenant_id = :tenant_id``. With
    ``cache_seconds``, :meth:`TenantRead.first` may answer from the process's
    :class:`ReadCache` for that long (see there for what that allows)."""
    read = {e.name for e in visitors.iterate(statement) if isinstance(e, sa.Table)}
    tables, limited = _tables_and_limits(statement, TENANT)
    missing = sorted(t.name for t in tables - limited)
    if missing:
        raise TenantScopeError(f"statement not limited to the tenant on: {', '.join(missing)}")
    return TenantStatement(statement, frozenset(read), cache_seconds)


def tenant_bound(statement: _S, *, bind: str) -> _S:
    """``statement`` (built once, at import) marked to run through a unit of work's session
    without the ORM's tenant criteria (``db.TENANT_BOUND``), once proven to bind its tenant
    itself: every tenant-owned table it reads or changes is limited by ``tenant_id = :bind``,
    but the tables it only inserts into, whose ``tenant_id`` the caller checks (see
    ``orders.placing.check_tenant_inserts``). Raises ``TenantScopeError`` otherwise. The
    caller binds ``bind`` from the unit of work, never from a client's parameters."""
    inserted = {
        cast(sa.Table, e.table).name
        for e in visitors.iterate(cast(Any, statement))
        if isinstance(e, sa.Insert)
    }
    tables, limited = _tables_and_limits(statement, bind)
    missing = sorted(t.name for t in tables - limited if t.name not in inserted)
    if missing:
        raise TenantScopeError(f"statement not limited to the tenant on: {', '.join(missing)}")
    return statement.execution_options(**{TENANT_BOUND: bind})


OneOf = Callable[[Any, str], sa.ColumnElement[bool]]


def _any_of(column: Any, name: str) -> sa.ColumnElement[bool]:
    return cast(
        sa.ColumnElement[bool],
        column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type))),
    )


def _in_list(column: Any, name: str) -> sa.ColumnElement[bool]:
    return cast(sa.ColumnElement[bool], column.in_(sa.bindparam(name, expanding=True)))


# ``ONE_OF[dialect](column, name)``: ``column = ANY(:name)`` on PostgreSQL, one array bind, so
# one prepared statement whatever the number of values (an ``IN`` list is a new statement
# text for each length, prepared again by the server); on SQLite an expanding ``IN``.
ONE_OF: dict[str, OneOf] = {"postgresql": _any_of, "sqlite": _in_list}


def per_dialect(build: Callable[[OneOf], _S], *, bind: str) -> dict[str, _S]:
    """``build(one_of)`` once per database (see :data:`ONE_OF`), each proven to bind its
    tenant as :func:`tenant_bound` does (the caller runs ``result[uow.dialect]``)."""
    return {dialect: tenant_bound(build(one_of), bind=bind) for dialect, one_of in ONE_OF.items()}


def _tables_and_limits(statement: Any, bind: str) -> tuple[set[sa.Table], set[sa.Table]]:
    """The tenant-owned tables in ``statement``, and those limited by ``tenant_id = :bind``."""
    tables: set[sa.Table] = set()
    limited: set[sa.Table] = set()
    for element in visitors.iterate(statement):
        if isinstance(element, sa.Table) and (TENANT in element.c or element.name == TENANTS):
            tables.add(element)
        elif isinstance(element, sa.BinaryExpression) and element.operator is operators.eq:
            for column, value in ((element.left, element.right), (element.right, element.left)):
                table = _limited_table(column, value, bind)
                if table is not None:
                    limited.add(table)
    return tables, limited


def unscoped_statement(statement: sa.Select[*tuple[Any, ...]]) -> TenantStatement:
    """Wrap a statement that must read across tenants for :func:`read_unscoped`: the API key's
    look-up, the one read that finds the caller's tenant. Like ``uow(unscoped=True)``, the name
    says so where it is built; :class:`TenantRead` refuses such a statement."""
    tables = {e.name for e in visitors.iterate(statement) if isinstance(e, sa.Table)}
    return TenantStatement(statement, frozenset(tables), unscoped=True)


def _limited_table(column: Any, value: Any, bind: str) -> sa.Table | None:
    if (
        isinstance(column, sa.Column)
        and isinstance(column.table, sa.Table)
        and column.name == ("id" if column.table.name == TENANTS else TENANT)
        and isinstance(value, sa.BindParameter)
        and value.key == bind
    ):
        return column.table
    return None


_WROTE = "omni_read_cache_wrote"
MAX_CACHED_ROWS = 10_000
# Past this share of its ``cache_seconds`` a row in use is read again by one caller (see
# ReadCache.row), late enough that a row costs one read per bound, early enough that the read
# ends before the row would expire.
REFRESH_AFTER = 0.75
# What a shared read hands its waiters when the caller that ran it was cancelled: read again.
_RETRY: Any = object()


class ReadCache:
    """Rows of cacheable hot reads (``tenant_statement(..., cache_seconds=...)``), kept by one
    process for one database.

    *Keys*: the statement, the tenant and the statement's other parameters, built by
    :func:`_cache_key` alone, which refuses a key without a tenant; :class:`TenantRead` passes
    its own tenant, so one tenant's row is never another's answer.

    *Stale*: a row is served for at most the statement's ``cache_seconds`` after it was read.
    A write made by **this** process is seen at once: a transaction that writes a table (any
    INSERT, UPDATE or DELETE through this engine) drops the table's rows when it writes, and
    until its connection is back in the pool (after its COMMIT or ROLLBACK) every read of that
    table goes to the database and stores nothing; when it is back, the rows are dropped again,
    and a read that started before that is not stored (each table has a generation). A write
    made by **another** process (another worker, ``omni worker``, the CLI), or by this one past
    the engine (raw asyncpg: nothing writes a cached table so), is seen when the row turns
    ``cache_seconds`` old. Misses are not cached.

    *Reads* (:meth:`row`): concurrent misses of one key share one read, and in the last quarter
    of a row's ``cache_seconds`` (``REFRESH_AFTER``) the first caller reads it again, alone,
    while the others are still answered from it; so a row in use is never missing and nobody
    queues for it. Before, once a second every request for the row missed together, each
    with its own connection (SQLite's pool overflowing, each statement a hop to aiosqlite's
    thread): a stall of a few hundred ms under load, the location GET's p99. A shared read
    that began before a write of this process touched its tables is not joined after it (the
    write drops it like the rows), so sharing never hands back a row older than this process's
    last answered write."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_rows: int = MAX_CACHED_ROWS
    ) -> None:
        self.clock = clock
        self.max_rows = max_rows
        self._rows: collections.OrderedDict[tuple[Any, ...], tuple[float, Any]] = (
            collections.OrderedDict()
        )
        self._generation: collections.Counter[str] = collections.Counter()
        self._writing: collections.Counter[str] = collections.Counter()
        self._reading: dict[tuple[Any, ...], asyncio.Future[Any]] = {}

    async def row(
        self,
        scoped: TenantStatement,
        tenant_id: int,
        params: tuple[Any, ...],
        read: Callable[[], Awaitable[Any]],
    ) -> Any:
        """The row of ``scoped`` for ``tenant_id`` and ``params``: kept, or shared with a
        concurrent caller's read, or ``read()`` by this caller (who then keeps it)."""
        key = _cache_key(scoped, tenant_id, params)
        while True:
            if self._is_written(scoped):
                return await read()  # this process is writing its tables: share and keep nothing
            entry = self._rows.get(key)
            if entry is not None:
                age = self.clock() - entry[0]
                if age < scoped.cache_seconds:
                    if age < scoped.cache_seconds * REFRESH_AFTER or key in self._reading:
                        return entry[1]
                    return await self._read(key, scoped, read)
            pending = self._reading.get(key)
            if pending is None:
                return await self._read(key, scoped, read)
            row = await asyncio.shield(pending)
            if row is not _RETRY:
                return row

    async def _read(
        self, key: tuple[Any, ...], scoped: TenantStatement, read: Callable[[], Awaitable[Any]]
    ) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._reading[key] = future
        generation = self.generation(scoped)
        read_at = self.clock()
        try:
            row = await read()
        except asyncio.CancelledError:
            future.set_result(_RETRY)
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody else must
            raise
        finally:
            if self._reading.get(key) is future:
                del self._reading[key]
        future.set_result(row)
        if row is None:
            self._rows.pop(key, None)  # gone: misses are not kept
        else:
            self._keep(key, row, read_at=read_at, generation=generation, scoped=scoped)
        return row

    def _is_written(self, scoped: TenantStatement) -> bool:
        return any(self._writing[table] for table in scoped.tables)

    def get(self, scoped: TenantStatement, tenant_id: int, params: tuple[Any, ...]) -> Any:
        """The row read for ``tenant_id`` within ``scoped.cache_seconds``, or None."""
        entry = self._rows.get(_cache_key(scoped, tenant_id, params))
        if entry is None or self.clock() - entry[0] >= scoped.cache_seconds:
            return None
        if self._is_written(scoped):
            return None
        return entry[1]

    def generation(self, scoped: TenantStatement) -> tuple[int, ...] | None:
        """Where the tables of ``scoped`` stand before a read (None: being written here)."""
        if self._is_written(scoped):
            return None
        return tuple(self._generation[table] for table in sorted(scoped.tables))

    def put(
        self,
        scoped: TenantStatement,
        tenant_id: int,
        params: tuple[Any, ...],
        row: Any,
        *,
        read_at: float,
        generation: tuple[int, ...] | None,
    ) -> None:
        """Keep ``row``, read at ``read_at``, unless its tables moved since ``generation``."""
        self._keep(
            _cache_key(scoped, tenant_id, params),
            row,
            read_at=read_at,
            generation=generation,
            scoped=scoped,
        )

    def _keep(
        self,
        key: tuple[Any, ...],
        row: Any,
        *,
        read_at: float,
        generation: tuple[int, ...] | None,
        scoped: TenantStatement,
    ) -> None:
        if generation is None or generation != self.generation(scoped):
            return
        self._rows[key] = (read_at, row)
        self._rows.move_to_end(key)
        while len(self._rows) > self.max_rows:
            self._rows.popitem(last=False)

    def wrote(self, connection_info: dict[str, Any], table: str) -> None:
        """A statement on a connection (its ``info``) wrote ``table``."""
        written: set[str] = connection_info.setdefault(_WROTE, set())
        if table not in written:
            written.add(table)
            self._writing[table] += 1
        self._drop(table)

    def released(self, connection_info: dict[str, Any]) -> None:
        """A connection is back in the pool: its transaction has ended."""
        for table in connection_info.pop(_WROTE, ()):
            self._writing[table] -= 1
            self._drop(table)

    def _drop(self, table: str) -> None:
        self._generation[table] += 1
        for key in [k for k in self._rows if table in k[0].tables]:
            del self._rows[key]
        # A read under way may predate the write: it still answers those who joined it before,
        # nobody after.
        for key in [k for k in self._reading if table in k[0].tables]:
            del self._reading[key]


def _cache_key(scoped: TenantStatement, tenant_id: int, params: tuple[Any, ...]) -> tuple[Any, ...]:
    if not isinstance(tenant_id, int) or isinstance(tenant_id, bool):
        raise TenantScopeError("a cached row is always kept for one tenant")
    return (scoped, tenant_id, params)


_caches: weakref.WeakKeyDictionary[Database, ReadCache] = weakref.WeakKeyDictionary()


def read_cache(db: Database) -> ReadCache:
    """The process's :class:`ReadCache` for ``db``; it watches every write made through the
    database's engine from its creation on."""
    cache = _caches.get(db)
    if cache is None:
        cache = _caches[db] = ReadCache()
        _watch_writes(db.engine, cache)
    return cache


def _watch_writes(engine: AsyncEngine, cache: ReadCache) -> None:
    def after_cursor_execute(connection: sa.Connection, *args: Any) -> None:
        context = args[3]
        if context is None or not (context.isinsert or context.isupdate or context.isdelete):
            return
        table = getattr(getattr(context.compiled, "statement", None), "table", None)
        name = getattr(table, "name", None)
        if isinstance(name, str):
            cache.wrote(connection.info, name)

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            cache.released(record.info)

    event.listen(engine.sync_engine, "after_cursor_execute", after_cursor_execute)
    event.listen(engine.sync_engine, "checkin", checkin)


class HotConnections:
    """PostgreSQL connections kept by one process for :class:`TenantRead` alone.

    Each connection runs one statement at a time outside any transaction (asyncpg's
    autocommit), and only the checked ``SELECT`` of a :class:`TenantStatement`: so it never holds
    a transaction, a lock, a cursor, a ``SET`` or a ``LISTEN``, and goes back to the pool with
    **no reset** (SQLAlchemy's pool would roll back and run its checkout and checkin events; a
    general-purpose pool such as asyncpg's resets with a round trip). Any error while it is in
    use (a statement refused, a broken socket, a request cancelled mid-statement) throws the
    connection away: such errors are rare on these reads, and no state can then be carried
    over. The pool never grows past
    ``size``: more readers wait their turn, in arrival order, rather than open and close
    overflow connections (each a new backend for the server to fork and warm). Connections are
    opened through the engine, so they have its URL's options and its dialect's codecs, then
    detached from SQLAlchemy's pool, which forgets them."""

    def __init__(self, engine: AsyncEngine, *, size: int, timeout_seconds: float) -> None:
        self.engine = engine
        self.size = size
        self.timeout_seconds = timeout_seconds
        self._idle: list[Any] = []
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._slots = 0  # connections open or being opened
        self._closed = False

    @property
    def opened(self) -> int:
        """Connections open (or being opened)."""
        return self._slots

    @property
    def in_use(self) -> int:
        """Connections running a statement now."""
        return self._slots - len(self._idle)

    @property
    def waiting(self) -> int:
        """Readers queued for a connection."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    async def fetchrow(self, direct: _Direct, values: Sequence[Any]) -> Any:
        """The first record of ``direct`` with ``values``, on one of the pool's connections."""
        connection = self._idle.pop() if self._idle else await self._acquire()
        try:
            if direct.processors is None:
                await direct.learn(connection)
            record = await connection.fetchrow(direct.sql, *values)
        except BaseException:
            self._discard(connection)
            raise
        self._release(connection)
        return record

    async def _acquire(self) -> Any:
        if self._closed:
            raise RuntimeError("the database is disposed")
        if self._slots < self.size:
            self._slots += 1
            return await self._open()
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.timeout_seconds):
                handed = await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed a connection (or a slot) just as this reader gave up: pass it on.
                handed = waiter.result()
                if handed is None:
                    self._free_slot()
                else:
                    self._release(handed)
            else:
                waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise sa.exc.TimeoutError(
                    f"no hot-read connection free within {self.timeout_seconds:g} s"
                ) from exc
            raise
        # None: a connection was thrown away, and its slot is this reader's to open.
        return await self._open() if handed is None else handed

    async def _open(self) -> Any:
        try:
            connection = await self.engine.connect()
            pooled = await connection.get_raw_connection()
            driver = pooled.driver_connection
            pooled.detach()  # SQLAlchemy's pool forgets it; it is closed by this pool only
        except BaseException:
            self._free_slot()
            raise
        return driver

    def _release(self, connection: Any) -> None:
        if self._closed:
            self._discard(connection)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _discard(self, connection: Any) -> None:
        connection.terminate()
        self._free_slot()

    def _free_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._slots -= 1

    async def close(self) -> None:
        """Close the idle connections; those in use close when their statement ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            self._slots -= 1
            await connection.close(timeout=5)
        while self._waiters:
            self._waiters.popleft().cancel()


_hot: weakref.WeakKeyDictionary[Database, HotConnections] = weakref.WeakKeyDictionary()


def hot_connections(db: Database) -> HotConnections:
    """The process's hot-read connections to ``db`` (PostgreSQL), opened as first needed and
    closed with the database (``Database.dispose``; a later read opens a new pool)."""
    pool = _hot.get(db)
    if pool is None:
        settings = db.settings
        pool = _hot[db] = HotConnections(
            db.engine,
            size=settings.db_hot_read_connections,
            timeout_seconds=settings.db_pool_timeout_seconds,
        )

        async def close() -> None:
            # Like the engine, a disposed database may be used again: with a new pool.
            if _hot.get(db) is pool:
                del _hot[db]
            await pool.close()

        db.on_dispose(close)
    return pool


@dataclass(frozen=True, slots=True)
class HotReadUse:
    """What the process's hot reads hold, for the ``omni_db_pool_hot_read_*`` gauges: on
    PostgreSQL its :class:`HotConnections`; on SQLite its one inline connection
    (:mod:`omniretail.inline_reads`), never in use between two requests' steps (a read runs
    start to end on the loop's thread), so never seen in use."""

    size: int
    opened: int
    in_use: int
    waiting: int


def hot_read_use(db: Database) -> HotReadUse:
    """Read the use of ``db``'s hot-read connections now (opens none)."""
    if db.is_sqlite:
        inline = inline_reads(db)
        if inline is None:
            return HotReadUse(0, 0, 0, 0)
        return HotReadUse(1, int(inline.open), 0, 0)
    pool = _hot.get(db)
    size = db.settings.db_hot_read_connections
    if pool is None:
        return HotReadUse(size, 0, 0, 0)
    return HotReadUse(pool.size, pool.opened, pool.in_use, pool.waiting)


_inline: weakref.WeakKeyDictionary[Database, InlineReads | None] = weakref.WeakKeyDictionary()


def inline_reads(db: Database) -> InlineReads | None:
    """The process's :class:`~omniretail.inline_reads.InlineReads` for ``db`` (SQLite in a
    file; None in memory, where another connection would see another database); closed with
    the database (``Database.dispose``; a later read opens it again)."""
    if db in _inline:
        return _inline[db]
    path = db.engine.url.database
    reads = _inline[db] = InlineReads(path) if path and path != ":memory:" else None
    if reads is not None:

        async def close() -> None:
            if _inline.get(db) is reads:
                del _inline[db]
            reads.close()

        db.on_dispose(close)
    return reads


class _HotRead:
    """One statement at a time outside any unit of work, the hot way: on PostgreSQL straight
    to asyncpg on one of the process's :class:`HotConnections`, with no transaction; on SQLite
    on the event loop's own thread (:mod:`omniretail.inline_reads`), else through the engine
    in a deferred (non-locking) transaction on a connection held until the read ends."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._hot: HotConnections | None = None if db.is_sqlite else hot_connections(db)
        self._inline = inline_reads(db) if db.is_sqlite else None
        self._connection: AsyncConnection | None = None  # SQLite's, opened when first needed

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def _fetch(self, scoped: TenantStatement, values: dict[str, Any]) -> Any:
        if self._inline is not None:
            direct = scoped.direct(self.db.engine.dialect)
            record = self._inline.fetchrow(direct.sql, tuple(direct.values(values)))
            if record is not UNREAD:
                return None if record is None else direct.make_row(record)
        if self._hot is None:
            if self._connection is None:
                self._connection = await self.db.engine.connect()
                await self._connection.execution_options(**{READ_ONLY: True})
            result = await self._connection.execute(scoped.statement, values)
            return result.first()
        direct = scoped.direct(self.db.engine.dialect)
        record = await self._hot.fetchrow(direct, direct.values(values))
        return None if record is None else direct.make_row(record)


class TenantRead(_HotRead):
    """A read for one tenant outside any unit of work: no transaction on PostgreSQL (a single
    statement sees one snapshot); on SQLite one autocommit statement on the event loop's own
    thread (:mod:`omniretail.inline_reads`), else a deferred (non-locking) transaction.

    On PostgreSQL the statement goes straight to asyncpg on one of the process's
    :class:`HotConnections`, compiled once (``TenantStatement.direct``): SQLAlchemy's execution
    (its context, the greenlet hop, the result wrapper) cost four times the driver's own work
    on the location GET, and its pool's checkout and checkin (and the overflow connections it
    opened and closed under load) most of the rest; a read that begins no transaction needs
    none of it. The tenant is still bound here and only here."""

    def __init__(self, db: Database, tenant_id: int) -> None:
        super().__init__(db)
        self.tenant_id = tenant_id

    async def __aenter__(self) -> TenantRead:
        return self

    async def first(self, scoped: TenantStatement, **params: Any) -> Any:
        """The first row of ``scoped`` for this tenant, or None."""
        if TENANT in params:
            raise TenantScopeError("the tenant is bound by the read, never by its caller")
        if scoped.unscoped:
            raise TenantScopeError("an unscoped statement is read by read_unscoped() only")
        if not scoped.cache_seconds:
            return await self._read(scoped, params)
        return await read_cache(self.db).row(
            scoped,
            self.tenant_id,
            tuple(sorted(params.items())),
            lambda: self._read(scoped, params),
        )

    async def _read(self, scoped: TenantStatement, params: dict[str, Any]) -> Any:
        return await self._fetch(scoped, {**params, TENANT: self.tenant_id})


class _UnscopedRead(_HotRead):
    async def __aenter__(self) -> _UnscopedRead:
        return self


async def read_unscoped(db: Database, scoped: TenantStatement, **params: Any) -> Any:
    """The first row of an :func:`unscoped_statement` (or None), read the hot way, outside any
    unit of work (see :class:`TenantRead`); never cached here."""
    if not scoped.unscoped:
        raise TenantScopeError("a tenant's statement is read for its tenant (TenantRead)")
    async with _UnscopedRead(db) as read:
        return await read._fetch(scoped, params)


MAX_REFS = 100_000
_refs: weakref.WeakKeyDictionary[Database, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()


async def read_ref(uow: UnitOfWork, scoped: TenantStatement, code: str) -> Any:
    """The one value ``scoped`` gives for ``code`` (its ``:code`` parameter) in ``uow``'s
    tenant, or None: for a reference that never changes once committed (a channel's or a
    location's id behind its code: codes are never renamed nor reused, and such rows are never
    deleted). Remembered for the unit of work, and kept by the process once the unit of work
    that read it has committed (or, read only, ended cleanly: it wrote nothing), so a hot
    path's references cost no statement after the first.

    *Stale*: never. What is kept was committed (a value read by a transaction, or inside a
    savepoint, that then rolled back is dropped with it: it may name a row created there), and a
    committed reference never changes. Misses are not kept (the row may be created next).
    *Keys*: the statement, the tenant and the code: one tenant's value is never another's."""
    held: dict[tuple[Any, ...], Any] = uow.session.info.setdefault(_HELD_REFS, {})
    key = (scoped, uow.require_tenant(), code)
    value = held.get(key)
    if value is None:
        kept = _refs.get(uow.db)
        value = None if kept is None else kept.get(key)
        if value is None:
            rows = await read_in(uow, scoped, code=code)
            value = rows[0][0] if rows else None
            if value is None:
                return None
            if not uow.session.info.get(_READ_REFS):
                uow.session.info[_READ_REFS] = True
                uow.after_commit(lambda: _keep_refs(uow.db, held))
            # Read inside a savepoint that rolls back: it may name a row created there.
            uow.on_rollback(lambda: held.pop(key, None))
        held[key] = value
    return value


_HELD_REFS = "omni_refs"
_READ_REFS = "omni_refs_read"


def _keep_refs(db: Database, held: dict[tuple[Any, ...], Any]) -> None:
    kept = _refs.get(db)
    if kept is None:
        kept = _refs[db] = {}
    kept.update(held)
    while len(kept) > MAX_REFS:
        del kept[next(iter(kept))]


async def read_in(uow: UnitOfWork, scoped: TenantStatement, **params: Any) -> list[Any]:
    """The rows of ``scoped`` (attributes by column name) in ``uow``'s transaction for
    ``uow``'s tenant, past the ORM (no identity map, no loader criteria: the statement is
    already limited to the tenant). Never answered from the :class:`ReadCache`: a use case
    reads what its own transaction sees. On PostgreSQL the statement goes straight to the
    transaction's asyncpg connection (:func:`run_in`), compiled once: SQLAlchemy's execution
    of a hot path's statement (its context, the parameters and rows processed in Python, the
    greenlet hop) cost more than the driver's own work (a till checkout's two statements
    through it: about a sixth of its CPU)."""
    if TENANT in params:
        raise TenantScopeError("the tenant is bound by the unit of work, never by its caller")
    return await _execute(
        uow, scoped.statement, {**params, TENANT: uow.require_tenant()}, rows=True
    )


async def run_in(
    uow: UnitOfWork, direct: _Direct, params: dict[str, Any], *, rows: bool = False
) -> list[Any]:
    """Run ``direct`` (PostgreSQL) with ``params`` on the asyncpg connection of ``uow``'s
    transaction, begun as SQLAlchemy begins it if this is its first statement; returns the
    driver's records (``rows``: once the row's result processors are known, for
    ``direct.make_row``). The caller has bound the tenant from ``uow`` (:func:`read_in`,
    :func:`execute_bound`). Listeners of
    ``before_cursor_execute`` see the statement (the tests count statements that way); a
    driver's error is raised as SQLAlchemy raises it (``IntegrityError`` and so on), without
    its parameters."""
    connection = await uow.connection()  # flushed, as the ORM's autoflush would
    sync = connection.sync_connection
    assert sync is not None
    values = direct.values(params)
    sync.dispatch.before_cursor_execute(sync, None, direct.sql, values, None, False)
    adapter = (await connection.get_raw_connection()).dbapi_connection
    assert adapter is not None
    adapted = cast(Any, adapter)
    async with adapted._execute_mutex:
        try:
            if adapted._transaction is None:
                await adapted._start_transaction()
            driver = adapted._connection
            if rows and direct.processors is None:
                await direct.learn(driver)
            records: list[Any] = await driver.fetch(direct.sql, *values)
        except Exception as error:
            raise _as_sqlalchemy_error(adapted, direct, error) from error
    return records


def _as_sqlalchemy_error(adapted: Any, direct: _Direct, error: Exception) -> BaseException:
    try:
        adapted._handle_exception(error)  # the driver's error as the DBAPI's
    except Exception as dbapi_error:
        dialect = direct.dialect
        if not isinstance(dbapi_error, dialect.loaded_dbapi.Error):
            return error
        return sa.exc.DBAPIError.instance(
            direct.sql,
            None,
            dbapi_error,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,
            dialect=dialect,
        )
    return error


_directs: dict[tuple[int, str], tuple[sa.Executable, _Direct | None]] = {}


def direct_of(statement: sa.Executable, dialect: sa.Dialect) -> _Direct | None:
    """``statement`` (built once, at import) compiled for ``dialect`` once, or None for a
    statement with an expanding ``IN`` (its SQL depends on the number of values: SQLAlchemy
    renders it each time)."""
    key = (id(statement), dialect.name)
    found = _directs.get(key)
    if found is None or found[0] is not statement:  # (an id reused by a new statement)
        try:
            compiled: _Direct | None = _Direct.compile(statement, dialect)
        except _Expanding:
            compiled = None
        found = _directs[key] = (statement, compiled)
    return found[1]


async def execute_bound(
    uow: UnitOfWork,
    statement: sa.Executable,
    tenant_bind: str,
    params: dict[str, Any],
    *,
    rows: bool = False,
) -> list[Any]:
    """Run ``statement`` (built once and proven, when built, to take its tenant from
    ``tenant_bind`` everywhere: ``tenant_bound`` or ``orders.placing.check_tenant_inserts``)
    in ``uow``'s transaction with ``uow``'s tenant bound here, never by the caller. Returns its
    rows (attributes by column name) when ``rows``, else nothing read. On PostgreSQL straight
    on the driver (:func:`run_in`)."""
    if tenant_bind in params:
        raise TenantScopeError("the tenant is bound by the unit of work, never by its caller")
    return await _execute(uow, statement, params | {tenant_bind: uow.require_tenant()}, rows=rows)


async def _execute(
    uow: UnitOfWork, statement: sa.Executable, bound: dict[str, Any], *, rows: bool
) -> list[Any]:
    """``statement`` with its tenant ``bound``: straight on the driver on PostgreSQL
    (:func:`run_in`), through SQLAlchemy on SQLite (no round trip to save) or for an
    expanding ``IN``. Its rows when ``rows``."""
    direct = direct_of(statement, uow.db.engine.dialect) if uow.dialect == "postgresql" else None
    if direct is None:
        result = await (await uow.connection()).execute(statement, bound)  # flushed first
        return list(result) if rows else []
    records = await run_in(uow, direct, bound, rows=rows)
    return [direct.make_row(record) for record in records] if rows else []
