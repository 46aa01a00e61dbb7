"""Staff users and a signed-in console client, for console tests over HTTP and in a browser."""

from __future__ import annotations

import re

import httpx

from omniretail.auth.staff import do_create_staff
from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from tests.factories import TenantHandle

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def make_staff(
    db: Database,
    tenant: TenantHandle,
    role: StaffRole,
    email: str,
    *,
    locations: list[str] | None = None,
    language: str = "en",
) -> str:
    async with db.uow(tenant.id) as uow:
        await do_create_staff(
            uow,
            role=role,
            password=PASSWORD,
            name=email.split("@")[0].title(),
            email=email,
            locations=locations,
            language=language,
        )
    return email


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


async def sign_in(
    client: httpx.AsyncClient, tenant: str, login: str, password: str = PASSWORD
) -> httpx.Response:
    form = await client.get("/console/sign-in")
    return await client.post(
        "/console/sign-in",
        data={"tenant": tenant, "login": login, "password": password, "csrf": csrf_of(form.text)},
    )


async def form_token(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)
