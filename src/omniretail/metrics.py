"""Prometheus metrics, safe with several API processes.

Counters and histograms are recorded by the request middleware (:mod:`omniretail.observability`)
and by the job runner; the outbox and pool gauges are read when ``/metrics`` is scraped. With
``PROMETHEUS_MULTIPROC_DIR`` set (``omni serve --workers N`` sets it), every process writes its
samples there and any process answers ``/metrics`` with the sum of all of them.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import sqlalchemy as sa
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from omniretail.db import Database, utcnow
from omniretail.events import OutboxEvent
from omniretail.scoped import hot_read_use

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "omni_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "omni_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CHECKOUTS = Counter(
    "omni_checkouts_total",
    "Orders placed (POST /v1/orders) by outcome: placed, refused (4xx) or failed (5xx)",
    ["outcome"],
)
JOB_RUNS = Counter("omni_job_runs_total", "Periodic job runs", ["job", "outcome"])
OUTBOX_PENDING = Gauge(
    "omni_outbox_pending_events",
    "Outbox events not yet delivered",
    multiprocess_mode="mostrecent",
)
OUTBOX_LAG = Gauge(
    "omni_outbox_lag_seconds",
    "Age of the oldest undelivered outbox event",
    multiprocess_mode="mostrecent",
)
OUTBOX_DEAD = Gauge(
    "omni_outbox_dead_letters",
    "Outbox events given up after their last attempt",
    multiprocess_mode="mostrecent",
)
POOL_IN_USE = Gauge(
    "omni_db_pool_connections_in_use",
    "Database connections checked out of the pool, summed over live processes",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "omni_db_pool_size",
    "Database pool size, summed over live processes",
    multiprocess_mode="livesum",
)

HOT_READ_SIZE = Gauge(
    "omni_db_pool_hot_read_size",
    "Hot-read connections a process may open (PostgreSQL: OMNI_DB_HOT_READ_CONNECTIONS; "
    "SQLite: 1, its inline reader), summed over live processes",
    multiprocess_mode="livesum",
)
HOT_READ_OPEN = Gauge(
    "omni_db_pool_hot_read_connections_open",
    "Hot-read connections open, summed over live processes",
    multiprocess_mode="livesum",
)
HOT_READ_IN_USE = Gauge(
    "omni_db_pool_hot_read_connections_in_use",
    "Hot-read connections running a statement, summed over live processes",
    multiprocess_mode="livesum",
)
HOT_READ_WAITING = Gauge(
    "omni_db_pool_hot_read_waiting",
    "Hot reads queued for a hot-read connection, summed over live processes",
    multiprocess_mode="livesum",
)


def checkout_outcome(status: int) -> str:
    if status < 400:
        return "placed"
    return "refused" if status < 500 else "failed"


async def observe_database(db: Database) -> None:
    """Read the outbox, pool and hot-read gauges now (called on each scrape)."""
    pending = OutboxEvent.dispatched_at.is_(None) & OutboxEvent.dead_at.is_(None)
    async with db.uow(unscoped=True) as uow:
        row = (
            await uow.session.execute(
                sa.select(
                    sa.func.count().filter(pending),
                    sa.func.min(OutboxEvent.occurred_at).filter(pending),
                    sa.func.count().filter(OutboxEvent.dead_at.is_not(None)),
                )
            )
        ).one()
    count, oldest, dead = row
    OUTBOX_PENDING.set(count)
    OUTBOX_DEAD.set(dead)
    if isinstance(oldest, str):  # SQLite hands back aggregates untyped
        oldest = dt.datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    OUTBOX_LAG.set(max((utcnow() - oldest).total_seconds(), 0.0) if oldest else 0.0)
    pool = db.engine.pool
    checked_out = getattr(pool, "checkedout", None)
    size = getattr(pool, "size", None)
    POOL_IN_USE.set(checked_out() if callable(checked_out) else 0)
    POOL_SIZE.set(size() if callable(size) else 0)
    hot = hot_read_use(db)
    HOT_READ_SIZE.set(hot.size)
    HOT_READ_OPEN.set(hot.opened)
    HOT_READ_IN_USE.set(hot.in_use)
    HOT_READ_WAITING.set(hot.waiting)


def prepare_multiprocess_metrics() -> Path:
    """Before starting several API processes: give them one fresh directory to share samples
    through (``PROMETHEUS_MULTIPROC_DIR``, made here unless set, emptied of a previous run)."""
    configured = os.environ.get(MULTIPROC_ENV)
    directory = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="omni-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


def exposition() -> tuple[bytes, str]:
    """The text format Prometheus scrapes, summed over processes when multiprocess."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
