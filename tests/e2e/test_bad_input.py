"""Bad input gets a 4xx problem+json and changes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from omniretail.db import Database
from omniretail.network.models import Location
from tests.factories import Api, location_body


async def count_locations(db: Database) -> int:
    async with db.uow(unscoped=True) as uow:
        return int(await uow.session.scalar(sa.select(sa.func.count()).select_from(Location)) or 0)


def problem(response: object) -> dict[str, object]:
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    return body


async def test_malformed_json_is_400_and_writes_nothing(admin: Api, db: Database) -> None:
    response = await admin.raw("POST", "/v1/locations", b'{"code": "ST-1", ')
    assert response.status_code == 400
    assert problem(response)["code"] == "malformed_json"
    assert await count_locations(db) == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lat": "north"}, "lat"),
        ({"lat": 91}, "lat"),
        ({"lng": -181}, "lng"),
        ({"type": "castle"}, "type"),
        ({"name": "x" * 201}, "name"),
        ({"code": "bad code with spaces"}, "code"),
        ({"code": "C" * 65}, "code"),
        ({"address": "a" * 501}, "address"),
        ({"daily_capacity": -1}, "daily_capacity"),
        ({"capabilities": {"ship": "maybe"}}, "capabilities.ship"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
async def test_each_bad_field_is_named(
    admin: Api, db: Database, overrides: dict[str, object], field: str
) -> None:
    response = await admin.post("/v1/locations", location_body(**overrides))
    assert response.status_code == 422
    body = problem(response)
    assert body["code"] == "validation_error"
    assert field in [error["field"] for error in body["errors"]]  # type: ignore[attr-defined]
    assert await count_locations(db) == 0


async def test_domain_rules_are_checked_too(admin: Api, db: Database) -> None:
    experience = location_body(
        type="experience_store", capabilities={"ship": True, "pickup": False}
    )
    response = await admin.post("/v1/locations", experience)
    assert response.status_code == 422
    assert problem(response)["errors"][0]["field"] == "capabilities"  # type: ignore[index]
    hours = location_body(opening_hours={"mon": ["22:00-10:00"]})
    assert (await admin.post("/v1/locations", hours)).status_code == 422
    assert (
        await admin.post("/v1/locations", location_body(opening_hours={"funday": []}))
    ).status_code == 422
    assert await count_locations(db) == 0


async def test_an_empty_patch_and_an_uncleared_name_are_refused(admin: Api) -> None:
    await admin.post("/v1/locations", location_body("ST-1"))
    assert (await admin.patch("/v1/locations/ST-1", {})).status_code == 422
    assert (await admin.patch("/v1/locations/ST-1", {"name": None})).status_code == 422


async def test_a_bad_cursor_or_limit_is_422(admin: Api) -> None:
    assert (await admin.get("/v1/locations", cursor="%%%")).status_code == 422
    assert (await admin.get("/v1/locations", limit=501)).status_code == 422
    assert (await admin.get("/v1/locations", limit=0)).status_code == 422


async def test_an_oversized_body_is_413(admin: Api, db: Database) -> None:
    big = b'{"code": "ST-1", "name": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    response = await admin.raw("POST", "/v1/locations", big)
    assert response.status_code == 413
    assert await count_locations(db) == 0


async def test_unknown_paths_and_methods_are_problem_json(admin: Api) -> None:
    assert problem(await admin.get("/v1/nothing-here"))["status"] == 404
    response = await admin.client.put("/v1/locations", headers=admin.headers())
    assert response.status_code == 405


async def test_lists_page_with_a_cursor(admin: Api) -> None:
    for i in range(5):
        await admin.post("/v1/locations", location_body(f"ST-{i}"))
    first = (await admin.get("/v1/locations", limit=2)).json()
    assert [item["code"] for item in first["items"]] == ["ST-0", "ST-1"]
    second = (await admin.get("/v1/locations", limit=2, cursor=first["next_cursor"])).json()
    assert [item["code"] for item in second["items"]] == ["ST-2", "ST-3"]
    last = (await admin.get("/v1/locations", limit=2, cursor=second["next_cursor"])).json()
    assert [item["code"] for item in last["items"]] == ["ST-4"]
    assert last["next_cursor"] is None


async def test_text_that_is_not_valid_unicode_is_422_and_writes_nothing(
    admin: Api, db: Database
) -> None:
    body = b'{"code": "ST-1", "name": "\\ud800 broken", "type": "store", "lat": 31, "lng": 121}'
    response = await admin.raw("POST", "/v1/locations", body)
    assert response.status_code == 422
    assert "valid Unicode" in response.text
    assert await count_locations(db) == 0


async def test_a_garbled_payment_callback_is_422_not_a_crash(admin: Api) -> None:
    response = await admin.client.post(
        "/v1/payments/sandbox/callback",
        json={
            "status": "captured",
            "amount": 443,
            "provider_ref": "\u009fh\u00af",
            "signature": "k\u00ba\u00df",
        },
    )
    assert response.status_code == 422


async def test_nul_characters_and_huge_ids_are_4xx_not_crashes(admin: Api, db: Database) -> None:
    body = b'{"code": "ST-1", "name": "a\\u0000b", "type": "store", "lat": 31, "lng": 121}'
    assert (await admin.raw("POST", "/v1/locations", body)).status_code == 422
    assert (await admin.get("/v1/products", category="wo\x00men")).status_code == 400
    assert (await admin.get("/v1/reservations/62642548879968845824")).status_code == 422
    assert (await admin.delete("/v1/keys/99999999999999999999")).status_code == 422
    assert await count_locations(db) == 0


async def test_a_partial_capabilities_patch_changes_only_the_flags_given(admin: Api) -> None:
    await admin.post("/v1/locations", location_body("ST-1"))
    patched = await admin.patch("/v1/locations/ST-1", {"capabilities": {"ship": False}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["capabilities"] == {
        "ship": False,
        "pickup": True,
        "local_delivery": True,
        "sells_online": True,
    }


async def test_benefits_at_a_date_out_of_range_is_422(admin: Api) -> None:
    customer = (await admin.post("/v1/customers", {"name": "Li"})).json()
    response = await admin.get(
        f"/v1/customers/{customer['id']}/benefits", at="0001-01-04T00:00:00Z"
    )
    assert response.status_code == 422
