"""Where a slow platform push's acknowledgement spends its time (``OMNI_BENCH_TRACE=1`` on
``python -m bench connectors``): a timeline of what happened in the process while pushes were
answered (each push's signature check and its urgent turn's wait, each commit with the kind of
writer that made it, every writer turn, garbage collections, the event loop's lag, WAL
checkpoints), then, for each open-loop push slower than ``OMNI_BENCH_TRACE_MS`` (default 80),
what overlapped it. Diagnosis only: it patches the classes it watches while it is on."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from omniretail import events, writer_turns
from omniretail.connectors import inbound

SLOW_MS = float(os.environ.get("OMNI_BENCH_TRACE_MS", "80"))
_kind: contextvars.ContextVar[str] = contextvars.ContextVar("writer_kind", default="other")
_delivery: contextvars.ContextVar[str] = contextvars.ContextVar("delivery", default="")


@dataclass(slots=True)
class Span:
    what: str
    start: float
    end: float

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000


@dataclass
class Trace:
    spans: list[Span] = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)

    def add(self, what: str, start: float, end: float) -> None:
        self.spans.append(Span(what, start, end))

    def overlapping(self, start: float, end: float, *, at_least_ms: float = 2.0) -> list[Span]:
        return [s for s in self.spans if s.end >= start and s.start <= end and s.ms >= at_least_ms]

    def explain(self, label: str, pushes: list[tuple[float, float]]) -> None:
        """Print what overlapped each push slower than SLOW_MS ((due, answered) pairs)."""
        slow = [(due, done) for due, done in pushes if (done - due) * 1000 > SLOW_MS]
        kinds: dict[str, list[float]] = {}
        for span in self.spans:
            kinds.setdefault(" ".join(span.what.split(" ")[:3]), []).append(span.ms)
        print(f"  trace {label}: {len(slow)} of {len(pushes)} pushes over {SLOW_MS:g} ms")
        for kind, durations in sorted(kinds.items()):
            durations.sort()
            print(
                f"    {kind}: n={len(durations)} max {durations[-1]:.1f} ms, "
                f"p99 {durations[min(len(durations) - 1, int(len(durations) * 0.99))]:.1f} ms"
            )
        for due, done in slow[:6]:
            took = 1000 * (done - due)
            print(f"    push due {1000 * (due - self.t0):.0f} ms took {took:.0f} ms:")
            for span in sorted(self.overlapping(due, done), key=lambda s: s.start)[:25]:
                print(f"      {1000 * (span.start - due):+7.1f} ms {span.ms:6.1f} ms  {span.what}")
        self.spans.clear()


@contextlib.contextmanager
def tracing(enabled: bool) -> Iterator[Trace | None]:
    if not enabled:
        yield None
        return
    trace = Trace()
    undo: list[Callable[[], None]] = []

    def patch(owner: Any, name: str, replacement: Any) -> None:
        original = getattr(owner, name)
        setattr(owner, name, replacement(original))
        undo.append(lambda: setattr(owner, name, original))

    def timed_check(original: Any) -> Any:
        async def check_push(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                trace.add("check_push", started, time.perf_counter())

        return check_push

    def timed_turn(original: Any) -> Any:
        @contextlib.asynccontextmanager
        async def turn(self: Any, *, urgent: bool) -> AsyncIterator[None]:
            kind = "urgent" if urgent else "normal"
            asked = time.perf_counter()
            async with original(self, urgent=urgent):
                got = time.perf_counter()
                trace.add(f"turn-wait {kind}", asked, got)
                token = _kind.set(kind)
                try:
                    yield
                finally:
                    _kind.reset(token)
                    trace.add(f"turn-held {kind} {_delivery.get()}", got, time.perf_counter())

        return turn

    def timed_commit(original: Any) -> Any:
        async def commit(self: Any) -> None:
            started = time.perf_counter()
            try:
                await original(self)
            finally:
                trace.add(f"commit {_kind.get()}", started, time.perf_counter())

        return commit

    def labelled(label: str) -> Callable[[Any], Any]:
        def wrap(original: Any) -> Any:
            async def deliver(*args: Any, **kwargs: Any) -> Any:
                token = _delivery.set(label)
                try:
                    return await original(*args, **kwargs)
                finally:
                    _delivery.reset(token)

            return deliver

        return wrap

    def timed_events(original: Any) -> Any:
        def cut_short_for_pushes(self: Any, uow: Any) -> Any:
            cut_short = original(self, uow)

            @contextlib.contextmanager
            def each(event_id: int) -> Iterator[None]:
                what = "event-again" if event_id in self._preempted else "event"
                started = time.perf_counter()
                outcome = " cut short"
                with cut_short(event_id):
                    yield
                    outcome = ""
                trace.add(f"{what}{outcome}", started, time.perf_counter())

            return each

        return cut_short_for_pushes

    gc_started: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            trace.add(f"gc gen{info['generation']}", gc_started[0], time.perf_counter())

    patch(inbound, "check_push", timed_check)
    patch(writer_turns.WriterTurns, "turn", timed_turn)
    patch(AsyncSession, "commit", timed_commit)
    patch(events.Dispatcher, "_deliver_group", labelled("group"))
    patch(events.Dispatcher, "_deliver_together", labelled("together"))
    patch(events.Dispatcher, "_deliver", labelled("alone"))
    patch(events.Dispatcher, "_cut_short_for_pushes", timed_events)
    gc.callbacks.append(on_gc)
    undo.append(lambda: gc.callbacks.remove(on_gc))
    try:
        yield trace
    finally:
        for step in reversed(undo):
            step()


async def watch_loop(trace: Trace | None, stop: asyncio.Event) -> None:
    """Records each stretch the event loop could not run a 1 ms timer on time (lag > 5 ms)."""
    if trace is None:
        return
    while not stop.is_set():
        asked = time.perf_counter()
        await asyncio.sleep(0.001)
        woke = time.perf_counter()
        if woke - asked > 0.006:
            trace.add("loop-lag", asked + 0.001, woke)
