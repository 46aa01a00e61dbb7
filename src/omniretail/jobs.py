"""Periodic jobs: unpaid orders past their window, expired stock holds, points expiry, old
idempotency keys, old NATS consumers' dedupe rows, outbound messages, refunds owed through
payment gateways, delayed campaign checks and group buys whose window ended unfilled.
``omni worker`` runs them, and so does ``omni serve`` unless ``OMNI_RUN_DISPATCHER=false``.
Every job is safe to run in several processes at once: each change it makes is a conditional
update that only one of them can win (or, for the purges, a delete that finds nothing left).
Their units of work that may write take turns behind the platform pushes
(``omniretail.writer_turns.background_writes``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from omniretail.analytics.stock import project_stock_everywhere
from omniretail.consumers import DEFAULT_RETENTION, check_retention, purge_consumed_events
from omniretail.db import Database, utcnow
from omniretail.engagement.campaigns import evaluate_due_targets
from omniretail.engagement.domain import Medium
from omniretail.engagement.groupbuy_close import fail_due_groups_everywhere
from omniretail.engagement.messages import deliver_due_messages
from omniretail.engagement.senders import Sender, simulated_senders
from omniretail.idempotency import purge_idempotency_keys
from omniretail.inventory.jobs import release_expired_everywhere
from omniretail.loyalty.jobs import expire_points_everywhere
from omniretail.metrics import JOB_RUNS
from omniretail.orders import payments
from omniretail.payments.providers import PaymentProvider
from omniretail.payments.refunds import send_due_refunds
from omniretail.webhooks.delivery import WebhookSender, deliver_due_webhooks
from omniretail.writer_turns import background_writes

log = logging.getLogger("omniretail.jobs")

JobFn = Callable[[Database, dt.datetime], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    every_seconds: float
    run: JobFn


async def _purge_keys(db: Database, now: dt.datetime) -> int:
    async with db.uow(unscoped=True) as uow:
        return await purge_idempotency_keys(uow, older_than=dt.timedelta(hours=24))


def _purge_consumed(retention: dt.timedelta) -> JobFn:
    async def run(db: Database, now: dt.datetime) -> int:
        return await purge_consumed_events(db, retention=retention, now=now)

    return run


def _cancel_unpaid(providers: dict[str, PaymentProvider]) -> JobFn:
    async def run(db: Database, now: dt.datetime) -> int:
        async with db.uow(unscoped=True) as uow:
            tenants = await payments.tenants_with_unpaid_orders(
                uow, before=now - dt.timedelta(seconds=60)
            )
        cancelled = 0
        for tenant_id in tenants:
            async with db.uow(tenant_id) as uow:
                cancelled += await payments.do_cancel_unpaid_orders(
                    uow, providers=providers, now=now
                )
        return cancelled

    return run


def _send_refunds(providers: dict[str, PaymentProvider]) -> JobFn:
    async def run(db: Database, now: dt.datetime) -> int:
        return await send_due_refunds(db, providers, now=now)

    return run


async def _expire_points(db: Database, now: dt.datetime) -> int:
    return await expire_points_everywhere(db, now=now)


async def _release_expired_holds(db: Database, now: dt.datetime) -> int:
    return await release_expired_everywhere(db, now)


async def _evaluate_campaigns(db: Database, now: dt.datetime) -> int:
    return await evaluate_due_targets(db, now=now)


def _fail_unfilled_groups(providers: dict[str, PaymentProvider]) -> JobFn:
    async def run(db: Database, now: dt.datetime) -> int:
        return await fail_due_groups_everywhere(db, providers=providers, now=now)

    return run


def _deliver_messages(senders: Mapping[Medium, Sender]) -> JobFn:
    async def run(db: Database, now: dt.datetime) -> int:
        return await deliver_due_messages(db, senders, now=now)

    return run


def _deliver_webhooks(sender: WebhookSender) -> JobFn:
    async def run(db: Database, now: dt.datetime) -> int:
        return await deliver_due_webhooks(db, sender, now=now)

    return run


def build_jobs(
    providers: dict[str, PaymentProvider],
    *,
    hold_expiry_seconds: float = 5,
    senders: Mapping[Medium, Sender] | None = None,
    webhooks: WebhookSender | None = None,
    consumed_events_retention: dt.timedelta = DEFAULT_RETENTION,
) -> list[Job]:
    """``senders``: the message gateways (the local simulators unless given); ``webhooks``:
    how merchants' webhooks are sent (none are sent without it); ``consumed_events_retention``:
    how long the NATS consumers' dedupe rows are kept (refused if too short to dedupe)."""
    check_retention(consumed_events_retention)
    jobs = [
        Job("deliver messages", 5, _deliver_messages(senders or simulated_senders())),
        Job("evaluate campaigns", 30, _evaluate_campaigns),
        Job("release expired stock holds", hold_expiry_seconds, _release_expired_holds),
        Job("cancel unpaid orders", 30, _cancel_unpaid(providers)),
        Job("send gateway refunds", 5, _send_refunds(providers)),
        Job("fail unfilled group buys", 30, _fail_unfilled_groups(providers)),
        Job("expire points", 3600, _expire_points),
        Job("purge idempotency keys", 3600, _purge_keys),
        Job("purge consumed events", 3600, _purge_consumed(consumed_events_retention)),
        Job("project stock facts", 5, project_stock_everywhere),
    ]
    if webhooks is not None:
        jobs.insert(0, Job("deliver webhooks", 2, _deliver_webhooks(webhooks)))
    return jobs


async def run_due(db: Database, jobs: list[Job], last_run: dict[str, float], now: float) -> None:
    for job in jobs:
        if now - last_run.get(job.name, float("-inf")) < job.every_seconds:
            continue
        last_run[job.name] = now
        try:
            with background_writes():  # each unit of work a turn behind the platform pushes
                done = await job.run(db, utcnow())
        except Exception:
            JOB_RUNS.labels(job.name, "failed").inc()
            log.exception(
                "job %r failed; it runs again next time", job.name, extra={"job": job.name}
            )
        else:
            JOB_RUNS.labels(job.name, "ok").inc()
            if done:
                log.info("%s: %s", job.name, done, extra={"job": job.name, "changed": done})


async def run_jobs_forever(db: Database, jobs: list[Job], stop: asyncio.Event) -> None:
    last_run: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    # Wake as often as the most frequent job wants (webhook deliveries: 2 s), at most every 5 s.
    tick = max(0.5, min([5.0, *(job.every_seconds for job in jobs)]))
    while not stop.is_set():
        await run_due(db, jobs, last_run, loop.time())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=tick)
