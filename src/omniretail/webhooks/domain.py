"""Pure rules of outgoing webhooks: which of our events a merchant may subscribe to, which
addresses we refuse to call (SSRF), how a delivery is signed, and when it is tried again."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit


class WebhookEvent(StrEnum):
    """What a merchant subscribes to (the public names; the outbox's are internal)."""

    ORDER_PLACED = "order.placed"
    FULFILMENT_STATUS_CHANGED = "fulfillment.status_changed"
    STOCK_CHANGED = "stock.changed"
    RETURN_COMPLETED = "return.completed"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next try
    DELIVERED = "delivered"  # a 2xx answer
    DEAD = "dead"  # MAX_ATTEMPTS failed tries: given up
    CANCELLED = "cancelled"  # its subscription was deleted before it went out


# Outbox event types that fulfilment status changes are recorded as.
FULFILMENT_EVENTS = (
    "fulfillment.created",
    "fulfillment.accepted",
    "fulfillment.picking",
    "fulfillment.ready",
    "fulfillment.shipped",
    "fulfillment.handed_over",
    "fulfillment.delivered",
    "fulfillment.rejected",
    "fulfillment.cancelled",
)
STOCK_EVENT = "inventory.availability_changed"


def public_event(internal_type: str) -> WebhookEvent | None:
    """The subscribable event an outbox event is, if any."""
    if internal_type == "order.placed":
        return WebhookEvent.ORDER_PLACED
    if internal_type == "return.completed":
        return WebhookEvent.RETURN_COMPLETED
    if internal_type in FULFILMENT_EVENTS:
        return WebhookEvent.FULFILMENT_STATUS_CHANGED
    if internal_type == STOCK_EVENT:
        return WebhookEvent.STOCK_CHANGED
    return None


def fulfilment_data(internal_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A fulfilment event as the merchant sees it: always with its ``status``."""
    status = payload.get("status") or internal_type.split(".", 1)[1]
    if internal_type == "fulfillment.rejected":
        status = "rejected"
    return {**payload, "status": status}


# --- where we may send ----------------------------------------------------------------------

SCHEMES = ("http", "https")


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a webhook address we accept on its face (before resolving it)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in SCHEMES:
        return "only http and https URLs"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not accepted; verify our signature instead"
    if port == 0:
        return "not a valid port"
    return None


def address_problem(address: str, *, allow_loopback: bool) -> str | None:
    """Why we refuse to connect to ``address`` (an IP literal): anything but a public
    address, which keeps a subscription from reaching the install's own network (cloud
    metadata at 169.254.169.254, the database, admin ports). Loopback only when allowed."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else f"{ip} is a loopback address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        return f"{ip} is not a public address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


# --- what we send ---------------------------------------------------------------------------


def delivery_body(event_id: str, event_type: str, at: dt.datetime, data: dict[str, Any]) -> str:
    """The JSON a receiver gets, fixed when the delivery is made: every retry sends these
    exact bytes (compact, keys sorted)."""
    return json.dumps(
        {"id": event_id, "type": event_type, "time": at.isoformat(), "data": data},
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=False,
    )


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Omni-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``<timestamp>.<body>`` under the
    subscription's secret. The timestamp is in the signed text, so a receiver that refuses
    old timestamps (5 minutes, say) refuses replays."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_matches(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    """What a receiver does (and our tests): constant-time comparison."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)


# --- when we try again ----------------------------------------------------------------------

MAX_ATTEMPTS = 8
BACKOFF_BASE = dt.timedelta(seconds=10)
BACKOFF_CAP = dt.timedelta(hours=1)
# A claimed delivery not finished within this lease is tried again (its worker died).
CLAIM_LEASE = dt.timedelta(minutes=1)


def retry_delay(attempts: int) -> dt.timedelta:
    """Exponential backoff after the ``attempts``-th failed try: 10 s, 20 s, 40 s, ... ≤ 1 h."""
    delay: dt.timedelta = BACKOFF_BASE * 2 ** max(attempts - 1, 0)
    return min(delay, BACKOFF_CAP)
