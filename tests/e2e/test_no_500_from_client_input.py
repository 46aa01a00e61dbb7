"""Client input that used to reach a 500 (issue 10, items 8 to 10) is a clear 4xx now, and
changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from omniretail.db import Database
from omniretail.imports.service import MAX_LISTED_ERRORS
from omniretail.web import encode_cursor
from tests.factories import Api, TenantHandle, location_body
from tests.orders_world import World, build_world


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def order_count(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM orders"))).scalar_one())


async def test_a_zero_tender_beside_a_full_one_is_422(world: World, db: Database) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    placed = await world.order(
        world.keys["pos_a"],
        channel="pos",
        fulfillment={"mode": "in_store", "location": "ST-A"},
        payments=[{"method": "cash", "amount": 9900}, {"method": "card_present", "amount": 0}],
    )
    assert placed.status_code == 422, placed.text
    assert placed.json()["errors"][0]["field"] == "payments.1.amount"
    assert await order_count(db) == 0


@pytest.mark.parametrize(
    ("path", "after"),
    [
        ("/v1/orders", [1, 2]),
        ("/v1/orders", 10**24),
        ("/v1/orders", "abc"),
        ("/v1/cases", "abc"),
        ("/v1/cases", {"x": 1}),
        ("/v1/orders", True),
    ],
)
async def test_a_cursor_that_is_not_one_of_ours_is_422(
    admin: Api, path: str, after: object
) -> None:
    response = await admin.get(path, cursor=encode_cursor(after))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "cursor"


async def test_times_at_the_ends_of_the_calendar_are_422(world: World) -> None:
    promotion = {
        "code": "FOREVER",
        "title": "Forever",
        "discount": {"kind": "percent", "value": 10},
        "starts_at": "2026-01-01T00:00:00+08:00",
        "ends_at": "9999-12-31T23:59:59-14:00",
    }
    refused = await world.admin.post("/v1/promotions", promotion)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "ends_at"
    assert (await world.admin.get("/v1/promotions/FOREVER")).status_code == 404

    customer = (await world.admin.post("/v1/customers", {"channel": "app"})).json()["id"]
    event = {"type": "view", "customer_id": customer, "sku": "TEE-S", "channel": "app"}
    ancient = await world.admin.post(
        "/v1/events", {"events": [{**event, "at": "0001-01-01T00:00:00+01:00"}]}
    )
    assert ancient.status_code == 422, ancient.text
    plan = {"code": "plus", "name": "Plus", "fee": 9900, "term_days": 365}
    assert (await world.admin.post("/v1/membership-plans", plan)).status_code == 201
    late = await world.admin.post(
        f"/v1/customers/{customer}/memberships",
        {"plan": "plus", "starts_at": "9999-12-31T00:00:00+00:00"},
    )
    assert late.status_code == 422, late.text
    assert (await world.admin.get(f"/v1/customers/{customer}/memberships")).json() == []


async def test_unknown_channel_codes_are_422(world: World) -> None:
    created = await world.admin.post("/v1/customers", {"channel": "bchan"})
    assert created.status_code == 422, created.text
    assert created.json()["errors"][0] == {"field": "channel", "message": "no channel 'bchan'"}
    resolved = await world.admin.post(
        "/v1/customers/resolve",
        {
            "identity": {"type": "phone", "value": "13800138000"},
            "create_if_missing": True,
            "channel": "bchan",
        },
    )
    assert resolved.status_code == 422
    assert (
        await world.admin.post(
            "/v1/customers/resolve", {"identity": {"type": "phone", "value": "13800138000"}}
        )
    ).status_code == 404


async def _chunks(total: int, size: int = 1 << 20) -> AsyncIterator[bytes]:
    yield b'{"code": "ST-9", "name": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


async def test_a_streamed_body_over_the_limit_is_413_not_400(admin: Api, db: Database) -> None:
    response = await admin.client.post(
        "/v1/locations",
        content=_chunks(20 * 1024 * 1024),
        headers=admin.headers({"Content-Type": "application/json"}),
    )
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload_too_large"
    assert (await admin.get("/v1/locations/ST-9")).status_code == 404


async def test_a_file_of_bad_rows_lists_the_first_thousand_and_counts_all(admin: Api) -> None:
    rows = ["product_code,title,category,sku,barcode,price"] + [
        f"P{i},Tee {i},men/tops,SKU-{i},,-1" for i in range(1500)
    ]
    response = await admin.client.post(
        "/v1/imports/products?dry_run=false",
        content=("\n".join(rows) + "\n").encode(),
        headers=admin.headers({"Content-Type": "text/csv"}),
    )
    assert response.status_code == 422
    body = response.json()
    assert len(body["errors"]) == MAX_LISTED_ERRORS
    assert body["report"]["error_count"] == 1500
    assert "first 1000" in body["detail"]
    assert (await admin.get("/v1/products")).json()["items"] == []


async def test_failed_statements_are_logged_without_their_values(db: Database) -> None:
    with pytest.raises(sa.exc.DBAPIError) as failed:
        async with db.engine.connect() as conn:
            await conn.execute(
                sa.text("INSERT INTO no_such_table (phone) VALUES (:phone)"),
                {"phone": "+8613800138000"},
            )
    assert "+8613800138000" not in str(failed.value)


def _catalogue(rows: int) -> bytes:
    lines = ["product_code,title,category,sku,barcode,price,size"] + [
        f"P{i},Tee {i},men/tops,SKU-{i},,{i % 900 + 1}.00,M" for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


async def test_a_file_over_the_row_limit_is_413_and_writes_nothing(
    admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("omniretail.imports.service.MAX_IMPORT_ROWS", 100)
    for rows in (101, 1000):
        response = await admin.client.post(
            "/v1/imports/products?dry_run=false",
            content=_catalogue(rows),
            headers=admin.headers({"Content-Type": "text/csv"}),
        )
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "import_too_large"
    assert (await admin.get("/v1/products")).json()["items"] == []


async def test_other_requests_keep_flowing_during_a_large_import(admin: Api) -> None:
    """While a 20,000-row catalogue is applied, reads and other writers are served, none with a
    500 or a lock error (they wait their turn for the write lock on SQLite)."""

    async def big_import() -> int:
        response = await admin.client.post(
            "/v1/imports/products?dry_run=false",
            content=_catalogue(20_000),
            headers=admin.headers({"Content-Type": "text/csv"}),
        )
        return response.status_code

    async def others() -> list[int]:
        codes = []
        for i in range(10):
            codes.append((await admin.client.get("/healthz")).status_code)
            codes.append((await admin.post("/v1/locations", location_body(f"ST-{i}"))).status_code)
            await asyncio.sleep(0.05)
        return codes

    imported, answered = await asyncio.gather(big_import(), others())
    assert imported == 200
    assert set(answered) == {200, 201}
    assert len((await admin.get("/v1/locations", limit=20)).json()["items"]) == 10


async def test_found_by_fuzzing_a_second_accept_and_a_stray_carriage_return_are_4xx(
    world: World,
) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    sale = await world.order(
        world.keys["pos_a"],
        channel="pos",
        fulfillment={"mode": "in_store", "location": "ST-A"},
        payments=[{"method": "cash", "amount": 9900}],
    )
    fulfilment = sale.json()["fulfillments"][0]["id"]
    again = await world.admin.post(f"/v1/fulfillments/{fulfilment}/accept")
    assert again.status_code == 409, again.text
    assert again.json()["status"] == 409
    assert again.json()["fulfillment_status"] == "handed_over"
    broken = await world.admin.client.post(
        "/v1/imports/products",
        content=b'product_code,ti"tle\r0,\rx\n',
        headers=world.admin.headers({"Content-Type": "text/csv"}),
    )
    assert broken.status_code == 422, broken.text
