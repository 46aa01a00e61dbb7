"""Periodic loyalty work, run by ``omni worker``: points leave the after-sales window, then
due points expire, one tenant at a time."""

from __future__ import annotations

import datetime as dt
import logging

from omniretail.db import Database, utcnow
from omniretail.loyalty import service

log = logging.getLogger("omniretail.loyalty")


async def expire_points_everywhere(db: Database, *, now: dt.datetime | None = None) -> int:
    """Release pending points and expire due points in every tenant, each tenant in its own
    short transactions; returns the points expired."""
    when = now or utcnow()
    async with db.uow(unscoped=True) as uow:
        tenants = await service.tenants_with_due_points(uow, now=when)
    total = 0
    for tenant_id in tenants:
        while True:
            async with db.uow(tenant_id) as uow:
                released = await service.do_release_pending_points(uow, now=when)
            if released == 0:
                break
        while True:
            async with db.uow(tenant_id) as uow:
                expired = await service.do_expire_points(uow, now=when)
            total += expired
            if expired == 0:
                break
    if total:
        log.info("expired %s points in %s tenants", total, len(tenants))
    return total
