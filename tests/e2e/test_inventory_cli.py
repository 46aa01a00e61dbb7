"""`omni inventory check` proves the books balance, and exits non-zero on drift."""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from omniretail.cli import app
from omniretail.db import Database
from omniretail.inventory.models import StockPosition
from tests.factories import TenantHandle
from tests.inventory_factories import make_location, make_skus, receive

runner = CliRunner()


async def check(slug: str) -> Result:
    # The CLI runs its own event loop (asyncio.run), so it gets a thread of its own here.
    return await asyncio.to_thread(runner.invoke, app, ["inventory", "check", "--tenant", slug])


@pytest.fixture
def database_url(db: Database, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OMNI_DATABASE_URL", db.url)
    return db.url


async def test_the_check_passes_on_balanced_books_and_fails_on_drift(
    db: Database, tenant: TenantHandle, database_url: str
) -> None:
    await make_skus(db, tenant.id, "TEE")
    await make_location(db, tenant.id, "ST-1")
    await receive(db, tenant.id, "ST-1", "TEE", 4)

    ok = await check(tenant.slug)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) == {"tenant": tenant.slug, "ok": True, "drift": []}

    # Someone edits a position behind the ledger's back.
    async with db.uow(tenant.id) as uow:
        await uow.session.execute(
            sa.update(StockPosition).values(on_hand=StockPosition.on_hand + 1)
        )
    drift = await check(tenant.slug)
    assert drift.exit_code == 1
    assert json.loads(drift.stdout)["drift"] == [
        {
            "location": "ST-1",
            "sku": "TEE",
            "on_hand": 5,
            "ledger_on_hand": 4,
            "reserved": 0,
            "ledger_reserved": 0,
            "held_by_reservations": 0,
        }
    ]
    assert (await check("nope")).exit_code == 2
