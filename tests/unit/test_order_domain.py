from __future__ import annotations

import datetime as dt
import re

import pytest

from omniretail.orders.domain import (
    Action,
    Mode,
    OrderStatus,
    new_pickup_code,
    next_status,
    order_status,
    pickup_code_digest,
    valid_pickup_code_shape,
)
from omniretail.orders.domain import (
    FulfilmentStatus as F,
)
from omniretail.orders.numbers import ALPHABET, new_order_number


def test_a_pickup_goes_pending_accepted_ready_handed_over() -> None:
    status = F.PENDING
    for action, expected in [
        (Action.ACCEPT, F.ACCEPTED),
        (Action.PICK, F.PICKING),
        (Action.READY, F.READY),
        (Action.HAND_OVER, F.HANDED_OVER),
    ]:
        after = next_status(status, action, Mode.PICKUP)
        assert after is expected
        status = after


@pytest.mark.parametrize(
    ("status", "action", "mode"),
    [
        (F.PENDING, Action.HAND_OVER, Mode.PICKUP),  # not ready yet
        (F.HANDED_OVER, Action.HAND_OVER, Mode.PICKUP),  # only once
        (F.ACCEPTED, Action.SHIP, Mode.PICKUP),  # pickups are not shipped
        (F.ACCEPTED, Action.READY, Mode.SHIP),  # parcels are not "ready for pickup"
        (F.SHIPPED, Action.REJECT, Mode.SHIP),  # too late to reject
        (F.DELIVERED, Action.CANCEL, Mode.SHIP),
    ],
)
def test_transitions_out_of_order_are_refused(status: F, action: Action, mode: Mode) -> None:
    assert next_status(status, action, mode) is None


def test_the_order_status_follows_its_fulfilments() -> None:
    assert order_status(False, [F.PENDING], 0) is OrderStatus.PENDING_PAYMENT
    assert order_status(True, [F.PENDING, F.ACCEPTED], 0) is OrderStatus.CONFIRMED
    assert order_status(True, [F.HANDED_OVER, F.SHIPPED], 0) is OrderStatus.PARTIALLY_FULFILLED
    assert order_status(True, [F.REJECTED, F.DELIVERED], 0) is OrderStatus.COMPLETED
    assert order_status(True, [F.CANCELLED, F.CANCELLED], 0) is OrderStatus.CANCELLED
    assert order_status(True, [F.REJECTED], 1) is OrderStatus.NEEDS_ATTENTION


def test_pickup_codes_are_eight_digits_and_bound_to_their_store() -> None:
    code = new_pickup_code()
    assert valid_pickup_code_shape(code)
    assert not valid_pickup_code_shape("1234")
    assert pickup_code_digest(1, 10, code) != pickup_code_digest(1, 11, code)
    assert pickup_code_digest(1, 10, code) != pickup_code_digest(2, 10, code)


def test_order_numbers_carry_the_shops_date_not_utcs() -> None:
    # 2026-11-26 17:30 UTC is already 27 November in Shanghai, still 26th in New York.
    now = dt.datetime(2026, 11, 26, 17, 30, tzinfo=dt.UTC)
    assert new_order_number(now, "Asia/Shanghai").startswith("261127-")
    assert new_order_number(now, "America/New_York").startswith("261126-")


def test_order_numbers_are_ten_unambiguous_characters_in_two_groups_after_the_date() -> None:
    now = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
    shape = re.compile(rf"^261128-[{ALPHABET}]{{5}}-[{ALPHABET}]{{5}}$")
    numbers = {new_order_number(now, "Asia/Shanghai") for _ in range(200)}
    assert all(shape.match(number) for number in numbers)
    # Five random bits a character: every character of the 32 turns up in every position.
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    draws = [new_order_number(now, "Asia/Shanghai")[7:].replace("-", "") for _ in range(2000)]
    for position in range(10):
        assert {draw[position] for draw in draws} == set(ALPHABET)
    assert len(numbers) == 200
    assert not set("IO01") & set(ALPHABET)
    assert len(max(numbers, key=len)) <= 32  # orders.number is String(32)
