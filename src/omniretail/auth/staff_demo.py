"""The demo's staff: an HQ admin and a clerk of the first store, with fresh passwords printed
on every run (only their hashes are stored)."""

from __future__ import annotations

import secrets
from typing import Any

from omniretail.auth.staff import do_create_staff, do_set_password
from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from omniretail.errors import AlreadyExists

DEMO_STAFF = [
    ("hq@lumen.example", "HQ 运营", StaffRole.ADMIN, None, "zh-CN"),
    ("clerk@lumen.example", "门店店员", StaffRole.STORE_CLERK, "store", "zh-CN"),
]


async def seed_staff(db: Database, tenant_id: int, *, store: str) -> list[dict[str, Any]]:
    signins: list[dict[str, Any]] = []
    for email, name, role, where, language in DEMO_STAFF:
        password = secrets.token_urlsafe(12)
        locations = [store] if where else None
        async with db.uow(tenant_id) as uow:
            try:
                await do_create_staff(
                    uow,
                    role=role,
                    password=password,
                    name=name,
                    email=email,
                    locations=locations,
                    language=language,
                )
            except AlreadyExists:
                await do_set_password(uow, login=email, password=password)
        signins.append(
            {"login": email, "password": password, "role": role.value, "locations": locations}
        )
    return signins
