"""``omni demo --days``: a history placed through the real services that has the stories the
reports need (days, repeat customers across channels, store fulfilment, returns), and whose
analytics agree with the source tables."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import zoneinfo

import httpx
import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from omniretail.analytics import service
from omniretail.analytics.schemas import InventoryBy, SalesBy
from omniretail.cli import app
from omniretail.db import Database
from omniretail.demo import DEMO_CLERK_STORE, DEMO_SLUG
from omniretail.demo_history import season, seed_history
from tests.conftest import backend_url
from tests.factories import Api, TenantHandle, make_tenant
from tests.orders_world import build_world

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=SHANGHAI).astimezone(dt.UTC)


def test_seasonality_has_peaks_and_weekends() -> None:
    assert season(dt.date(2026, 11, 11)) == 3.0
    assert season(dt.date(2026, 11, 14)) == pytest.approx(1.35 * 0.7)  # a Saturday, after 11.11
    assert season(dt.date(2026, 11, 4)) == 1.0


async def scalar(db: Database, sql: str, tenant: TenantHandle) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(sa.text(sql), {"t": tenant.id})).scalar() or 0)


async def test_a_history_has_its_stories_and_its_figures_agree(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    await build_world(admin, db, tenant)
    counts = await seed_history(db, tenant.id, days=21, per_day=6, now=NOW)
    assert counts.orders >= 80
    assert counts.completed >= 50
    assert counts.returns >= 1
    orders = await scalar(db, "SELECT count(*) FROM orders WHERE tenant_id = :t", tenant)
    assert orders == counts.orders
    crossers = await scalar(
        db,
        "SELECT count(*) FROM (SELECT customer_id FROM orders WHERE tenant_id = :t"
        " AND customer_id IS NOT NULL GROUP BY customer_id"
        " HAVING count(DISTINCT channel) >= 2) x",
        tenant,
    )
    assert crossers >= 3
    from_stores = await scalar(
        db,
        "SELECT count(*) FROM fulfilments f JOIN locations l ON l.id = f.location_id"
        " WHERE f.tenant_id = :t AND l.type = 'store' AND f.mode IN ('ship', 'local_delivery')"
        " AND f.status = 'delivered'",
        tenant,
    )
    assert from_stores >= 1

    whole = (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    async with db.uow(tenant.id) as uow:
        sales = await service.sales_report(uow, start=whole[0], end=whole[1], by=SalesBy.DAY)
        stock = await service.inventory_report(
            uow, start=whole[0], end=whole[1], by=InventoryBy.LOCATION
        )
    assert len(sales.rows) >= 18  # trading on (nearly) every day
    gross = await scalar(
        db,
        "SELECT sum(total - delivery_fee) FROM orders WHERE tenant_id = :t"
        " AND status = 'completed'",
        tenant,
    )
    refunds = await scalar(
        db,
        "SELECT sum(refund_total) FROM returns WHERE tenant_id = :t AND status = 'completed'",
        tenant,
    )
    assert (sales.total.gross, sales.total.refunds) == (gross, refunds)
    on_hand = await scalar(
        db, "SELECT sum(on_hand) FROM stock_positions WHERE tenant_id = :t", tenant
    )
    assert stock.total.closing_on_hand == on_hand
    assert stock.total.sold > 0
    assert stock.total.oversells == 0


async def test_omni_demo_days_adds_a_history_once(
    db: Database,
    client: httpx.AsyncClient,
    backend_urls: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a small demo retailer made here (the full demo is seeded by other tests): the
    command trades once, and a second run finds the history already there."""
    demo = await make_tenant(db, DEMO_SLUG)
    admin = Api(client, demo.admin_key)
    await build_world(admin, db, demo)
    store = {"code": DEMO_CLERK_STORE, "name": "clerk's store", "type": "store", "lat": 31.23,
             "lng": 121.47, "capabilities": {"pickup": True}}  # fmt: skip
    assert (await admin.post("/v1/locations", store)).status_code == 201
    url = backend_url(backend_urls, "postgresql" if db.dialect == "postgresql" else "sqlite")
    monkeypatch.setenv("OMNI_DATABASE_URL", url)
    runner = CliRunner()

    def omni(*args: str) -> Result:
        return runner.invoke(app, ["demo", *args])

    assert (await asyncio.to_thread(omni, "--days", "0")).exit_code == 2
    first = await asyncio.to_thread(omni, "--days", "3")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["history"]["orders"] > 0
    again = await asyncio.to_thread(omni, "--days", "3")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["history"] == "already there"
