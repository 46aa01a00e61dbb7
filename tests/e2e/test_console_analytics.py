"""HQ's analytics page over HTTP on both databases: its figures are the data hub's reports
for the chosen period, in either language; store roles are refused, another tenant sees none
of this tenant's figures, and a bad period is a 422 page."""

from __future__ import annotations

import datetime as dt
import json
import re

import httpx
import pytest

from omniretail.analytics import service
from omniretail.analytics.schemas import SalesBy
from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from tests.console_helpers import make_staff, sign_in
from tests.e2e.test_analytics_fulfilment_stock import history
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world

MONTH = "from=2026-11-01&to=2026-11-30"


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


def figure(html: str, name: str) -> int:
    match = re.search(rf'id="{name}" data-minor="(-?\d+)"', html)
    assert match, name
    return int(match.group(1))


async def test_the_page_shows_the_reports_of_the_period(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await history(world, db, tenant)
    async with db.uow(tenant.id) as uow:
        report = await service.sales_report(
            uow, start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 30), by=SalesBy.DAY
        )
    await make_staff(db, tenant, StaffRole.ANALYST, "analyst@acme.test", language="zh-CN")
    assert (await sign_in(client, tenant.slug, "analyst@acme.test")).status_code == 303
    page = await client.get(f"/console/analytics?{MONTH}")
    assert page.status_code == 200
    assert "数据分析" in page.text
    assert figure(page.text, "gross") == report.total.gross > 0
    assert figure(page.text, "net") == report.total.net
    assert 'id="oversells">0<' in page.text
    charts = json.loads(
        page.text.split('id="chart-data" type="application/json">')[1].split("<")[0]
    )
    assert charts["days"] == [r.key for r in report.rows]
    assert {r["name"] for r in charts["fulfilment"]} >= {"ship · store", "ship · warehouse"}
    assert "/console/static/echarts.min.js" in page.text  # served from the package
    bad = await client.get("/console/analytics?from=2026-11-30&to=2026-11-01")
    assert bad.status_code == 422


async def test_store_roles_and_other_tenants_see_nothing_of_it(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantHandle,
    other_tenant: TenantHandle,
    world: World,
) -> None:
    await history(world, db, tenant)
    await make_staff(db, tenant, StaffRole.STORE_MANAGER, "manager@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "manager@acme.test")).status_code == 303
    assert (await client.get(f"/console/analytics?{MONTH}")).status_code == 403
    client.cookies.clear()
    await make_staff(db, other_tenant, StaffRole.ADMIN, "admin@rival.test")
    assert (await sign_in(client, other_tenant.slug, "admin@rival.test")).status_code == 303
    theirs = await client.get(f"/console/analytics?{MONTH}")
    assert theirs.status_code == 200
    assert figure(theirs.text, "gross") == 0
