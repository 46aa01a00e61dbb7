"""Use cases of the auth context: tenants, keys, and authenticating a request."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa

from omniretail.auth.cache import PrincipalCache, principal_cache
from omniretail.auth.domain import (
    Principal,
    Role,
    changed_settings,
    generate_key,
    merge_settings,
    secret_matches,
    split_key,
    valid_currency,
    valid_slug,
)
from omniretail.auth.models import ApiKey, Tenant, TenantSettingChange
from omniretail.auth.schemas import SettingChangeOut, SettingsOut, SettingsPatch
from omniretail.channels import service as channels
from omniretail.db import Database, UnitOfWork, utcnow
from omniretail.errors import AlreadyExists, NotFound, Unauthenticated, ValidationFailed
from omniretail.events import record_event
from omniretail.i18n import ENGLISH, LOCALES
from omniretail.network import service as network
from omniretail.scoped import (
    TENANT,
    TenantStatement,
    read_in,
    read_unscoped,
    tenant_statement,
    unscoped_statement,
)


def check_tenant_fields(slug: str, name: str, currency: str, timezone: str) -> None:
    errors: list[dict[str, Any]] = []
    if not valid_slug(slug):
        errors.append({"field": "slug", "message": "lowercase letters, digits and '-', 1-63"})
    if not name.strip() or len(name) > 200:
        errors.append({"field": "name", "message": "1-200 characters"})
    if not valid_currency(currency):
        errors.append({"field": "currency", "message": "an ISO 4217 code such as CNY"})
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors.append({"field": "timezone", "message": "an IANA time zone such as Asia/Shanghai"})
    if errors:
        raise ValidationFailed("invalid tenant", errors)


async def do_create_tenant(
    uow: UnitOfWork,
    *,
    slug: str,
    name: str,
    currency: str = "CNY",
    timezone: str = "Asia/Shanghai",
    locale: str | None = None,
) -> dict[str, Any]:
    """Create a tenant and its first admin key; the key is returned only here. ``locale``
    (en or zh-CN) is the language of its error messages; English when not given."""
    check_tenant_fields(slug, name, currency, timezone)
    if locale is not None and locale not in LOCALES:
        raise ValidationFailed(
            "invalid tenant", [{"field": "locale", "message": f"one of {', '.join(LOCALES)}"}]
        )
    existing = await uow.session.scalar(sa.select(Tenant.id).where(Tenant.slug == slug))
    if existing is not None:
        raise AlreadyExists(f"tenant {slug!r} already exists")
    tenant = Tenant(
        slug=slug,
        name=name,
        currency=currency,
        timezone=timezone,
        settings={"locale": locale} if locale else {},
    )
    uow.session.add(tenant)
    await uow.flush()
    key = await _add_key(uow, tenant_id=tenant.id, role=Role.ADMIN, label="first admin key")
    return {
        "tenant": slug,
        "name": name,
        "currency": currency,
        "timezone": timezone,
        "locale": locale or ENGLISH,
        "admin_key": key["key"],
    }


async def tenant_id_by_slug(uow: UnitOfWork, slug: str) -> int:
    tenant_id = await uow.session.scalar(sa.select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        raise NotFound("tenant", slug)
    return tenant_id


async def get_tenant(uow: UnitOfWork) -> Tenant:
    """The tenant's row, to change it (settings); readers take :func:`tenant_terms`."""
    tenant = await uow.session.get(Tenant, uow.require_tenant())
    if tenant is None:
        raise NotFound("tenant", uow.tenant_id)
    # Held for the unit of work: the session's identity map keeps unchanged rows only weakly.
    uow.session.info["tenant"] = tenant
    return tenant


@dataclass(frozen=True, slots=True)
class TenantTerms:
    """What use cases read of their tenant: its currency (fixed at creation), time zone and
    settings (``allow_negative_stock``, ``delivery_fees``, ...; missing keys take the reader's
    default), as its unit of work's transaction sees them. Shared by the unit of work's
    readers: never change ``settings`` in place."""

    id: int
    slug: str
    currency: str
    timezone: str
    settings: dict[str, Any]


TENANTS = cast(sa.Table, Tenant.__table__)
_TERMS_HELD = "omni_tenant_terms"


def terms_statement(*columns: sa.ColumnElement[Any]) -> TenantStatement:
    """A statement reading the tenant's terms and ``columns`` (other contexts' scalar
    subqueries, each limited to the tenant: checked) in one round trip, for
    :func:`tenant_terms_with`. Build it once, at import."""
    return tenant_statement(
        sa.select(
            TENANTS.c.slug, TENANTS.c.currency, TENANTS.c.timezone, TENANTS.c.settings, *columns
        ).where(TENANTS.c.id == sa.bindparam(TENANT))
    )


_TERMS = terms_statement()


async def tenant_terms_with(
    uow: UnitOfWork, statement: TenantStatement, **params: Any
) -> tuple[TenantTerms, tuple[Any, ...]]:
    """The tenant's terms (as :func:`tenant_terms`, and held for the unit of work like them)
    and the values of the other columns of ``statement`` (:func:`terms_statement`), read in
    one statement."""
    row = next(iter(await read_in(uow, statement, **params)), None)
    if row is None:
        raise NotFound("tenant", uow.tenant_id)
    terms = _held_terms(uow, row)
    return terms, tuple(row[4:])


def _held_terms(uow: UnitOfWork, row: Any) -> TenantTerms:
    terms = TenantTerms(
        id=uow.require_tenant(),
        slug=row.slug,
        currency=row.currency,
        timezone=row.timezone,
        settings=dict(row.settings or {}),
    )
    uow.session.info[_TERMS_HELD] = terms
    return terms


async def tenant_terms(uow: UnitOfWork) -> TenantTerms:
    """The unit of work's tenant's terms, read in its transaction (never from a cache: the
    settings decide money, such as the delivery fee, and stock, such as negative stock), with
    one Core statement past the ORM (no identity map, no loader criteria; the row was ~25% of
    a price quote's CPU through ``session.get``). Held for the unit of work, so a use case that
    asks twice (SQLite's checkout confirms its quote, then places the order) reads once; a
    change of the settings in the same unit of work (:func:`do_change_settings`) drops it."""
    held: TenantTerms | None = uow.session.info.get(_TERMS_HELD)
    if held is not None:
        return held
    row = next(iter(await read_in(uow, _TERMS)), None)
    if row is None:
        raise NotFound("tenant", uow.tenant_id)
    return _held_terms(uow, row)


async def tenant_settings(uow: UnitOfWork) -> dict[str, Any]:
    """The tenant's settings (e.g. ``allow_negative_stock``), as stored; missing keys take the
    reader's default."""
    return dict((await tenant_terms(uow)).settings)


async def do_update_tenant_settings(uow: UnitOfWork, *, changes: dict[str, Any]) -> None:
    tenant = await get_tenant(uow)
    tenant.settings = {**(tenant.settings or {}), **changes}
    uow.session.info.pop(_TERMS_HELD, None)
    await uow.flush()


async def get_settings(uow: UnitOfWork) -> SettingsOut:
    """Every tenant setting with the value in force (defaults where none was set)."""
    tenant = await get_tenant(uow)
    return SettingsOut.model_validate({**(tenant.settings or {}), "timezone": tenant.timezone})


async def do_change_settings(uow: UnitOfWork, *, patch: SettingsPatch, actor: str) -> SettingsOut:
    """Apply a validated merge patch; a real change is written to the audit log and raised as
    ``tenant.settings_changed``. A patch that changes nothing leaves no trace."""
    tenant = await get_tenant(uow)
    before = dict(tenant.settings or {})
    changes = patch.model_dump(exclude_unset=True)
    # The time zone is the tenant's own column (the principal carries it), not a stored setting.
    timezone = changes.pop("timezone", tenant.timezone)
    if timezone is None:
        raise ValidationFailed(
            "invalid settings",
            [{"field": "timezone", "message": "the time zone cannot be unset"}],
        )
    after = merge_settings(before, changes)
    changed = changed_settings(before, after)
    audit_before, audit_after = before, after
    if timezone != tenant.timezone:
        changed = sorted([*changed, "timezone"])
        audit_before = {**before, "timezone": tenant.timezone}
        audit_after = {**after, "timezone": timezone}
    if changed:
        tenant.settings = after
        tenant.timezone = timezone
        uow.session.info.pop(_TERMS_HELD, None)
        uow.session.add(
            TenantSettingChange(
                actor=actor, changed=changed, before=audit_before, after=audit_after
            )
        )
        await uow.flush()
        # Principals carry the time zone and locale: other processes see a change within the
        # cache's one-second TTL, this one at once.
        tenant_id = tenant.id
        _forget_now_and_at_commit(uow, lambda cache: cache.forget_tenant(tenant_id))
        record_event(
            uow,
            "tenant.settings_changed",
            aggregate_type="tenant",
            aggregate_id=tenant.slug,
            payload={"changed": changed, "actor": actor},
        )
    return SettingsOut.model_validate({**after, "timezone": tenant.timezone})


async def setting_changes(
    uow: UnitOfWork, *, limit: int, after: Any = None
) -> list[tuple[int, SettingChangeOut]]:
    """The settings' audit log, newest first, keyed by id for paging."""
    query = sa.select(TenantSettingChange).order_by(TenantSettingChange.id.desc()).limit(limit + 1)
    if after is not None:
        if not isinstance(after, int):
            raise ValidationFailed(
                "invalid cursor", [{"field": "cursor", "message": "use next_cursor as given"}]
            )
        query = query.where(TenantSettingChange.id < after)
    return [
        (row.id, SettingChangeOut.model_validate(row)) for row in await uow.session.scalars(query)
    ]


async def do_create_key(
    uow: UnitOfWork,
    *,
    role: Role,
    location: str | None = None,
    channel: str | None = None,
    label: str | None = None,
    operator_allowed: bool = False,
) -> dict[str, Any]:
    """Create an API key in the unit of work's tenant; the plaintext is returned only here.
    An operator key (it signs up new tenants) only with ``operator_allowed``: the CLI, whose
    user already holds the database, never a tenant's admin over the API."""
    tenant_id = uow.require_tenant()
    if role is Role.OPERATOR and not operator_allowed:
        raise ValidationFailed(
            "operator keys are made with `omni key create --role operator`",
            [{"field": "role", "message": "admin, ops, store, channel or analyst"}],
        )
    if role is Role.STORE and location is None:
        raise ValidationFailed(
            "a store key needs a location",
            [{"field": "location", "message": "required for role store"}],
        )
    if role is Role.CHANNEL and channel is None:
        raise ValidationFailed(
            "a channel key needs a channel",
            [{"field": "channel", "message": "required for role channel"}],
        )
    location_ref = await network.location_ref(uow, location) if location else None
    channel_ref = await channels.channel_ref(uow, channel) if channel else None
    return await _add_key(
        uow,
        tenant_id=tenant_id,
        role=role,
        label=label,
        location=location_ref,
        channel=channel_ref,
    )


async def _add_key(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    role: Role,
    label: str | None,
    location: tuple[int, str] | None = None,
    channel: tuple[int, str] | None = None,
) -> dict[str, Any]:
    new = generate_key()
    row = ApiKey(
        tenant_id=tenant_id,
        lookup=new.lookup,
        secret_hash=new.secret_hash,
        role=role.value,
        label=label,
        location_id=location[0] if location else None,
        location_code=location[1] if location else None,
        channel_id=channel[0] if channel else None,
        channel_code=channel[1] if channel else None,
    )
    uow.session.add(row)
    await uow.flush()
    return {
        "id": row.id,
        "key": new.plaintext,
        "role": role.value,
        "location": row.location_code,
        "channel": row.channel_code,
        "label": label,
    }


def _forget_now_and_at_commit(uow: UnitOfWork, forget: Callable[[PrincipalCache], None]) -> None:
    """Drop cached principals now and again when ``uow`` commits: a request that reads the
    rows in between (still unchanged then) must not keep what it read for its second."""
    cache = principal_cache(uow.db)
    forget(cache)
    sa.event.listen(uow.session.sync_session, "after_commit", lambda _: forget(cache), once=True)


async def do_revoke_key(uow: UnitOfWork, *, key_id: int) -> None:
    row = await uow.session.get(ApiKey, key_id)
    if row is None or row.tenant_id != uow.tenant_id:
        raise NotFound("api key", key_id)
    row.revoked_at = row.revoked_at or utcnow()
    # Other processes see it when their cached entry turns one second old, this one at once.
    _forget_now_and_at_commit(uow, lambda cache: cache.forget_key(key_id))


async def authenticate(db: Database, authorization: str | None) -> Principal:
    """Resolve a ``Bearer`` header to a principal; any doubt is ``Unauthenticated``.

    A key verified less than a second ago is answered from the process's cache, with no query
    (see :mod:`omniretail.auth.cache`)."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthenticated("send 'Authorization: Bearer <api key>'")
    plaintext = authorization[len("Bearer ") :].strip()
    parts = split_key(plaintext)
    if parts is None:
        raise Unauthenticated("the API key is malformed")
    lookup, secret = parts
    return await principal_cache(db).principal(
        plaintext, lambda: _load_principal(db, lookup=lookup, secret=secret)
    )


_PRINCIPAL_COLUMNS = sa.select(
    ApiKey.secret_hash,
    ApiKey.revoked_at,
    Tenant.id,
    Tenant.slug,
    Tenant.currency,
    Tenant.timezone,
    ApiKey.id,
    ApiKey.role,
    ApiKey.location_id,
    ApiKey.location_code,
    ApiKey.channel_id,
    ApiKey.channel_code,
    Tenant.settings,
).join(Tenant, Tenant.id == ApiKey.tenant_id)


# Across tenants: the key's look-up is how the caller's tenant is found.
_PRINCIPAL_BY_LOOKUP = unscoped_statement(
    _PRINCIPAL_COLUMNS.where(ApiKey.lookup == sa.bindparam("lookup"))
)


async def _load_principal(db: Database, *, lookup: str, secret: str) -> Principal:
    # A hot read (no unit of work): on SQLite it never waits for (or holds) the write lock, nor
    # hops to a driver thread; on PostgreSQL one round trip on a hot-read connection.
    row = await read_unscoped(db, _PRINCIPAL_BY_LOOKUP, lookup=lookup)
    if row is None:
        raise Unauthenticated("unknown API key")
    secret_hash, revoked_at, *fields = row
    if revoked_at is not None or not secret_matches(secret, secret_hash):
        raise Unauthenticated("unknown API key")
    tenant_id, slug, currency, timezone, key_id, role, location_id, location_code, *rest = fields
    channel_id, channel_code, settings = rest
    return Principal(
        tenant_id=tenant_id,
        tenant_slug=slug,
        currency=currency,
        timezone=timezone,
        key_id=key_id,
        role=Role(role),
        location_id=location_id,
        location_code=location_code,
        channel_id=channel_id,
        channel_code=channel_code,
        locale=str((settings or {}).get("locale") or ENGLISH),
    )


async def list_tenants(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every tenant, oldest first (operators only: an unscoped unit of work)."""
    rows = (await uow.session.scalars(sa.select(Tenant).order_by(Tenant.id))).all()
    return [
        {
            "slug": t.slug,
            "name": t.name,
            "currency": t.currency,
            "timezone": t.timezone,
            "created_at": t.created_at.isoformat(),
        }
        for t in rows
    ]


async def list_keys(
    uow: UnitOfWork, *, limit: int | None = None, after: int | None = None
) -> list[dict[str, Any]]:
    """The tenant's API keys, without their secrets: the lookup part names a key in logs.
    Oldest first; with ``limit``, one page of ``limit + 1`` rows after the key id ``after``."""
    query = sa.select(ApiKey).order_by(ApiKey.id)
    if after is not None:
        query = query.where(ApiKey.id > after)
    if limit is not None:
        query = query.limit(limit + 1)
    rows = (await uow.session.scalars(query)).all()
    return [
        {
            "id": k.id,
            "prefix": f"omk_{k.lookup}_",
            "role": k.role,
            "location": k.location_code,
            "channel": k.channel_code,
            "label": k.label,
            "created_at": k.created_at.isoformat(),
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
        }
        for k in rows
    ]
