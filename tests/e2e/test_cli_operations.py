"""The operator's command line (issue 12): version, tenants and keys, Chinese merchants' files,
and one-line errors for a database that is not there."""

from __future__ import annotations

import asyncio
import json
import pathlib
import uuid

import httpx
import pytest
from typer.testing import CliRunner

from omniretail.app import create_app
from omniretail.cli import app
from omniretail.config import Settings
from tests.conftest import backend_url
from tests.factories import Api

runner = CliRunner()
HEADER = "product_code,title,category,sku,barcode,price,size,colour\n"
ROWS = (
    "LM1,真丝衬衫,女装/上衣,LM1-WHI-M,,399.00,M,白色\n"
    "LM2,羊绒大衣,女装/外套,LM2-BLA-L,,1299.00,L,黑色\n"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, backend_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    url = backend_url(backend_urls, request.param)
    monkeypatch.setenv("OMNI_DATABASE_URL", url)
    monkeypatch.delenv("OMNI_LANG", raising=False)
    return url


def make_tenant(currency: str = "CNY") -> tuple[str, str]:
    slug = f"ops-{uuid.uuid4().hex[:8]}"
    done = runner.invoke(app, ["tenant", "create", slug, "--name", "Ops", "--currency", currency])
    assert done.exit_code == 0, done.output
    return slug, json.loads(done.stdout)["admin_key"]


def test_version_is_printed() -> None:
    done = runner.invoke(app, ["--version"])
    assert done.exit_code == 0
    assert done.stdout.startswith("omni 0.")


@pytest.mark.usefixtures("database_url")
def test_tenants_and_keys_are_listed_and_keys_revoked() -> None:
    slug, admin_key = make_tenant()
    listed = [
        json.loads(line) for line in runner.invoke(app, ["tenant", "list"]).stdout.splitlines()
    ]
    assert slug in [t["slug"] for t in listed]
    extra = runner.invoke(app, ["key", "create", "--tenant", slug, "--role", "analyst"])
    analyst_id = json.loads(extra.stdout)["id"]
    keys = [
        json.loads(ln)
        for ln in runner.invoke(app, ["key", "list", "--tenant", slug]).stdout.splitlines()
    ]
    assert [k["role"] for k in keys] == ["admin", "analyst"]
    assert admin_key.startswith(keys[0]["prefix"])
    assert admin_key not in json.dumps(keys)
    revoked = runner.invoke(app, ["key", "revoke", str(analyst_id), "--tenant", slug])
    assert revoked.exit_code == 0, revoked.output
    keys = [
        json.loads(ln)
        for ln in runner.invoke(app, ["key", "list", "--tenant", slug]).stdout.splitlines()
    ]
    assert keys[1]["revoked_at"] is not None
    assert keys[0]["revoked_at"] is None
    # Another tenant's key id is not found from this tenant.
    other, _ = make_tenant()
    refused = runner.invoke(app, ["key", "revoke", str(keys[0]["id"]), "--tenant", other])
    assert refused.exit_code == 2
    keys = [
        json.loads(ln)
        for ln in runner.invoke(app, ["key", "list", "--tenant", slug]).stdout.splitlines()
    ]
    assert keys[0]["revoked_at"] is None


@pytest.mark.usefixtures("database_url")
def test_an_unknown_currency_is_refused() -> None:
    done = runner.invoke(
        app, ["tenant", "create", f"c-{uuid.uuid4().hex[:6]}", "--name", "x", "--currency", "ABC"]
    )
    assert done.exit_code == 2
    assert "ISO 4217" in done.output


@pytest.mark.parametrize("encoding", ["gbk", "utf-16", "utf-8-sig"])
@pytest.mark.usefixtures("database_url")
def test_excel_files_import_with_counts_and_export_with_a_bom(
    encoding: str, tmp_path: pathlib.Path
) -> None:
    slug, _ = make_tenant()
    path = tmp_path / "products.csv"
    path.write_bytes((HEADER + ROWS).encode(encoding))
    done = runner.invoke(app, ["import", "products", str(path), "--tenant", slug])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout.splitlines()[-1])["created"] == 2
    assert "2 rows" in done.stderr
    out = tmp_path / "out.csv"
    exported = runner.invoke(app, ["export", "products", "--tenant", slug, "--bom", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert "真丝衬衫" in data.decode("utf-8-sig")


@pytest.mark.usefixtures("database_url")
def test_a_binary_file_is_one_line_in_the_operators_language(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug, _ = make_tenant()
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    monkeypatch.setenv("OMNI_LANG", "zh-CN")
    done = runner.invoke(app, ["import", "products", str(path), "--tenant", slug])
    assert done.exit_code == 2
    assert "无法识别文件编码" in done.stderr
    assert "Traceback" not in done.output


@pytest.mark.parametrize(
    "url",
    ["postgresql://nobody@127.0.0.1:1/none", "sqlite+aiosqlite:////nonexistent-dir/x/omni.db"],
)
@pytest.mark.parametrize("command", [["tenant", "list"], ["migrate"]])
def test_an_unreachable_database_is_one_line_without_a_traceback(
    url: str, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNI_DATABASE_URL", url)
    done = runner.invoke(app, command)
    assert done.exit_code == 3
    assert done.exception is None or isinstance(done.exception, SystemExit)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cannot reach the database at ")


async def test_the_api_reads_gbk_uploads_and_answers_in_chinese(admin: Api) -> None:
    response = await admin.client.post(
        "/v1/imports/products?dry_run=false",
        content=(HEADER + ROWS).encode("gbk"),
        headers=admin.headers({"Content-Type": "text/csv"}),
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
    refused = await admin.client.post(
        "/v1/imports/products",
        content=b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        headers=admin.headers({"Content-Type": "text/csv", "Accept-Language": "zh-CN,zh;q=0.9"}),
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "undecodable_file"
    assert "编码" in refused.json()["detail"]
    exported = await admin.client.get("/v1/exports/products?bom=true", headers=admin.headers())
    assert exported.content.startswith(b"\xef\xbb\xbf")
    assert "真丝衬衫" in exported.content.decode("utf-8-sig")
    plain = await admin.client.get("/v1/exports/products", headers=admin.headers())
    assert isinstance(plain, httpx.Response)
    assert not plain.content.startswith(b"\xef\xbb\xbf")


@pytest.mark.usefixtures("database_url")
def test_a_tenants_locale_answers_uploads_without_accept_language(
    database_url: str,
) -> None:
    slug = f"zh-{uuid.uuid4().hex[:8]}"
    refused = runner.invoke(app, ["tenant", "create", slug, "--name", "x", "--locale", "fr"])
    assert refused.exit_code == 2
    done = runner.invoke(app, ["tenant", "create", slug, "--name", "上海店", "--locale", "zh-CN"])
    assert done.exit_code == 0, done.output
    key = json.loads(done.stdout)["admin_key"]
    settings = Settings(database_url=database_url, run_dispatcher=False)
    api = create_app(settings)
    transport = httpx.ASGITransport(app=api)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "text/csv"}
    binary = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4

    async def upload_twice() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=transport, base_url="http://omni.test") as http:
            chinese = await http.post("/v1/imports/products", content=binary, headers=headers)
            english = await http.post(
                "/v1/imports/products",
                content=binary,
                headers=headers | {"Accept-Language": "en-GB"},
            )
        await api.state.db.dispose()
        return chinese, english

    chinese, english = asyncio.run(upload_twice())
    assert chinese.status_code == 422
    assert "编码" in chinese.json()["detail"]
    assert "encoding" in english.json()["detail"]
