"""The `omni` bootstrap commands, on both databases, including their refusals."""

from __future__ import annotations

import asyncio
import importlib
import json
import uuid

import pytest
from typer.testing import CliRunner

from omniretail.cli import app
from omniretail.config import Settings
from omniretail.db import Database
from omniretail.demo import DEMO_STEPS
from omniretail.payments.providers import SandboxProvider
from tests.conftest import backend_url, empty_all_tables

runner = CliRunner()


async def _empty(url: str) -> None:
    db = Database(Settings(database_url=url))
    try:
        await empty_all_tables(db)
    finally:
        await db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, backend_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    url = backend_url(backend_urls, request.param)
    monkeypatch.setenv("OMNI_DATABASE_URL", url)
    return url


@pytest.mark.usefixtures("database_url")
def test_tenant_and_key_creation_print_keys_once() -> None:
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    created = runner.invoke(app, ["tenant", "create", slug, "--name", "CLI shop"])
    assert created.exit_code == 0, created.output
    body = json.loads(created.stdout)
    assert body["tenant"] == slug
    assert body["admin_key"].startswith("omk_")

    key = runner.invoke(app, ["key", "create", "--tenant", slug, "--role", "analyst"])
    assert key.exit_code == 0, key.output
    assert json.loads(key.stdout)["role"] == "analyst"


@pytest.mark.usefixtures("database_url")
def test_bad_cli_input_exits_non_zero_with_a_message() -> None:
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    bad = runner.invoke(app, ["tenant", "create", "Bad Slug", "--name", "x"])
    assert bad.exit_code == 2
    assert "slug" in bad.output
    assert (
        runner.invoke(app, ["tenant", "create", slug, "--name", "x", "--currency", "yen"]).exit_code
        == 2
    )
    runner.invoke(app, ["tenant", "create", slug, "--name", "x"])
    again = runner.invoke(app, ["tenant", "create", slug, "--name", "x"])
    assert again.exit_code == 2
    assert "already exists" in again.output
    store = runner.invoke(app, ["key", "create", "--tenant", slug, "--role", "store"])
    assert store.exit_code == 2
    assert "location" in store.output
    unknown = runner.invoke(app, ["key", "create", "--tenant", "nope", "--role", "admin"])
    assert unknown.exit_code == 2


def test_demo_seeds_once_and_then_hands_out_a_new_key(database_url: str) -> None:
    # From an empty database, whichever test of this worker seeded the demo before.
    asyncio.run(_empty(database_url))
    first = runner.invoke(app, ["demo"])
    assert first.exit_code == 0, first.output
    # The seed takes a while: its progress, with counts, goes to stderr (stdout stays JSON).
    steps = len(DEMO_STEPS)
    assert DEMO_STEPS[-1] in first.stderr
    assert f"{steps}/{steps}" in first.stderr
    second = runner.invoke(app, ["demo"])
    assert second.exit_code == 0, second.output
    assert json.loads(first.stdout)["admin_key"] != json.loads(second.stdout)["admin_key"]


def test_the_demo_speaks_chinese_or_english_and_nothing_else() -> None:
    refused = runner.invoke(app, ["demo", "--locale", "fr"])
    assert refused.exit_code == 2
    assert "zh-CN" in refused.output


def test_sandbox_sign_uses_the_servers_secret_and_refuses_without_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OMNI_SANDBOX_PAYMENT_SECRET", raising=False)
    refused = runner.invoke(app, ["sandbox", "sign", "sbx:ord_1-0", "captured", "9900"])
    assert refused.exit_code == 2
    assert "OMNI_SANDBOX_PAYMENT_SECRET" in refused.output
    monkeypatch.setenv("OMNI_SANDBOX_PAYMENT_SECRET", "s3cret")
    signed = runner.invoke(app, ["sandbox", "sign", "sbx:ord_1-0", "captured", "9900"])
    assert signed.exit_code == 0, signed.output
    body = json.loads(signed.stdout)
    assert body["signature"] == SandboxProvider("s3cret").sign("sbx:ord_1-0", "captured", 9900)
    assert SandboxProvider("s3cret").verify("sbx:ord_1-0", "captured", 9900, body["signature"])


def test_serve_runs_uvicorn_on_uvloop_and_httptools(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr("omniretail.cli.uvicorn.run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("OMNI_DATABASE_URL", "sqlite+aiosqlite:////tmp/omni-serve-test.db")
    served = runner.invoke(app, ["serve", "--port", "8765"])
    assert served.exit_code == 0, served.output
    assert (seen["loop"], seen["http"], seen["workers"]) == ("uvloop", "httptools", 1)
    for module in ("uvloop", "httptools"):  # installed, so uvicorn will not fall back
        importlib.import_module(module)


@pytest.mark.usefixtures("database_url")
def test_connection_commands_name_their_refusals() -> None:
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    assert runner.invoke(app, ["tenant", "create", slug, "--name", "Conn shop"]).exit_code == 0

    rotated = runner.invoke(app, ["connections", "rotate-keys", "--tenant", slug])
    assert rotated.exit_code == 0, rotated.output
    assert json.loads(rotated.stdout) == {"tenant": slug, "rotated": 0}

    unknown_tenant = runner.invoke(app, ["connections", "rotate-keys", "--tenant", "no-such-shop"])
    assert unknown_tenant.exit_code == 2
    assert "tenant 'no-such-shop' not found (not_found)" in unknown_tenant.output

    unknown = runner.invoke(
        app, ["connections", "resync", "--tenant", slug, "--connection", "con_nope"]
    )
    assert unknown.exit_code == 2
    assert "connection 'con_nope' not found (not_found)" in unknown.output


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("OMNI_DISPATCHER_LINGER_SECONDS", "-1", "greater than or equal to 0"),
        ("OMNI_DISPATCHER_LINGER_SECONDS", "6", "less than or equal to 5"),
        ("OMNI_PORT", "eighty", "valid integer"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = runner.invoke(app, ["worker", "--once"])
    assert result.exit_code == 2
    assert f"the setting {variable} is not valid" in result.output
    assert reason in result.output
    assert "Traceback" not in result.output
    assert value not in result.output.replace(reason, "")
