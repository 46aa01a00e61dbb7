from __future__ import annotations

import pytest

from omniretail.auth.domain import (
    Permission,
    Role,
    generate_key,
    minor_digits,
    role_allows,
    secret_matches,
    split_key,
    valid_currency,
    valid_slug,
)


def test_a_generated_key_splits_back_and_matches_only_its_hash() -> None:
    key = generate_key()
    parts = split_key(key.plaintext)
    assert parts is not None
    lookup, secret = parts
    assert lookup == key.lookup
    assert secret_matches(secret, key.secret_hash)
    assert not secret_matches(secret + "x", key.secret_hash)
    assert key.secret_hash not in key.plaintext


@pytest.mark.parametrize("text", ["", "Bearer x", "omk_short_abc", "omk_abcdefghij_" + "!" * 40])
def test_malformed_keys_do_not_split(text: str) -> None:
    assert split_key(text) is None


def test_analysts_only_read_and_only_admins_manage_keys() -> None:
    reads = {Permission.READ, Permission.ANALYTICS_READ}
    assert all(role_allows(Role.ANALYST, p) for p in reads)
    assert not any(role_allows(Role.ANALYST, p) for p in Permission if p not in reads)
    assert [r for r in Role if role_allows(r, Permission.MANAGE_KEYS)] == [Role.ADMIN]


def test_slugs_and_currencies() -> None:
    assert valid_slug("lumen-sh")
    assert not valid_slug("Lumen")
    assert not valid_slug("-x")
    assert valid_currency("CNY")
    assert not valid_currency("cny")
    assert minor_digits("CNY") == 2
    assert minor_digits("JPY") == 0
