"""Per-request CPU and statements of the hot paths, in process (no server, no load generator).

Each path of ``bench_http`` (plus the price quote and 64 concurrent single-SKU holds, the
group commit's case) is sent N times through ``httpx.ASGITransport`` to an app built by
``create_app``. For each it prints the CPU time this process spent per request (Python: the
app, the driver, and on SQLite the database engine too; on PostgreSQL the server's CPU is not
in it), the SQL statements sent per request (BEGIN/COMMIT/SAVEPOINT not counted) and the
transactions begun per request (a one-statement read on PostgreSQL begins none), and the
statements SQLAlchemy compiled per request (0 in steady state: a statement rebuilt per request
that its compiled cache cannot hold, such as a multi-row ``VALUES``, shows here), and on
PostgreSQL the server's CPU per request: the CPU time (user + system, as ``utime + stime``,
read in nanoseconds from ``/proc/<pid>/schedstat``) of the server's backends connected to the
bench's own database, summed before and after each round. That needs the server on this machine
and its processes readable (the bench runs as root beside a local PostgreSQL; elsewhere the
column is blank); the server's shared processes (WAL writer, checkpointer, autovacuum) are not
in it, nor other databases' backends (other runs on the same server). CPU
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


def server_cpu(database: str | None) -> float | None:
    """CPU seconds used so far by the local PostgreSQL backends connected to ``database``
    (their process title names it: ``postgres: <user> <database> <client> <state>``); None
    when there is none to read (no such database, not local, or not readable)."""
    if database is None:
        return None
    needle = f" {database} ".encode()
    total, found = 0, False
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                title = f.read()
            if not title.startswith(b"postgres: ") or needle not in title:
                continue
            with open(f"/proc/{entry.name}/schedstat") as f:
                total += int(f.read().split()[0])  # on-CPU nanoseconds: utime + stime
            found = True
        except (OSError, ValueError, IndexError):
            continue  # the backend ended meanwhile
    return total / 1e9 if found else None


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
) -> tuple[float, Counter, float | None]:
    """Send ``requests`` in ROUNDS rounds (``wave`` at a time); the CPU seconds per request of
    the cheapest round (the others were slowed by the machine's other work), the counts of
    all rounds, and the PostgreSQL server's CPU seconds per request of its cheapest round
    (None on SQLite or when the server's processes cannot be read: see :func:`server_cpu`)."""
    per_round = len(requests) // ROUNDS
    best = float("inf")
    server_best: float | None = None
    database = None if db.is_sqlite else db.engine.url.database
    with Counter(db) as counter:
        for start in range(0, per_round * ROUNDS, per_round):
            chunk = requests[start : start + per_round]
            server_started = server_cpu(database)
            started = time.process_time()
            for at in range(0, len(chunk), wave):
                await asyncio.gather(*(send(client, path) for path in chunk[at : at + wave]))
            best = min(best, (time.process_time() - started) / len(chunk))
            server_ended = server_cpu(database)
            if server_started is not None and server_ended is not None:
                spent = (server_ended - server_started) / len(chunk)
                server_best = spent if server_best is None else min(server_best, spent)
    return best, counter, server_best


def server_column(seconds: float | None) -> str:
    return "" if seconds is None else f" {seconds * 1000:7.3f} ms"


async def measure(label: str, url: str) -> None:
    keys = await seed(url)
    db = Database(Settings(database_url=url, run_dispatcher=False))
    app = create_app(db.settings, db=db)
    transport = httpx.ASGITransport(app=app)
    server_heading = "" if db.is_sqlite else ", server CPU ms"
    print(f"   {label}: per request: CPU ms (this process), statements, transactions, "
          f"statements compiled{server_heading}; n={REQUESTS}")  # fmt: skip
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            chosen = paths(keys)
            chosen.insert(3, quote(chosen[1]))
            for path in chosen:
                if ONLY and not any(part in path.label for part in ONLY):
                    continue
                await send(client, path)  # warm: principal cache, compiled statements
                cpu, counter, server = await rounds_of(db, [path] * REQUESTS, client)
                print(f"   {path.label:<34} {cpu * 1000:7.3f} ms "
                      f"{counter.statements / REQUESTS:6.1f} "
                      f"{counter.transactions / REQUESTS:6.2f} "
                      f"{counter.compiled / REQUESTS:6.2f}{server_column(server)}")  # fmt: skip
            till = next(p for p in chosen if p.label == "3-line in-store checkout")
            for label, path, wave in (
                (f"{CONCURRENT_HOLDS} concurrent holds (1 SKU)", chosen[-1], CONCURRENT_HOLDS),
                (f"{CONCURRENT_TILLS} concurrent in-store checkouts", till, CONCURRENT_TILLS),
            ):
                if ONLY and not any(part in label for part in ONLY):
                    continue
                waves = ROUNDS * max(1, REQUESTS // (wave * ROUNDS))
                cpu, counter, server = await rounds_of(
                    db, [path] * (waves * wave), client, wave=wave
                )
                n = waves * wave
                print(f"   {label:<34} "
                      f"{cpu * 1000:7.3f} ms {counter.statements / n:6.1f} "
                      f"{counter.transactions / n:6.2f} {counter.compiled / n:6.2f}"
                      f"{server_column(server)}")  # fmt: skip
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
