"""Realistic test data built through the public services and HTTP API, not hand-written rows."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx

from omniretail.auth import service as auth
from omniretail.auth.domain import Role
from omniretail.db import Database

_codes = itertools.count(1)

# The sandbox provider's callback secret in tests (a server has none unless configured).
SANDBOX_SECRET = "test-sandbox-secret"
# A Fernet key sealing the tests' staff TOTP seeds (what OMNI_STAFF_KEYS holds on a server).
STAFF_KEY = "x4YajqDD6CeQ_3z4GSLpuaPlHmQoRFr7Xb5x9I4bLoI="


@dataclass(frozen=True)
class TenantHandle:
    slug: str
    id: int
    admin_key: str


async def make_tenant(db: Database, slug: str, currency: str = "CNY") -> TenantHandle:
    async with db.uow(unscoped=True) as uow:
        created = await auth.do_create_tenant(uow, slug=slug, name=slug.title(), currency=currency)
        tenant_id = await auth.tenant_id_by_slug(uow, slug)
    return TenantHandle(slug=slug, id=tenant_id, admin_key=created["admin_key"])


async def make_key(
    db: Database,
    tenant: TenantHandle,
    role: Role,
    *,
    location: str | None = None,
    channel: str | None = None,
) -> str:
    async with db.uow(tenant.id) as uow:
        created = await auth.do_create_key(
            uow,
            role=role,
            location=location,
            channel=channel,
            operator_allowed=role is Role.OPERATOR,
        )
    return str(created["key"])


class Api:
    """An HTTP client acting with one API key."""

    def __init__(self, client: httpx.AsyncClient, key: str | None) -> None:
        self.client = client
        self.key = key

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return headers | (extra or {})

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self.headers())

    async def post(
        self, path: str, json: Any = None, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(path, json=json, headers=self.headers(headers))

    async def patch(self, path: str, json: Any) -> httpx.Response:
        return await self.client.patch(path, json=json, headers=self.headers())

    async def delete(self, path: str) -> httpx.Response:
        return await self.client.delete(path, headers=self.headers())

    async def raw(
        self, method: str, path: str, content: bytes, content_type: str = "application/json"
    ) -> httpx.Response:
        return await self.client.request(
            method,
            path,
            content=content,
            headers=self.headers({"Content-Type": content_type}),
        )


def location_body(code: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code or f"ST-{next(_codes):04d}",
        "name": "Lumen Xuhui",
        "type": "store",
        "lat": 31.1880,
        "lng": 121.4365,
        "address": "1 Hongqiao Rd, Xuhui, Shanghai",
        "capabilities": {
            "ship": True,
            "pickup": True,
            "local_delivery": True,
            "sells_online": True,
        },
        "daily_capacity": 60,
        "opening_hours": {"mon": ["10:00-22:00"], "sat": ["09:00-12:00", "13:00-22:00"]},
    }
    body.update(overrides)
    return body
