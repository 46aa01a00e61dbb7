"""Per-request CPU and statements of the hot paths, in process (no server, no load generator).

Each path of ``bench_http`` (plus the price quote and 64 concurrent single-SKU holds, the
group commit's case) is sent N times through ``httpx.ASGITransport`` to an app built by
``create_app``. For each it prints the CPU time this process spent per request (Python: the
app, the driver, and on SQLite the database engine too; on PostgreSQL the server's CPU is not
in it), the SQL statements sent per request (BEGIN/COMMIT/SAVEPOINT not counted) and the
transactions begun per request (a one-statement read on PostgreSQL begins none), and the
statements SQLAlchemy compiled per request (0 in steady state: a statement rebuilt per request
that its compiled cache cannot hold, such as a multi-row ``VALUES``, shows here). CPU
time, unlike wall-clock rates, hardly moves when other processes share the cores, so these
figures compare before/after on a busy machine (the cheapest of three rounds is shown);
``bench_http`` gives the rates.

Environment: ``OMNI_BENCH_REQUESTS`` (per path, default 300), ``OMNI_BENCH_DATABASES``
(``postgresql,sqlite``), ``OMNI_BENCH_PATHS`` (parts of path labels, e.g. ``holds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine.default import CACHE_HIT

from bench.bench_http import SKUS, Path, drop_pg_database, paths, seed
from bench.common import fresh_pg_database, fresh_sqlite_url
from omniretail.app import create_app
from omniretail.config import Settings
from omniretail.db import Database
from omniretail.scoped import inline_reads

REQUESTS = int(os.environ.get("OMNI_BENCH_REQUESTS", "300"))
DATABASES = os.environ.get("OMNI_BENCH_DATABASES", "postgresql,sqlite").split(",")
# Substrings of path labels to run (all when empty), e.g. ``holds``.
ONLY = [p for p in os.environ.get("OMNI_BENCH_PATHS", "").split(",") if p]
DB_NAME = f"omni_bench_cpu_{os.getpid()}"
CONCURRENT_HOLDS = 64
# Till sales of the same three SKUs at one store at once (the till group commit's case).
CONCURRENT_TILLS = 32
ROUNDS = 3
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class Counter:
    """Statements (without transaction control), statements SQLAlchemy had to compile (not
    found in its compiled cache, or not cacheable: a statement built per request that misses
    every time costs milliseconds) and transactions begun, on one engine."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.statements = 0
        self.compiled = 0
        self.transactions = 0

    def statement(self, *args: Any) -> None:
        if not str(args[2]).startswith(CONTROL):
            self.statements += 1
            context = args[4]
            if getattr(context, "compiled", None) is not None and context.cache_hit != CACHE_HIT:
                self.compiled += 1

    def begin(self, conn: sa.Connection) -> None:
        # An AUTOCOMMIT connection (a hot read on PostgreSQL) sends no BEGIN.
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            self.transactions += 1

    def _inline(self) -> int:
        # SQLite's hot reads run past the engine (omniretail.inline_reads): counted apart.
        inline = inline_reads(self.db) if self.db.is_sqlite else None
        return inline.reads if inline is not None else 0

    def __enter__(self) -> Counter:
        sa.event.listen(self.db.engine.sync_engine, "before_cursor_execute", self.statement)
        sa.event.listen(self.db.engine.sync_engine, "begin", self.begin)
        self._inline_before = self._inline()
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.db.engine.sync_engine, "before_cursor_execute", self.statement)
        sa.event.remove(self.db.engine.sync_engine, "begin", self.begin)
        self.statements += self._inline() - self._inline_before


async def send(client: httpx.AsyncClient, path: Path) -> None:
    headers = {"Authorization": f"Bearer {path.key}"} if path.key else {}
    if path.body is None:
        response = await client.get(path.path, headers=headers)
    else:
        response = await client.post(path.path, json=path.body, headers=headers)
    if response.status_code >= 300:
        raise RuntimeError(f"{path.label}: {response.status_code} {response.text[:300]}")


def quote(path: Path) -> Path:
    assert path.key is not None
    return Path(
        "price quote (3 lines)",
        "/v1/price-quotes",
        path.key,
        {"channel": "app", "lines": [{"sku": sku, "qty": 1} for sku in SKUS]},
    )


async def rounds_of(
    db: Database, requests: list[Path], client: httpx.AsyncClient, *, wave: int = 1
) -> tuple[float, Counter]:
    """Send ``requests`` in ROUNDS rounds (``wave`` at a time); the CPU seconds per request of
    the cheapest round (the others were slowed by the machine's other work) and the counts of
    all rounds."""
    per_round = len(requests) // ROUNDS
    best = float("inf")
    with Counter(db) as counter:
        for start in range(0, per_round * ROUNDS, per_round):
            chunk = requests[start : start + per_round]
            started = time.process_time()
            for at in range(0, len(chunk), wave):
                await asyncio.gather(*(send(client, path) for path in chunk[at : at + wave]))
            best = min(best, (time.process_time() - started) / len(chunk))
    return best, counter


async def measure(label: str, url: str) -> None:
    keys = await seed(url)
    db = Database(Settings(database_url=url, run_dispatcher=False))
    app = create_app(db.settings, db=db)
    transport = httpx.ASGITransport(app=app)
    print(f"   {label}: per request: CPU ms (this process), statements, transactions, "
          f"statements compiled; n={REQUESTS}")  # fmt: skip
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            chosen = paths(keys)
            chosen.insert(3, quote(chosen[1]))
            for path in chosen:
                if ONLY and not any(part in path.label for part in ONLY):
                    continue
                await send(client, path)  # warm: principal cache, compiled statements
                cpu, counter = await rounds_of(db, [path] * REQUESTS, client)
                print(f"   {path.label:<34} {cpu * 1000:7.3f} ms "
                      f"{counter.statements / REQUESTS:6.1f} "
                      f"{counter.transactions / REQUESTS:6.2f} "
                      f"{counter.compiled / REQUESTS:6.2f}")  # fmt: skip
            till = next(p for p in chosen if p.label == "3-line in-store checkout")
            for label, path, wave in (
                (f"{CONCURRENT_HOLDS} concurrent holds (1 SKU)", chosen[-1], CONCURRENT_HOLDS),
                (f"{CONCURRENT_TILLS} concurrent in-store checkouts", till, CONCURRENT_TILLS),
            ):
                if ONLY and not any(part in label for part in ONLY):
                    continue
                waves = ROUNDS * max(1, REQUESTS // (wave * ROUNDS))
                cpu, counter = await rounds_of(db, [path] * (waves * wave), client, wave=wave)
                n = waves * wave
                print(f"   {label:<34} "
                      f"{cpu * 1000:7.3f} ms {counter.statements / n:6.1f} "
                      f"{counter.transactions / n:6.2f} {counter.compiled / n:6.2f}")  # fmt: skip
    finally:
        await db.dispose()


async def main() -> None:
    if "postgresql" in DATABASES:
        url = await fresh_pg_database(DB_NAME)
        try:
            await measure("PostgreSQL", url)
        finally:
            with contextlib.suppress(Exception):
                await drop_pg_database(DB_NAME)
    if "sqlite" in DATABASES:
        await measure("SQLite", fresh_sqlite_url())
