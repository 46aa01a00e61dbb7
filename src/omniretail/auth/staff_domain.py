"""Staff users (people who sign in to the console): roles, passwords, lock-out. Pure rules.

A staff role maps onto one of the API key roles, so a person can do in a page exactly what a
key of that role can do over HTTP, no more: the permission table is the one in ``domain``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from omniretail.auth.domain import Permission, Role, role_allows


class StaffRole(StrEnum):
    ADMIN = "admin"
    OPS = "ops"
    STORE_MANAGER = "store_manager"
    STORE_CLERK = "store_clerk"
    ANALYST = "analyst"


# The API role whose permissions each staff role has. A clerk and a manager are both "store":
# what tells them apart in the console (e.g. settings) is not a permission of the API.
API_ROLE: dict[StaffRole, Role] = {
    StaffRole.ADMIN: Role.ADMIN,
    StaffRole.OPS: Role.OPS,
    StaffRole.STORE_MANAGER: Role.STORE,
    StaffRole.STORE_CLERK: Role.STORE,
    StaffRole.ANALYST: Role.ANALYST,
}

STORE_ROLES = frozenset({StaffRole.STORE_MANAGER, StaffRole.STORE_CLERK})
LANGUAGES = ("zh-CN", "en")

# Lock-out: after MAX_FAILURES wrong passwords in a row the account refuses sign-ins (even
# with the right password) for LOCK_MINUTES; a right password before that resets the count.
MAX_FAILURES = 5
LOCK_MINUTES = 15
MIN_PASSWORD = 10

_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$")
_PHONE_RE = re.compile(r"^\+?[0-9]{6,20}$")
# Argon2id with the library's defaults (RFC 9106 low-memory profile).
_HASHER = PasswordHasher()


def staff_allows(role: StaffRole, permission: Permission) -> bool:
    return role_allows(API_ROLE[role], permission)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_matches(password: str, stored_hash: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A fixed hash to verify against when the account does not exist, so that an unknown e-mail
# takes as long to refuse as a wrong password (no account enumeration by timing).
DUMMY_HASH = _HASHER.hash("not a password of anyone")


def normalise_login(login: str) -> str:
    return login.strip().lower()


def valid_email(email: str) -> bool:
    return bool(_EMAIL_RE.match(email))


def valid_phone(phone: str) -> bool:
    return bool(_PHONE_RE.match(phone))


def check_password_strength(password: str) -> str | None:
    """Why this password is refused, or None."""
    if len(password) < MIN_PASSWORD:
        return f"at least {MIN_PASSWORD} characters"
    if len(password) > 256:
        return "at most 256 characters"
    return None


@dataclass(frozen=True, slots=True)
class Lockout:
    failures: int
    locked_until: dt.datetime | None


def locked(lockout: Lockout, now: dt.datetime) -> bool:
    return lockout.locked_until is not None and lockout.locked_until > now


def after_failure(lockout: Lockout, now: dt.datetime) -> Lockout:
    failures = lockout.failures + 1
    if failures >= MAX_FAILURES:
        return Lockout(0, now + dt.timedelta(minutes=LOCK_MINUTES))
    return Lockout(failures, None)


def mask_phone(phone: str | None) -> str | None:
    """138****8000: enough for the customer to recognise, not enough to copy."""
    if not phone:
        return None
    digits = phone.strip().replace(" ", "")
    if digits.startswith("+86"):  # mainland numbers are read without the country code
        digits = digits[3:]
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
