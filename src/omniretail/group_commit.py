"""Group commit: concurrent units of work on one hot row share one transaction and one commit.

Requests that hold stock on the same position queue behind each other on its row lock, and each
holds the lock through its own commit (a WAL flush). Inside one process, :class:`GroupCommit`
instead gathers the requests that arrive while a batch is being written and runs the next batch
as one transaction: each request's work in its own savepoint (so one request's failure, say a
409 for short stock, undoes only its own writes), then one commit, then each outcome (result or
error) fanned back to its request. The row is locked once per batch, not once per request.

A batch may also share what its requests draw on (:class:`Shared`, say one stock position).
Run without savepoints, the requests draw on credit and the batch takes what they drew once, at
the end, just before the commit (one conditional UPDATE of the position): the hot row is then
locked only by that statement and the commit, not while the requests' own statements run, so
another process's batch waits that long only. If it is not there, the attempt is rolled back
and the batch run carefully (below). Run with savepoints, the batch takes the sum of its
requests' amounts first, each request draws on it, and what was not drawn is given back after
them; all in the batch's transaction. A request may also give its work as data (``together``):
run without savepoints, the batch's requests that do are done at once by ``Shared.run_together``
(say one statement for all their holds) before the others run their own ``work``.

Savepoints cost two round trips a request and are needed only when a request fails. So a batch
is first run without them; if a request fails (or what the requests drew is not there), that
attempt is rolled back whole and the batch is run again with a savepoint per request, each
running its own ``work`` (and so are the key's next batches, until one has no failure: a sold
out SKU fails every batch). A lone request never needs one: its error rolls back only its own
writes.

Nothing is reported before the commit: a request's result is released only once the whole
batch is durable; if the commit fails, every request of the batch gets the error and nothing of
it stays written.

Batches of one key overlap (``depth``, PostgreSQL): while a batch's statements and its COMMIT
(a WAL flush) are in flight, the requests that arrive meanwhile form the next batch at once, on
another connection, instead of waiting for the commit with the process idle. Two batches of a
key in flight meet only on the hot row, which a late batch takes with its last statement: the
second waits there for the first's commit and its conditional statement then reads the row's
committed version, exactly as a batch of another process does (the batches commit one after
the other, so exactly the requests that fit one at a time in that order win). A careful batch
holds the row from its first statement on, so a key whose batches are careful runs one at a
time, and a careful attempt first waits for the key's batches begun before it (which hold
nothing it waits on in this process): a careful batch never holds the row while waiting for
one of its own requests' rows that a late batch of this process holds (an Idempotency-Key sent
twice at once). On SQLite (one writer) and for the groups that take writer turns
(``turns``, the platform pushes, whose messages apply in arrival order) ``depth`` is 1. So it
is by default on PostgreSQL too (``DEPTH``): on the 2-core machine, where the API processes,
the server and the load share the cores, depth 2 measured slower for till sales and holds (the
second batch had no idle CPU to use and waited on the row; docs/architecture.md).

Each request's ``work`` runs in its own request's context (``contextvars``: its log fields,
its request id and tenant), not the batch writer's.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from omniretail.db import Database, UnitOfWork

MAX_BATCH = 64
# Batches of one key in flight at once on PostgreSQL: 2 measured slower on 2 cores (docstring).
DEPTH = 1

Work = Callable[[UnitOfWork], Awaitable[Any]]


class Shared(Protocol):
    """What a batch's requests draw on, taken once per batch (``inventory.batch_holds.BatchHold``,
    ``inventory.batch_sales.BatchSale``)."""

    async def open(self, uow: UnitOfWork, total: int, *, late: bool) -> None:
        """Before the requests run. ``late`` (a batch run without savepoints): take nothing
        yet, the requests draw on credit. Otherwise take ``total`` (the sum of the requests'
        amounts), or nothing, in which case each request fends for itself."""

    async def run_together(self, uow: UnitOfWork, items: list[Any]) -> list[Any]:
        """Late only: the work of several requests given as data (their ``together``), done
        at once (say one statement for all); one result per item, or raise (the batch is then
        run again the careful way, each request's ``work`` in its savepoint)."""

    async def close(self, uow: UnitOfWork) -> None:
        """After the requests ran, just before the commit: ``late``, take what the requests
        drew, or raise if it is not there (the batch is then run again with savepoints);
        otherwise give back what was not drawn."""


@dataclass(slots=True)
class _Pending:
    tenant_id: int
    work: Work
    shared: Shared | None = None
    amount: int = 0
    together: Any = None
    outcome: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    # The request's context (log fields, ...): its ``work`` runs in it, not the writer's.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


@dataclass(slots=True, eq=False)
class _Lane:
    """One key: the requests queued for a batch not begun yet, and its writers."""

    queue: list[_Pending] = field(default_factory=list)
    writers: set[asyncio.Task[None]] = field(default_factory=set)
    # The batches begun and not done yet, oldest first (each resolved once done).
    flights: list[asyncio.Future[None]] = field(default_factory=list)
    starting: asyncio.Task[None] | None = None  # a writer that has not taken its batch yet


class GroupCommit:
    """Batches of units of work per key (e.g. one stock position), up to ``depth`` batches of
    a key in flight at once."""

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = MAX_BATCH,
        turns: bool = False,
        depth: int | None = None,
    ) -> None:
        """``turns``: each batch takes an urgent turn (``Database.writer_turn``): the outbox
        dispatcher's deliveries let it go first (and on SQLite it queues for the write lock
        there instead of in SQLite's busy handler). ``depth``: batches of one key in flight
        at once (default: ``DEPTH`` on PostgreSQL without ``turns``, otherwise 1)."""
        self.db = db
        self.max_batch = max_batch
        self.turns = turns
        if depth is None:
            depth = 1 if turns or db.is_sqlite else DEPTH
        self.depth = max(depth, 1)
        self._lanes: dict[Hashable, _Lane] = {}
        # Keys whose last batch had a failing request: their batches use savepoints at once
        # (and run one at a time).
        self._careful: dict[Hashable, bool] = {}
        self.batches = 0  # committed transactions, for tests and figures

    def waiting(self) -> int:
        """Requests queued for a batch not begun yet (for tests)."""
        return sum(len(lane.queue) for lane in self._lanes.values())

    def writing(self) -> int:
        """Keys with a batch being written (for tests)."""
        return sum(1 for lane in self._lanes.values() if lane.flights)

    def in_flight(self) -> int:
        """Batches being written, all keys together (for tests)."""
        return sum(len(lane.flights) for lane in self._lanes.values())

    async def run(
        self,
        key: Hashable,
        *,
        tenant_id: int,
        work: Work,
        shared: Shared | None = None,
        amount: int = 0,
        together: Any = None,
    ) -> Any:
        """Run ``work`` in a unit of work of ``tenant_id`` shared with the other requests on
        ``key``; return its result (or raise its error) once that unit of work has committed.
        ``shared`` (the same for every request on ``key``) is opened for the sum of the batch's
        ``amount``s when the batch has more than one request. ``together``: the same work as
        data, for ``shared.run_together`` to do with the batch's other requests that give one
        (the result is then what ``run_together`` gave for it, not what ``work`` returns).
        ``work`` runs in the caller's context (a copy taken now)."""
        pending = _Pending(tenant_id, work, shared, amount, together)
        lane_key = (tenant_id, key)
        lane = self._lanes.get(lane_key)
        if lane is None:
            lane = self._lanes[lane_key] = _Lane()
        lane.queue.append(pending)
        self._start_writer(lane_key, lane)
        return await asyncio.shield(pending.outcome)

    def _start_writer(self, key: Hashable, lane: _Lane) -> None:
        """A writer for the lane's queue, unless one is about to take it or the key has its
        ``depth`` of batches in flight (one only while the key is careful)."""
        if lane.starting is not None or not lane.queue:
            return
        if lane.writers and (len(lane.writers) >= self.depth or self._careful.get(key, False)):
            return
        task = lane.starting = asyncio.create_task(self._drain(key, lane))
        lane.writers.add(task)
        # A task cancelled before it began never runs its ``finally``.
        task.add_done_callback(lambda done: self._writer_done(key, lane, done))

    def _writer_done(self, key: Hashable, lane: _Lane, task: asyncio.Task[None]) -> None:
        """Called at once when a writer ends (from its ``finally``: a request queued after
        would otherwise count it as in flight and wait for nobody)."""
        if task not in lane.writers:
            return
        lane.writers.discard(task)
        if lane.starting is task:  # cancelled before it began
            lane.starting = None
        if lane.writers:
            return  # they take what is queued once their batch is done
        if self._lanes.get(key) is lane:
            del self._lanes[key]
        # The last writer was cancelled (shutdown) with requests still queued: nobody will run
        # them (a writer that ends on its own leaves the queue empty).
        self._fail(lane.queue, RuntimeError("group commit stopped"))
        lane.queue.clear()

    async def _drain(self, key: Hashable, lane: _Lane) -> None:
        lane.starting = None
        try:
            while lane.queue:
                batch, lane.queue = lane.queue[: self.max_batch], lane.queue[self.max_batch :]
                earlier = list(lane.flights)
                flight = asyncio.get_running_loop().create_future()
                lane.flights.append(flight)
                # What is left, or what arrives while this batch is written, may begin beside
                # it.
                self._start_writer(key, lane)
                try:
                    await self._commit(key, batch, earlier)
                finally:
                    lane.flights.remove(flight)
                    flight.set_result(None)
        finally:
            task = asyncio.current_task()
            assert task is not None
            self._writer_done(key, lane, task)

    async def _commit(
        self, key: Hashable, batch: list[_Pending], earlier: list[asyncio.Future[None]]
    ) -> None:
        outcomes: list[tuple[bool, Any]] | None = None
        if len(batch) == 1:
            # Alone, a request needs no savepoint: its error rolls back only its own writes.
            try:
                outcomes = await self._attempt(batch, savepoints=False)
            except _RequestFailed as failed:
                outcomes = [(False, failed.error)]
            except BaseException as exc:
                self._fail(batch, exc)
                if not isinstance(exc, Exception):
                    raise
                return
        elif not self._careful.get(key, False):
            try:
                outcomes = await self._attempt(batch, savepoints=False)
            except _RequestFailed:
                # Nothing of the attempt stays: the batch again, each request in a savepoint,
                # and the next batches too until one goes through without a failure (a sold
                # out SKU refuses every batch: it should not pay for two attempts each).
                self._careful[key] = True
            except BaseException as exc:
                if not isinstance(exc, Exception):
                    self._fail(batch, exc)
                    raise
                # The commit itself failed: the careful attempt below tells each request.
        if outcomes is None:
            try:
                # The key's batches begun before this one go first: a careful batch holds the
                # hot row from its first statement, and must not wait on their rows meanwhile.
                await _done(earlier)
                outcomes = await self._attempt(batch, savepoints=True)
            except BaseException as exc:
                # The commit failed or the writer was cancelled: nothing of the batch was
                # written.
                self._fail(batch, exc)
                if not isinstance(exc, Exception):
                    raise
                return
            if all(ok for ok, _ in outcomes):
                self._careful.pop(key, None)
        self.batches += 1
        for pending, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                pending.outcome.set_result(value)
            else:
                pending.outcome.set_exception(value)

    async def _attempt(self, batch: list[_Pending], *, savepoints: bool) -> list[tuple[bool, Any]]:
        """One transaction for the batch. With ``savepoints`` each request runs in its own and
        a request's error is its outcome; without, the requests run straight in the
        transaction (two round trips fewer each) and the first error rolls the whole attempt
        back (``_RequestFailed``)."""
        outcomes: list[tuple[bool, Any]] = []
        turn = self.db.writer_turn(urgent=True) if self.turns else contextlib.nullcontext()
        async with turn, self.db.uow(batch[0].tenant_id) as uow:
            shared = batch[0].shared if len(batch) > 1 else None
            if shared is not None:
                await shared.open(uow, sum(p.amount for p in batch), late=not savepoints)
            together = {} if shared is None or savepoints else await _together(uow, shared, batch)
            for pending in batch:
                if id(pending) in together:
                    outcomes.append((True, together[id(pending)]))
                    continue
                if not savepoints:
                    try:
                        outcomes.append((True, await _work(pending, uow)))
                    except Exception as exc:
                        raise _RequestFailed(exc) from exc
                    continue
                try:
                    async with uow.session.begin_nested():
                        outcomes.append((True, await _work(pending, uow)))
                except Exception as exc:
                    outcomes.append((False, exc))
            if shared is not None:
                try:
                    await shared.close(uow)
                except Exception as exc:
                    if savepoints:
                        raise
                    # What the requests drew on credit is not there (or could not be taken):
                    # the batch again the careful way, which tells each request its own outcome.
                    raise _RequestFailed(exc) from exc
        return outcomes

    @staticmethod
    def _fail(batch: list[_Pending], exc: BaseException) -> None:
        failure = exc if isinstance(exc, Exception) else RuntimeError("group commit stopped")
        for pending in batch:
            if not pending.outcome.done():
                pending.outcome.set_exception(failure)


async def _work(pending: _Pending, uow: UnitOfWork) -> Any:
    """The request's ``work``, run in its own context (a task of its own: each step of a
    coroutine runs in the context of the task that runs it). Cancelling the writer cancels it."""

    async def work() -> Any:
        return await pending.work(uow)

    return await asyncio.create_task(work(), context=pending.context)


async def _done(flights: list[asyncio.Future[None]]) -> None:
    """Until each of ``flights`` (batches begun earlier) is done."""
    for flight in flights:
        await asyncio.shield(flight)


async def _together(uow: UnitOfWork, shared: Shared, batch: list[_Pending]) -> dict[int, Any]:
    """The results of the batch's requests done at once by its ``shared``, by the request's
    id (none unless two or more requests give their work as data)."""
    given = [pending for pending in batch if pending.together is not None]
    if len(given) < 2:
        return {}
    try:
        results = await shared.run_together(uow, [pending.together for pending in given])
    except Exception as exc:
        raise _RequestFailed(exc) from exc
    return {id(pending): result for pending, result in zip(given, results, strict=True)}


class _RequestFailed(Exception):
    """A request of a batch run without savepoints failed: the attempt is rolled back."""

    def __init__(self, error: Exception) -> None:
        super().__init__(repr(error))
        self.error = error


_groups: weakref.WeakKeyDictionary[Database, GroupCommit] = weakref.WeakKeyDictionary()
_turn_groups: weakref.WeakKeyDictionary[Database, GroupCommit] = weakref.WeakKeyDictionary()


def group_commit(db: Database, *, turns: bool = False) -> GroupCommit:
    """The process's group commit on ``db`` (``turns``: the one whose batches take urgent turns
    before the outbox dispatcher's deliveries, see ``GroupCommit``)."""
    groups = _turn_groups if turns else _groups
    found = groups.get(db)
    if found is None:
        found = groups[db] = GroupCommit(db, turns=turns)
    return found
