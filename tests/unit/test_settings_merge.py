"""Tenant settings patches merge as RFC 7396 says, and the audit names what really changed."""

from __future__ import annotations

from omniretail.auth.domain import changed_settings, merge_settings


def test_objects_merge_key_by_key_and_null_removes() -> None:
    current = {"max_shipments": 2, "delivery_fees": {"ship": 800, "pickup": 0}}
    patch = {"max_shipments": None, "delivery_fees": {"pickup": 300}, "allow_negative_stock": True}
    assert merge_settings(current, patch) == {
        "delivery_fees": {"ship": 800, "pickup": 300},
        "allow_negative_stock": True,
    }
    assert current == {"max_shipments": 2, "delivery_fees": {"ship": 800, "pickup": 0}}


def test_only_values_that_differ_are_named_with_dotted_paths() -> None:
    before = {"max_shipments": 2, "returns": {"window_days": 30}}
    after = {"max_shipments": 2, "returns": {"window_days": 14}, "delivery_fees": {"ship": 1}}
    assert changed_settings(before, after) == ["delivery_fees.ship", "returns.window_days"]
    assert changed_settings(after, after) == []
    assert changed_settings({"delivery_fees": {"ship": 1}}, {}) == ["delivery_fees.ship"]


def test_nulls_inside_a_new_object_fall_back_to_defaults_too() -> None:
    """Found by fuzzing: ``{"delivery_fees": {"in_store": null}}`` on a tenant with no fees set
    stored the null, and the settings could no longer be read."""
    patch = {"delivery_fees": {"in_store": None, "ship": 0}, "returns": {"window_days": None}}
    assert merge_settings({}, patch) == {"delivery_fees": {"ship": 0}, "returns": {}}
    assert merge_settings({"returns": 7}, {"returns": {"window_days": 14}}) == {
        "returns": {"window_days": 14}
    }
