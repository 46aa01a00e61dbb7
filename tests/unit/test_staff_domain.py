"""Staff rules without a database: roles map onto the API roles, lock-out, passwords, masks."""

from __future__ import annotations

import datetime as dt

import pytest

from omniretail.auth.domain import Permission
from omniretail.auth.staff_domain import (
    LOCK_MINUTES,
    MAX_FAILURES,
    Lockout,
    StaffRole,
    after_failure,
    check_password_strength,
    hash_password,
    locked,
    mask_phone,
    password_matches,
    staff_allows,
)

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [
        (StaffRole.STORE_CLERK, Permission.FULFIL, True),
        (StaffRole.STORE_CLERK, Permission.CATALOG_WRITE, False),
        (StaffRole.STORE_MANAGER, Permission.MANAGE_KEYS, False),
        (StaffRole.ANALYST, Permission.READ, True),
        (StaffRole.ANALYST, Permission.FULFIL, False),
        (StaffRole.OPS, Permission.MANAGE_KEYS, False),
        (StaffRole.ADMIN, Permission.MANAGE_KEYS, True),
    ],
)
def test_a_staff_role_has_exactly_its_api_roles_permissions(
    role: StaffRole, permission: Permission, allowed: bool
) -> None:
    assert staff_allows(role, permission) is allowed


def test_the_account_locks_after_the_last_allowed_failure_and_unlocks_later() -> None:
    state = Lockout(0, None)
    for _ in range(MAX_FAILURES - 1):
        state = after_failure(state, NOW)
        assert not locked(state, NOW)
    state = after_failure(state, NOW)
    assert locked(state, NOW)
    assert not locked(state, NOW + dt.timedelta(minutes=LOCK_MINUTES, seconds=1))


def test_passwords_are_hashed_with_argon2_and_checked() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert password_matches("correct horse battery", stored)
    assert not password_matches("wrong horse battery", stored)
    assert not password_matches("anything", "not a hash")
    assert check_password_strength("short") is not None
    assert check_password_strength("long enough password") is None


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13800138000", "138****8000"),
        ("+8613800138000", "138****8000"),
        ("12345", "*****"),
        (None, None),
    ],
)
def test_phones_are_masked_for_the_counter(phone: str | None, masked: str | None) -> None:
    assert mask_phone(phone) == masked
