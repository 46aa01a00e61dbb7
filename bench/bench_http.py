"""Requests per second over HTTP next to FastAPI's own floor, on PostgreSQL and SQLite.

For each database: a fresh database seeded with what the paths need, ``omni serve`` and the bare
floor app (``bench/floor.py``) under the same uvicorn settings and worker count (2 on
PostgreSQL, 1 on SQLite: ``omni serve``'s defaults on this machine), both driven on loopback by
wrk (``apt-get install wrk``; a Python httpx client is the fallback when wrk is absent, and the
header says which drove the run), each path for a bounded time. Ratios compare with the floor
measured in the same run. On PostgreSQL the hot-SKU row also shows pgbench running the same
hot-row conditional UPDATE, the database's own ceiling for that path.

Environment: ``OMNI_BENCH_SECONDS`` (per path, default 5), ``OMNI_BENCH_CONNECTIONS`` (32),
``OMNI_BENCH_DATABASES`` (``postgresql,sqlite``), ``OMNI_BENCH_PATHS`` (parts of path labels).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
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

from bench.common import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    free_port,
    fresh_pg_database,
    fresh_sqlite_url,
    served,
)
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
STORE = "ST-000"
SKUS = ["TEE-S", "TEE-M", "TEE-L"]
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
                        "variants": [{"sku": sku, "price": PRICE} for sku in [*SKUS, HOT]],
                    }
                ),
                actor="bench",
            )
            await inventory.do_apply_movements(
                uow,
                actor="bench",
                lines=[
                    MovementLineIn(sku=sku, location=STORE, reason="receipt", qty=PLENTY)
                    for sku in [*SKUS, HOT]
                ],
            )
            store = await auth.do_create_key(uow, role=Role.STORE, location=STORE)
        return Keys(admin=str(created["admin_key"]), store=str(store["key"]))
    finally:
        await db.dispose()


def paths(keys: Keys) -> list[Path]:
    return [
        Path("GET /healthz", "/healthz"),
        Path("GET /v1/me", "/v1/me", keys.admin),
        Path("GET /v1/locations/{code}", f"/v1/locations/{STORE}", keys.admin),
        Path(
            "3-line in-store checkout",
            "/v1/orders",
            keys.store,
            {
                "channel": "pos",
                "lines": [{"sku": sku, "qty": 1} for sku in SKUS],
                "fulfillment": {"mode": "in_store", "location": STORE},
                "payments": [{"method": "cash", "amount": len(SKUS) * PRICE}],
            },
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
                    response = await client.post(path.path, json=path.body)
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


async def run_one(name: str, url: str, workers: int, db_name: str | None) -> None:
    keys = await seed(url)
    async with floor(workers) as floor_base:
        await drive(floor_base, Path("warm-up", "/v1/locations/x"), 1)
        floor_figures = await drive(floor_base, Path("floor", "/v1/locations/x"), SECONDS)
    rows: list[tuple[str, Figures]] = []
    async with served(url, workers=workers) as base:
        for path in paths(keys):
            if ONLY and not any(part in path.label for part in ONLY):
                continue
            await drive(base, path, 1)  # warm up every worker's pool and caches
            rows.append((path.label, await drive(base, path, SECONDS)))
    title = f"{name}, {workers} worker(s), {CONNECTIONS} connections, {SECONDS:g} s per path"
    print_table(title, floor_figures, rows)
    if db_name is not None:
        tps = await pgbench_hot_row(db_name, SECONDS)
        if tps is not None:
            holds = rows[-1][1].rate
            print(f"   pgbench hot-row conditional UPDATE: {tps:,.0f}/s; holds / pgbench "
                  f"{holds / tps:.3f}")  # fmt: skip


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
