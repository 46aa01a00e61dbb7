"""Roles, permissions and API key material: pure rules, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from iso4217 import Currency


class Role(StrEnum):
    ADMIN = "admin"
    OPS = "ops"
    STORE = "store"
    CHANNEL = "channel"
    ANALYST = "analyst"
    # A SaaS operator's key: signs merchants up (new tenants), and sees nothing of any tenant.
    # Made only by `omni key create --role operator`, never over the API.
    OPERATOR = "operator"


class Permission(StrEnum):
    READ = "read"
    MANAGE_KEYS = "keys:manage"
    CHANNELS_WRITE = "channels:write"
    LOCATIONS_WRITE = "locations:write"
    LOCATION_SETTINGS = "locations:settings"  # a store may set its own hours and capacity
    CATALOG_WRITE = "catalog:write"
    PRICING_WRITE = "pricing:write"
    STOCK_WRITE = "stock:write"
    RESERVE = "stock:reserve"
    ORDERS_WRITE = "orders:write"
    FULFIL = "fulfillment:act"
    PICKUP_VERIFY = "pickup:verify"
    RETURNS_WRITE = "returns:write"
    CUSTOMERS_WRITE = "customers:write"
    EVENTS_WRITE = "events:write"
    LOYALTY_WRITE = "loyalty:write"
    LOYALTY_ADMIN = "loyalty:admin"  # adjust balances, set rules and plans: admin only
    ROUTING_WRITE = "routing:write"
    ANALYTICS_READ = "analytics:read"  # the data hub: HQ and analysts; a store its own figures
    TENANT_SETTINGS = "tenant:settings"  # read and change the tenant's settings: admin only
    CONNECTIONS_MANAGE = "connections:manage"  # platform credentials and mappings: admin only
    ENGAGEMENT_WRITE = "engagement:write"  # message customers, run campaigns: head office
    WEBHOOKS_MANAGE = "webhooks:manage"  # send tenant data to merchant URLs: admin only
    TENANTS_CREATE = "tenants:create"  # sign a new merchant up: the SaaS operator only


# Everything a tenant's own keys may be given: creating tenants is no tenant's business.
_ALL = frozenset(Permission) - {Permission.TENANTS_CREATE}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: _ALL,
    Role.OPS: _ALL
    - {
        Permission.MANAGE_KEYS,
        Permission.LOYALTY_WRITE,
        Permission.LOYALTY_ADMIN,
        Permission.TENANT_SETTINGS,
        Permission.CONNECTIONS_MANAGE,
        Permission.WEBHOOKS_MANAGE,
    },
    Role.STORE: frozenset(
        {
            Permission.READ,
            Permission.LOCATION_SETTINGS,
            Permission.STOCK_WRITE,
            Permission.RESERVE,
            Permission.ORDERS_WRITE,
            Permission.FULFIL,
            Permission.PICKUP_VERIFY,
            Permission.RETURNS_WRITE,
            Permission.CUSTOMERS_WRITE,
            Permission.EVENTS_WRITE,
            Permission.LOYALTY_WRITE,
            Permission.ANALYTICS_READ,
        }
    ),
    Role.CHANNEL: frozenset(
        {
            Permission.READ,
            Permission.RESERVE,
            Permission.ORDERS_WRITE,
            Permission.CUSTOMERS_WRITE,
            Permission.EVENTS_WRITE,
            Permission.LOYALTY_WRITE,
            Permission.RETURNS_WRITE,
        }
    ),
    Role.ANALYST: frozenset({Permission.READ, Permission.ANALYTICS_READ}),
    Role.OPERATOR: frozenset({Permission.TENANTS_CREATE}),
}


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: one tenant, one role, maybe one location or channel."""

    tenant_id: int
    tenant_slug: str
    currency: str
    timezone: str
    key_id: int
    role: Role
    location_id: int | None = None
    location_code: str | None = None
    channel_id: int | None = None
    channel_code: str | None = None
    locale: str = "en"  # the tenant's locale setting: the language of its error messages

    def can(self, permission: Permission) -> bool:
        return role_allows(self.role, permission)


KEY_PREFIX = "omk"
_KEY_RE = re.compile(r"^omk_([a-z0-9]{10})_([A-Za-z0-9_-]{32,64})$")
_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class NewKey:
    plaintext: str
    lookup: str
    secret_hash: str


def generate_key() -> NewKey:
    """A key is ``omk_<lookup>_<secret>``; only the lookup and a hash of the secret are stored.

    The secret has 256 bits of entropy, so a fast hash (SHA-256) is enough: a slow password hash
    guards low-entropy secrets, which these are not.
    """
    lookup = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(10))
    secret = secrets.token_urlsafe(32)
    return NewKey(f"{KEY_PREFIX}_{lookup}_{secret}", lookup, hash_secret(secret))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(plaintext: str) -> tuple[str, str] | None:
    match = _KEY_RE.match(plaintext)
    if match is None:
        return None
    return match.group(1), match.group(2)


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def valid_slug(slug: str) -> bool:
    return bool(_SLUG_RE.match(slug))


# ISO 4217, from the published list (the iso4217 package): the codes that are money, with
# their minor units (CNY 2, JPY 0, KWD 3). Funds, metals and test codes have none: refused.
_MINOR_DIGITS: dict[str, int] = {
    currency.code: currency.exponent
    for currency in Currency
    if currency.exponent is not None and not currency.code.startswith("X")
}


def valid_currency(code: str) -> bool:
    """An ISO 4217 currency that has minor units (``ABC``, ``XAU`` and ``cny`` are not)."""
    return code in _MINOR_DIGITS


def minor_digits(currency: str) -> int:
    """Digits of the currency's minor unit: 2 for CNY (fen), 0 for JPY, 3 for KWD."""
    return _MINOR_DIGITS.get(currency, 2)


def merge_settings(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON Merge Patch (RFC 7396): objects merge key by key, ``null`` removes a key (the
    setting falls back to its default), anything else replaces."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            # Into nothing (or a non-object) a patch object still merges, so its nulls vanish.
            target = merged.get(key)
            merged[key] = merge_settings(target if isinstance(target, dict) else {}, value)
        else:
            merged[key] = value
    return merged


def changed_settings(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the settings whose value differs."""
    names: list[str] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict | None) and isinstance(new, dict | None) and (old or new):
            names += changed_settings(old or {}, new or {}, f"{prefix}{key}.")
        elif old != new:
            names.append(f"{prefix}{key}")
    return names
