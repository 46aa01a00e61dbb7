"""The `omni` command: migrate, serve, worker, demo, and the groups of commands the
capabilities define (tenants and keys in ``auth.cli``, files in ``imports.cli``, connections in
``connectors.cli``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import signal
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError

from omniretail import __version__
from omniretail import cli_support as cli
from omniretail.analytics import projection as analytics
from omniretail.analytics import stock as analytics_stock
from omniretail.app import payment_providers
from omniretail.auth.cli import key_app, staff_app, tenant_app
from omniretail.config import Settings
from omniretail.connectors.cli import channel_sim, connections_app
from omniretail.consumers import NatsConsumers, purge_consumed_events
from omniretail.db import Database
from omniretail.demo import DEMO_SLUG, DEMO_STEPS, seed_demo
from omniretail.demo_history import has_history, seed_history
from omniretail.engagement import pairings
from omniretail.events import Dispatcher
from omniretail.i18n import LOCALES, choose_cli_locale, cli_locale, message
from omniretail.imports.cli import export_file, import_file
from omniretail.inventory import service as inventory
from omniretail.jobs import build_jobs, run_due, run_jobs_forever
from omniretail.logs import configure_logging, logging_config
from omniretail.metrics import prepare_multiprocess_metrics
from omniretail.migrate import upgrade
from omniretail.payments.providers import SandboxProvider
from omniretail.relay import NatsRelay
from omniretail.webhooks.delivery import WebhookSender
from omniretail.wiring import build_registry, nats_groups
from omniretail.worker_process import (
    listen_for_wakes,
    stop_listening,
    stop_with_parent,
    worker_beside,
)

app = typer.Typer(help="Omniretail: omnichannel retail platform.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(key_app, name="key")
app.add_typer(staff_app, name="staff")
inventory_app = typer.Typer(help="Stock: checks of the ledger.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
app.add_typer(connections_app, name="connections")
app.command("channel-sim")(channel_sim)
app.command("import")(import_file)
app.command("export")(export_file)
analytics_app = typer.Typer(help="The data hub's facts.", no_args_is_help=True)
app.add_typer(analytics_app, name="analytics")
engagement_app = typer.Typer(help="Engagement: pairings and suggestions.", no_args_is_help=True)
app.add_typer(engagement_app, name="engagement")
consumers_app = typer.Typer(
    help="NATS consumers' records of the events they handled.", no_args_is_help=True
)
app.add_typer(consumers_app, name="consumers")
sandbox_app = typer.Typer(help="The sandbox payment gateway (development).", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"omni {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="en or zh-CN: the language of messages and error reports "
            "(default OMNI_LANG, else the tenant's locale, else LANG)",
        ),
    ] = None,
) -> None:
    """Omniretail: omnichannel retail platform."""
    if lang is not None and lang not in LOCALES:
        cli.fail(f"--lang is one of {', '.join(LOCALES)}")
        raise typer.Exit(2)
    choose_cli_locale(lang)
    _check_settings()


def _check_settings() -> None:
    """A bad OMNI_* variable is a line naming it and exit 2 before any command runs, rather
    than a traceback from wherever the command first reads its settings. The value is not
    echoed: it may be a secret."""
    try:
        Settings()
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            name = f"OMNI_{field.upper()}"
            cli.fail(message("invalid_setting", cli_locale(), name=name, reason=error["msg"]))
        raise typer.Exit(2) from None


@app.command()
def migrate() -> None:
    """Bring the database (OMNI_DATABASE_URL) to the latest schema."""
    with cli.database_errors():
        upgrade(Settings().database_url)
    cli.err.print("[green]database is at the latest schema[/green]")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[
        int | None, typer.Option(help="default: CPU count on PostgreSQL, 1 on SQLite")
    ] = None,
) -> None:
    """Run the HTTP API (and the outbox dispatcher) with uvicorn."""
    settings = Settings()
    count = workers or settings.workers or (1 if settings.is_sqlite else (os.cpu_count() or 1))
    # On PostgreSQL the outbox is delivered by a worker process of its own (worker_process.py).
    beside = settings.run_dispatcher and not settings.is_sqlite
    if count > 1 or beside:
        prepare_multiprocess_metrics()
    with worker_beside() if beside else contextlib.nullcontext():
        _serve(settings, host, port, count)


def _serve(settings: Settings, host: str | None, port: int | None, count: int) -> None:
    uvicorn.run(
        "omniretail.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=count,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level),
        access_log=False,
        # The C event loop and HTTP parser (uvicorn[standard]); bench/floor.py runs under the same.
        loop="uvloop",
        http="httptools",
        # A worker that takes longer than uvicorn's 5 s to import on a busy machine is not dead:
        # killing and respawning it only delays the start.
        timeout_worker_healthcheck=30,
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="deliver what is pending, then exit")] = False,
    wake_socket: Annotated[str | None, typer.Option(hidden=True)] = None,
    parent_fd: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Deliver outbox events and release expired stock holds (for deployments that run them
    apart from the API)."""
    # --wake-socket and --parent-fd: the worker `omni serve` starts (worker_process.py).
    if parent_fd is not None and not _is_open(parent_fd):
        cli.fail(f"--parent-fd {parent_fd} is not an open file descriptor")
        raise typer.Exit(2)
    if wake_socket is not None and not os.path.isdir(os.path.dirname(wake_socket) or "."):
        cli.fail("--wake-socket must be a path in an existing folder")
        raise typer.Exit(2)
    configure_logging(Settings().log_level)

    async def work(db: Database) -> int:
        nats_url = db.settings.nats_url
        dispatcher = Dispatcher(
            db, build_registry(nats=bool(nats_url)), relay=NatsRelay(nats_url) if nats_url else None
        )
        providers = payment_providers(db.settings)
        webhooks = WebhookSender.from_settings(db.settings)
        retention = db.settings.consumed_events_retention
        if once:
            jobs_once = build_jobs(
                providers, webhooks=webhooks, consumed_events_retention=retention
            )
            await run_due(db, jobs_once, {}, 0.0)
            return await dispatcher.run_until_idle()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if parent_fd is not None:
            stop_with_parent(parent_fd, stop)
        listener = listen_for_wakes(wake_socket, dispatcher.wake) if wake_socket else None
        jobs = asyncio.create_task(
            run_jobs_forever(
                db,
                build_jobs(
                    providers,
                    hold_expiry_seconds=db.settings.expiry_poll_seconds,
                    webhooks=webhooks,
                    consumed_events_retention=retention,
                ),
                stop,
            )
        )
        consumers = (
            asyncio.create_task(NatsConsumers(nats_url, db, nats_groups()).run(stop))
            if nats_url
            else None
        )
        await dispatcher.run_forever(
            stop, db.settings.dispatcher_poll_seconds, db.settings.dispatcher_linger_seconds
        )
        await jobs
        if consumers is not None:
            await consumers
        if listener is not None:
            stop_listening(listener, parent_fd)
        return 0

    delivered = cli.run(work)
    if once:
        cli.err.print(f"delivered {delivered} events")


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


@consumers_app.command("purge")
def consumers_purge(
    retention_days: Annotated[
        float | None,
        typer.Option(help="keep this many days (default OMNI_CONSUMED_EVENTS_RETENTION_DAYS)"),
    ] = None,
) -> None:
    """Delete consumed-event records past their retention, in bounded batches (the worker does
    this hourly). A retention too short to catch a redelivery is refused."""

    async def work(db: Database) -> int:
        retention = (
            dt.timedelta(days=retention_days)
            if retention_days is not None
            else db.settings.consumed_events_retention
        )
        return await purge_consumed_events(db, retention=retention)

    try:
        deleted = cli.run(work)
    except ValueError as exc:
        cli.fail(str(exc))
        raise typer.Exit(2) from exc
    cli.print_json({"deleted": deleted})


@inventory_app.command("check")
def inventory_check(tenant: Annotated[str, typer.Option(help="tenant slug")]) -> None:
    """Prove every position equals its ledger and its held reservations; exit 1 on drift."""

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.uow(await cli.tenant_id(db, tenant)) as uow:
            return [dataclasses.asdict(d) for d in await inventory.check_ledger(uow)]

    drift = cli.run(work)
    cli.print_json({"tenant": tenant, "ok": not drift, "drift": drift})
    if drift:
        raise typer.Exit(1)


@analytics_app.command("rebuild")
def analytics_rebuild(tenant: Annotated[str, typer.Option(help="tenant slug")]) -> None:
    """Rebuild the tenant's facts from scratch: sales and fulfilment facts by replaying the
    kept outbox events, stock facts by projecting the whole inventory ledger again."""

    async def work(db: Database) -> dict[str, int]:
        async with db.uow(await cli.tenant_id(db, tenant)) as uow:
            events = await analytics.do_rebuild(uow)
            entries = await analytics_stock.do_rebuild_stock(uow)
        return {"events_replayed": events, "ledger_entries_projected": entries}

    cli.print_json({"tenant": tenant, **cli.run(work)})


@engagement_app.command("rebuild-pairings")
def engagement_rebuild_pairings(tenant: Annotated[str, typer.Option(help="tenant slug")]) -> None:
    """Rebuild the tenant's pairings from scratch: drop its signals, pair counts and SKU
    counts and replay the kept outbox events that feed them, in order (after a change to how
    pairs are counted, or to repair them)."""

    async def work(db: Database) -> dict[str, int]:
        async with db.uow(await cli.tenant_id(db, tenant)) as uow:
            events = await pairings.do_rebuild_pairings(uow)
        return {"events_replayed": events}

    cli.print_json({"tenant": tenant, **cli.run(work)})


@sandbox_app.command("sign")
def sandbox_sign(
    provider_ref: Annotated[str, typer.Argument(help="the payment's provider_ref")],
    status: Annotated[str, typer.Argument(help="captured or declined")],
    amount: Annotated[int, typer.Argument(help="the payment's amount in minor units")],
) -> None:
    """Print the callback body the sandbox gateway would send (HMAC-SHA256 of
    ``provider_ref|status|amount`` with OMNI_SANDBOX_PAYMENT_SECRET), to post to
    /v1/payments/sandbox/callback."""
    secret = Settings().sandbox_secret()
    if secret is None:
        cli.err.print("[red]error:[/red] set OMNI_SANDBOX_PAYMENT_SECRET (the server's own) first")
        raise typer.Exit(2)
    if status not in ("captured", "declined"):
        cli.err.print("[red]error:[/red] status is captured or declined")
        raise typer.Exit(2)
    signature = SandboxProvider(secret).sign(provider_ref, status, amount)
    cli.print_json(
        {"provider_ref": provider_ref, "status": status, "amount": amount, "signature": signature}
    )


@app.command()
def demo(
    days: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=3650,
            help="also trade for this many days up to now, through the real services "
            "(orders, pickups, parcels, returns, receipts): a history for the reports",
        ),
    ] = None,
    locale: Annotated[
        str,
        typer.Option(
            help="zh-CN or en: the language of the demo's store, product and channel names "
            "and of its tenant locale (codes and SKUs are the same in both)"
        ),
    ] = "zh-CN",
) -> None:
    """Migrate, seed the demo retailer (once) and print an admin key for it."""
    if locale not in LOCALES:
        cli.fail(f"--locale is one of {', '.join(LOCALES)}")
        raise typer.Exit(2)
    with cli.database_errors():
        upgrade(Settings().database_url)
    with cli.progress() as progress:
        task = progress.add_task(
            message("demo_step", cli_locale(), step="..."), total=len(DEMO_STEPS)
        )

        def step(name: str, done: int) -> None:
            progress.update(
                task, description=message("demo_step", cli_locale(), step=name), completed=done
            )

        result = cli.run(lambda db: seed_demo(db, locale=locale, progress=step))
        history: Any = None
        if days is not None:
            trading = progress.add_task(
                message("demo_step", cli_locale(), step="history"), total=days
            )

            def day_done(done: int, _total: int) -> None:
                progress.update(trading, completed=done)

            async def trade(db: Database) -> Any:
                tenant_id = await cli.tenant_id(db, DEMO_SLUG)
                if await has_history(db, tenant_id):
                    return "already there"
                counts = await seed_history(db, tenant_id, days=days, progress=day_done)
                return dataclasses.asdict(counts)

            history = cli.run(trade)
    cli.print_json(
        {
            "tenant": result["tenant"],
            "admin_key": result["admin_key"],
            "console": "/console/sign-in",
            "staff": result["staff"],
            **({"history": history} if days is not None else {}),
        }
    )
    if not result["created"]:
        cli.err.print(message("demo_exists", cli_locale()))


def main() -> None:
    app()
