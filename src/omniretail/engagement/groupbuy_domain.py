"""Group buying (拼团): pure rules. A campaign sells one SKU at a group price to groups of a
fixed size within a window; a group fills when its last seat is taken, or fails when its
window ends first. No I/O here."""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum

# A group that has not filled by then fails; the campaign's end closes it sooner.
DEFAULT_GROUP_WINDOW_MINUTES = 24 * 60


class GroupStatus(StrEnum):
    OPEN = "open"  # seats left, window open
    FILLED = "filled"  # every seat taken: members' orders created, codes redeemable
    FAILED = "failed"  # the window ended first: every member refunded, stock released


class MemberStatus(StrEnum):
    HELD = "held"  # paid (the provider's authorisation held), stock held at the pickup store
    ORDERED = "ordered"  # the group filled: an order for pickup exists
    REFUNDED = "refunded"  # the group failed: the payment refunded in full
    LEFT = "left"  # left while the group was open: refunded in full, stock and seat given back


def new_group_id() -> str:
    return f"grp_{secrets.token_hex(8)}"


def new_member_id() -> str:
    return f"gbm_{secrets.token_hex(8)}"


def group_closes_at(
    opened_at: dt.datetime, *, window_minutes: int, campaign_ends_at: dt.datetime
) -> dt.datetime:
    """A group has ``window_minutes`` to fill, never past the campaign's end."""
    return min(opened_at + dt.timedelta(minutes=window_minutes), campaign_ends_at)


def campaign_running(now: dt.datetime, *, starts_at: dt.datetime, ends_at: dt.datetime) -> bool:
    return starts_at <= now < ends_at


def campaign_errors(
    *,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    group_price: int,
    list_price: int,
    pickup_locations: list[str],
) -> list[dict[str, str]]:
    """What makes a campaign unsellable, field by field (empty: it is fine)."""
    errors = []
    if ends_at <= starts_at:
        errors.append({"field": "ends_at", "message": "must be after starts_at"})
    if group_price >= list_price:
        errors.append(
            {"field": "group_price", "message": f"must be below the list price {list_price}"}
        )
    if len(set(pickup_locations)) != len(pickup_locations):
        errors.append({"field": "pickup_locations", "message": "each store once"})
    return errors


def amount_text(amount: int, currency: str) -> str:
    """Minor units as a customer reads them: ``5900`` CNY is ``59.00 CNY`` (exact, no float)."""
    return f"{amount // 100}.{amount % 100:02d} {currency}"
