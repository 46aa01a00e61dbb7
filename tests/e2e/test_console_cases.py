"""The HQ after-sales cases desk in the console, both databases: list by status, a case's
timeline, a note with a status change; bad input and roles without returns:write refused."""

from __future__ import annotations

import httpx
import pytest

from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from tests.console_helpers import form_token, make_staff, sign_in
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world, tee_sold_at_st_a


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def _case(world: World) -> dict[str, object]:
    sale = await tee_sold_at_st_a(world)
    opened = await world.admin.post(
        "/v1/cases",
        {"order_id": sale["id"], "type": "complaint", "subject": "loose seam",
         "channel": "pos", "owner_location": "ST-A"},
    )  # fmt: skip
    assert opened.status_code == 201, opened.text
    case: dict[str, object] = opened.json()
    return case


async def test_ops_work_a_case_with_a_note_and_a_status(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    case = await _case(world)
    await make_staff(db, tenant, StaffRole.OPS, "ops@acme.test")
    assert (await sign_in(client, tenant.slug, "ops@acme.test")).status_code == 303
    listed = await client.get("/console/cases", params={"status": "open"})
    assert f'id="case-{case["id"]}" data-status="open"' in listed.text
    closed = await client.get("/console/cases", params={"status": "closed"})
    assert f'id="case-{case["id"]}"' not in closed.text
    token = await form_token(client, f"/console/cases/{case['id']}")
    noted = await client.post(
        f"/console/cases/{case['id']}/notes",
        data={"csrf": token, "body": "called the customer", "status": "in_progress"},
    )
    assert noted.status_code == 200, noted.text
    assert 'id="case-status">in_progress<' in noted.text
    assert "called the customer" in noted.text
    after = (await world.admin.get(f"/v1/cases/{case['id']}")).json()
    assert after["status"] == "in_progress"
    assert after["timeline"][-1]["body"] == "called the customer"
    for data in (
        {"body": ""},
        {"body": "x", "status": "exploded"},
        {"body": "x", "owner_location": "NOWHERE"},
    ):
        path = f"/console/cases/{case['id']}/notes"
        refused = await client.post(path, data={"csrf": token, **data})
        assert refused.status_code in (404, 422), (data, refused.status_code)
    assert len((await world.admin.get(f"/v1/cases/{case['id']}")).json()["timeline"]) == len(
        after["timeline"]
    )
    missing = await client.post("/console/cases/case_nope/notes", data={"csrf": token, "body": "x"})
    assert missing.status_code == 404


async def test_an_analyst_reads_cases_but_cannot_note_and_store_roles_are_refused(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    case = await _case(world)
    await make_staff(db, tenant, StaffRole.ANALYST, "analyst@acme.test")
    assert (await sign_in(client, tenant.slug, "analyst@acme.test")).status_code == 303
    page = await client.get(f"/console/cases/{case['id']}")
    assert page.status_code == 200
    assert 'id="add-note"' not in page.text
    token = await form_token(client, "/console/cases")
    refused = await client.post(
        f"/console/cases/{case['id']}/notes", data={"csrf": token, "body": "sneaky"}
    )
    assert refused.status_code == 403
    client.cookies.clear()
    await make_staff(db, tenant, StaffRole.STORE_MANAGER, "mgr@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "mgr@acme.test")).status_code == 303
    assert (await client.get("/console/cases")).status_code == 403
    token = await form_token(client, "/console/stores/ST-A/queue")
    store_note = await client.post(
        f"/console/cases/{case['id']}/notes", data={"csrf": token, "body": "from the store"}
    )
    assert store_note.status_code == 403
    timeline = (await world.admin.get(f"/v1/cases/{case['id']}")).json()["timeline"]
    assert all(n["body"] not in ("sneaky", "from the store") for n in timeline)
