"""SQLite's hot reads on the event loop's own thread: no hop to a driver thread.

aiosqlite runs every call on a thread of its own and hands the result back through the event
loop: a read through SQLAlchemy (connect, BEGIN, execute, fetch, ROLLBACK, close) is about eight
such hops. Each hop waits for the loop to come round, and for the GIL, behind every other
request in flight: measured under 32 concurrent location GETs (one API process, load average
~10), one read of one row took 130-260 ms, against tens of microseconds of SQLite's own work.

:class:`InlineReads` keeps one plain ``sqlite3`` connection per process and database and runs
the checked ``SELECT`` of a hot read (``omniretail.scoped.TenantRead``) on it synchronously,
in autocommit: one statement, one WAL snapshot, no transaction left open (the statement is
reset before the call returns). Why that may block the loop, and for how long: a WAL reader
takes no lock that a writer holds, the connection's busy timeout is **zero** (SQLite answers
``SQLITE_BUSY`` at once rather than sleep), and the reads are single-row look-ups through an
index, so a read costs what SQLite's B-tree walk costs (tens of µs), plus a page read from the
file if it is not in the OS cache. Any error (busy, a schema being changed, a closed file)
makes :meth:`InlineReads.fetchrow` answer :data:`UNREAD` and the caller reads through the
engine as before; the connection is then reopened by the next read. ``PRAGMA query_only``
refuses any write on it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# What fetchrow answers when it could not read here at once: read through the engine instead.
UNREAD: Any = object()


class InlineReads:
    """One read-only ``sqlite3`` connection to the database file at ``path``, used from the
    event loop's thread for one statement at a time."""

    def __init__(self, path: str) -> None:
        self.uri = Path(path).absolute().as_uri() + "?mode=rw"  # never creates the file
        self._connection: sqlite3.Connection | None = None
        # One statement at a time even if two event loops (threads) share the database.
        self._lock = threading.Lock()
        self.reads = 0
        self.unread = 0  # reads handed back to the engine (busy, or an error)

    @property
    def open(self) -> bool:
        return self._connection is not None

    def fetchrow(self, sql: str, values: Sequence[Any]) -> Any:
        """The first row of ``sql`` with ``values`` (a tuple), None if there is none, or
        :data:`UNREAD` if it cannot be read here at once."""
        if not self._lock.acquire(blocking=False):
            self.unread += 1
            return UNREAD
        try:
            connection = self._connection or self._connect()
            cursor = connection.execute(sql, values)
            try:
                row = cursor.fetchone()
            finally:
                cursor.close()  # resets the statement: its read snapshot ends here
        except sqlite3.Error:
            self._close()
            self.unread += 1
            return UNREAD
        finally:
            self._lock.release()
        self.reads += 1
        return row

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.uri, uri=True, timeout=0, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute("PRAGMA query_only=ON")
            connection.execute("PRAGMA busy_timeout=0")
        except sqlite3.Error:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def close(self) -> None:
        with self._lock:
            self._close()
