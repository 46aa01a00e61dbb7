"""`omni serve` delivers the outbox: from an `omni worker` process of its own on PostgreSQL
(woken by the API's commits, started again if it dies, stopped with the server), from its API
process on SQLite (worker_process.py)."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from omniretail.cli import app as cli
from omniretail.db import Database
from omniretail.worker_process import Waker, listen_for_wakes, stop_with_parent
from tests.conftest import free_port
from tests.factories import TenantHandle

OMNI = str(Path(sys.executable).parent / "omni")
# Far longer than any wait below: an event delivered in time was delivered on a wake.
POLL_SECONDS = "60"


def children(pid: int) -> list[tuple[int, list[str]]]:
    """The processes whose parent is ``pid``, with their arguments."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append((int(entry), argv))
    return found


def workers_of(pid: int) -> list[int]:
    return [child for child, argv in children(pid) if "worker" in argv]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


async def eventually(check: Callable[[], bool | Awaitable[bool]], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = check()
        if inspect.isawaitable(got):
            got = await got
        if got:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"not within {seconds:g} s")


@pytest.fixture
def server(db: Database) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {
        **os.environ,
        "OMNI_DATABASE_URL": db.settings.database_url,
        "OMNI_PORT": str(port),
        "OMNI_DISPATCHER_POLL_SECONDS": POLL_SECONDS,
        "OMNI_LOG_LEVEL": "warning",
    }
    for name in ("PROMETHEUS_MULTIPROC_DIR", "OMNI_RUN_DISPATCHER", "OMNI_DISPATCHER_WAKE_SOCKET"):
        env.pop(name, None)
    proc = subprocess.Popen([OMNI, "serve", "--workers", "1"], env=env)
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)


async def up(base: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        for _ in range(600):
            assert proc.poll() is None, "omni serve exited"
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail("omni serve did not start")


async def pending(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int(
            await conn.scalar(
                sa.text("SELECT count(*) FROM outbox_events WHERE dispatched_at IS NULL")
            )
            or 0
        )


async def none_pending(db: Database) -> bool:
    return await pending(db) == 0


@pytest.fixture
async def api(
    server: tuple[subprocess.Popen[bytes], str], tenant: TenantHandle
) -> AsyncIterator[httpx.AsyncClient]:
    proc, base = server
    await up(base, proc)
    headers = {"Authorization": f"Bearer {tenant.admin_key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        yield http


async def add_location(api: httpx.AsyncClient, code: str) -> None:
    body = {"code": code, "name": f"Store {code}", "type": "store", "lat": 31.2, "lng": 121.4}
    response = await api.post("/v1/locations", json=body)
    assert response.status_code == 201, response.text


async def test_serve_delivers_the_outbox_from_its_own_worker_on_postgresql_in_process_on_sqlite(
    db: Database, server: tuple[subprocess.Popen[bytes], str], api: httpx.AsyncClient
) -> None:
    proc, _ = server
    if db.dialect == "sqlite":
        assert workers_of(proc.pid) == []
    else:
        await eventually(lambda: len(workers_of(proc.pid)) == 1)
    first = workers_of(proc.pid)

    await add_location(api, "W-1")
    # Delivered long before the next poll: the commit woke the dispatcher.
    await eventually(lambda: none_pending(db))

    if db.dialect == "sqlite":
        return
    # A worker that dies is started again, and delivers what the API writes next.
    os.kill(first[0], signal.SIGKILL)
    await eventually(lambda: workers_of(proc.pid) not in ([], first))
    again = workers_of(proc.pid)
    await add_location(api, "W-2")
    await eventually(lambda: none_pending(db))

    # Stopping the server stops its worker first, and removes the socket's folder.
    argv = next(argv for child, argv in children(proc.pid) if child == again[0])
    folder = Path(argv[argv.index("--wake-socket") + 1]).parent
    proc.terminate()
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert not alive(again[0])
    assert not folder.exists()


@pytest.mark.pg_only
async def test_the_worker_stops_when_its_server_is_killed(
    db: Database, server: tuple[subprocess.Popen[bytes], str], api: httpx.AsyncClient
) -> None:
    proc, _ = server
    await eventually(lambda: len(workers_of(proc.pid)) == 1)
    (worker,) = workers_of(proc.pid)
    argv = next(argv for child, argv in children(proc.pid) if child == worker)
    folder = Path(argv[argv.index("--wake-socket") + 1]).parent
    assert folder.is_dir()
    proc.kill()  # no chance to stop it: the worker sees its pipe close
    proc.wait()
    await eventually(lambda: not alive(worker))
    assert not folder.exists()  # the worker removed its socket's folder: nobody else would


async def test_a_wake_reaches_the_listener_at_most_once_an_interval(tmp_path: Path) -> None:
    path = str(tmp_path / "wake")
    woken = asyncio.Event()
    listener = listen_for_wakes(path, woken.set)
    waker = Waker(path)
    try:
        waker()
        await asyncio.wait_for(woken.wait(), 5)
        woken.clear()
        waker()  # within the interval: not sent
        await asyncio.sleep(0.05)
        assert not woken.is_set()
        await asyncio.sleep(0.02)
        waker()
        await asyncio.wait_for(woken.wait(), 5)
    finally:
        waker.close()
        asyncio.get_running_loop().remove_reader(listener.fileno())
        listener.close()


def test_a_wake_with_nobody_listening_is_dropped(tmp_path: Path) -> None:
    waker = Waker(str(tmp_path / "nobody"))
    waker()  # no socket there: no error either
    waker.close()


async def test_the_worker_is_told_to_stop_when_the_servers_pipe_closes() -> None:
    read_end, write_end = os.pipe()
    stop = asyncio.Event()
    try:
        stop_with_parent(read_end, stop)
        await asyncio.sleep(0.05)
        assert not stop.is_set()
        os.close(write_end)
        await asyncio.wait_for(stop.wait(), 5)
    finally:
        os.close(read_end)


def test_the_workers_own_options_refuse_what_cannot_be_used(tmp_path: Path) -> None:
    runner = CliRunner()
    fd = runner.invoke(cli, ["worker", "--parent-fd", "987654"])
    assert fd.exit_code == 2
    assert "--parent-fd 987654 is not an open file descriptor" in fd.output
    where = runner.invoke(cli, ["worker", "--wake-socket", str(tmp_path / "no" / "wake")])
    assert where.exit_code == 2
    assert "--wake-socket must be a path in an existing folder" in where.output
