"""Products with variants, barcode and SKU lookups (cloud shelf), the audited list price."""

from __future__ import annotations

from typing import Any

from omniretail.auth.domain import Role
from omniretail.catalog.domain import with_check_digit
from omniretail.db import Database
from tests.factories import Api, TenantHandle, make_key


def dress(code: str = "DRESS-1", prefix: str = "690123400") -> dict[str, Any]:
    return {
        "code": code,
        "title": "Linen wrap dress",
        "category": "Women / Dresses",
        "attributes": {"material": "linen"},
        "variants": [
            {
                "sku": f"{code}-{size}",
                "barcode": with_check_digit(f"{prefix}{i:03d}"),
                "attributes": {"size": size, "colour": "sand"},
                "price": 39900,
            }
            for i, size in enumerate(("S", "M", "L"))
        ],
    }


async def test_a_scanned_barcode_shows_the_whole_product(admin: Api) -> None:
    created = await admin.post("/v1/products", dress())
    assert created.status_code == 201, created.text
    assert created.json()["category"] == "women/dresses"
    barcode = created.json()["variants"][1]["barcode"]

    scanned = await admin.get(f"/v1/barcodes/{barcode}")
    assert scanned.status_code == 200
    assert [v["attributes"]["size"] for v in scanned.json()["variants"]] == ["S", "M", "L"]
    by_sku = await admin.get("/v1/skus/DRESS-1-L")
    assert by_sku.json()["code"] == "DRESS-1"
    assert (await admin.get("/v1/barcodes/6901234000000")).status_code == 404


async def test_bad_barcodes_prices_and_duplicates_are_refused(admin: Api) -> None:
    bad_check = dress()
    bad_check["variants"][0]["barcode"] = "6901234000001"
    response = await admin.post("/v1/products", bad_check)
    assert response.status_code == 422
    assert "check digit" in response.text

    negative = dress()
    negative["variants"][0]["price"] = -1
    assert (await admin.post("/v1/products", negative)).status_code == 422
    fractional = dress()
    fractional["variants"][0]["price"] = 399.5
    assert (await admin.post("/v1/products", fractional)).status_code == 422
    twice = dress()
    twice["variants"][1]["sku"] = twice["variants"][0]["sku"]
    assert (await admin.post("/v1/products", twice)).status_code == 422

    assert (await admin.post("/v1/products", dress())).status_code == 201
    clash = await admin.post("/v1/products", dress("DRESS-2"))
    assert clash.status_code == 409
    assert {e["field"] for e in clash.json()["errors"]} == {"barcode"}
    assert (await admin.get("/v1/products/DRESS-2")).status_code == 404


async def test_price_changes_are_audited_and_raised(admin: Api) -> None:
    await admin.post("/v1/products", dress())
    patched = await admin.patch(
        "/v1/products/DRESS-1",
        {
            "variants": [
                {"sku": "DRESS-1-M", "price": 35900},
                {"sku": "DRESS-1-XL", "price": 41900, "attributes": {"size": "XL"}},
            ]
        },
    )
    assert patched.status_code == 200, patched.text
    prices = {v["sku"]: v["price"] for v in patched.json()["variants"]}
    assert prices == {
        "DRESS-1-S": 39900,
        "DRESS-1-M": 35900,
        "DRESS-1-L": 39900,
        "DRESS-1-XL": 41900,
    }
    history = (await admin.get("/v1/skus/DRESS-1-M/price-history")).json()
    assert [(h["old_price"], h["new_price"]) for h in history] == [(39900, 35900), (None, 39900)]
    assert history[0]["actor"].startswith("key:")


async def test_a_new_variant_needs_a_price_and_archiving_keeps_lookups(admin: Api) -> None:
    await admin.post("/v1/products", dress())
    no_price = await admin.patch("/v1/products/DRESS-1", {"variants": [{"sku": "NEW"}]})
    assert no_price.status_code == 422
    archived = await admin.patch("/v1/products/DRESS-1", {"status": "archived"})
    assert archived.json()["status"] == "archived"
    active = (await admin.get("/v1/products", status="active")).json()
    assert active["items"] == []
    by_category = (await admin.get("/v1/products", category="women")).json()
    assert [p["code"] for p in by_category["items"]] == ["DRESS-1"]


async def test_only_catalogue_roles_change_products(
    admin: Api, db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    await admin.post("/v1/products", dress())
    analyst = Api(admin.client, await make_key(db, tenant, Role.ANALYST))
    assert (await analyst.post("/v1/products", dress("X"))).status_code == 403
    assert (await analyst.patch("/v1/products/DRESS-1", {"title": "x"})).status_code == 403
    rival = Api(admin.client, other_tenant.admin_key)
    assert (await rival.get("/v1/products/DRESS-1")).status_code == 404
    assert (await rival.get("/v1/skus/DRESS-1-S")).status_code == 404
    # Another tenant may use the same codes and barcodes.
    assert (await rival.post("/v1/products", dress())).status_code == 201
