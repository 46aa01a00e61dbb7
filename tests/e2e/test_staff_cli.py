"""`omni staff create` on both databases, and the demo's staff sign-ins that work in the console."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from typer.testing import CliRunner

from omniretail.auth.staff import sign_in
from omniretail.cli import app
from omniretail.config import Settings
from omniretail.db import Database
from omniretail.demo import DEMO_SLUG, seed_demo

runner = CliRunner()
PASSWORD = "a long enough password"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, backend_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    url = backend_urls[request.param]
    monkeypatch.setenv("OMNI_DATABASE_URL", url)
    return url


def _tenant_with_store() -> str:
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    created = runner.invoke(app, ["tenant", "create", slug, "--name", "CLI shop"])
    assert created.exit_code == 0, created.output
    return slug


def test_staff_create_makes_an_hq_user_who_can_sign_in(database_url: str) -> None:
    slug = _tenant_with_store()
    made = runner.invoke(
        app,
        ["staff", "create", "--tenant", slug, "--role", "admin", "--name", "Wang Fang",
         "--email", "Wang@Example.com"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert PASSWORD not in made.stdout
    body = json.loads(made.stdout[made.stdout.index("{") :])
    assert body["login"] == "wang@example.com"
    assert body["role"] == "admin"

    async def signs_in() -> str:
        db = Database(Settings(database_url=database_url, run_dispatcher=False))
        try:
            who = await sign_in(db, tenant=slug, login="WANG@example.com", password=PASSWORD)
        finally:
            await db.dispose()
        return who.role.value

    assert asyncio.run(signs_in()) == "admin"


@pytest.mark.usefixtures("database_url")
def test_bad_staff_input_exits_non_zero_and_creates_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slug = _tenant_with_store()
    monkeypatch.setenv("OMNI_STAFF_PASSWORD", PASSWORD)
    no_store = runner.invoke(
        app, ["staff", "create", "--tenant", slug, "--role", "store_clerk", "--name", "X",
              "--email", "x@example.com"],
    )  # fmt: skip
    assert no_store.exit_code == 2
    assert "location" in no_store.output
    unknown_store = runner.invoke(
        app, ["staff", "create", "--tenant", slug, "--role", "store_clerk", "--name", "X",
              "--email", "x@example.com", "--location", "NOPE"],
    )  # fmt: skip
    assert unknown_store.exit_code == 2
    monkeypatch.setenv("OMNI_STAFF_PASSWORD", "short")
    weak = runner.invoke(
        app, ["staff", "create", "--tenant", slug, "--role", "ops", "--name", "X",
              "--email", "x@example.com"],
    )  # fmt: skip
    assert weak.exit_code == 2
    assert "password" in weak.output
    monkeypatch.setenv("OMNI_STAFF_PASSWORD", PASSWORD)
    made = runner.invoke(
        app, ["staff", "create", "--tenant", slug, "--role", "ops", "--name", "X",
              "--email", "x@example.com"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    again = runner.invoke(
        app, ["staff", "create", "--tenant", slug, "--role", "ops", "--name", "X",
              "--email", "X@example.com"],
    )  # fmt: skip
    assert again.exit_code == 2
    assert "already exists" in again.output


async def test_the_demo_prints_sign_ins_that_work(backend_urls: dict[str, str]) -> None:
    db = Database(Settings(database_url=backend_urls["sqlite"], run_dispatcher=False))
    try:
        result = await seed_demo(db)
        logins = {s["role"]: s for s in result["staff"]}
        assert set(logins) == {"admin", "store_clerk"}
        clerk = logins["store_clerk"]
        who = await sign_in(db, tenant=DEMO_SLUG, login=clerk["login"], password=clerk["password"])
        assert who.locations == tuple(clerk["locations"])
        again = await seed_demo(db)
        new_password = {s["role"]: s for s in again["staff"]}["admin"]["password"]
        hq = await sign_in(db, tenant=DEMO_SLUG, login="hq@lumen.example", password=new_password)
        assert hq.role.value == "admin"
    finally:
        await db.dispose()
