from __future__ import annotations

import pytest

from omniretail.catalog.domain import (
    barcode_error,
    category_matches,
    normalise_category,
    with_check_digit,
)


@pytest.mark.parametrize("barcode", ["4006381333931", "036000291452", "96385074", "6901234567892"])
def test_real_gtins_pass(barcode: str) -> None:
    assert barcode_error(barcode) is None


@pytest.mark.parametrize(
    ("barcode", "why"),
    [("4006381333932", "check digit"), ("40063813339", "digits"), ("40063813339x", "digits only")],
)
def test_bad_gtins_say_why(barcode: str, why: str) -> None:
    error = barcode_error(barcode)
    assert error is not None
    assert why in error


def test_check_digit_completion_round_trips() -> None:
    assert barcode_error(with_check_digit("690123456789")) is None


def test_categories_are_paths() -> None:
    assert normalise_category(" Women / Dresses/ ") == "women/dresses"
    assert category_matches("women/dresses", "women")
    assert not category_matches("women/dresses", "women/dress")
