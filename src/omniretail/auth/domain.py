"""Roles, permissions and API key material: pure rules, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPS = "ops"
    STORE = "store"
    CHANNEL = "channel"
    ANALYST = "analyst"


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
    CONNECTIONS_MANAGE = "connections:manage"  # platform credentials and mappings: admin only


_ALL = frozenset(Permission)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: _ALL,
    Role.OPS: _ALL
    - {
        Permission.MANAGE_KEYS,
        Permission.LOYALTY_WRITE,
        Permission.LOYALTY_ADMIN,
        Permission.CONNECTIONS_MANAGE,
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
    Role.ANALYST: frozenset({Permission.READ}),
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


# ISO 4217 currencies whose minor unit is not 2 digits; everything else has fen/cents.
_MINOR_DIGITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3}
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def valid_currency(code: str) -> bool:
    return bool(_CURRENCY_RE.match(code))


def minor_digits(currency: str) -> int:
    return _MINOR_DIGITS.get(currency, 2)
