from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omniretail.money import allocate, percent_of


def test_a_fen_that_does_not_divide_goes_to_the_largest_remainder() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(1000, [3000, 1000]) == [750, 250]
    assert allocate(5, [0, 0]) == [3, 2]
    assert allocate(0, []) == []


def test_bad_allocations_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        allocate(-1, [1])
    with pytest.raises(ValueError, match="nothing"):
        allocate(1, [])


@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**9), min_size=1, max_size=30))
def test_parts_always_sum_to_the_total_and_follow_the_weights(
    total: int, weights: list[int]
) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(p >= 0 for p in parts)
    if sum(weights):
        for part, weight in zip(parts, weights, strict=True):
            assert abs(part - total * weight / sum(weights)) < 1


def test_percentages_round_half_up_to_the_fen() -> None:
    assert percent_of(999, 1500) == 150  # 149.85
    assert percent_of(10, 500) == 1  # 0.5 rounds up
    assert percent_of(10, 400) == 0
