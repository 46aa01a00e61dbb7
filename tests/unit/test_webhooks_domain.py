"""The pure rules of outgoing webhooks: addresses we refuse, the signature, the backoff."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest

from omniretail.webhooks.domain import (
    MAX_ATTEMPTS,
    WebhookEvent,
    address_problem,
    delivery_body,
    fulfilment_data,
    public_event,
    retry_delay,
    signature,
    signature_matches,
    url_problem,
)


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.31.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "fe80::1",
        "fc00::1",
        "::",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
    ],
)
def test_internal_addresses_are_refused_even_with_loopback_allowed(address: str) -> None:
    assert address_problem(address, allow_loopback=True) is not None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.8.8", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_refused_unless_allowed(address: str) -> None:
    assert "loopback" in str(address_problem(address, allow_loopback=False))
    assert address_problem(address, allow_loopback=True) is None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_accepted(address: str) -> None:
    assert address_problem(address, allow_loopback=False) is None


@pytest.mark.parametrize(
    "url",
    ["ftp://x.example/", "gopher://x.example/", "javascript:alert(1)", "http:///x", "http://[::1"],
)
def test_only_http_urls_with_a_host_pass_on_their_face(url: str) -> None:
    assert url_problem(url) is not None


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"id":"evt_1"}'
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("whsec_x", 1700000000, body) == f"sha256={expected}"
    assert signature_matches("whsec_x", 1700000000, body, f"sha256={expected}")
    assert not signature_matches("whsec_x", 1700000001, body, f"sha256={expected}")
    assert not signature_matches("whsec_y", 1700000000, body, f"sha256={expected}")


def test_the_body_is_fixed_compact_json_with_id_type_time_and_data() -> None:
    at = dt.datetime(2026, 11, 27, 4, 0, tzinfo=dt.UTC)
    body = delivery_body("evt_7", "order.placed", at, {"order_id": "ord_1", "total": 9900})
    assert body == (
        '{"data":{"order_id":"ord_1","total":9900},"id":"evt_7",'
        '"time":"2026-11-27T04:00:00+00:00","type":"order.placed"}'
    )


def test_backoff_doubles_from_ten_seconds_up_to_an_hour() -> None:
    delays = [retry_delay(n).total_seconds() for n in range(1, MAX_ATTEMPTS + 4)]
    assert delays[:4] == [10, 20, 40, 80]
    assert max(delays) == 3600
    assert delays == sorted(delays)


def test_outbox_events_map_to_the_four_public_events() -> None:
    assert public_event("order.placed") is WebhookEvent.ORDER_PLACED
    assert public_event("fulfillment.ready") is WebhookEvent.FULFILMENT_STATUS_CHANGED
    assert public_event("inventory.availability_changed") is WebhookEvent.STOCK_CHANGED
    assert public_event("return.completed") is WebhookEvent.RETURN_COMPLETED
    assert public_event("order.completed") is None
    rejected = fulfilment_data("fulfillment.rejected", {"fulfillment_id": "f", "reason": "x"})
    assert rejected["status"] == "rejected"
