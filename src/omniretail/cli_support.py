"""What every ``omni`` command shares: running a use case on a fresh database handle, the
one-line errors (localised) and their exit codes, JSON output, the progress bar."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import exc as sa_exc

from omniretail.auth import service as auth
from omniretail.config import Settings
from omniretail.db import Database
from omniretail.errors import DomainError
from omniretail.i18n import cli_locale, message
from omniretail.problem_texts import problem_detail

err = Console(stderr=True, soft_wrap=True)

T = TypeVar("T")


def run(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run an async use case with a fresh database handle; domain errors exit non-zero."""

    async def main() -> T:
        db = Database(Settings())
        try:
            return await work(db)
        finally:
            await db.dispose()

    with database_errors():
        try:
            return asyncio.run(main())
        except DomainError as exc:
            locale = exc.extra.pop("locale", None) or cli_locale()
            detail = exc.detail if exc.locale else problem_detail(exc.code, locale, exc.detail)
            fail(f"{detail} ({exc.code})")
            for item in exc.extra.get("errors", []):
                where = message("line", locale, line=item["line"]) + ", " if "line" in item else ""
                err.print(f"  - {where}{item.get('field')}: {item.get('message')}")
            raise typer.Exit(2) from exc


def fail(text: str) -> None:
    err.print(f"[red]{message('error', cli_locale())}:[/red] {text}", highlight=False)


@contextlib.contextmanager
def database_errors() -> Iterator[None]:
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
        fail(message(key, cli_locale(), url=url, reason=reason))
        raise typer.Exit(3) from None


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False))


async def tenant_id(db: Database, slug: str) -> int:
    """The id of the tenant named on the command line (unknown slug: a domain error)."""
    async with db.uow(unscoped=True) as uow:
        return await auth.tenant_id_by_slug(uow, slug)


def progress() -> Progress:
    """A progress bar on stderr, so that stdout stays the command's JSON."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
    )
