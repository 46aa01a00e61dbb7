"""Group commit: concurrent units of work on one hot row share one transaction and one commit.

Requests that hold stock on the same position queue behind each other on its row lock, and each
holds the lock through its own commit (a WAL flush). Inside one process, :class:`GroupCommit`
instead gathers the requests that arrive while a batch is being written and runs the next batch
as one transaction: each request's work in its own savepoint (so one request's failure, say a
409 for short stock, undoes only its own writes), then one commit, then each outcome (result or
error) fanned back to its request. The row is locked once per batch, not once per request.

A batch may also share what its requests draw on (:class:`Shared`): taken once for the batch
before the requests run (say one conditional UPDATE holding the sum of the batch's quantities on
one stock position), drawn on by each request, and settled once after them (what was not drawn
given back), all in the batch's transaction.

Nothing is reported before the commit: a request's result is released only once the whole
batch is durable; if the commit fails, every request of the batch gets the error and nothing of
it stays written.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from omniretail.db import Database, UnitOfWork

MAX_BATCH = 64

Work = Callable[[UnitOfWork], Awaitable[Any]]


class Shared(Protocol):
    """What a batch's requests draw on, taken once per batch (``inventory.positions.BatchHold``)."""

    async def open(self, uow: UnitOfWork, total: int) -> None:
        """Before the requests run: take ``total`` (the sum of the requests' amounts), or
        nothing, in which case each request fends for itself."""

    async def close(self, uow: UnitOfWork) -> None:
        """After the requests ran, before the commit: settle what was not drawn."""


@dataclass(slots=True)
class _Pending:
    tenant_id: int
    work: Work
    shared: Shared | None = None
    amount: int = 0
    outcome: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit:
    """Batches of units of work per key (e.g. one stock position), one batch at a time per key."""

    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH, turns: bool = False) -> None:
        """``turns``: each batch takes its turn at SQLite's write lock (``Database.writer_turn``)
        with the outbox dispatcher's deliveries."""
        self.db = db
        self.max_batch = max_batch
        self.turns = turns
        self._queues: dict[Hashable, list[_Pending]] = {}
        self._writers: dict[Hashable, asyncio.Task[None]] = {}
        self.batches = 0  # committed transactions, for tests and figures

    async def run(
        self,
        key: Hashable,
        *,
        tenant_id: int,
        work: Work,
        shared: Shared | None = None,
        amount: int = 0,
    ) -> Any:
        """Run ``work`` in a unit of work of ``tenant_id`` shared with the other requests on
        ``key``; return its result (or raise its error) once that unit of work has committed.
        ``shared`` (the same for every request on ``key``) is opened for the sum of the batch's
        ``amount``s when the batch has more than one request."""
        pending = _Pending(tenant_id, work, shared, amount)
        self._queues.setdefault((tenant_id, key), []).append(pending)
        if (tenant_id, key) not in self._writers:
            task = asyncio.create_task(self._drain((tenant_id, key)))
            self._writers[(tenant_id, key)] = task
        return await asyncio.shield(pending.outcome)

    async def _drain(self, key: Hashable) -> None:
        try:
            while queue := self._queues.get(key):
                batch, self._queues[key] = queue[: self.max_batch], queue[self.max_batch :]
                await self._commit(batch)
        finally:
            del self._writers[key]
            self._queues.pop(key, None)

    async def _commit(self, batch: list[_Pending]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        turn = self.db.writer_turn() if self.turns else contextlib.nullcontext()
        try:
            async with turn, self.db.uow(batch[0].tenant_id) as uow:
                shared = batch[0].shared if len(batch) > 1 else None
                if shared is not None:
                    await shared.open(uow, sum(p.amount for p in batch))
                for pending in batch:
                    try:
                        async with uow.session.begin_nested():
                            outcomes.append((True, await pending.work(uow)))
                    except Exception as exc:
                        outcomes.append((False, exc))
                if shared is not None:
                    await shared.close(uow)
        except BaseException as exc:
            # The commit failed or the writer was cancelled: nothing of the batch was written.
            failure = exc if isinstance(exc, Exception) else RuntimeError("group commit stopped")
            for pending in batch:
                if not pending.outcome.done():
                    pending.outcome.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        self.batches += 1
        for pending, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                pending.outcome.set_result(value)
            else:
                pending.outcome.set_exception(value)


_groups: weakref.WeakKeyDictionary[Database, GroupCommit] = weakref.WeakKeyDictionary()
_turn_groups: weakref.WeakKeyDictionary[Database, GroupCommit] = weakref.WeakKeyDictionary()


def group_commit(db: Database, *, turns: bool = False) -> GroupCommit:
    """The process's group commit on ``db`` (``turns``: the one whose batches take turns with
    the outbox dispatcher at SQLite's write lock, see ``GroupCommit``)."""
    groups = _turn_groups if turns else _groups
    found = groups.get(db)
    if found is None:
        found = groups[db] = GroupCommit(db, turns=turns)
    return found
