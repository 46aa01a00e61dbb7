"""The README's tour, pasted as a newcomer would, against a live `omni serve` (issue 12).

The commands come from the README itself (the first ``sh`` block under "A short tour"), so the
test fails as soon as the README and the product drift apart. It runs on SQLite, as `make run`
does on a fresh clone.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def tour_commands(readme: str) -> str:
    section = readme.split("## A short tour", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None, "the README's tour has no sh block"
    return match.group(1)


def wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "omni serve exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail("omni serve did not start")


def test_the_readme_tour_works_line_by_line(tmp_path: Path) -> None:
    commands = tour_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "omni sandbox sign" in commands
    assert "pickups/verify" in commands
    port = free_port()
    # A fresh clone after `make run`: the venv, the sandbox secret, an empty SQLite database.
    (tmp_path / ".venv").symlink_to(VENV_BIN.parent)
    (tmp_path / ".sandbox-secret").write_text(secrets.token_hex(32) + "\n")
    env = {
        **os.environ,
        "OMNI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'omni.db'}",
        "OMNI_PORT": str(port),
        "OMNI_SANDBOX_PAYMENT_SECRET": (tmp_path / ".sandbox-secret").read_text().strip(),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    subprocess.run([str(VENV_BIN / "omni"), "migrate"], cwd=tmp_path, env=env, check=True)
    server = subprocess.Popen(
        [str(VENV_BIN / "omni"), "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_up(port, server)
        # Every curl must get a 2xx (as a person reading the output would check), and every
        # line must succeed.
        script = (
            "set -euo pipefail\n"
            'curl() { command curl --fail-with-body "$@"; }\n'
            + commands.replace("localhost:8000", f"localhost:{port}")
        )
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env={k: v for k, v in env.items() if k != "OMNI_SANDBOX_PAYMENT_SECRET"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert '"status":"handed_over"' in done.stdout
    assert '"status":"completed"' in done.stdout
    assert 'omni_checkouts_total{outcome="placed"} 1.0' in done.stdout
