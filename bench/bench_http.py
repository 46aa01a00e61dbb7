"""Requests per second over HTTP next to FastAPI's own floor, on PostgreSQL and SQLite.

For each database: a fresh database seeded with what the paths need, ``omni serve`` and the bare
floor app (``bench/floor.py``) under the same uvicorn settings and worker count (2 on PostgreSQL, 1
on SQLite: ``omni serve``'s defaults on this machine), both driven on loopback by wrk (``apt-get
install wrk``; a Python httpx client is the fallback when wrk is absent, and the header says which
drove the run), each path for a bounded time. Ratios compare with the floor measured in the same
run. On PostgreSQL the hot-SKU row also shows pgbench running the same hot-row conditional UPDATE,
the database's own ceiling for that path. Three topologies, each in its own table: ``together`` is
``omni serve`` alone, delivering the outbox and running the periodic jobs itself (the default of a
single-box install: from the worker process it starts on PostgreSQL, in its API process on
SQLite); ``apart`` is ``omni serve`` with ``OMNI_RUN_DISPATCHER=false``
and one ``omni worker`` beside it (the production topology); ``alone`` is the same API processes
with no worker while a path runs (its follow-up events wait: what the request path costs by itself,
as with a worker on cores of its own). The checkout is driven twice: every order on the same three
SKUs (the worst case: all checkouts queue on the same three stock rows) and spread over ``SPREAD``
SKUs of the store, three at random per order, as a real store's tills would be. Each writing path
is first warmed up, its follow-up events delivered and the database analysed (``settle``), so it
starts with no backlog and with the planner's statistics a live install would have. After each
writing path the table says how many outbox events were still pending (the dispatcher's backlog),
and on PostgreSQL what the server's busy backends were waiting on (``pg_stat_activity`` sampled
every 50 ms: lock waits show contention on rows), and for every path the CPU a request cost the
API processes, the dispatcher and PostgreSQL (``bench.cpu``: steadier than a rate on a shared
machine).

Environment: ``OMNI_BENCH_SECONDS`` (per path, default 5), ``OMNI_BENCH_CONNECTIONS`` (32),
``OMNI_BENCH_DATABASES`` (``postgresql,sqlite``), ``OMNI_BENCH_PATHS`` (parts of path labels),
``OMNI_BENCH_TOPOLOGIES`` (``together,apart,alone``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa

from bench.common import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    free_port,
    fresh_pg_database,
    fresh_sqlite_url,
    omni_worker,
    served,
)
from bench.cpu import cpu_seconds, per_request
from omniretail.auth import service as auth
from omniretail.auth.domain import Role
from omniretail.catalog import service as catalog
from omniretail.catalog.schemas import ProductIn
from omniretail.channels import service as channels
from omniretail.channels.schemas import ChannelKind
from omniretail.config import Settings
from omniretail.db import Database
from omniretail.inventory import service as inventory
from omniretail.inventory.schemas import MovementLineIn
from omniretail.migrate import upgrade
from omniretail.network import service as network
from omniretail.network.schemas import CapabilitiesIn, LocationIn

# Per run: the PostgreSQL server is shared with other benchmarks and test runs.
DB_NAME = f"omni_bench_http_{os.getpid()}"
SECONDS = float(os.environ.get("OMNI_BENCH_SECONDS", "5"))
CONNECTIONS = int(os.environ.get("OMNI_BENCH_CONNECTIONS", "32"))
DATABASES = os.environ.get("OMNI_BENCH_DATABASES", "postgresql,sqlite").split(",")
# Substrings of path labels to run (all when empty), e.g. ``hot-SKU``.
ONLY = [p for p in os.environ.get("OMNI_BENCH_PATHS", "").split(",") if p]
TOPOLOGIES = os.environ.get("OMNI_BENCH_TOPOLOGIES", "together,apart,alone").split(",")
STORE = "ST-000"
SKUS = ["TEE-S", "TEE-M", "TEE-L"]
# The store's range for the spread checkout: each order takes three of these at random.
SPREAD = [f"SPREAD-{n:03d}" for n in range(200)]
HOT = "HOT-1"
PRICE = 9900
PLENTY = 100_000_000


@dataclass(frozen=True, slots=True)
class Keys:
    admin: str
    store: str


@dataclass(frozen=True, slots=True)
class Path:
    label: str
    path: str
    key: str | None = None
    body: dict[str, Any] | None = None
    # When given, each request sends one of these at random instead of ``body``.
    bodies: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Figures:
    rate: float
    p50_ms: float
    p99_ms: float
    failed: int


async def seed(url: str) -> Keys:
    await asyncio.to_thread(upgrade, url)
    db = Database(Settings(database_url=url, run_dispatcher=False))
    try:
        async with db.uow(unscoped=True) as uow:
            created = await auth.do_create_tenant(uow, slug="bench", name="Bench")
            tenant_id = await auth.tenant_id_by_slug(uow, "bench")
        async with db.uow(tenant_id) as uow:
            await channels.do_create_channel(uow, code="app", kind=ChannelKind.APP, name="App")
            await channels.do_create_channel(uow, code="pos", kind=ChannelKind.POS, name="POS")
            await network.do_create_location(
                uow,
                data=LocationIn(
                    code=STORE,
                    name="Store 0",
                    type="store",  # type: ignore[arg-type]
                    lat=31.2304,
                    lng=121.4737,
                    capabilities=CapabilitiesIn(ship=True, pickup=True, sells_online=True),
                ),
            )
            await catalog.do_create_product(
                uow,
                data=ProductIn.model_validate(
                    {
                        "code": "P",
                        "title": "Bench tee",
                        "category": "bench",
                        "variants": [{"sku": sku, "price": PRICE} for sku in [*SKUS, HOT, *SPREAD]],
                    }
                ),
                actor="bench",
            )
            await inventory.do_apply_movements(
                uow,
                actor="bench",
                lines=[
                    MovementLineIn(sku=sku, location=STORE, reason="receipt", qty=PLENTY)
                    for sku in [*SKUS, HOT, *SPREAD]
                ],
            )
            store = await auth.do_create_key(uow, role=Role.STORE, location=STORE)
        return Keys(admin=str(created["admin_key"]), store=str(store["key"]))
    finally:
        await db.dispose()


def in_store_order(skus: list[str]) -> dict[str, Any]:
    return {
        "channel": "pos",
        "lines": [{"sku": sku, "qty": 1} for sku in skus],
        "fulfillment": {"mode": "in_store", "location": STORE},
        "payments": [{"method": "cash", "amount": len(skus) * PRICE}],
    }


def paths(keys: Keys) -> list[Path]:
    picker = random.Random(7)
    spread = tuple(in_store_order(picker.sample(SPREAD, 3)) for _ in range(500))
    return [
        Path("GET /healthz", "/healthz"),
        Path("GET /v1/me", "/v1/me", keys.admin),
        Path("GET /v1/locations/{code}", f"/v1/locations/{STORE}", keys.admin),
        Path("3-line in-store checkout", "/v1/orders", keys.store, in_store_order(SKUS)),
        Path(
            "3-line checkout, spread SKUs",
            "/v1/orders",
            keys.store,
            spread[0],
            bodies=spread,
        ),
        Path(
            "hot-SKU holds (1 SKU)",
            "/v1/reservations",
            keys.admin,
            {"lines": [{"sku": HOT, "location": STORE, "qty": 1}], "ttl_seconds": 3600},
        ),
    ]


@contextlib.asynccontextmanager
async def floor(workers: int) -> AsyncIterator[str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.floor:app",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ]
    proc = subprocess.Popen(command)  # noqa: ASYNC220
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(600):  # a loaded machine starts workers slowly
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/v1/locations/x")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def _wrk_script(path: Path, workdir: str) -> str:
    lines = []
    if path.body is not None:
        lines += [
            'wrk.method = "POST"',
            f"wrk.body = {json.dumps(json.dumps(path.body))}",
            'wrk.headers["Content-Type"] = "application/json"',
        ]
    if path.key is not None:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {path.key}"')
    if path.bodies:
        lines.append("bodies = {")
        lines += [f"  {json.dumps(json.dumps(body))}," for body in path.bodies]
        lines += [
            "}",
            "request = function()",
            "  return wrk.format(nil, nil, nil, bodies[math.random(#bodies)])",
            "end",
        ]
    script = os.path.join(workdir, f"{abs(hash(path.label))}.lua")
    with open(script, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return script


async def drive_wrk(base: str, path: Path, seconds: float) -> Figures:
    with tempfile.TemporaryDirectory() as workdir:
        command = [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{seconds:g}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            _wrk_script(path, workdir),
            base + path.path,
        ]
        proc = await asyncio.create_subprocess_exec(
            *command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        out = (await proc.communicate())[0].decode()
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk gave no figures for {path.label}:\n{out}")
    rate = float(found.group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*timeout (\d+)", out)
    count = int(failed.group(1)) if failed else 0
    count += int(errors.group(1)) if errors else 0
    return Figures(rate=rate, p50_ms=p50, p99_ms=p99, failed=count)


async def drive_httpx(base: str, path: Path, seconds: float) -> Figures:
    headers = {"Authorization": f"Bearer {path.key}"} if path.key else {}
    samples: list[float] = []
    failed = 0
    limits = httpx.Limits(max_connections=CONNECTIONS)
    # A loaded machine (shared cores) can take seconds per checkout: wait for it rather than
    # abort the whole run on httpx's five-second default.
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=timeout
    ) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal failed
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                if path.body is None:
                    response = await client.get(path.path)
                else:
                    body = random.choice(path.bodies) if path.bodies else path.body
                    response = await client.post(path.path, json=body)
                samples.append(time.perf_counter() - started)
                failed += response.status_code >= 300

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    ordered = sorted(samples)
    return Figures(
        rate=len(ordered) / elapsed,
        p50_ms=statistics.median(ordered) * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        failed=failed,
    )


async def drive(base: str, path: Path, seconds: float) -> Figures:
    if shutil.which("wrk"):
        return await drive_wrk(base, path, seconds)
    return await drive_httpx(base, path, seconds)


async def rename_seen_after(base: str, key: str, seconds: float = 2.0) -> str:
    """Rename the store through one request, then ask for it again and again, each time on a
    new connection (so on any worker), for ``seconds``: how long after the rename's answer a
    worker still answered with the old name (the location cache's staleness, measured)."""
    headers = {"Authorization": f"Bearer {key}"}
    name = f"Store 0 renamed {time.time_ns()}"
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        for _ in range(8):  # fill the workers' caches just before (new connections: any worker)
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as fresh:
                (await fresh.get(f"/v1/locations/{STORE}")).raise_for_status()
        response = await http.patch(f"/v1/locations/{STORE}", json={"name": name})
        response.raise_for_status()
    renamed = time.perf_counter()
    stale_at, asked = None, 0
    while time.perf_counter() - renamed < seconds:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            got = (await http.get(f"/v1/locations/{STORE}")).json()["name"]
        asked += 1
        if got != name:
            stale_at = time.perf_counter() - renamed
    if stale_at is None:
        return f"a rename was seen by every answer at once ({asked} GETs over {seconds:g} s)"
    return (
        f"after a rename, the last old name was answered {stale_at * 1000:.0f} ms after it "
        f"({asked} GETs over {seconds:g} s, each on a new connection)"
    )


async def pgbench_hot_row(db_name: str, seconds: float) -> float | None:
    """pgbench's conditional UPDATE of one hot row, one per transaction (the database's
    ceiling for hot-SKU holds), or None without pgbench."""
    if not shutil.which("pgbench"):
        return None
    with tempfile.TemporaryDirectory() as workdir:
        script = os.path.join(workdir, "hot.sql")
        with open(script, "w") as handle:  # noqa: ASYNC230 (a tiny local file)
            handle.write("UPDATE bench_hot SET qty = qty - 1 WHERE id = 1 AND qty >= 1;\n")
        base = ["-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER]
        setup = (
            "DROP TABLE IF EXISTS bench_hot; "
            "CREATE TABLE bench_hot (id int PRIMARY KEY, qty bigint NOT NULL); "
            f"INSERT INTO bench_hot VALUES (1, {PLENTY})"
        )
        psql = await asyncio.create_subprocess_exec(
            "psql",
            *base,
            "-q",
            "-c",
            setup,
            db_name,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await psql.wait()
        proc = await asyncio.create_subprocess_exec(
            "pgbench", *base, "-n", "-c", str(CONNECTIONS), "-j", "2", "-T", f"{seconds:.0f}",
            "-f", script, db_name, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        out = (await proc.communicate())[0].decode()
    found = re.search(r"tps = ([\d.]+)", out)
    return float(found.group(1)) if found else None


def print_table(title: str, floor_figures: Figures, rows: list[tuple[str, Figures]]) -> None:
    print(f"\n   {title}")
    print(f"   {'path':<28} {'req/s':>9} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}")
    for label, figures in [("FastAPI floor", floor_figures), *rows]:
        ratio = figures.rate / floor_figures.rate
        print(
            f"   {label:<28} {figures.rate:>9,.0f} {ratio:>7.3f} {figures.p50_ms:>8.2f} "
            f"{figures.p99_ms:>8.2f} {figures.failed:>7}",
            flush=True,
        )


@contextlib.asynccontextmanager
async def wait_events(db_name: str | None) -> AsyncIterator[collections.Counter[str]]:
    """What the database's backends for ``db_name`` are doing, sampled every 50 ms while the
    block runs: ``Lock:transactionid`` is a wait on another transaction's row lock, ``CPU`` a
    running statement, ``idle in transaction`` a transaction waiting on the application."""
    seen: collections.Counter[str] = collections.Counter()
    if db_name is None:
        yield seen
        return
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=db_name)
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            rows = await conn.fetch(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid() "
                "AND state IN ('active', 'idle in transaction')",
                db_name,
            )
            for row in rows:
                if row["state"] != "active":
                    seen["idle in transaction"] += 1
                elif row["wait_event_type"] is None:
                    seen["CPU"] += 1
                else:
                    seen[f"{row['wait_event_type']}:{row['wait_event']}"] += 1
            await asyncio.sleep(0.05)

    task = asyncio.create_task(sample())
    try:
        yield seen
    finally:
        stop.set()
        await task
        await conn.close()


async def pending_events(db: Database) -> int:
    async with db.engine.connect() as conn:
        count = await conn.scalar(
            sa.text(
                "SELECT count(*) FROM outbox_events WHERE dispatched_at IS NULL AND dead_at IS NULL"
            )
        )
    return int(count or 0)


async def drained(observer: Database) -> None:
    """Until the outbox is delivered (at most 5 minutes)."""
    for _ in range(600):
        if await pending_events(observer) == 0:
            return
        await asyncio.sleep(0.5)


async def settle(observer: Database) -> None:
    """A writing path starts as a shop that has been open would: its warm-up's follow-up work
    delivered (no backlog left by the path before) and the planner's statistics up to date.
    Without the ANALYZE, the tables a run fills from empty have none: PostgreSQL then takes
    the default selectivity for ``tenant_id = $1`` (0.5%) and plans the dispatcher's lookups
    by the tenant's index, which every row matches, instead of their unique keys (10-100x
    slower per statement); autovacuum would analyse them on a live install, but not within a
    run of seconds (and the project machines' server runs with autovacuum off)."""
    await drained(observer)
    async with observer.engine.connect() as conn:
        await conn.execute(sa.text("ANALYZE"))
        await conn.commit()


def load_average() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


async def run_one(name: str, url: str, workers: int, db_name: str | None) -> None:
    keys = await seed(url)
    async with floor(workers) as floor_base:
        await drive(floor_base, Path("warm-up", "/v1/locations/x"), 1)
        floor_figures = await drive(floor_base, Path("floor", "/v1/locations/x"), SECONDS)
    observer = Database(Settings(database_url=url, run_dispatcher=False, db_pool_size=1))
    try:
        for topology in TOPOLOGIES:
            await run_topology(name, topology, url, workers, db_name, keys, floor_figures, observer)
    finally:
        await observer.dispose()


async def run_topology(
    name: str,
    topology: str,
    url: str,
    workers: int,
    db_name: str | None,
    keys: Keys,
    floor_figures: Figures,
    observer: Database,
) -> None:
    env = {"OMNI_RUN_DISPATCHER": "false"} if topology in ("apart", "alone") else {}
    # Alone, nothing delivers the outbox while a path runs: a worker does between paths.
    between = (lambda: omni_worker(url)) if topology == "alone" else contextlib.nullcontext
    rows: list[tuple[str, Figures]] = []
    notes: list[str] = []
    started_load = load_average()
    pids: list[int] = []
    async with served(url, workers=workers, env=env, worker=topology == "apart", pids=pids) as base:
        for path in paths(keys):
            if ONLY and not any(part in path.label for part in ONLY):
                continue
            await drive(base, path, 1)  # warm up every worker's pool and caches
            if path.body is not None:
                with between():
                    await settle(observer)
            async with wait_events(db_name if path.body is not None else None) as seen:
                before = cpu_seconds(pids, postgres=db_name is not None)
                figures = await drive(base, path, SECONDS)
                after = cpu_seconds(pids, postgres=db_name is not None)
            rows.append((path.label, figures))
            if spent := per_request(before, after, figures.rate * SECONDS):
                notes.append(f"{path.label}: CPU a request: {spent}")
            if path.path.startswith("/v1/locations/"):
                notes.append(f"{path.label}: {await rename_seen_after(base, keys.admin)}")
            if path.body is not None:
                pending = await pending_events(observer)
                total = sum(seen.values()) or 1
                waits = ", ".join(f"{k} {n / total:.0%}" for k, n in seen.most_common(4))
                notes.append(
                    f"{path.label}: {pending} outbox events pending after it"
                    + (f"; busy backends: {waits}" if waits else "")
                )
        # Let the dispatcher catch up before the next topology starts on the same database.
        with between():
            await drained(observer)
    where = {
        "together": "`omni serve` alone (its own worker on PostgreSQL, in process on SQLite)",
        "apart": "API processes + one `omni worker` apart",
        "alone": "API processes alone (the outbox delivered between paths only)",
    }[topology]
    title = (
        f"{name}, {where}, {workers} API worker(s), {CONNECTIONS} connections, "
        f"{SECONDS:g} s per path; load average {started_load} -> {load_average()}"
    )
    print_table(title, floor_figures, rows)
    for note in notes:
        print(f"   {note}")
    if db_name is not None:
        holds = [figures.rate for label, figures in rows if label.startswith("hot-SKU")]
        tps = await pgbench_hot_row(db_name, SECONDS) if holds else None
        if tps is not None:
            print(f"   pgbench hot-row conditional UPDATE: {tps:,.0f}/s; holds / pgbench "
                  f"{holds[0] / tps:.3f}")  # fmt: skip


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="test")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def main() -> None:
    driver = "wrk" if shutil.which("wrk") else "httpx (Python async client; wrk not found)"
    print(f"   load generator: {driver}; loopback only", flush=True)
    if "postgresql" in DATABASES:
        pg_url = await fresh_pg_database(DB_NAME)
        try:
            await run_one("PostgreSQL", pg_url, os.cpu_count() or 1, DB_NAME)
        finally:
            await drop_pg_database(DB_NAME)
    if "sqlite" in DATABASES:
        await run_one("SQLite", fresh_sqlite_url(), 1, None)
