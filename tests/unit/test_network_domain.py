from __future__ import annotations

import datetime as dt

import pytest

from omniretail.network.domain import (
    Capabilities,
    LocationType,
    capability_errors,
    distance_km,
    is_open,
    opening_hours_errors,
)


def test_distance_between_two_shanghai_landmarks() -> None:
    # People's Square to the Oriental Pearl Tower: about 2.8 km.
    assert distance_km(31.2304, 121.4737, 31.2397, 121.4998) == pytest.approx(2.68, abs=0.1)
    assert distance_km(31.0, 121.0, 31.0, 121.0) == 0


def test_an_experience_store_cannot_fulfil() -> None:
    assert capability_errors(LocationType.EXPERIENCE_STORE, Capabilities(pickup=True))
    assert not capability_errors(LocationType.EXPERIENCE_STORE, Capabilities(sells_online=False))
    assert not capability_errors(LocationType.STORE, Capabilities(True, True, True, True))


@pytest.mark.parametrize(
    "hours",
    [
        {"mon": ["9:00-21:00"]},
        {"mon": ["21:00-09:00"]},
        {"xyz": ["09:00-10:00"]},
        {"mon": ["09:00-24:30"]},
    ],
)
def test_bad_opening_hours_are_named(hours: dict[str, list[str]]) -> None:
    assert opening_hours_errors(hours)


def test_opening_hours_with_a_lunch_break() -> None:
    hours = {"sat": ["09:00-12:00", "13:00-24:00"]}
    saturday = dt.datetime(2026, 11, 28, 12, 30)
    assert not is_open(hours, saturday)
    assert is_open(hours, saturday.replace(hour=23, minute=59))
    assert not is_open(hours, saturday - dt.timedelta(days=1))
    assert is_open(None, saturday)
