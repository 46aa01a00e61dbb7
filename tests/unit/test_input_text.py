"""Request bodies refuse NUL characters and lone surrogates wherever they are: in the
outermost model, in a model nested in it, and in a nested model validated on its own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from omniretail import schemas
from omniretail.orders.schemas import AddressIn, OrderIn
from omniretail.schemas import validate_json

TEXT_ERRORS = ("NUL characters", "valid Unicode")


def order(*, staff: str = "guide-1", line1: str = "1 Nanjing Rd") -> dict[str, Any]:
    return {
        "channel": "app",
        "lines": [{"sku": "TEE-S", "qty": 1}],
        "fulfillment": {
            "mode": "ship",
            "address": {"lat": 31.2, "lng": 121.5, "line1": line1},
        },
        "attributed_staff": staff,
    }


def refused(body: dict[str, Any], model: type[Any] = OrderIn) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return str(caught.value)


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800"])
def test_bad_text_is_refused_at_any_depth(bad: str) -> None:
    assert any(e in refused(order(staff=bad)) for e in TEXT_ERRORS)
    assert any(e in refused(order(line1=bad)) for e in TEXT_ERRORS)
    address = {"lat": 1, "lng": 2, "line1": bad}
    assert any(e in refused(address, AddressIn) for e in TEXT_ERRORS)


def test_the_check_is_not_left_switched_off_after_a_valid_or_refused_input() -> None:
    assert OrderIn.model_validate(order(line1="南京东路 1 号")).fulfillment.address is not None
    refused(order(staff="x\x00"))
    assert "NUL characters" in refused({"lat": 1, "lng": 2, "line1": "x\x00"}, AddressIn)


@pytest.mark.parametrize("escaped", [r"a\u0000b", r"\ud800", r"x\uD83D"])
def test_a_json_body_with_bad_text_escaped_is_refused(escaped: str) -> None:
    body = json.dumps(order()).replace("guide-1", escaped).encode()
    with pytest.raises(ValidationError) as caught:
        validate_json(OrderIn, body)
    # A lone surrogate is refused by the JSON parser itself, NUL by the text check.
    assert any(e in str(caught.value) for e in (*TEXT_ERRORS, "Invalid JSON"))


def test_a_json_body_without_escapes_is_not_walked_and_keeps_its_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walked: list[Any] = []
    monkeypatch.setattr(schemas, "_check_text", walked.append)
    body = json.dumps(order(line1="南京路 1 号"), ensure_ascii=False).encode()
    assert validate_json(OrderIn, body).fulfillment.address.line1 == "南京路 1 号"  # type: ignore[union-attr]
    assert walked == []
    validate_json(OrderIn, json.dumps(order(line1="caf\u00e9")).encode())  # an escape: walked
    assert len(walked) == 1
