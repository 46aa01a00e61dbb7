"""Pure stock rules: available, line shapes, walking a batch in order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from omniretail.inventory.domain import (
    Line,
    Position,
    Reason,
    available,
    line_shape_errors,
    walk_batch,
)


@given(st.integers(-100, 100), st.integers(0, 100), st.integers(0, 100))
def test_available_is_never_negative_and_never_more_than_on_hand_less_holds(
    on_hand: int, reserved: int, safety: int
) -> None:
    value = available(on_hand, reserved, safety)
    assert value >= 0
    assert value == max(0, on_hand - reserved - safety)


def test_line_shapes_name_what_is_wrong() -> None:
    assert line_shape_errors("receipt", 3) == []
    assert line_shape_errors("adjustment", -3) == []
    assert line_shape_errors("count", 0) == []
    assert line_shape_errors("receipt", 0) == ["quantity must not be zero"]
    assert "positive" in line_shape_errors("sale", -1)[0]
    assert "negative" in line_shape_errors("count", -1)[0]
    assert "reservations" in line_shape_errors("reserve", 1)[0]
    assert "one of" in line_shape_errors("teleport", 1)[0]


def test_a_batch_is_walked_in_order_and_counts_set_on_hand() -> None:
    lines = [
        Line(0, "A", "S1", Reason.SALE, 2),
        Line(1, "A", "S1", Reason.RECEIPT, 5),
        Line(2, "A", "S1", Reason.COUNT, 1),
        Line(3, "A", "S1", Reason.SALE, 2),
        Line(4, "B", "S1", Reason.DAMAGE, 1),
    ]
    start = {("A", "S1"): Position(1, 0, 0), ("B", "S1"): Position(3, 0, 0)}
    deltas, errors = walk_batch(lines, start, allow_negative=False)
    assert [e["index"] for e in errors] == [0, 3]
    assert deltas == {0: -2, 1: 5, 2: -3, 3: -2, 4: -1}
    _, allowed = walk_batch(lines, start, allow_negative=True)
    assert allowed == []


def test_a_receipt_into_negative_stock_is_not_an_error() -> None:
    _, errors = walk_batch(
        [Line(0, "A", "S1", Reason.RECEIPT, 1)],
        {("A", "S1"): Position(-3, 0, 0)},
        allow_negative=False,
    )
    assert errors == []
