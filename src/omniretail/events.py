"""Domain events through a transactional outbox.

``record_event`` writes the event in the same transaction as the change it describes, so a
rollback drops it and a commit keeps it even if the process dies the next instant. The
:class:`Dispatcher` delivers stored events to in-process handlers, each event in its own
transaction together with the handler's writes and the "dispatched" mark: a crash before that
commit means the event is delivered again (at least once); handlers must tolerate repeats.
Events of one aggregate are delivered in the order they were recorded: a failing event holds
back the later events of its aggregate until it succeeds or is dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import sqlalchemy as sa
from sqlalchemy import event as orm_event
from sqlalchemy.orm import Mapped, ORMExecuteState, mapped_column

from omniretail.db import (
    Base,
    BigId,
    Database,
    JsonType,
    TenantScoped,
    UnitOfWork,
    UTCDateTime,
    utcnow,
)
from omniretail.scoped import per_dialect

log = logging.getLogger("omniretail.events")

# Any fixed 64-bit number: only one dispatcher per database delivers at a time.
_DISPATCHER_LOCK = 7_130_001


class OutboxEvent(TenantScoped, Base):
    __tablename__ = "outbox_events"
    __table_args__ = (
        sa.Index(
            "ix_outbox_events_pending",
            "id",
            postgresql_where=sa.text("dispatched_at IS NULL AND dead_at IS NULL"),
            sqlite_where=sa.text("dispatched_at IS NULL AND dead_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    aggregate_type: Mapped[str] = mapped_column(sa.String(64))
    aggregate_id: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    dead_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


OUTBOX = cast(sa.Table, OutboxEvent.__table__)
# What a statement that records events itself (INSERT ... SELECT) gives each new event.
OUTBOX_INSERT_COLUMNS = [
    "tenant_id",
    "type",
    "aggregate_type",
    "aggregate_id",
    "payload",
    "occurred_at",
    "attempts",
]


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    tenant_id: int
    type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    occurred_at: dt.datetime


def record_event(
    uow: UnitOfWork,
    type_: str,
    *,
    aggregate_type: str,
    aggregate_id: str | int,
    payload: dict[str, Any],
) -> None:
    """Write a domain event in the unit of work's transaction (see module docstring). It is
    staged and written with the unit of work's other events in one INSERT at its commit (or
    next flush); a savepoint that rolls back drops the events recorded inside it."""
    stage_event(
        uow,
        type_,
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        payload=payload,
        occurred_at=utcnow(),
    )


def stage_event(
    uow: UnitOfWork,
    type_: str,
    *,
    aggregate_type: str,
    aggregate_id: str,
    payload: dict[str, Any],
    occurred_at: dt.datetime,
) -> None:
    """``record_event`` with the time and the aggregate's id given as they are stored."""
    uow.stage_insert(
        OUTBOX,
        {
            "tenant_id": uow.require_tenant(),
            "type": type_,
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "payload": payload,
            "occurred_at": occurred_at,
            "attempts": 0,
        },
    )
    uow.wrote_events = True


async def record_events(
    uow: UnitOfWork,
    type_: str,
    *,
    aggregate_type: str,
    events: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    """Write many events of one type as one multi-row insert (an import's thousands of
    products), in the unit of work's transaction; ``events`` are (aggregate id, payload)."""
    if not events:
        return
    tenant_id, now = uow.require_tenant(), utcnow()
    await uow.session.execute(
        sa.insert(cast(sa.Table, OutboxEvent.__table__)),
        [
            {
                "tenant_id": tenant_id,
                "type": type_,
                "aggregate_type": aggregate_type,
                "aggregate_id": str(aggregate_id),
                "payload": payload,
                "occurred_at": now,
                "attempts": 0,
            }
            for aggregate_id, payload in events
        ],
    )
    uow.wrote_events = True


async def kept_events(
    uow: UnitOfWork, types: Collection[str], *, batch: int
) -> AsyncIterator[list[Event]]:
    """The unit of work's tenant's kept events of ``types``, oldest first, ``batch`` at a time:
    what a projection replays when it is rebuilt from scratch."""
    after = 0
    while True:
        rows = (
            await uow.session.execute(
                sa.select(
                    OutboxEvent.id,
                    OutboxEvent.tenant_id,
                    OutboxEvent.type,
                    OutboxEvent.aggregate_type,
                    OutboxEvent.aggregate_id,
                    OutboxEvent.payload,
                    OutboxEvent.occurred_at,
                )
                .where(OutboxEvent.type.in_(types), OutboxEvent.id > after)
                .order_by(OutboxEvent.id)
                .limit(batch)
            )
        ).all()
        if not rows:
            return
        yield [Event(*row) for row in rows]
        after = rows[-1].id


Handler = Callable[[UnitOfWork, Event], Awaitable[None]]


class EventRelay(Protocol):
    """Where events also go past this process (NATS JetStream, see ``omniretail.relay``)."""

    async def publish(self, events: Sequence[Event]) -> None: ...


BatchHandler = Callable[[UnitOfWork, list[Event]], Awaitable[None]]


class HandlerRegistry:
    """Which handlers an event type goes to; built at start-up, not at import."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._batch_handlers: dict[str, list[BatchHandler]] = {}
        self._group_handlers: dict[str, list[BatchHandler]] = {}

    def subscribe(self, event_type: str, handler: Handler) -> None:
        """``event_type`` ``"*"`` receives every event."""
        if event_type in self._batch_handlers:
            raise ValueError(f"{event_type} has batch handlers")
        self._handlers.setdefault(event_type, []).append(handler)

    def subscribe_batch(self, event_type: str, handler: BatchHandler) -> None:
        """``handler`` receives all of a tenant's pending events of this type found in one
        dispatcher pass, in one transaction (a burst of stock changes coalesced into one
        delivery). Only for a type whose events need no per-aggregate order among other
        types' events, and that has no per-event handler. Several batch handlers of one type
        run one after the other in that one transaction."""
        if event_type in self._handlers or event_type in self._group_handlers or event_type == "*":
            raise ValueError(f"{event_type} has per-event handlers")
        self._batch_handlers.setdefault(event_type, []).append(handler)

    def subscribe_group(self, event_type: str, handler: BatchHandler) -> None:
        """``handler`` takes a dispatcher group's delivered events at once: the events of the
        types it is subscribed to whose per-event handlers succeeded (its aggregate not held
        back), in id order, after them, in the group's transaction. It must give what it
        would give called once per event in that order (so a projection can write them in a
        few set-based statements); when it fails, the group is delivered again event by event
        and it is called with one event at a time (so are other consumers, see
        :meth:`handlers_for`)."""
        if event_type in self._batch_handlers or event_type == "*":
            raise ValueError(f"{event_type} has batch handlers")
        self._group_handlers.setdefault(event_type, []).append(handler)

    def copy_into(self, other: HandlerRegistry) -> None:
        """Subscribe this registry's handlers in ``other`` too (registries built per group)."""
        for event_type, handlers in self._handlers.items():
            for handler in handlers:
                other.subscribe(event_type, handler)
        for event_type, group_handlers in self._group_handlers.items():
            for group_handler in group_handlers:
                other.subscribe_group(event_type, group_handler)
        for event_type, batch_handlers in self._batch_handlers.items():
            for batch_handler in batch_handlers:
                other.subscribe_batch(event_type, batch_handler)

    def batch_types(self) -> list[str]:
        """The event types delivered in batches (none when a catch-all handler is subscribed)."""
        if "*" in self._handlers:
            return []
        return sorted(self._batch_handlers)

    def event_types(self) -> list[str]:
        """The event types with a handler (``"*"`` included when something takes every event)."""
        return sorted({*self._handlers, *self._batch_handlers, *self._group_handlers})

    def handlers_for(self, event_type: str) -> list[Handler]:
        """Every handler of one event on its own: the group handlers called with just it."""
        return self.each_event_handlers_for(event_type) + [
            _one_at_a_time(handler) for handler in self._group_handlers.get(event_type, [])
        ]

    def each_event_handlers_for(self, event_type: str) -> list[Handler]:
        """The handlers that take one event (not those subscribed with ``subscribe_group``)."""
        return self._handlers.get(event_type, []) + self._handlers.get("*", [])

    def group_deliveries(self, events: list[Event]) -> list[tuple[BatchHandler, list[Event]]]:
        """Each group handler with its share of ``events`` (in their order), in the order the
        handlers were first subscribed."""
        shares: dict[BatchHandler, list[Event]] = {}
        for handlers in self._group_handlers.values():
            for handler in handlers:
                shares.setdefault(handler, [])
        for event in events:
            for handler in self._group_handlers.get(event.type, []):
                shares[handler].append(event)
        return [(handler, share) for handler, share in shares.items() if share]

    def batch_handler_for(self, event_type: str) -> BatchHandler | None:
        if "*" in self._handlers:
            return None  # a catch-all handler wants every event one by one
        handlers = self._batch_handlers.get(event_type)
        if not handlers:
            return None
        if len(handlers) == 1:
            return handlers[0]

        async def every_handler(uow: UnitOfWork, events: list[Event]) -> None:
            for handler in handlers:
                await handler(uow, events)

        return every_handler


class _RedoCarefully(Exception):
    """An event's handler failed in a group delivered without savepoints: the group's
    transaction rolls back as a whole and the group is delivered again, event by event in
    savepoints, with that event counted as failed (not run again)."""

    def __init__(self, event_id: int, error: Exception) -> None:
        super().__init__(event_id, error)
        self.event_id = event_id
        self.error = error


class _Preempted(BaseException):
    """Raised at an event's next statement when a platform push waits for the write lock the
    delivery holds (SQLite): the event's savepoint rolls back and it is delivered again after
    the push. A BaseException, so that a handler's ``except Exception`` does not take it for
    its own failure."""


def freeze_start_up_heap() -> None:
    """Move what the process built before its first pass or request (modules, mappers,
    routes: hundreds of thousands of objects that live as long as it does) out of the
    collector's reach. A full collection otherwise walks them all: 150-200+ ms with the event
    loop stopped, seen as the longest acknowledgements of platform pushes in the same process,
    and about 0.15 ms of CPU per till checkout of an API process spread over its requests."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def _one_at_a_time(handler: BatchHandler) -> Handler:
    async def deliver_one(uow: UnitOfWork, event: Event) -> None:
        await handler(uow, [event])

    return deliver_one


# Events per dispatcher group on SQLite (on PostgreSQL a group is the whole batch).
SQLITE_GROUP_SIZE = 50


class Dispatcher:
    def __init__(
        self,
        db: Database,
        registry: HandlerRegistry,
        *,
        batch_size: int = 200,
        group_size: int | None = None,
        max_attempts: int = 10,
        relay: EventRelay | None = None,
    ) -> None:
        self.db = db
        self.relay = relay
        self.registry = registry
        self.batch_size = batch_size
        # Per-event deliveries sharing one transaction: bounds how long a group holds the
        # rows its handlers lock (and, on SQLite, the write lock every writer waits for). On
        # PostgreSQL a whole batch: a group's fixed statements (the tenant, the subscriptions,
        # the projections' upserts, the commit) cost the in-process dispatcher about a tenth
        # of a till sale's API CPU in groups of 50. The rows it locks for longer (tens of
        # milliseconds) are rollups and a customer's points and profile, never a stock row.
        if group_size is None:
            group_size = batch_size if db.dialect == "postgresql" else SQLITE_GROUP_SIZE
        self.group_size = group_size
        self.max_attempts = max_attempts
        self._wake = asyncio.Event()
        # A pass that has delivered for this long starts over when a commit woke it, so that
        # a new batched event (a stock change on its way to a platform) does not wait behind
        # the rest of a long pass of per-event deliveries. Counted inside the groups'
        # transactions: the time a pass lets platform pushes go first is not delivering, and
        # a pass restarted after every event would read its pending events again and again.
        self.restart_after_seconds = 0.05
        self._delivering = 0.0
        # Events whose delivery a waiting push cut short once: not cut short again, so a steady
        # stream of pushes slows the applying down but cannot stop it.
        self._preempted: set[int] = set()

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Deliver what is pending now; returns how many events were marked dispatched."""
        if self.db.dialect != "postgresql":
            return await self._deliver_batch()
        async with self.db.engine.connect() as lock_conn:
            got = await lock_conn.scalar(sa.select(sa.func.pg_try_advisory_lock(_DISPATCHER_LOCK)))
            if not got:
                return 0
            try:
                return await self._deliver_batch()
            finally:
                await lock_conn.scalar(sa.select(sa.func.pg_advisory_unlock(_DISPATCHER_LOCK)))
                await lock_conn.commit()

    async def run_until_idle(self) -> int:
        total = 0
        while (done := await self.run_once()) > 0:
            total += done
        return total

    async def run_forever(
        self, stop: asyncio.Event, poll_seconds: float, linger_seconds: float = 0.0
    ) -> None:
        """Deliver until ``stop``, woken by commits that wrote events or every
        ``poll_seconds``. A long-running process's loop: it first freezes the start-up heap
        (see ``freeze_start_up_heap``). After a wake, and after a pass that found less than a
        batch, it waits ``linger_seconds`` before the next pass: a pass has a fixed cost (the
        lock, the pending read, a transaction and a dozen statements a group), which a pass
        per handful of commits paid for a handful of events (a till-sale backlog drained in
        passes of 20 events took 2.5x the CPU of passes of 200)."""
        freeze_start_up_heap()

        async def linger() -> None:
            if linger_seconds > 0 and not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), linger_seconds)

        while not stop.is_set():
            try:
                # Batch by batch, so that a stop (a server shutting down) waits for one batch
                # at most, not for a backlog of thousands of events.
                while not stop.is_set() and (done := await self.run_once()) > 0:
                    if done < self.batch_size:
                        await linger()
            except Exception:
                log.exception("outbox dispatch pass failed; retrying")
            self._wake.clear()
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waits, timeout=poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waits:
                waiter.cancel()
            await linger()

    async def _deliver_batch(self) -> int:
        self._delivering = 0.0
        self._wake.clear()  # a commit from now on is seen by the check below
        pending = _PENDING
        batched = self.registry.batch_types()
        # Read-only: on SQLite a snapshot without the write lock, which the platform pushes
        # and the deliveries take turns at (columns, not ORM objects: a pass may be read again
        # and again while pushes arrive).
        async with self.db.uow(unscoped=True, read_only=True) as uow:
            rows = list(
                await uow.session.execute(pending.order_by(OUTBOX.c.id).limit(self.batch_size))
            )
            if batched and len(rows) == self.batch_size:
                # Behind a backlog (thousands of follow-up events of an order storm), the
                # batched types (stock changes to push out) are fetched on their own: they
                # need no order relative to the rest, and should not wait for it.
                seen = {row.id for row in rows}
                rows += [
                    row
                    for row in await uow.session.execute(
                        pending.where(OUTBOX.c.type.in_(batched))
                        .order_by(OUTBOX.c.id)
                        .limit(self.batch_size)
                    )
                    if row.id not in seen
                ]
            events = [Event(*row) for row in rows]
        # An event cut short is the oldest pending one, so it is read again here unless
        # something else (another process, the one-by-one fallback) delivered it meanwhile:
        # forget those, or the set would only grow.
        self._preempted.intersection_update(event.id for event in events)
        if self.relay is not None:
            # Before any is marked dispatched: a failure here leaves them all pending.
            await self.relay.publish(events)
        delivered = 0
        held: set[tuple[str, str]] = set()
        silent: list[int] = []
        # Batched types first: they are the latency-bound ones (stock figures to platforms)
        # and need no order relative to other types' events.
        batches: dict[tuple[int, str], list[Event]] = {}
        for event in events:
            if self.registry.batch_handler_for(event.type) is not None:
                batches.setdefault((event.tenant_id, event.type), []).append(event)
        for (_, event_type), batch in batches.items():
            handler = self.registry.batch_handler_for(event_type)
            assert handler is not None
            if await self._deliver_together(batch, handler):
                delivered += len(batch)
        # Per-event types: a tenant's events in groups, each group one transaction with each
        # event in its own savepoint (one commit, one WAL flush, per group instead of per event).
        groups: dict[int, list[Event]] = {}
        for event in events:
            if self.registry.batch_handler_for(event.type) is not None:
                continue
            if not self.registry.handlers_for(event.type):
                silent.append(event.id)
                continue
            groups.setdefault(event.tenant_id, []).append(event)
        chunks = [
            tenant_events[at : at + self.group_size]
            for tenant_events in groups.values()
            for at in range(0, len(tenant_events), self.group_size)
        ]
        for chunk in chunks:
            while chunk:
                if (
                    delivered
                    and self._wake.is_set()
                    and self._delivering > self.restart_after_seconds
                ):
                    break  # the rest stays pending, read again in order by the next pass
                consumed, done = await self._deliver_group(chunk, held)
                delivered += done
                chunk = chunk[consumed:]
            if chunk:
                break
        if silent:
            async with self.db.writer_turn(), self.db.uow(unscoped=True) as uow:
                await uow.session.execute(
                    sa.update(OutboxEvent)
                    .where(OutboxEvent.id.in_(silent))
                    .values(dispatched_at=utcnow())
                )
        return delivered + len(silent)

    async def _deliver_group(
        self,
        group: list[Event],
        held: set[tuple[str, str]],
        *,
        careful: bool = False,
        failed_before: tuple[int, Exception] | None = None,
    ) -> tuple[int, int]:
        """Deliver the start of ``group`` (one tenant's events, in id order) in one
        transaction, each event in its own savepoint with its handlers: a failing event rolls
        back its own savepoint, has its failure counted in the same transaction and holds its
        aggregate's later events back; the others' writes and marks commit together. The
        transaction ends early, between two events, when a platform push waits for its turn
        (``Database.writer_turn``): a push's acknowledgement waits for one event's delivery
        at most, not for a group's. On SQLite, where the push waits for the write lock this
        transaction holds, it does not wait for that one either: the event in progress is cut
        short at its next statement (rolled back to its savepoint, not counted as a failure)
        and delivered again after the push, then without being cut short. If the transaction
        as a whole fails (a lost connection, a failed commit), nothing of it is kept and each
        of its events is delivered again on its own, so a failure is still counted per event.
        Returns how many events of ``group`` it went through (the rest is the caller's) and
        how many it delivered.

        Unless ``careful`` (or on SQLite, where an event may be cut short), the events go
        without savepoints first: a savepoint per event costs its bookkeeping whether or not
        anything fails, and nearly nothing does. When a handler fails there, the transaction
        is rolled back whole and the group goes again carefully, so what is kept and counted
        is the same (``failed_before``: the event that failed and its error)."""
        careful = careful or self.db.turns.exclusive
        done: list[int] = []
        failed: list[tuple[Event, Exception]] = []
        held_before = set(held)
        consumed = 0
        clock = asyncio.get_running_loop().time
        try:
            async with self.db.writer_turn(), self.db.uow(group[0].tenant_id) as uow:
                began = clock()
                cut_short = self._cut_short_for_pushes(uow)
                for event in group:
                    if consumed and self.db.turns.urgent_pending():
                        break
                    consumed += 1
                    aggregate = (event.aggregate_type, event.aggregate_id)
                    if aggregate in held:
                        continue
                    handlers = self.registry.each_event_handlers_for(event.type)
                    if handlers and not careful:
                        try:
                            for handler in handlers:
                                await handler(uow, event)
                        except Exception as exc:
                            raise _RedoCarefully(event.id, exc) from exc
                        done.append(event.id)
                        continue
                    try:
                        if failed_before is not None and failed_before[0] == event.id:
                            raise failed_before[1]
                        if handlers:
                            async with uow.session.begin_nested():
                                with cut_short(event.id):
                                    for handler in handlers:
                                        await handler(uow, event)
                    except _Preempted:
                        self._preempted.add(event.id)
                        consumed -= 1  # the caller's next group starts with it
                        break
                    except Exception as exc:
                        log.warning("event %s (%s) failed: %r", event.id, event.type, exc)
                        held.add(aggregate)
                        failed.append((event, exc))
                        continue
                    done.append(event.id)
                # A group handler that fails fails the group as a whole (delivered again
                # below, event by event).
                delivered_ids = set(done)
                delivered_events = [event for event in group if event.id in delivered_ids]
                for group_handler, share in self.registry.group_deliveries(delivered_events):
                    await group_handler(uow, share)
                if done:
                    await _mark_dispatched(uow, done)
                for event, error in failed:
                    await self._count_failure(uow, event, error)
            self._delivering += clock() - began
            return consumed, len(done)
        except _RedoCarefully as redo:
            held.clear()
            held.update(held_before)
            return await self._deliver_group(
                group, held, careful=True, failed_before=(redo.event_id, redo.error)
            )
        except Exception as whole:
            log.warning("a group of %s events failed as a whole: %r", consumed, whole)
        held.clear()
        held.update(held_before)
        delivered = 0
        for event in group[: max(consumed, 1)]:
            aggregate = (event.aggregate_type, event.aggregate_id)
            if aggregate in held:
                continue
            if await self._deliver(event, self.registry.handlers_for(event.type)):
                delivered += 1
            else:
                held.add(aggregate)
        return max(consumed, 1), delivered

    def _cut_short_for_pushes(
        self, uow: UnitOfWork
    ) -> Callable[[int], contextlib.AbstractContextManager[None]]:
        """Within ``cut_short(event_id)``, a statement of ``uow`` raises ``_Preempted`` when a
        push waits for its turn (SQLite only: on PostgreSQL a push does not wait for this
        transaction), unless that event was cut short once already."""
        current: list[int] = []
        turns = self.db.turns
        if turns.exclusive:

            def check(_: ORMExecuteState) -> None:
                if current and turns.urgent_pending():
                    raise _Preempted

            orm_event.listen(uow.session.sync_session, "do_orm_execute", check)

        @contextlib.contextmanager
        def cut_short(event_id: int) -> Iterator[None]:
            if event_id in self._preempted:
                self._preempted.discard(event_id)
                yield
                return
            current.append(event_id)
            try:
                yield
            finally:
                current.clear()

        return cut_short

    async def _deliver(self, event: Event, handlers: list[Handler]) -> bool:
        try:
            async with self.db.writer_turn(), self.db.uow(event.tenant_id) as uow:
                for handler in handlers:
                    await handler(uow, event)
                await uow.session.execute(
                    sa.update(OutboxEvent)
                    .where(OutboxEvent.id == event.id)
                    .values(dispatched_at=utcnow(), attempts=OutboxEvent.attempts + 1)
                )
            return True
        except Exception as exc:
            log.warning("event %s (%s) failed: %r", event.id, event.type, exc)
            await self._record_failure(event, exc)
            return False

    async def _deliver_together(self, batch: list[Event], handler: BatchHandler) -> bool:
        """One transaction for the whole batch (all of one tenant and type): the handler's
        writes and every event's "dispatched" mark commit together or not at all."""
        try:
            async with self.db.writer_turn(), self.db.uow(batch[0].tenant_id) as uow:
                await handler(uow, batch)
                await _mark_dispatched(uow, [event.id for event in batch])
            return True
        except Exception as exc:
            log.warning("%s events (%s) failed together: %r", len(batch), batch[0].type, exc)
            for event in batch:
                await self._record_failure(event, exc)
            return False

    async def _record_failure(self, event: Event, exc: Exception) -> None:
        async with self.db.writer_turn(), self.db.uow(event.tenant_id) as uow:
            await self._count_failure(uow, event, exc)

    async def _count_failure(self, uow: UnitOfWork, event: Event, exc: Exception) -> None:
        row = await uow.session.get(OutboxEvent, event.id)
        if row is None:
            return
        row.attempts += 1
        row.last_error = repr(exc)[:2000]
        if row.attempts >= self.max_attempts:
            # Dead letter: kept for an operator, no longer holding its aggregate back.
            row.dead_at = utcnow()
            log.error("event %s dead-lettered after %s attempts", event.id, row.attempts)


# Built once (the events' "dispatched" mark is the dispatcher's most frequent write). An
# UPDATE's bind may not be named after a column of its table.
_TENANT_BIND = "tenant"
_MARK_DISPATCHED = per_dialect(
    lambda one_of: (
        sa.update(OUTBOX)
        .where(OUTBOX.c.tenant_id == sa.bindparam(_TENANT_BIND), one_of(OUTBOX.c.id, "ids"))
        .values(
            dispatched_at=sa.bindparam("at", type_=OUTBOX.c.dispatched_at.type),
            attempts=OUTBOX.c.attempts + 1,
        )
    ),
    bind=_TENANT_BIND,
)


async def _mark_dispatched(uow: UnitOfWork, ids: list[int]) -> None:
    await uow.session.execute(
        _MARK_DISPATCHED[uow.dialect],
        {_TENANT_BIND: uow.require_tenant(), "ids": ids, "at": utcnow()},
    )


# In the order of Event's fields: the id, then what an event is recorded with (but attempts).
_EVENT_COLUMNS = (OUTBOX.c.id, *(OUTBOX.c[name] for name in OUTBOX_INSERT_COLUMNS[:-1]))
# Every tenant's pending events (the dispatcher's unscoped read), on the table itself: the
# ORM's per-statement work buys nothing for plain columns.
_PENDING = sa.select(*_EVENT_COLUMNS).where(
    OUTBOX.c.dispatched_at.is_(None), OUTBOX.c.dead_at.is_(None)
)
