"""The `omni` command: migrate, tenants and keys, serve, worker, demo."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import exc as sa_exc

from omniretail import __version__
from omniretail.analytics import projection as analytics
from omniretail.analytics import stock as analytics_stock
from omniretail.app import payment_providers
from omniretail.auth import service as auth
from omniretail.auth import staff
from omniretail.auth.domain import Role
from omniretail.auth.schemas import SettingsPatch
from omniretail.auth.staff_domain import StaffRole
from omniretail.config import Settings
from omniretail.connectors.cli import channel_sim, connections_app
from omniretail.consumers import NatsConsumers, purge_consumed_events
from omniretail.db import Database
from omniretail.demo import DEMO_SLUG, DEMO_STEPS, seed_demo
from omniretail.demo_history import has_history, seed_history
from omniretail.engagement import pairings
from omniretail.errors import DomainError
from omniretail.events import Dispatcher
from omniretail.i18n import LOCALES, choose_cli_locale, cli_locale, message
from omniretail.imports import service as imports
from omniretail.imports.encoding import DecodedFile, decode_csv, encode_csv
from omniretail.imports.service import Kind
from omniretail.inventory import service as inventory
from omniretail.jobs import build_jobs, run_due, run_jobs_forever
from omniretail.logs import configure_logging, logging_config
from omniretail.metrics import prepare_multiprocess_metrics
from omniretail.migrate import upgrade
from omniretail.payments.providers import SandboxProvider
from omniretail.problem_texts import problem_detail
from omniretail.relay import NatsRelay
from omniretail.webhooks.delivery import WebhookSender
from omniretail.wiring import build_registry, nats_groups

app = typer.Typer(help="Omniretail: omnichannel retail platform.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants (merchants).", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(key_app, name="key")
inventory_app = typer.Typer(help="Stock: checks of the ledger.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
app.add_typer(connections_app, name="connections")
app.command("channel-sim")(channel_sim)
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
staff_app = typer.Typer(
    help="Staff users: people who sign in to the console.", no_args_is_help=True
)
app.add_typer(staff_app, name="staff")
err = Console(stderr=True, soft_wrap=True)

T = TypeVar("T")


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run an async use case with a fresh database handle; domain errors exit non-zero."""

    async def main() -> T:
        db = Database(Settings())
        try:
            return await work(db)
        finally:
            await db.dispose()

    with _database_errors():
        try:
            return asyncio.run(main())
        except DomainError as exc:
            locale = exc.extra.pop("locale", None) or cli_locale()
            detail = exc.detail if exc.locale else problem_detail(exc.code, locale, exc.detail)
            _fail(f"{detail} ({exc.code})")
            for item in exc.extra.get("errors", []):
                where = message("line", locale, line=item["line"]) + ", " if "line" in item else ""
                err.print(f"  - {where}{item.get('field')}: {item.get('message')}")
            raise typer.Exit(2) from exc


def _fail(text: str) -> None:
    err.print(f"[red]{message('error', cli_locale())}:[/red] {text}", highlight=False)


@contextlib.contextmanager
def _database_errors() -> Iterator[None]:
    """An unreachable or unmigrated database is one line on stderr and exit 3, no traceback."""
    try:
        yield
    except (OSError, sa_exc.DBAPIError, sa_exc.ArgumentError) as exc:
        url = sa.engine.make_url(Settings().database_url).render_as_string(hide_password=True)
        original = getattr(exc, "orig", None) or exc
        reason = (str(original).strip().splitlines() or [type(original).__name__])[0]
        unreachable = isinstance(exc, OSError | sa_exc.InterfaceError) or any(
            hint in reason.lower() for hint in ("connect", "unable to open", "does not exist")
        )
        key = "database_unreachable" if unreachable else "database_error"
        _fail(message(key, cli_locale(), url=url, reason=reason))
        raise typer.Exit(3) from None


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
        _fail(f"--lang is one of {', '.join(LOCALES)}")
        raise typer.Exit(2)
    choose_cli_locale(lang)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False))


@app.command()
def migrate() -> None:
    """Bring the database (OMNI_DATABASE_URL) to the latest schema."""
    with _database_errors():
        upgrade(Settings().database_url)
    err.print("[green]database is at the latest schema[/green]")


@tenant_app.command("create")
def tenant_create(
    slug: str,
    name: Annotated[str, typer.Option(help="display name")],
    currency: Annotated[str, typer.Option(help="ISO 4217, one per tenant")] = "CNY",
    timezone: Annotated[str, typer.Option(help="IANA time zone")] = "Asia/Shanghai",
    locale: Annotated[
        str | None, typer.Option(help="en or zh-CN: the language of its files' error reports")
    ] = None,
) -> None:
    """Create a tenant; prints its first admin key (shown only once)."""
    if locale is not None and locale not in LOCALES:
        _fail(f"--locale is one of {', '.join(LOCALES)}")
        raise typer.Exit(2)

    async def work(db: Database) -> dict[str, Any]:
        async with db.uow(unscoped=True) as uow:
            return await auth.do_create_tenant(
                uow, slug=slug, name=name, currency=currency, timezone=timezone, locale=locale
            )

    _print_json(_run(work))


@tenant_app.command("settings")
def tenant_settings(
    tenant: Annotated[str, typer.Argument(help="tenant slug")],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="NAME=VALUE, VALUE as JSON (e.g. max_shipments=2, delivery_fees.ship=800, "
            "returns.window_days=14, allow_negative_stock=true, max_shipments=null to reset)",
        ),
    ] = None,
) -> None:
    """Print every tenant setting; with --set, change some first (validated and audited)."""
    try:
        patch = SettingsPatch.model_validate(settings_patch(set_ or []))
    except (ValueError, ValidationError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc

    async def work(db: Database) -> dict[str, Any]:
        async with db.uow(unscoped=True) as uow:
            tenant_id = await auth.tenant_id_by_slug(uow, tenant)
        async with db.uow(tenant_id) as uow:
            if set_:
                out = await auth.do_change_settings(uow, patch=patch, actor="cli")
            else:
                out = await auth.get_settings(uow)
        return out.model_dump(mode="json")

    _print_json(_run(work))


def settings_patch(assignments: list[str]) -> dict[str, Any]:
    """``a.b=1`` pairs to a nested merge patch; values are JSON, or a plain string."""
    patch: dict[str, Any] = {}
    for assignment in assignments:
        name, sep, raw = assignment.partition("=")
        if not sep or not name:
            raise ValueError(f"--set {assignment!r}: use NAME=VALUE")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        *parents, leaf = name.split(".")
        node = patch
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {assignment!r}: {part} is not a group of settings")
        node[leaf] = value
    return patch


@tenant_app.command("list")
def tenant_list() -> None:
    """Every tenant: slug, name, currency, time zone (one JSON object per line)."""

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.uow(unscoped=True) as uow:
            return await auth.list_tenants(uow)

    for tenant in _run(work):
        _print_json(tenant)


@key_app.command("list")
def key_list(tenant: Annotated[str, typer.Option(help="tenant slug")]) -> None:
    """The tenant's keys (never their secrets), revoked ones included, one JSON per line."""

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.uow(unscoped=True) as uow:
            tenant_id = await auth.tenant_id_by_slug(uow, tenant)
        async with db.uow(tenant_id) as uow:
            return await auth.list_keys(uow)

    for key in _run(work):
        _print_json(key)


@key_app.command("revoke")
def key_revoke(
    key_id: Annotated[int, typer.Argument(help="the key's id (omni key list)", min=1)],
    tenant: Annotated[str, typer.Option(help="tenant slug")],
) -> None:
    """Revoke a key at once: its next request is 401."""

    async def work(db: Database) -> None:
        async with db.uow(unscoped=True) as uow:
            tenant_id = await auth.tenant_id_by_slug(uow, tenant)
        async with db.uow(tenant_id) as uow:
            await auth.do_revoke_key(uow, key_id=key_id)

    _run(work)
    err.print(message("key_revoked", cli_locale(), key_id=key_id))


@key_app.command("create")
def key_create(
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    role: Annotated[
        Role,
        typer.Option(
            help="admin, ops, store, channel or analyst; operator for a SaaS operator's key "
            "that signs merchants up (POST /v1/signup)"
        ),
    ],
    location: Annotated[str | None, typer.Option(help="location code (store keys)")] = None,
    channel: Annotated[str | None, typer.Option(help="channel code (channel keys)")] = None,
    label: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create an API key; prints it once."""

    async def work(db: Database) -> dict[str, Any]:
        async with db.uow(unscoped=True) as uow:
            tenant_id = await auth.tenant_id_by_slug(uow, tenant)
        async with db.uow(tenant_id) as uow:
            return await auth.do_create_key(
                uow,
                role=role,
                location=location,
                channel=channel,
                label=label,
                operator_allowed=True,
            )

    _print_json(_run(work))


@staff_app.command("create")
def staff_create(
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    role: Annotated[
        StaffRole, typer.Option(help="admin, ops, store_manager, store_clerk, analyst")
    ],
    name: Annotated[str, typer.Option(help="the person's name")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, envvar="OMNI_STAFF_PASSWORD"
        ),
    ],
    email: Annotated[str | None, typer.Option(help="e-mail (the sign-in)")] = None,
    phone: Annotated[str | None, typer.Option(help="or a phone as the sign-in")] = None,
    location: Annotated[
        list[str] | None, typer.Option(help="store code (store roles; repeat)")
    ] = None,
    language: Annotated[str, typer.Option(help="zh-CN or en")] = "zh-CN",
    totp: Annotated[
        bool, typer.Option(help="require a TOTP code; prints its otpauth URI once")
    ] = False,
) -> None:
    """Create a staff user who signs in to the console at /console."""

    async def work(db: Database) -> dict[str, Any]:
        async with db.uow(unscoped=True) as uow:
            tenant_id = await auth.tenant_id_by_slug(uow, tenant)
        async with db.uow(tenant_id) as uow:
            return await staff.do_create_staff(
                uow,
                role=role,
                password=password,
                name=name,
                email=email,
                phone=phone,
                locations=location,
                language=language,
                totp=totp,
            )

    _print_json(_run(work))


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
    if count > 1:
        prepare_multiprocess_metrics()
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
) -> None:
    """Deliver outbox events and release expired stock holds (for deployments that run them
    apart from the API)."""
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
        await dispatcher.run_forever(stop, db.settings.dispatcher_poll_seconds)
        await jobs
        if consumers is not None:
            await consumers
        return 0

    delivered = _run(work)
    if once:
        err.print(f"delivered {delivered} events")


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
        deleted = _run(work)
    except ValueError as exc:
        _fail(str(exc))
        raise typer.Exit(2) from exc
    _print_json({"deleted": deleted})


@inventory_app.command("check")
def inventory_check(tenant: Annotated[str, typer.Option(help="tenant slug")]) -> None:
    """Prove every position equals its ledger and its held reservations; exit 1 on drift."""

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.uow(unscoped=True) as uow:
            tenant_id = await auth.tenant_id_by_slug(uow, tenant)
        async with db.uow(tenant_id) as uow:
            return [dataclasses.asdict(d) for d in await inventory.check_ledger(uow)]

    drift = _run(work)
    _print_json({"tenant": tenant, "ok": not drift, "drift": drift})
    if drift:
        raise typer.Exit(1)


@app.command("import")
def import_file(
    kind: Annotated[Kind, typer.Argument(help="locations or products")],
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check only")] = False,
) -> None:
    """Import a CSV file (UTF-8, UTF-16, GBK or GB18030): every row or none; bad rows are
    listed with their line numbers."""
    decoded = decode_file(path)

    async def work(db: Database) -> dict[str, Any]:
        async with db.uow(unscoped=True) as uow:
            tenant_id = await auth.tenant_id_by_slug(uow, tenant)
        async with db.uow(tenant_id) as uow:
            found = await auth.get_tenant(uow)
            currency, locale = found.currency, cli_locale((found.settings or {}).get("locale"))
        parsed = await imports.parse_file(kind, decoded.text, currency=currency)
        err.print(
            message(
                "file_read",
                locale,
                name=path.name,
                encoding=decoded.encoding,
                rows=parsed.rows,
            )
        )
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            task = progress.add_task(
                message("checking" if dry_run else "importing", locale, rows=parsed.rows),
                total=parsed.rows,
            )
            async with db.uow(tenant_id) as uow:
                try:
                    result = await imports.do_import(
                        uow, kind=kind, parsed=parsed, dry_run=dry_run, actor="cli", locale=locale
                    )
                except DomainError as exc:
                    exc.extra["locale"] = locale  # the report's language, for _run's lines
                    raise
            progress.update(task, completed=parsed.rows)
        if not result.error_count:
            verb = message("checked" if dry_run else "imported", locale)
            err.print(
                message(
                    "import_done",
                    locale,
                    rows=result.rows,
                    verb=verb,
                    created=result.created,
                    updated=result.updated,
                )
            )
        return result.model_dump()

    _print_json(_run(work))


def decode_file(path: Path) -> DecodedFile:
    try:
        return decode_csv(path.read_bytes(), locale=cli_locale())
    except DomainError as exc:
        _fail(f"{path.name}: {exc.detail}")
        for item in exc.extra.get("errors", []):
            err.print(f"  - {item.get('message')}")
        raise typer.Exit(2) from exc


@app.command("export")
def export_file(
    kind: Annotated[Kind, typer.Argument(help="locations or products")],
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
    bom: Annotated[
        bool, typer.Option("--bom", help="start with a UTF-8 byte-order mark, for Excel")
    ] = False,
) -> None:
    """Export as CSV (UTF-8), in the format `omni import` reads."""

    async def work(db: Database) -> str:
        async with db.uow(unscoped=True) as uow:
            tenant_id = await auth.tenant_id_by_slug(uow, tenant)
        async with db.uow(tenant_id) as uow:
            return await imports.export(uow, kind=kind)

    data = encode_csv(_run(work), bom=bom)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)
        err.print(message("wrote", cli_locale(), path=output))


@analytics_app.command("rebuild")
def analytics_rebuild(tenant: Annotated[str, typer.Option(help="tenant slug")]) -> None:
    """Rebuild the tenant's facts from scratch: sales and fulfilment facts by replaying the
    kept outbox events, stock facts by projecting the whole inventory ledger again."""

    async def work(db: Database) -> dict[str, int]:
        async with db.uow(unscoped=True) as uow:
            tenant_id = await auth.tenant_id_by_slug(uow, tenant)
        async with db.uow(tenant_id) as uow:
            events = await analytics.do_rebuild(uow)
            entries = await analytics_stock.do_rebuild_stock(uow)
        return {"events_replayed": events, "ledger_entries_projected": entries}

    _print_json({"tenant": tenant, **_run(work)})


@engagement_app.command("rebuild-pairings")
def engagement_rebuild_pairings(tenant: Annotated[str, typer.Option(help="tenant slug")]) -> None:
    """Rebuild the tenant's pairings from scratch: drop its signals, pair counts and SKU
    counts and replay the kept outbox events that feed them, in order (after a change to how
    pairs are counted, or to repair them)."""

    async def work(db: Database) -> dict[str, int]:
        async with db.uow(unscoped=True) as uow:
            tenant_id = await auth.tenant_id_by_slug(uow, tenant)
        async with db.uow(tenant_id) as uow:
            events = await pairings.do_rebuild_pairings(uow)
        return {"events_replayed": events}

    _print_json({"tenant": tenant, **_run(work)})


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
        err.print("[red]error:[/red] set OMNI_SANDBOX_PAYMENT_SECRET (the server's own) first")
        raise typer.Exit(2)
    if status not in ("captured", "declined"):
        err.print("[red]error:[/red] status is captured or declined")
        raise typer.Exit(2)
    signature = SandboxProvider(secret).sign(provider_ref, status, amount)
    _print_json(
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
        _fail(f"--locale is one of {', '.join(LOCALES)}")
        raise typer.Exit(2)
    with _database_errors():
        upgrade(Settings().database_url)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        task = progress.add_task(
            message("demo_step", cli_locale(), step="..."), total=len(DEMO_STEPS)
        )

        def step(name: str, done: int) -> None:
            progress.update(
                task, description=message("demo_step", cli_locale(), step=name), completed=done
            )

        result = _run(lambda db: seed_demo(db, locale=locale, progress=step))
        history: Any = None
        if days is not None:
            trading = progress.add_task(
                message("demo_step", cli_locale(), step="history"), total=days
            )

            def day_done(done: int, _total: int) -> None:
                progress.update(trading, completed=done)

            async def trade(db: Database) -> Any:
                async with db.uow(unscoped=True) as uow:
                    tenant_id = await auth.tenant_id_by_slug(uow, DEMO_SLUG)
                if await has_history(db, tenant_id):
                    return "already there"
                counts = await seed_history(db, tenant_id, days=days, progress=day_done)
                return dataclasses.asdict(counts)

            history = _run(trade)
    _print_json(
        {
            "tenant": result["tenant"],
            "admin_key": result["admin_key"],
            "console": "/console/sign-in",
            "staff": result["staff"],
            **({"history": history} if days is not None else {}),
        }
    )
    if not result["created"]:
        err.print(message("demo_exists", cli_locale()))


def main() -> None:
    app()
