"""The location import in bulk: a chain's thousands of locations in a few statements, with the
same rules, line-numbered errors and all-or-nothing as before."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event

from omniretail.db import Database
from omniretail.events import OutboxEvent
from omniretail.network.models import Location
from tests.e2e.test_imports import post_csv
from tests.factories import Api, TenantHandle

HEADER = (
    "code,name,type,lat,lng,address,ship,pickup,local_delivery,sells_online,"
    "delivery_radius_km,daily_capacity,opening_hours\n"
)


def chain(count: int, *, name: str = "Store") -> str:
    return HEADER + "".join(
        f"ST-{i:05d},{name} {i},store,{30 + i / 10_000:.5f},121.40000,,yes,yes,no,yes,,,"
        "mon=10:00-22:00\n"
        for i in range(count)
    )


async def _count(db: Database, tenant: TenantHandle, model: type, **where: str) -> int:
    async with db.uow(tenant.id) as uow:
        query = sa.select(sa.func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return int(await uow.session.scalar(query) or 0)


async def test_thousands_of_locations_import_in_a_bounded_number_of_statements(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        result = await post_csv(admin, "locations", chain(2_100), dry_run=False)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert result["_status"] == 200, result
    assert (result["created"], result["updated"]) == (2_100, 0)
    locations = [s for s in statements if "INSERT INTO locations" in s]
    assert len(locations) == 3  # one per thousand rows
    assert len(statements) < 40, len(statements)
    assert await _count(db, tenant, Location) == 2_100
    assert await _count(db, tenant, OutboxEvent, type="location.created") == 2_100
    one = (await admin.get("/v1/locations/ST-01234")).json()
    assert one["capabilities"] == {
        "ship": True,
        "pickup": True,
        "local_delivery": False,
        "sells_online": True,
    }
    assert one["opening_hours"] == {"mon": ["10:00-22:00"]}


async def test_a_reimport_updates_only_what_changed(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    await post_csv(admin, "locations", chain(5), dry_run=False)
    changed = chain(5).replace("Store 3,", "Flagship 3,") + (
        "ST-NEW,New,warehouse,31.0,121.0,,yes,no,no,yes,,500,\n"
    )
    result = await post_csv(admin, "locations", changed, dry_run=False)
    assert (result["created"], result["updated"]) == (1, 5)
    assert (await admin.get("/v1/locations/ST-00003")).json()["name"] == "Flagship 3"
    assert (await admin.get("/v1/locations/ST-NEW")).json()["daily_capacity"] == 500
    assert await _count(db, tenant, OutboxEvent, type="location.updated") == 1


async def test_a_row_that_does_not_suit_the_existing_locations_type_rejects_the_file(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    made = await admin.post(
        "/v1/locations",
        {"code": "EXP-1", "name": "Gallery", "type": "experience_store", "lat": 31, "lng": 121},
    )
    assert made.status_code == 201, made.text
    # The row says store (which may ship) but EXP-1 is an experience store: it holds no stock.
    text = chain(3) + "EXP-1,Gallery,store,31.0,121.0,,yes,no,no,yes,,,\n"
    result = await post_csv(admin, "locations", text, dry_run=True)
    assert result["_status"] == 422, result
    assert [(e["line"], e["field"]) for e in result["errors"]] == [(5, "capabilities")]
    result = await post_csv(admin, "locations", text, dry_run=False)
    assert result["_status"] == 422
    assert await _count(db, tenant, Location) == 1


async def test_a_dry_run_counts_but_writes_nothing_and_tenants_stay_apart(
    admin: Api, db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    result = await post_csv(admin, "locations", chain(30), dry_run=True)
    assert (result["_status"], result["created"], result["updated"]) == (200, 30, 0)
    assert await _count(db, tenant, Location) == 0
    rival = Api(admin.client, other_tenant.admin_key)
    assert (await post_csv(rival, "locations", chain(30), dry_run=False))["_status"] == 200
    mine = await post_csv(admin, "locations", chain(30), dry_run=False)
    assert (mine["created"], mine["updated"]) == (30, 0)
    assert await _count(db, tenant, Location) == 30
    assert await _count(db, other_tenant, Location) == 30
