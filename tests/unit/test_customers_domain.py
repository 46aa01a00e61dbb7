"""Identities are normalised before matching, so one person is one customer."""

from __future__ import annotations

import pytest

from omniretail.customers.domain import (
    IdentityType,
    InvalidIdentity,
    favourite_location,
    new_public_id,
    normalise_identity,
)


@pytest.mark.parametrize(
    "written",
    ["138 0013 8000", "+86 13800138000", "8613800138000", "13800138000", "(+86) 138-0013-8000"],
)
def test_every_way_of_writing_a_mainland_mobile_is_one_number(written: str) -> None:
    assert normalise_identity(IdentityType.PHONE, written) == "+8613800138000"


@pytest.mark.parametrize("garbage", ["", "call me", "123", "+86 1", "138001380001234567"])
def test_garbage_is_not_a_phone_number(garbage: str) -> None:
    with pytest.raises(InvalidIdentity):
        normalise_identity(IdentityType.PHONE, garbage)


def test_foreign_numbers_keep_their_country() -> None:
    assert normalise_identity(IdentityType.PHONE, "+1 650 253 0000") == "+16502530000"


def test_emails_are_trimmed_and_lower_cased_and_checked() -> None:
    assert normalise_identity(IdentityType.EMAIL, "  Li.Wei@Example.COM ") == "li.wei@example.com"
    with pytest.raises(InvalidIdentity):
        normalise_identity(IdentityType.EMAIL, "not-an-email")


def test_opaque_ids_are_trimmed_but_otherwise_exact() -> None:
    assert normalise_identity(IdentityType.WECHAT_OPENID, " oAbC-12 ") == "oAbC-12"
    with pytest.raises(InvalidIdentity):
        normalise_identity(IdentityType.MEMBER_CARD, "has space")


def test_public_ids_are_random_and_prefixed() -> None:
    ids = {new_public_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("cus_") and len(i) == 24 for i in ids)


def test_the_favourite_store_has_the_most_visits_and_ties_are_stable() -> None:
    assert favourite_location([("ST-2", 1), ("ST-1", 2), ("ST-2", 2)]) == "ST-2"
    assert favourite_location([("ST-2", 1), ("ST-1", 1)]) == "ST-1"
    assert favourite_location([]) is None
