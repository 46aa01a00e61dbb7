"""Pure rules of the customers context: identity normalisation, public ids, behaviour types."""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Iterable
from enum import IntEnum, StrEnum

import phonenumbers

DEFAULT_PHONE_REGION = "CN"


class IdentityType(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    WECHAT_UNIONID = "wechat_unionid"
    WECHAT_OPENID = "wechat_openid"
    DOUYIN_OPENID = "douyin_openid"
    XHS_USER_ID = "xhs_user_id"
    MEMBER_CARD = "member_card"


class BehaviourType(IntEnum):
    """Stored as a small integer: behaviour rows are the most numerous rows of a customer."""

    VIEW = 1
    TRY_ON = 2
    SCAN = 3
    ADD_TO_CART = 4
    STORE_VISIT = 5
    SEARCH = 6

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> BehaviourType:
        return cls[label.upper()]


BEHAVIOUR_LABELS = [t.label for t in BehaviourType]

_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_OPAQUE_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


class InvalidIdentity(ValueError):
    """The value cannot be an identity of that type; the message says why."""


def normalise_phone(value: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164, so '138 0013 8000', '+86 13800138000' and '8613800138000' are one number."""
    text = value.strip()
    digits = re.sub(r"[\s().-]", "", text)
    # A mainland number written with its country code but no '+' ('8613800138000').
    if region == "CN" and re.fullmatch(r"861\d{10}", digits):
        text = "+" + digits
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentity("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if not _EMAIL_RE.match(email) or len(email) > 254:
        raise InvalidIdentity("not an e-mail address")
    return email


def normalise_identity(type_: IdentityType, value: str) -> str:
    """The form in which an identity is stored and matched; raises InvalidIdentity."""
    if type_ is IdentityType.PHONE:
        return normalise_phone(value)
    if type_ is IdentityType.EMAIL:
        return normalise_email(value)
    opaque = value.strip()
    if not _OPAQUE_RE.match(opaque):
        raise InvalidIdentity("1-128 letters, digits or ._:@-")
    return opaque


def new_public_id() -> str:
    """Customer ids handed to clients are random, so they cannot be enumerated."""
    return "cus_" + secrets.token_hex(10)


def favourite_location(visits: Iterable[tuple[str, int]]) -> str | None:
    """The location with the most visits and orders; ties go to the smallest code (stable)."""
    counts: Counter[str] = Counter()
    for code, n in visits:
        counts[code] += n
    if not counts:
        return None
    return min(counts, key=lambda code: (-counts[code], code))
