"""Pickup codes (核销): verified only at their store, only when ready, only once; wrong guesses
are rate limited per store and terminal (API key), and every attempt is logged.

The limit is per terminal, not per store: a terminal (or a stolen key) that keeps guessing is
held back, while the store's other terminals go on handing over pickups with correct codes."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from omniretail.db import UnitOfWork, utcnow
from omniretail.errors import Conflict, RateLimited, ValidationFailed
from omniretail.network import service as network
from omniretail.orders.domain import (
    Action,
    FulfilmentStatus,
    pickup_code_digest,
    valid_pickup_code_shape,
)
from omniretail.orders.fulfilment import apply_action
from omniretail.orders.models import Fulfilment, Order, PickupAttempt
from omniretail.orders.queries import fulfilment_out
from omniretail.orders.schemas import FulfilmentOut

WINDOW = dt.timedelta(minutes=10)
MAX_FAILURES = 10


class PickupCodeInvalid(ValidationFailed):
    code = "invalid_pickup_code"
    title = "Invalid pickup code"


class PickupCodeUsed(Conflict):
    code = "pickup_code_used"
    title = "This pickup code was already used"


class PickupNotReady(Conflict):
    code = "pickup_not_ready"
    title = "The order is not ready for pickup yet"


class PickupRateLimited(RateLimited):
    code = "pickup_rate_limited"
    title = "Too many wrong pickup codes at this store"


async def check_attempts(
    uow: UnitOfWork, location_id: int, key_id: int | None, now: dt.datetime
) -> None:
    recent = (
        await uow.session.scalars(
            sa.select(PickupAttempt.at)
            .where(
                PickupAttempt.location_id == location_id,
                PickupAttempt.key_id.is_(None)
                if key_id is None
                else PickupAttempt.key_id == key_id,
                PickupAttempt.succeeded.is_(False),
                PickupAttempt.at > now - WINDOW,
            )
            .order_by(PickupAttempt.at.desc())
            .limit(MAX_FAILURES)
        )
    ).all()
    if len(recent) >= MAX_FAILURES:
        # Allowed again when the oldest of the last MAX_FAILURES leaves the window.
        wait = recent[-1] + WINDOW - now
        raise PickupRateLimited(
            f"{MAX_FAILURES} wrong codes in {int(WINDOW.total_seconds() // 60)} minutes from "
            "this terminal at this store; wait and try again",
            retry_after_seconds=max(1, int(wait.total_seconds()) + 1),
        )


async def _ready_pickup(
    uow: UnitOfWork, *, code: str, location: str, key_id: int | None, now: dt.datetime
) -> tuple[int, Fulfilment]:
    """The ready pickup with this code at this store, locked; raises as the API answers."""
    location_id, _ = await network.location_ref(uow, location)
    await check_attempts(uow, location_id, key_id, now)
    if not valid_pickup_code_shape(code):
        raise PickupCodeInvalid("a pickup code is 8 digits")
    digest = pickup_code_digest(uow.require_tenant(), location_id, code)
    fulfilment = await uow.session.scalar(
        sa.select(Fulfilment)
        .where(Fulfilment.location_id == location_id, Fulfilment.pickup_code_digest == digest)
        .with_for_update()
    )
    if fulfilment is None:
        raise PickupCodeInvalid("no pickup with this code at this store")
    status = FulfilmentStatus(fulfilment.status)
    if status is FulfilmentStatus.HANDED_OVER:
        raise PickupCodeUsed("this code was already handed over")
    if status is not FulfilmentStatus.READY:
        raise PickupNotReady(f"the pickup is {status.value}")
    return location_id, fulfilment


async def check_pickup_code(
    uow: UnitOfWork,
    *,
    code: str,
    location: str,
    key_id: int | None,
    now: dt.datetime | None = None,
) -> FulfilmentOut:
    """The pickup this code would hand over, without handing it over: the same checks and the
    same errors as :func:`do_verify_pickup`, so a person sees the order and the customer first.
    The caller records a failed attempt, as for a verification."""
    _, fulfilment = await _ready_pickup(
        uow, code=code, location=location, key_id=key_id, now=now or utcnow()
    )
    order_id = await uow.session.scalar(
        sa.select(Order.public_id).where(Order.id == fulfilment.order_id)
    )
    assert order_id is not None
    return fulfilment_out(fulfilment, order_id)


async def do_verify_pickup(
    uow: UnitOfWork,
    *,
    code: str,
    location: str,
    actor: str,
    key_id: int | None,
    now: dt.datetime | None = None,
) -> FulfilmentOut:
    """Hand over the pickup whose code this is, at this store. Raises ``PickupCodeInvalid``
    for an unknown code or another store's, ``PickupCodeUsed`` the second time,
    ``PickupNotReady`` before the store marked it ready. The caller records a failed attempt
    in its own transaction (:func:`do_record_failed_attempt`), since this one rolls back."""
    now = now or utcnow()
    location_id, fulfilment = await _ready_pickup(
        uow, code=code, location=location, key_id=key_id, now=now
    )
    order = await uow.session.scalar(
        sa.select(Order).where(Order.id == fulfilment.order_id).with_for_update()
    )
    assert order is not None
    await apply_action(uow, order, fulfilment, Action.HAND_OVER, actor=actor, now=now)
    uow.session.add(
        PickupAttempt(
            location_id=location_id,
            key_id=key_id,
            succeeded=True,
            fulfilment_id=fulfilment.id,
            at=now,
        )
    )
    return fulfilment_out(fulfilment, order.public_id)


async def do_record_failed_attempt(
    uow: UnitOfWork, *, location: str, key_id: int | None, now: dt.datetime | None = None
) -> None:
    location_id, _ = await network.location_ref(uow, location)
    uow.session.add(
        PickupAttempt(location_id=location_id, key_id=key_id, succeeded=False, at=now or utcnow())
    )
