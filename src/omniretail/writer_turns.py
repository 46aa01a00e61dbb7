"""Turns among the background writers: a platform push's acknowledgement goes before the outbox
dispatcher's applying.

A push must be stored (committed) before it is acknowledged, within 100 ms, also while the
dispatcher applies earlier messages. Writers come in two kinds:

- **urgent** (the pushes' group commit, ``GroupCommit(turns=True)``): while one waits for its
  turn or writes, it is *pending*;
- **normal** (the dispatcher's deliveries): a normal writer does not begin while an urgent one
  is pending (it waits at most ``max_yield`` seconds, so a never-ending stream of pushes slows
  the applying down but cannot stop it), and a dispatcher group stops early, between two of its
  events, when one is (``urgent_pending``).

On SQLite, which has one write lock, the writers also take turns in this process (a FIFO per
kind, urgent first), so they queue here rather than in SQLite's busy handler, which sleeps and
polls (up to 100 ms a sleep) and lost a push behind back-to-back deliveries for seconds. Across
processes on one machine (``omni worker`` apart from ``omni serve``), two lock files beside the
database file carry the same rule (``flock``, released by the kernel if a process dies):

- ``<db>-urgent``: held shared by each process while one of its urgent writers is pending; a
  normal writer tests it (exclusive, non-blocking) and waits while it is held;
- ``<db>-writing``: held exclusively by a normal writer through its transaction; an urgent
  writer waits for it, blocked in a thread and woken by the kernel at the release, before it
  begins, so it does not depend on the busy handler's sleeps.

On PostgreSQL (row locks, no single writer) there is no queue: only the dispatcher yielding to
this process's pending pushes between its deliveries, since there they compete for the CPU and
the event loop, not for a lock.

The periodic jobs (``omniretail.jobs``) are normal writers too: they run inside
``background_writes()``, and each unit of work they open that may write takes a normal turn
(``WriterTurns.background_turn``, entered by the unit of work itself), so their writes also
queue behind the pushes instead of in SQLite's busy handler. Per unit of work, not per job: a
job of many units of work lets a push in between two of them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import enum
import fcntl
import os
from collections.abc import AsyncIterator, Callable, Iterator

# How often a normal writer looks again whether the urgent ones are done, and for how long at
# most it lets them go first.
POLL_SECONDS = 0.001
MAX_YIELD_SECONDS = 0.25


class _Writer(enum.Enum):
    FOREGROUND = enum.auto()  # requests and the like: their units of work take no turn
    BACKGROUND = enum.auto()  # inside background_writes(): each unit of work takes a turn
    IN_TURN = enum.auto()  # a background unit of work holds its turn (nested ones take none)


_writer: contextvars.ContextVar[_Writer] = contextvars.ContextVar(
    "omni_writer", default=_Writer.FOREGROUND
)


@contextlib.contextmanager
def background_writes() -> Iterator[None]:
    """The units of work opened inside (in this task and the tasks it starts) that may
    write each take a normal turn: a periodic job's writes go after the platform pushes."""
    token = _writer.set(_Writer.BACKGROUND)
    try:
        yield
    finally:
        _writer.reset(token)


class WriterTurns:
    """The turns of one database in this process (see the module docstring). ``path``: the
    SQLite database file (lock files beside it), or None (PostgreSQL, or an in-memory SQLite:
    nothing to share with another process)."""

    def __init__(self, *, exclusive: bool, path: str | None) -> None:
        self.exclusive = exclusive
        self.max_yield = MAX_YIELD_SECONDS
        self._urgent = 0  # this process's pending urgent writers
        self._urgent_done: list[asyncio.Future[None]] = []  # normal writers waiting for 0
        self._held = False
        self._queues: tuple[collections.deque[asyncio.Future[None]], ...] = (
            collections.deque(),
            collections.deque(),
        )
        self._urgent_path = f"{path}-urgent" if path else None
        self._writing_path = f"{path}-writing" if path else None
        self._urgent_fd: int | None = None  # held shared while self._urgent > 0
        self._probe_fd: int | None = None  # a normal writer's test of <db>-urgent
        self._writing_fd: int | None = None  # a normal writer's hold of <db>-writing

    # -- what a writer calls -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def turn(self, *, urgent: bool) -> AsyncIterator[None]:
        """Wrap a writer's whole unit of work."""
        if urgent:
            async with self._pending(), self._local_turn(urgent=True):
                if self.exclusive:
                    await self._wait_writing_done()
                yield
            return
        await self.yield_to_urgent()
        async with self._local_turn(urgent=False), self._writing():
            yield

    def background_turn(self) -> contextlib.AbstractAsyncContextManager[None] | None:
        """A normal turn for a unit of work that may write, opened inside
        ``background_writes()`` and not inside another such unit of work's turn (which would
        wait for itself); None otherwise (nothing to take)."""
        if _writer.get() is not _Writer.BACKGROUND:
            return None
        return self._background_turn()

    @contextlib.asynccontextmanager
    async def _background_turn(self) -> AsyncIterator[None]:
        async with self.turn(urgent=False):
            token = _writer.set(_Writer.IN_TURN)
            try:
                yield
            finally:
                _writer.reset(token)

    def urgent_pending(self) -> bool:
        """Whether an urgent writer (of this process, or on SQLite of any process on this
        machine) waits or writes: a normal writer's cue to end its transaction early."""
        return self._urgent > 0 or (self.exclusive and self._others_urgent())

    async def yield_to_urgent(self) -> None:
        """Wait until no urgent writer is pending, ``max_yield`` seconds at most."""
        if not self.urgent_pending():
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_yield
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                while self.urgent_pending():
                    if self._urgent > 0:
                        done = loop.create_future()
                        self._urgent_done.append(done)
                        try:
                            await done
                        finally:
                            with contextlib.suppress(ValueError):
                                self._urgent_done.remove(done)
                    else:
                        await asyncio.sleep(POLL_SECONDS)

    def close(self) -> None:
        for fd in (self._urgent_fd, self._probe_fd, self._writing_fd):
            if fd is not None:
                os.close(fd)
        self._urgent_fd = self._probe_fd = self._writing_fd = None

    # -- this process --------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _pending(self) -> AsyncIterator[None]:
        self._urgent += 1
        if self._urgent == 1 and self._urgent_path is not None and self.exclusive:
            await self._hold_urgent_file()
        try:
            yield
        finally:
            self._urgent -= 1
            if self._urgent == 0:
                if self._urgent_fd is not None:
                    fcntl.flock(self._urgent_fd, fcntl.LOCK_UN)
                for done in self._urgent_done:
                    if not done.done():
                        done.set_result(None)

    @contextlib.asynccontextmanager
    async def _local_turn(self, *, urgent: bool) -> AsyncIterator[None]:
        """One writer at a time on SQLite, urgent ones first, each kind in arrival order."""
        if not self.exclusive:
            yield
            return
        if self._held or any(self._queues):
            waiter = asyncio.get_running_loop().create_future()
            queue = self._queues[0 if urgent else 1]
            queue.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._hand_over()  # given the turn as it was cancelled: pass it on
                else:
                    queue.remove(waiter)
                raise
        else:
            self._held = True
        try:
            yield
        finally:
            self._hand_over()

    def _hand_over(self) -> None:
        for queue in self._queues:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the turn passes on: still held
                    return
        self._held = False

    # -- other processes (SQLite files) --------------------------------------------------------

    async def _hold_urgent_file(self) -> None:
        assert self._urgent_path is not None
        if self._urgent_fd is None:
            self._urgent_fd = os.open(self._urgent_path, os.O_RDWR | os.O_CREAT, 0o600)
        # Only a normal writer's instant test holds it exclusively: retry until it lets go.
        while True:
            try:
                fcntl.flock(self._urgent_fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                await asyncio.sleep(0)

    def _others_urgent(self) -> bool:
        if self._urgent_path is None:
            return False
        if self._probe_fd is None:
            self._probe_fd = os.open(self._urgent_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._probe_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._probe_fd, fcntl.LOCK_UN)
        return False

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        if self._writing_path is None or not self.exclusive:
            yield
            return
        if self._writing_fd is None:
            self._writing_fd = os.open(self._writing_path, os.O_RDWR | os.O_CREAT, 0o600)
        fd = self._writing_fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Another process's dispatcher writes: wait for it (rare: one applies at a time).
            await _flock_in_thread(fd, fcntl.LOCK_EX, then=lambda: fcntl.flock(fd, fcntl.LOCK_UN))
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    async def _wait_writing_done(self) -> None:
        """Until no normal writer of any process holds its transaction open."""
        if self._writing_path is None:
            return
        fd = os.open(self._writing_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            # Cancelled, the fd is closed once the thread has the lock (closing lets go).
            await _flock_in_thread(fd, fcntl.LOCK_SH, then=lambda: os.close(fd))
        os.close(fd)  # closing lets go of the shared hold


async def _flock_in_thread(fd: int, operation: int, *, then: Callable[[], None]) -> None:
    """A blocking ``flock`` off the event loop. Cancelled, the thread still ends when the lock
    comes; ``then`` lets go of it."""
    loop = asyncio.get_running_loop()
    waiting = loop.run_in_executor(None, fcntl.flock, fd, operation)
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        waiting.add_done_callback(lambda _: then())
        raise
