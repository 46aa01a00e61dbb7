"""Order numbers: what a customer quotes at the pickup counter, unique per tenant.

``YYMMDD-XXXXX-XXXXX``: the tenant's business day, then ten characters of an alphabet of 32
that a clerk cannot misread (no I, O, 0 or 1), in two groups of five for reading aloud. The
characters are random (a number says nothing about how many orders a shop takes) and the
database's unique constraint (``uq_orders_tenant_id_number``) is what makes a number unique.

How rare a collision is: a day has 32**10 = 2**50 (about 1.1e15) numbers per tenant, so n
orders a day give about n**2 / 2**51 colliding pairs a day (the birthday bound): 50,000 orders
a day about 1e-6 (one in ~2,500 years), a million a day (a chain of thousands of stores) about
4e-4 (one in ~6 years), ten million a day about 0.04. With six characters (2**30 a day) 50,000
orders a day collided about once a day. A collision costs the order one more attempt
(:func:`with_fresh_number`), which collides again with odds n / 2**50 (below 1e-8).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import zoneinfo
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from omniretail.errors import Unavailable

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
GROUPS = 2
GROUP_LENGTH = 5
# Tries of a whole placement before giving up: a second collision in a row is below 1e-8 at
# ten million orders a day, so a third means the generator is broken, not unlucky.
NUMBER_ATTEMPTS = 3
# How each database names the violated constraint in its message.
_TAKEN = (
    "uq_orders_tenant_id_number",  # PostgreSQL (the constraint's name)
    "UNIQUE constraint failed: orders.tenant_id, orders.number",  # SQLite (its columns)
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class OrderNumberUnavailable(Unavailable):
    code = "order_number_unavailable"
    title = "No free order number was found"


def new_order_number(now: dt.datetime, timezone: str) -> str:
    """``YYMMDD-XXXXX-XXXXX`` with the date as the tenant's shop sees it (a Shanghai order
    placed at 01:00 carries today's date, not UTC's yesterday); see the module's docstring for
    how rarely two orders of a day draw the same one."""
    local = now.astimezone(zoneinfo.ZoneInfo(timezone))
    # The alphabet has 32 characters: 50 random bits are ten of them, uniformly, in one draw
    # from the system's generator (a draw per character cost ten reads of it).
    bits = secrets.randbits(5 * GROUPS * GROUP_LENGTH)
    chars = "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(GROUPS * GROUP_LENGTH))
    groups = (chars[at : at + GROUP_LENGTH] for at in range(0, len(chars), GROUP_LENGTH))
    return f"{local:%y%m%d}-{'-'.join(groups)}"


def number_taken(exc: BaseException) -> bool:
    """Whether ``exc`` is the tenant's order number being taken already (and no other
    constraint)."""
    return isinstance(exc, IntegrityError) and any(name in str(exc.orig) for name in _TAKEN)


async def with_fresh_number(place: Callable[[], Awaitable[T]]) -> T:
    """Run ``place``, a whole unit of work that places one order (and draws its number), again
    when the number it drew was taken: its transaction was rolled back, so nothing of it stays,
    and the next run draws another number. After :data:`NUMBER_ATTEMPTS` collisions in a row,
    :class:`OrderNumberUnavailable` (503); any other error is raised as it is."""
    for attempt in range(1, NUMBER_ATTEMPTS + 1):
        try:
            return await place()
        except IntegrityError as exc:
            if not number_taken(exc):
                raise
            log.warning("order number taken, placing again (attempt %d)", attempt)
            if attempt == NUMBER_ATTEMPTS:
                raise OrderNumberUnavailable(
                    f"the order drew a number already taken {NUMBER_ATTEMPTS} times in a row; "
                    "nothing was written, try again"
                ) from exc
    raise AssertionError("unreachable")
