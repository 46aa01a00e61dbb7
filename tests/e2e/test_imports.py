"""CSV import and export over HTTP and the CLI: every bad row reported, nothing half done."""

from __future__ import annotations

import json
import pathlib
import uuid

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from omniretail.auth.domain import Role
from omniretail.catalog.domain import with_check_digit
from omniretail.catalog.models import PriceChange, Variant
from omniretail.cli import app as cli
from omniretail.db import Database
from tests.conftest import backend_url
from tests.factories import Api, TenantHandle, make_key

HEADER = "product_code,title,category,sku,barcode,price,size,colour\n"


def big_file(
    products: int = 1250, sizes: tuple[str, ...] = ("XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL")
) -> str:
    rows = [HEADER]
    n = 0
    for p in range(products):
        for size in sizes:
            n += 1
            rows.append(
                f"P{p:05d},Tee {p},men/tees,P{p:05d}-{size},"
                f"{with_check_digit(f'692{n:09d}')},{99 + p % 50}.90,{size},black\n"
            )
    return "".join(rows)


async def post_csv(api: Api, kind: str, text: str, *, dry_run: bool) -> dict[str, object]:
    response = await api.raw(
        "POST",
        f"/v1/imports/{kind}?dry_run={str(dry_run).lower()}",
        text.encode(),
        content_type="text/csv",
    )
    body: dict[str, object] = response.json()
    body["_status"] = response.status_code
    return body


async def variants(db: Database, tenant: TenantHandle) -> int:
    async with db.uow(tenant.id) as uow:
        return int(await uow.session.scalar(sa.select(sa.func.count()).select_from(Variant)) or 0)


async def test_a_file_with_bad_rows_is_reported_line_by_line_and_imports_nothing(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    text = (
        HEADER
        + "P1,Tee,men/tees,P1-S,,99.00,S,black\n"
        + "P1,Tee,men/tees,P1-M,,,M,black\n"
        + "P1,Tee,men/tees,P1-L,,-1,L,black\n"
        + "P1,Tee,men/tees,P1-S,,99.00,S,black\n"
        + "P2,Dress,women,P2-S,6901234567893,399.00,S,red\n"
    )
    for dry_run in (True, False):
        body = await post_csv(admin, "products", text, dry_run=dry_run)
        assert body["_status"] == 422
        assert body["code"] == "import_rejected"
        assert [(e["line"], e["field"]) for e in body["errors"]] == [  # type: ignore[attr-defined]
            (3, "price"),
            (4, "price"),
            (5, "sku"),
            (6, "barcode"),
        ]
    assert await variants(db, tenant) == 0


async def test_ten_thousand_variants_import_and_round_trip_unchanged(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    text = big_file()
    checked = await post_csv(admin, "products", text, dry_run=True)
    assert (checked["_status"], checked["created"], checked["rows"]) == (200, 1250, 10_000)
    assert await variants(db, tenant) == 0
    applied = await post_csv(admin, "products", text, dry_run=False)
    assert (applied["_status"], applied["created"]) == (200, 1250)
    assert await variants(db, tenant) == 10_000
    exported = await admin.get("/v1/exports/products")
    assert exported.headers["content-type"].startswith("text/csv")
    assert (
        exported.text.splitlines()[0] == "product_code,title,category,sku,barcode,price,colour,size"
    )
    async with db.uow(tenant.id) as uow:
        audited = await uow.session.scalar(sa.select(sa.func.count()).select_from(PriceChange))
    again = await post_csv(admin, "products", exported.text, dry_run=False)
    assert (again["_status"], again["created"], again["updated"]) == (200, 0, 1250)
    async with db.uow(tenant.id) as uow:
        assert (
            await uow.session.scalar(sa.select(sa.func.count()).select_from(PriceChange)) == audited
        )


async def test_a_price_change_by_import_is_audited(admin: Api) -> None:
    await post_csv(
        admin, "products", HEADER + "P1,Tee,men/tees,P1-S,,99.00,S,black\n", dry_run=False
    )
    body = await post_csv(
        admin, "products", HEADER + "P1,Tee,men/tees,P1-S,,89.00,S,black\n", dry_run=False
    )
    assert body["updated"] == 1
    history = (await admin.get("/v1/skus/P1-S/price-history")).json()
    assert [(h["old_price"], h["new_price"]) for h in history] == [(9900, 8900), (None, 9900)]


async def test_locations_import_with_bad_coordinates_and_round_trip(
    admin: Api, other_tenant: TenantHandle
) -> None:
    header = (
        "code,name,type,lat,lng,address,ship,pickup,local_delivery,sells_online,"
        "delivery_radius_km,daily_capacity,opening_hours\n"
    )
    good = header + (
        "ST-1,Xuhui,store,31.19,121.43,1 Road,yes,yes,yes,yes,3,60,"
        "mon=10:00-22:00;sat=09:00-12:00,13:00-22:00\n"
        "WH-1,Warehouse,warehouse,31.37,121.26,,yes,no,no,yes,,,\n"
    )
    bad = good + "ST-9,Bad,store,91,121.43,,yes,yes,no,yes,,,\n"
    rejected = await post_csv(admin, "locations", bad, dry_run=False)
    assert rejected["_status"] == 422
    assert [(e["line"], e["field"]) for e in rejected["errors"]] == [(4, "lat")]  # type: ignore[attr-defined]
    assert (await admin.get("/v1/locations")).json()["items"] == []
    applied = await post_csv(admin, "locations", good, dry_run=False)
    assert (applied["_status"], applied["created"]) == (200, 2)
    exported = (await admin.get("/v1/exports/locations")).text
    again = await post_csv(admin, "locations", exported, dry_run=False)
    assert (again["created"], again["updated"]) == (0, 2)
    assert (await admin.get("/v1/exports/locations")).text == exported
    rival = Api(admin.client, other_tenant.admin_key)
    assert (await rival.get("/v1/locations")).json()["items"] == []


async def test_only_catalogue_and_network_roles_import(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    analyst = Api(admin.client, await make_key(db, tenant, Role.ANALYST))
    body = await post_csv(analyst, "products", HEADER, dry_run=True)
    assert body["_status"] == 403
    assert (await analyst.get("/v1/exports/products")).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_cli_imports_and_names_bad_lines(
    backend: str,
    tmp_path: pathlib.Path,
    backend_urls: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = CliRunner()
    monkeypatch.setenv("OMNI_DATABASE_URL", backend_url(backend_urls, backend))
    slug = f"cli-import-{uuid.uuid4().hex[:6]}"
    runner.invoke(cli, ["tenant", "create", slug, "--name", "CLI"])
    folder = tmp_path
    bad = folder / "bad.csv"
    bad.write_text(HEADER + "P1,Tee,men/tees,P1-S,,abc,S,black\n", encoding="utf-8")
    result = runner.invoke(cli, ["import", "products", str(bad), "--tenant", slug])
    assert result.exit_code == 2
    assert "line 2, price" in result.output
    good = folder / "good.csv"
    good.write_text(HEADER + "P1,Tee,men/tees,P1-S,,99.00,S,black\n", encoding="utf-8")
    result = runner.invoke(cli, ["import", "products", str(good), "--tenant", slug])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == 1
    out = folder / "out.csv"
    assert (
        runner.invoke(cli, ["export", "products", "--tenant", slug, "-o", str(out)]).exit_code == 0
    )
    assert "P1-S" in out.read_text(encoding="utf-8")


def chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


BAD_PRODUCTS = (
    HEADER
    + "P1,Tee,men/tees,P1-S,,99.00,S,black\n"
    + "P1,Tee,men/tees,P1-M,,,M,black\n"
    + "P1,Tee,men/tees,P1-L,,-1,L,black\n"
    + "P1,Tee,men/tees,P1-S,,99.00,S,black\n"
    + "P2,Dress,women,P2-S,6901234567893,399.00,S,red\n"
    + "P1,Shirt,men/tees,P1-XL,12345,9.999,XL,black\n"
)
BAD_LOCATIONS = (
    "code,name,type,lat,lng,address,ship,pickup,local_delivery,sells_online,opening_hours\n"
    "ST-1,Store,store,91,121.4,,maybe,yes,no,yes,fri=25:00-26:00\n"
    "EX-1,Showroom,experience_store,31.2,121.4,,yes,no,no,no,\n"
    ",,store,abc,121.4,,no,no,no,no,xyz=10:00-12:00\n"
)


async def test_bad_rows_are_reported_in_chinese_by_accept_language_or_the_tenants_locale(
    admin: Api,
) -> None:
    zh = {"Content-Type": "text/csv", "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
    for kind, text in (("products", BAD_PRODUCTS), ("locations", BAD_LOCATIONS)):
        english = await post_csv(admin, kind, text, dry_run=True)
        response = await admin.client.post(
            f"/v1/imports/{kind}?dry_run=true", content=text.encode(), headers=admin.headers(zh)
        )
        body = response.json()
        assert response.status_code == 422
        assert (body["code"], body["type"]) == (english["code"], english["type"])
        assert body["title"] == "文件中有错误行，未导入任何数据"  # noqa: RUF001
        assert english["title"] == "The file has bad rows; nothing was imported"
        lines = [(e["line"], e["field"]) for e in body["errors"]]
        assert lines == [(e["line"], e["field"]) for e in english["errors"]]  # type: ignore[attr-defined]
        untranslated = [e for e in body["errors"] if not chinese(e["message"])]
        assert untranslated == []
        assert not any(chinese(e["message"]) for e in english["errors"])  # type: ignore[attr-defined]
    await admin.patch("/v1/settings", {"locale": "zh-CN"})
    by_tenant = await post_csv(admin, "products", BAD_PRODUCTS, dry_run=True)
    assert by_tenant["errors"][0] == {"line": 3, "field": "price", "message": "必填"}  # type: ignore[index]
    asked_english = await admin.client.post(
        "/v1/imports/products?dry_run=true",
        content=BAD_PRODUCTS.encode(),
        headers=admin.headers({"Content-Type": "text/csv", "Accept-Language": "en"}),
    )
    assert asked_english.json()["errors"][0]["message"] == "required"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_cli_reports_bad_lines_in_the_tenants_locale_or_lang(
    backend: str,
    tmp_path: pathlib.Path,
    backend_urls: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = CliRunner()
    monkeypatch.setenv("OMNI_DATABASE_URL", backend_url(backend_urls, backend))
    monkeypatch.delenv("OMNI_LANG", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    slug = f"cli-zh-{uuid.uuid4().hex[:6]}"
    made = runner.invoke(cli, ["tenant", "create", slug, "--name", "上海", "--locale", "zh-CN"])
    assert made.exit_code == 0, made.output
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "P1,Tee,men/tees,P1-S,,abc,S,black\n", encoding="utf-8")
    result = runner.invoke(cli, ["import", "products", str(bad), "--tenant", slug])
    assert result.exit_code == 2
    assert "第 2 行, price: 不是数字" in result.output
    assert "(import_rejected)" in result.output
    result = runner.invoke(cli, ["--lang", "en", "import", "products", str(bad), "--tenant", slug])
    assert result.exit_code == 2
    assert "line 2, price: not a number" in result.output
    refused = runner.invoke(cli, ["--lang", "fr", "tenant", "list"])
    assert refused.exit_code == 2
