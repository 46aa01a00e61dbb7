"""Periodic inventory work, run by ``omniretail.jobs`` (``omni worker`` and ``omni serve``):
releasing expired holds, tenant by tenant, in batches. Safe in several processes at once: each
hold is claimed by a conditional update, so none is released twice."""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from omniretail.db import Database, utcnow
from omniretail.inventory.domain import ReservationStatus
from omniretail.inventory.models import Reservation
from omniretail.inventory.reservations import do_release_expired

log = logging.getLogger("omniretail.inventory")


async def release_expired_everywhere(
    db: Database, now: dt.datetime | None = None, *, batch: int = 500
) -> int:
    """Release every expired hold of every tenant; returns how many reservations expired."""
    now = now or utcnow()
    async with db.uow(unscoped=True) as uow:
        tenants = list(
            await uow.session.scalars(
                sa.select(Reservation.tenant_id)
                .where(
                    Reservation.status == ReservationStatus.ACTIVE.value,
                    Reservation.expires_at <= now,
                )
                .distinct()
            )
        )
    total = 0
    for tenant_id in tenants:
        while True:
            async with db.uow(tenant_id) as uow:
                released = await do_release_expired(uow, now, limit=batch)
            total += released
            if released < batch:
                break
    return total
