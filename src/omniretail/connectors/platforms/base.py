"""What every platform plugin provides: verify, parse, acknowledge, push. Pure: no I/O."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Action(StrEnum):
    PAID = "paid"  # the buyer paid: the order becomes ours
    CANCELLED = "cancelled"  # closed or cancelled before shipping
    REFUNDED = "refunded"  # refund or after-sale on the platform
    IGNORED = "ignored"  # a message we store but do not act on (remarks, item audits...)


class MessageUnreadable(ValueError):
    """The body passed the signature check but is not in the platform's shape."""


@dataclass(frozen=True, slots=True)
class PlatformMessage:
    msg_id: str
    topic: str
    action: Action
    platform_order_id: str | None = None
    lines: tuple[tuple[str, int], ...] = ()
    paid_amount: int | None = None
    mode: str = "ship"  # ship, local_delivery or pickup, where the platform says so
    address: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "msg_id": self.msg_id,
            "topic": self.topic,
            "action": self.action.value,
            "platform_order_id": self.platform_order_id,
            "lines": [list(line) for line in self.lines],
            "paid_amount": self.paid_amount,
            "mode": self.mode,
            "address": self.address,
        }


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    body: Any  # JSON value, or str for a plain-text reply
    media_type: str = "application/json"


class Platform(Protocol):
    name: str
    credential_fields: tuple[str, ...]

    def verify(
        self,
        *,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: bytes,
        credentials: Mapping[str, str],
    ) -> bool: ...

    def parse(self, body: bytes) -> list[PlatformMessage]: ...

    def acknowledgement(self) -> Acknowledgement: ...

    def stock_request(self, *, shop_id: str, platform_sku: str, qty: int) -> dict[str, Any]: ...

    def signed_headers(
        self, *, body: bytes, credentials: Mapping[str, str], timestamp: str, nonce: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Headers and query a real platform would send with ``body`` (for the simulator)."""
        ...


def md5_hex(text: bytes) -> str:
    return hashlib.md5(text, usedforsecurity=False).hexdigest()


def same(expected: str, given: str | None) -> bool:
    if given is None or not given.isascii():
        return False
    return hmac.compare_digest(expected.lower(), given.lower())


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageUnreadable("the body is not JSON") from exc


def as_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MessageUnreadable(f"{what} is not a whole number")
    try:
        return int(value)
    except ValueError as exc:
        raise MessageUnreadable(f"{what} is not a whole number") from exc


def order_lines(items: Any, sku_key: str, qty_key: str) -> tuple[tuple[str, int], ...]:
    if not isinstance(items, list):
        raise MessageUnreadable("the order has no list of items")
    lines = []
    for item in items:
        if not isinstance(item, dict) or not item.get(sku_key):
            raise MessageUnreadable(f"an item has no {sku_key}")
        qty = as_int(item.get(qty_key), qty_key)
        if qty < 1:
            raise MessageUnreadable(f"{qty_key} must be positive")
        lines.append((str(item[sku_key])[:64], qty))
    return tuple(lines)
