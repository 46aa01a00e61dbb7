"""The NATS consumers' dedupe rows (consumed_events) are kept for their retention and then
deleted in bounded batches, by the worker's job and by ``omni consumers purge``; a redelivery
within the retention is still recognised as a repeat."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from omniretail.cli import app as cli
from omniretail.consumers import (
    DEFAULT_RETENTION,
    ConsumedEvent,
    check_retention,
    mark_consumed,
    purge_consumed_batch,
    purge_consumed_events,
)
from omniretail.db import Database, utcnow
from omniretail.events import Event
from omniretail.jobs import build_jobs
from omniretail.relay import DUPLICATE_WINDOW, STREAM_MAX_AGE
from tests.factories import TenantHandle

CONSUMER = "webhooks--order_placed"


def _events(tenant: TenantHandle, ids: range) -> list[Event]:
    return [Event(n, tenant.id, "order.placed", "order", f"o{n}", {}, utcnow()) for n in ids]


async def _consumed(db: Database, tenant: TenantHandle, ids: range, *, days_ago: float) -> None:
    """Mark the events handled as the consumers do, as if ``days_ago`` days ago."""
    async with db.uow(tenant.id) as uow:
        assert await mark_consumed(uow, CONSUMER, _events(tenant, ids)) == set(ids)
        await uow.session.execute(
            sa.update(ConsumedEvent)
            .where(ConsumedEvent.event_id.in_(list(ids)))
            .values(consumed_at=utcnow() - dt.timedelta(days=days_ago))
        )


async def _kept(db: Database, tenant: TenantHandle) -> list[int]:
    async with db.uow(tenant.id) as uow:
        rows = await uow.session.scalars(
            sa.select(ConsumedEvent.event_id).order_by(ConsumedEvent.event_id)
        )
        return list(rows)


async def test_rows_past_the_retention_go_and_recent_ones_stay(
    db: Database, tenant: TenantHandle
) -> None:
    await _consumed(db, tenant, range(1, 4), days_ago=30)
    await _consumed(db, tenant, range(4, 6), days_ago=14.5)
    await _consumed(db, tenant, range(6, 8), days_ago=13.5)
    await _consumed(db, tenant, range(8, 10), days_ago=0)
    deleted = await purge_consumed_events(db, retention=DEFAULT_RETENTION)
    assert deleted == 5
    assert await _kept(db, tenant) == [6, 7, 8, 9]
    assert await purge_consumed_events(db, retention=DEFAULT_RETENTION) == 0


async def test_one_batch_deletes_no_more_than_its_limit(db: Database, tenant: TenantHandle) -> None:
    await _consumed(db, tenant, range(1, 6), days_ago=30)
    async with db.uow(unscoped=True) as uow:
        done = await purge_consumed_batch(uow, before=utcnow() - DEFAULT_RETENTION, limit=2)
    assert done == 2
    assert len(await _kept(db, tenant)) == 3
    # The whole purge goes on batch after batch (2, 1, then done) until nothing old is left.
    assert await purge_consumed_events(db, retention=DEFAULT_RETENTION, batch=2) == 3
    assert await _kept(db, tenant) == []


async def test_a_redelivery_within_the_retention_is_still_a_repeat(
    db: Database, tenant: TenantHandle
) -> None:
    # Consumed 10 days ago: past the stream's max age, inside the retention.
    await _consumed(db, tenant, range(1, 4), days_ago=10)
    await _consumed(db, tenant, range(4, 6), days_ago=20)
    await purge_consumed_events(db, retention=DEFAULT_RETENTION)
    async with db.uow(tenant.id) as uow:
        fresh = await mark_consumed(uow, CONSUMER, _events(tenant, range(1, 6)))
    assert fresh == {4, 5}  # 1-3 are recognised and skipped; 4-5 had been purged


def test_a_retention_too_short_to_catch_a_redelivery_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        check_retention(STREAM_MAX_AGE)
    with pytest.raises(ValueError, match="too short"):
        build_jobs({}, consumed_events_retention=STREAM_MAX_AGE + DUPLICATE_WINDOW)
    check_retention(STREAM_MAX_AGE + DUPLICATE_WINDOW + dt.timedelta(seconds=1))
    assert DEFAULT_RETENTION > STREAM_MAX_AGE + DUPLICATE_WINDOW


async def test_the_workers_job_purges_by_the_configured_retention(
    db: Database, tenant: TenantHandle
) -> None:
    await _consumed(db, tenant, range(1, 3), days_ago=9)
    await _consumed(db, tenant, range(3, 5), days_ago=1)
    jobs = build_jobs({}, consumed_events_retention=dt.timedelta(days=8))
    [job] = [j for j in jobs if j.name == "purge consumed events"]
    assert await job.run(db, utcnow()) == 2
    assert await _kept(db, tenant) == [3, 4]


async def test_the_command_purges_and_refuses_a_too_short_retention(
    db: Database, tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNI_DATABASE_URL", db.settings.database_url)
    monkeypatch.setenv("OMNI_CONSUMED_EVENTS_RETENTION_DAYS", "20")
    await _consumed(db, tenant, range(1, 3), days_ago=25)
    await _consumed(db, tenant, range(3, 5), days_ago=15)
    runner = CliRunner()
    done = await asyncio.to_thread(runner.invoke, cli, ["consumers", "purge"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"deleted": 2}
    assert await _kept(db, tenant) == [3, 4]
    refused = await asyncio.to_thread(
        runner.invoke, cli, ["consumers", "purge", "--retention-days", "3"]
    )
    assert refused.exit_code == 2
    assert "too short" in refused.output
    assert await _kept(db, tenant) == [3, 4]
    done = await asyncio.to_thread(
        runner.invoke, cli, ["consumers", "purge", "--retention-days", "10"]
    )
    assert json.loads(done.stdout) == {"deleted": 2}
    assert await _kept(db, tenant) == []
