"""aiosqlite with one thread hop a statement instead of four.

aiosqlite runs each call on its connection's thread and hands the result back through the event
loop. SQLAlchemy's adapter makes four such calls a statement: open a cursor, execute, fetch all
rows, close the cursor. A hop costs the loop's thread 30-40 µs and the driver's thread about
25 µs (waking it, the future, the loop's self-pipe); a till sale's 14 statements made 53 of
them, about a third of its CPU on SQLite. Here a statement is one hop: the cursor is made and
closed on the loop's thread (a ``sqlite3`` cursor is a small object: making one reads nothing,
closing one resets its statement), and the execute fetches up to ``PREFETCH`` rows in the same
call, which SQLAlchemy then takes without a hop. What SQLite itself does (the statement's work,
waiting for the write lock at ``BEGIN IMMEDIATE``) still happens on the driver's thread, so the
loop never waits on it.

Why the loop's thread may touch the ``sqlite3`` connection: one SQLAlchemy connection is used
by one task at a time, so by the time the loop makes or closes a cursor the driver's thread has
finished the connection's previous call (its result was awaited); the connection is opened with
``check_same_thread=False``, as aiosqlite opens it, and SQLite is built serialized.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

import aiosqlite
from aiosqlite.context import Result

# Rows fetched with the execute: enough for every hot statement (a checkout's reads are a few
# rows); a bigger result (a report, a stream) is fetched on with further hops as before.
PREFETCH = 256

T = TypeVar("T")


class OneHopCursor(aiosqlite.Cursor):
    """An aiosqlite cursor whose execute fetches its first rows in the same hop."""

    def __init__(self, conn: aiosqlite.Connection, cursor: sqlite3.Cursor) -> None:
        super().__init__(conn, cursor)
        self._rows: list[Any] = []
        self._drained = True  # no more rows than those in _rows

    async def _hop(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the connection's thread (aiosqlite's ``_execute``, typed)."""
        result: T = await self._execute(fn, *args)  # type: ignore[no-untyped-call]
        return result

    def _execute_and_fetch(self, sql: str, parameters: Any) -> None:
        self._cursor.execute(sql, parameters)
        if self._cursor.description is None:
            self._rows, self._drained = [], True
        else:
            self._rows = self._cursor.fetchmany(PREFETCH)
            self._drained = len(self._rows) < PREFETCH

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> OneHopCursor:
        await self._hop(self._execute_and_fetch, sql, [] if parameters is None else parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> OneHopCursor:
        self._rows, self._drained = [], True
        await self._hop(self._cursor.executemany, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        if self._rows:
            return self._rows.pop(0)
        return None if self._drained else await self._hop(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        size = self.arraysize if size is None else size
        if len(self._rows) >= size or (self._rows and self._drained):
            taken, self._rows = self._rows[:size], self._rows[size:]
            return taken
        taken, self._rows = self._rows, []
        if self._drained:
            return taken
        more: list[Any] = await self._hop(self._cursor.fetchmany, size - len(taken))
        return taken + more

    async def fetchall(self) -> Sequence[Any]:
        taken, self._rows = self._rows, []
        if self._drained:
            return taken
        self._drained = True
        more: list[Any] = await self._hop(self._cursor.fetchall)
        return taken + more

    async def close(self) -> None:
        self._rows, self._drained = [], True
        self._cursor.close()


class OneHopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors are :class:`OneHopCursor`, made without a hop."""

    def cursor(self) -> Result[OneHopCursor]:  # type: ignore[override]
        return Result(self._cursor())

    async def _cursor(self) -> OneHopCursor:
        return OneHopCursor(self, self._conn.cursor())

    # The pool rolls back every connection it is given back, mostly after a COMMIT or a
    # ROLLBACK: with no transaction open (SQLite's autocommit flag, read without a hop) there
    # is nothing to end.
    async def commit(self) -> None:
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await super().rollback()


def connector(path: str, *, timeout: float) -> Callable[[], Any]:
    """For ``create_async_engine(async_creator=...)``: opens ``path`` as aiosqlite would (its
    thread a daemon, as SQLAlchemy's dialect makes it), with one-hop cursors."""

    async def connect() -> OneHopConnection:
        opened = OneHopConnection(
            partial(sqlite3.connect, path, timeout=timeout, check_same_thread=False),
            iter_chunk_size=64,
        )
        opened._thread.daemon = True
        await opened  # starts its thread and opens the file there
        return opened

    return connect
