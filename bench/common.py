"""Helpers for benchmarks: timing statistics and throw-away databases."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence

import asyncpg
import httpx

from omniretail.config import Settings
from omniretail.db import Database
from omniretail.migrate import upgrade

PG_HOST = os.environ.get("OMNI_BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("OMNI_BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("OMNI_BENCH_PG_USER", getpass.getuser())


def summary(samples_s: Sequence[float]) -> str:
    """Median and p99 in milliseconds."""
    ordered = sorted(samples_s)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    median = statistics.median(ordered) * 1000
    return f"median {median:.3f} ms, p99 {p99 * 1000:.3f} ms (n={len(ordered)})"


async def fresh_pg_database(name: str) -> str:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="test")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def fresh_sqlite_url() -> str:
    path = os.path.join(tempfile.mkdtemp(prefix="omni-bench-"), "bench.db")
    return f"sqlite+aiosqlite:///{path}"


def open_database(url: str, *, pool_size: int = 10) -> Database:
    """Migrate ``url`` (sync Alembic: call outside a running loop) and open it."""
    upgrade(url)
    return Database(Settings(database_url=url, run_dispatcher=False, db_pool_size=pool_size))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def omni_worker(url: str) -> Iterator[None]:
    """An ``omni worker`` delivering ``url``'s outbox while the block runs."""
    omni = os.path.join(os.path.dirname(sys.executable), "omni")
    environment = {**os.environ, "OMNI_DATABASE_URL": url, "OMNI_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([omni, "worker"], env=environment)
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.asynccontextmanager
async def served(
    url: str,
    *,
    workers: int | None = None,
    env: dict[str, str] | None = None,
    worker: bool = True,
    pids: list[int] | None = None,
) -> AsyncIterator[str]:
    """``omni serve`` in a subprocess on a free local port (its default worker count unless
    ``workers`` is given); yields the base URL once /healthz answers. With
    ``OMNI_RUN_DISPATCHER=false`` in ``env``, an ``omni worker`` runs beside it unless
    ``worker`` is false (then nothing delivers the outbox). ``pids``, when given, gets the
    process ids of ``omni serve`` and of that worker (for ``bench.cpu``)."""
    port = free_port()
    environment = {
        **os.environ,
        "OMNI_DATABASE_URL": url,
        "OMNI_LOG_LEVEL": "warning",
        **(env or {}),
    }
    omni = os.path.join(os.path.dirname(sys.executable), "omni")
    command = [omni, "serve", "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    proc = subprocess.Popen(command, env=environment)  # noqa: ASYNC220
    # The production topology: API processes that only answer, and `omni worker` apart
    # delivering the outbox and running the periodic jobs.
    apart = (
        subprocess.Popen([omni, "worker"], env=environment)  # noqa: ASYNC220
        if worker and environment.get("OMNI_RUN_DISPATCHER") == "false"
        else None
    )
    if pids is not None:
        pids.extend(running.pid for running in (proc, apart) if running is not None)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for _ in range(600):  # a loaded machine starts workers slowly
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield base
    finally:
        for running in (proc, apart):
            if running is not None:
                running.terminate()
                running.wait(timeout=30)
