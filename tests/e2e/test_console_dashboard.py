"""The HQ dashboard reads its sales from the analytics facts (both databases): a completed
sale counts once it is projected, a placed order does not, a return lowers net sales; store
roles are refused."""

from __future__ import annotations

import re

import httpx
import pytest

from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from omniretail.events import Dispatcher
from omniretail.wiring import build_registry
from tests.console_helpers import make_staff, sign_in
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world, tee_sold_at_st_a


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


def _by_channel(html: str) -> dict[str, int]:
    table = html.split('id="gmv-by-channel"')[1].split("</table>")[0]
    return {c: int(m) for c, m in re.findall(r'<td>([^<]+)</td><td data-minor="(\d+)"', table)}


async def test_the_dashboard_shows_completed_sales_from_the_facts(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await make_staff(db, tenant, StaffRole.ANALYST, "analyst@acme.test")
    assert (await sign_in(client, tenant.slug, "analyst@acme.test")).status_code == 303
    sale = await tee_sold_at_st_a(world)
    assert sale["status"] == "completed"
    await world.stock("ST-A", "TEE-M", 1)
    placed = await world.order(world.keys["app"], lines=[{"sku": "TEE-M", "qty": 1}])
    assert placed.status_code == 201  # placed, never completed: not a sale
    before = await client.get("/console/dashboard")
    assert _by_channel(before.text) == {}  # nothing projected yet
    await Dispatcher(db, build_registry()).run_until_idle()
    after = await client.get("/console/dashboard")
    assert after.status_code == 200
    assert _by_channel(after.text) == {"pos": 9900}
    assert 'id="gmv-today">CNY 99.00' in after.text
    assert 'id="net-today">99.00' in after.text
    returned = await world.keys["pos_a"].post(
        "/v1/returns",
        {"order_id": sale["id"], "channel": "pos", "location": "ST-A",
         "lines": [{"sku": "TEE-S", "qty": 1}]},
    )  # fmt: skip
    assert returned.status_code == 201, returned.text
    await Dispatcher(db, build_registry()).run_until_idle()
    net = await client.get("/console/dashboard")
    assert 'id="gmv-today">CNY 99.00' in net.text
    assert 'id="net-today">0.00' in net.text
    assert 'id="gmv-last-7-days">0.00' in net.text


async def test_store_roles_do_not_see_the_dashboard(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await make_staff(db, tenant, StaffRole.STORE_MANAGER, "mgr@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "mgr@acme.test")).status_code == 303
    assert (await client.get("/console/dashboard")).status_code == 403
