"""The `omni` command: migrate, tenants and keys, serve, worker, demo."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from omniretail.auth import service as auth
from omniretail.auth.domain import Role
from omniretail.config import Settings
from omniretail.connectors.cli import channel_sim, connections_app
from omniretail.db import Database
from omniretail.demo import seed_demo
from omniretail.errors import DomainError
from omniretail.events import Dispatcher
from omniretail.imports import service as imports
from omniretail.imports.service import Kind
from omniretail.inventory import service as inventory
from omniretail.jobs import build_jobs, run_due, run_jobs_forever
from omniretail.migrate import upgrade
from omniretail.payments.providers import builtin_providers
from omniretail.wiring import build_registry

app = typer.Typer(help="Omniretail: omnichannel retail platform.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants (merchants).", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(key_app, name="key")
inventory_app = typer.Typer(help="Stock: checks of the ledger.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
app.add_typer(connections_app, name="connections")
app.command("channel-sim")(channel_sim)
err = Console(stderr=True)

T = TypeVar("T")


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run an async use case with a fresh database handle; domain errors exit non-zero."""

    async def main() -> T:
        db = Database(Settings())
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        err.print(f"[red]error:[/red] {exc.detail} ({exc.code})")
        for item in exc.extra.get("errors", []):
            where = f"line {item['line']}, " if "line" in item else ""
            err.print(f"  - {where}{item.get('field')}: {item.get('message')}")
        raise typer.Exit(2) from exc


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False))


@app.command()
def migrate() -> None:
    """Bring the database (OMNI_DATABASE_URL) to the latest schema."""
    upgrade(Settings().database_url)
    err.print("[green]database is at the latest schema[/green]")


@tenant_app.command("create")
def tenant_create(
    slug: str,
    name: Annotated[str, typer.Option(help="display name")],
    currency: Annotated[str, typer.Option(help="ISO 4217, one per tenant")] = "CNY",
    timezone: Annotated[str, typer.Option(help="IANA time zone")] = "Asia/Shanghai",
) -> None:
    """Create a tenant; prints its first admin key (shown only once)."""

    async def work(db: Database) -> dict[str, Any]:
        async with db.uow(unscoped=True) as uow:
            return await auth.do_create_tenant(
                uow, slug=slug, name=name, currency=currency, timezone=timezone
            )

    _print_json(_run(work))


@key_app.command("create")
def key_create(
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    role: Annotated[Role, typer.Option(help="admin, ops, store, channel or analyst")],
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
                uow, role=role, location=location, channel=channel, label=label
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
    uvicorn.run(
        "omniretail.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=count,
        log_level=settings.log_level,
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="deliver what is pending, then exit")] = False,
) -> None:
    """Deliver outbox events and release expired stock holds (for deployments that run them
    apart from the API)."""
    logging.basicConfig(level=logging.INFO)

    async def work(db: Database) -> int:
        dispatcher = Dispatcher(db, build_registry())
        providers = builtin_providers(db.settings.sandbox_payment_secret)
        if once:
            await run_due(db, build_jobs(providers), {}, 0.0)
            return await dispatcher.run_until_idle()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        jobs = asyncio.create_task(
            run_jobs_forever(
                db,
                build_jobs(providers, hold_expiry_seconds=db.settings.expiry_poll_seconds),
                stop,
            )
        )
        await dispatcher.run_forever(stop, db.settings.dispatcher_poll_seconds)
        await jobs
        return 0

    delivered = _run(work)
    if once:
        err.print(f"delivered {delivered} events")


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
    """Import a CSV file: every row or none; bad rows are listed with their line numbers."""
    text = path.read_text(encoding="utf-8-sig")

    async def work(db: Database) -> dict[str, Any]:
        async with db.uow(unscoped=True) as uow:
            tenant_id = await auth.tenant_id_by_slug(uow, tenant)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            task = progress.add_task(
                f"{'checking' if dry_run else 'importing'} {path.name}", total=1
            )
            async with db.uow(tenant_id) as uow:
                result = await imports.do_import(
                    uow, kind=kind, text=text, dry_run=dry_run, actor="cli"
                )
            progress.update(task, completed=1)
        return result.model_dump()

    _print_json(_run(work))


@app.command("export")
def export_file(
    kind: Annotated[Kind, typer.Argument(help="locations or products")],
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
) -> None:
    """Export as CSV, in the format `omni import` reads."""

    async def work(db: Database) -> str:
        async with db.uow(unscoped=True) as uow:
            tenant_id = await auth.tenant_id_by_slug(uow, tenant)
        async with db.uow(tenant_id) as uow:
            return await imports.export(uow, kind=kind)

    text = _run(work)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")


@app.command()
def demo() -> None:
    """Migrate, seed the demo retailer (once) and print an admin key for it."""
    upgrade(Settings().database_url)
    result = _run(seed_demo)
    _print_json({"tenant": result["tenant"], "admin_key": result["admin_key"]})
    if not result["created"]:
        err.print("demo tenant already there: issued a new admin key")


def main() -> None:
    app()
