"""HQ group buying (拼团) in the console, both databases: the campaigns with their groups
counted by status, a campaign's groups, a group's members (an HQ role with engagement:write
only); store roles and other tenants refused."""

from __future__ import annotations

import httpx

from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from tests.console_helpers import make_staff, sign_in
from tests.e2e.test_group_buying import GROUP_PRICE, seat, setup
from tests.factories import Api, TenantHandle


async def _groups(admin: Api, db: Database, tenant: TenantHandle) -> tuple[str, str, str]:
    """A filled group of three and an open one whose second member left."""
    _, (c1, c2, c3, c4, c5) = await setup(admin, db, tenant, customers_=5)
    filled = (await admin.post("/v1/group-buys/TEE3/groups", seat(c1))).json()["group"]["id"]
    for customer in (c2, c3):
        joined = await admin.post(f"/v1/group-buys/groups/{filled}/members", seat(customer))
        assert joined.status_code == 201, joined.text
    opened = (await admin.post("/v1/group-buys/TEE3/groups", seat(c4))).json()["group"]["id"]
    leaver = (await admin.post(f"/v1/group-buys/groups/{opened}/members", seat(c5))).json()
    left = await admin.post(
        f"/v1/group-buys/groups/{opened}/members/{leaver['member']['id']}/leave"
    )
    assert left.status_code == 200, left.text
    return filled, opened, leaver["member"]["id"]


async def test_hq_sees_campaigns_groups_and_members(
    client: httpx.AsyncClient, admin: Api, db: Database, tenant: TenantHandle
) -> None:
    filled, opened, leaver = await _groups(admin, db, tenant)
    await make_staff(db, tenant, StaffRole.ADMIN, "hq@acme.test")
    assert (await sign_in(client, tenant.slug, "hq@acme.test")).status_code == 303

    listed = await client.get("/console/group-buys")
    assert listed.status_code == 200
    row = listed.text.split('id="gb-TEE3"')[1].split("</tr>")[0]
    assert '<td class="open">1</td>' in row
    assert '<td class="filled">1</td>' in row
    assert '<td class="failed">0</td>' in row
    assert f"{GROUP_PRICE // 100}.{GROUP_PRICE % 100:02d}" in row  # 59.00, no float

    page = await client.get("/console/group-buys/TEE3")
    assert page.status_code == 200
    assert f'id="g-{filled}" data-status="filled"' in page.text
    assert f'id="g-{opened}" data-status="open"' in page.text
    assert page.text.index(opened) < page.text.index(filled)  # newest first
    assert f'href="/console/group-buys/groups/{opened}"' in page.text

    group = await client.get(f"/console/group-buys/groups/{opened}")
    assert group.status_code == 200
    assert f'id="m-{leaver}" data-status="left"' in group.text
    members = (await client.get(f"/console/group-buys/groups/{filled}")).text
    assert members.count('data-status="ordered"') == 3
    assert members.count('href="/console/orders/') == 3
    assert (await client.get("/console/group-buys/NOPE")).status_code == 404


async def test_store_roles_analysts_and_other_tenants_see_what_their_role_allows(
    client: httpx.AsyncClient,
    admin: Api,
    db: Database,
    tenant: TenantHandle,
    other_tenant: TenantHandle,
) -> None:
    filled, _, _ = await _groups(admin, db, tenant)
    await make_staff(db, tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "clerk@acme.test")).status_code == 303
    assert (await client.get("/console/group-buys")).status_code == 403
    assert (await client.get(f"/console/group-buys/groups/{filled}")).status_code == 403
    client.cookies.clear()

    # An analyst reads campaigns and groups, not who is in them.
    await make_staff(db, tenant, StaffRole.ANALYST, "analyst@acme.test")
    assert (await sign_in(client, tenant.slug, "analyst@acme.test")).status_code == 303
    page = await client.get("/console/group-buys/TEE3")
    assert page.status_code == 200
    assert f'id="g-{filled}"' in page.text
    assert "/console/group-buys/groups/" not in page.text
    assert (await client.get(f"/console/group-buys/groups/{filled}")).status_code == 403
    client.cookies.clear()

    await make_staff(db, other_tenant, StaffRole.ADMIN, "hq@rival.test")
    assert (await sign_in(client, other_tenant.slug, "hq@rival.test")).status_code == 303
    assert "TEE3" not in (await client.get("/console/group-buys")).text
    assert (await client.get("/console/group-buys/TEE3")).status_code == 404
    assert (await client.get(f"/console/group-buys/groups/{filled}")).status_code == 404
