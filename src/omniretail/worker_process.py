"""On PostgreSQL, ``omni serve`` delivers the outbox from an ``omni worker`` process of its own.

In the API processes the dispatcher's passes shared each event loop with the requests: a
group's transaction stayed open while the loop answered requests between its statements, and
a till sale cost about 0.2 ms more CPU in all (API and PostgreSQL) than with the same work in a
worker beside them (``docs/architecture.md``, events and the outbox). So ``omni serve`` starts
one worker, keeps it running and stops it with itself:

- the API processes get ``OMNI_RUN_DISPATCHER=false`` and the path of the worker's wake socket
  (``OMNI_DISPATCHER_WAKE_SOCKET``); after a commit that wrote events, an API process sends it a
  datagram (``Waker``), as the in-process dispatcher was woken by a call;
- the worker reads a pipe from ``omni serve`` (``--parent-fd``): when the pipe closes (``omni
  serve`` stopped or was killed) it stops after its batch, as on SIGTERM, and removes the
  socket's folder;
- a worker that exits while ``omni serve`` runs is started again a second later.

On SQLite the dispatcher stays in the API process: there the writers queue on the process's
own lock, while a worker apart goes through lock files beside the database, and the platform
pushes were acknowledged much more slowly that way (``docs/channels.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

log = logging.getLogger("omniretail.worker_process")

# A wake is a hint: the worker lingers a quarter of a second after one anyway, so a sender
# need not send one for every commit of a busy moment.
WAKE_INTERVAL_SECONDS = 0.01
RESTART_DELAY_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 30.0


class Waker:
    """Wakes the dispatcher in the worker ``omni serve`` started: one datagram to its socket,
    at most one per ``WAKE_INTERVAL_SECONDS``. Never raises: a worker not listening (starting
    or restarting) finds the events at its next pass."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._sent_at = -WAKE_INTERVAL_SECONDS

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._sent_at < WAKE_INTERVAL_SECONDS:
            return
        self._sent_at = now
        with contextlib.suppress(OSError):  # no listener yet, or its queue is full
            self._socket.sendto(b"w", self.path)

    def close(self) -> None:
        self._socket.close()


def listen_for_wakes(path: str, wake: Callable[[], None]) -> socket.socket:
    """In the worker's loop: call ``wake`` whenever datagrams arrive on ``path``."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # left by a worker that was killed
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.setblocking(False)

    def readable() -> None:
        with contextlib.suppress(BlockingIOError):
            while listener.recv(64):
                pass
        wake()

    asyncio.get_running_loop().add_reader(listener.fileno(), readable)
    return listener


def stop_listening(listener: socket.socket, parent_fd: int | None) -> None:
    """In the worker's loop, as it stops: close the wake socket and remove its file, and its
    folder too if ``omni serve`` is gone (killed, it cannot remove it itself)."""
    path = listener.getsockname()
    asyncio.get_running_loop().remove_reader(listener.fileno())
    listener.close()
    with contextlib.suppress(OSError):
        os.unlink(path)
    if parent_fd is not None and select.select([parent_fd], [], [], 0)[0]:  # closed: gone
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(path))


def stop_with_parent(fd: int, stop: asyncio.Event) -> None:
    """In the worker's loop: set ``stop`` once the pipe from ``omni serve`` closes (nothing is
    ever written to it: it becomes readable, at end of file, only when ``omni serve`` exits)."""
    loop = asyncio.get_running_loop()

    def closed() -> None:
        loop.remove_reader(fd)  # readable from now on: once is enough
        stop.set()

    loop.add_reader(fd, closed)


@contextlib.contextmanager
def worker_beside() -> Iterator[None]:
    """While the block runs (``omni serve``'s uvicorn), an ``omni worker`` delivers the outbox
    and runs the periodic jobs; the API processes started in the block neither deliver nor run
    them, and wake the worker instead."""
    folder = tempfile.mkdtemp(prefix="omni-worker-")  # 0700: only this user may wake it
    path = os.path.join(folder, "wake")
    read_end, write_end = os.pipe()
    command = [
        sys.executable,
        "-m",
        "omniretail",
        "worker",
        "--wake-socket",
        path,
        "--parent-fd",
        str(read_end),
    ]
    # Read by the API processes uvicorn starts in the block (they inherit the environment).
    os.environ["OMNI_RUN_DISPATCHER"] = "false"
    os.environ["OMNI_DISPATCHER_WAKE_SOCKET"] = path
    stopping = threading.Event()
    guard = threading.Lock()
    current: subprocess.Popen[bytes] | None = None

    def supervise() -> None:
        nonlocal current
        while True:
            with guard:
                if stopping.is_set():
                    return
                # A session of its own: a Ctrl-C in the terminal stops uvicorn, which then
                # stops the worker after its batch, rather than both at once and the worker
                # started again meanwhile.
                try:
                    child = subprocess.Popen(  # noqa: S603  (this interpreter, our arguments)
                        command, pass_fds=(read_end,), start_new_session=True
                    )
                except OSError:
                    log.exception("the outbox worker could not be started; trying again")
                    child = None
                current = child
            if child is not None:
                code = child.wait()
                if stopping.is_set():
                    return
                log.warning("the outbox worker exited with %s; starting it again", code)
            if stopping.wait(RESTART_DELAY_SECONDS):
                return

    def terminated(signum: int, _: object) -> None:
        raise SystemExit(128 + signum)

    # SIGTERM's default action ends the process without this block's cleanup. uvicorn
    # catches it while it serves, then raises it again once it has shut down: here.
    previous = signal.signal(signal.SIGTERM, terminated)
    supervisor = threading.Thread(target=supervise, name="omni-worker-supervisor", daemon=True)
    supervisor.start()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        with guard:
            stopping.set()
        if current is not None:
            current.terminate()  # SIGTERM: it finishes its batch, then exits
            try:
                current.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                current.kill()
                current.wait()
        supervisor.join(timeout=STOP_TIMEOUT_SECONDS)
        os.close(write_end)
        os.close(read_end)
        shutil.rmtree(folder, ignore_errors=True)
