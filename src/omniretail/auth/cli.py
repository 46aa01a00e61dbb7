"""``omni tenant``, ``omni key`` and ``omni staff``: merchants, their API keys and their
console users."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from omniretail import cli_support as cli
from omniretail.auth import service as auth
from omniretail.auth import staff
from omniretail.auth.domain import Role
from omniretail.auth.schemas import SettingsPatch
from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from omniretail.i18n import LOCALES, cli_locale, message

tenant_app = typer.Typer(help="Tenants (merchants).", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
staff_app = typer.Typer(
    help="Staff users: people who sign in to the console.", no_args_is_help=True
)


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
        cli.fail(f"--locale is one of {', '.join(LOCALES)}")
        raise typer.Exit(2)

    async def work(db: Database) -> dict[str, Any]:
        async with db.uow(unscoped=True) as uow:
            return await auth.do_create_tenant(
                uow, slug=slug, name=name, currency=currency, timezone=timezone, locale=locale
            )

    cli.print_json(cli.run(work))


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
        cli.err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc

    async def work(db: Database) -> dict[str, Any]:
        async with db.uow(await cli.tenant_id(db, tenant)) as uow:
            if set_:
                out = await auth.do_change_settings(uow, patch=patch, actor="cli")
            else:
                out = await auth.get_settings(uow)
        return out.model_dump(mode="json")

    cli.print_json(cli.run(work))


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

    for tenant in cli.run(work):
        cli.print_json(tenant)


@key_app.command("list")
def key_list(tenant: Annotated[str, typer.Option(help="tenant slug")]) -> None:
    """The tenant's keys (never their secrets), revoked ones included, one JSON per line."""

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.uow(await cli.tenant_id(db, tenant)) as uow:
            return await auth.list_keys(uow)

    for key in cli.run(work):
        cli.print_json(key)


@key_app.command("revoke")
def key_revoke(
    key_id: Annotated[int, typer.Argument(help="the key's id (omni key list)", min=1)],
    tenant: Annotated[str, typer.Option(help="tenant slug")],
) -> None:
    """Revoke a key at once: its next request is 401."""

    async def work(db: Database) -> None:
        async with db.uow(await cli.tenant_id(db, tenant)) as uow:
            await auth.do_revoke_key(uow, key_id=key_id)

    cli.run(work)
    cli.err.print(message("key_revoked", cli_locale(), key_id=key_id))


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
        async with db.uow(await cli.tenant_id(db, tenant)) as uow:
            return await auth.do_create_key(
                uow,
                role=role,
                location=location,
                channel=channel,
                label=label,
                operator_allowed=True,
            )

    cli.print_json(cli.run(work))


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
        async with db.uow(await cli.tenant_id(db, tenant)) as uow:
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

    cli.print_json(cli.run(work))
