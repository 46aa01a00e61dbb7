"""``omni import`` and ``omni export``: locations and products as CSV files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from omniretail import cli_support as cli
from omniretail.auth import service as auth
from omniretail.db import Database
from omniretail.errors import DomainError
from omniretail.i18n import cli_locale, message
from omniretail.imports import service as imports
from omniretail.imports.encoding import DecodedFile, decode_csv, encode_csv
from omniretail.imports.service import Kind


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
        tenant_id = await cli.tenant_id(db, tenant)
        async with db.uow(tenant_id) as uow:
            found = await auth.get_tenant(uow)
            currency, locale = found.currency, cli_locale((found.settings or {}).get("locale"))
        parsed = await imports.parse_file(kind, decoded.text, currency=currency)
        cli.err.print(
            message(
                "file_read",
                locale,
                name=path.name,
                encoding=decoded.encoding,
                rows=parsed.rows,
            )
        )
        with cli.progress() as progress:
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
            cli.err.print(
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

    cli.print_json(cli.run(work))


def decode_file(path: Path) -> DecodedFile:
    try:
        return decode_csv(path.read_bytes(), locale=cli_locale())
    except DomainError as exc:
        cli.fail(f"{path.name}: {exc.detail}")
        for item in exc.extra.get("errors", []):
            cli.err.print(f"  - {item.get('message')}")
        raise typer.Exit(2) from exc


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
        async with db.uow(await cli.tenant_id(db, tenant)) as uow:
            return await imports.export(uow, kind=kind)

    data = encode_csv(cli.run(work), bom=bom)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)
        cli.err.print(message("wrote", cli_locale(), path=output))
