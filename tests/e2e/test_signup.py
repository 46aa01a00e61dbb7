"""Onboarding over the API: a SaaS operator's key signs a merchant up; nobody else can."""

from __future__ import annotations

import httpx
import pytest

from omniretail.auth.domain import Role
from omniretail.db import Database
from tests.factories import Api, TenantHandle, make_key


@pytest.fixture
async def operator(client: httpx.AsyncClient, db: Database, tenant: TenantHandle) -> Api:
    return Api(client, await make_key(db, tenant, Role.OPERATOR))


async def test_an_operator_signs_a_merchant_up_and_its_admin_key_works(operator: Api) -> None:
    body = {
        "slug": "tea-house",
        "name": "茶舍",
        "currency": "CNY",
        "timezone": "Asia/Shanghai",
        "locale": "zh-CN",
    }
    response = await operator.post("/v1/signup", body)
    assert response.status_code == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
    created = response.json()
    assert created["tenant"] == "tea-house"
    assert created["locale"] == "zh-CN"
    merchant = Api(operator.client, created["admin_key"])
    me = (await merchant.get("/v1/me")).json()
    assert (me["tenant"], me["role"], me["timezone"]) == ("tea-house", "admin", "Asia/Shanghai")
    # Its errors speak its language.
    missing = await merchant.get("/v1/orders/ord_nothing")
    assert missing.json()["title"] == "未找到"
    # The same slug again is a conflict, not a second tenant.
    again = await operator.post("/v1/signup", body)
    assert again.status_code == 409
    assert again.json()["code"] == "already_exists"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slug", "Bad Slug"),
        ("currency", "XAU"),
        ("currency", "yen"),
        ("timezone", "Mars/Olympus"),
        ("locale", "fr"),
    ],
)
async def test_a_signup_with_a_bad_field_is_refused_naming_it(
    operator: Api, field: str, value: str
) -> None:
    body = {"slug": "shop-1", "name": "Shop", field: value}
    response = await operator.post("/v1/signup", body)
    assert response.status_code == 422, response.text
    assert field in response.text
    fixed = await operator.post("/v1/signup", {"slug": "shop-1", "name": "Shop"})
    assert fixed.status_code == 201


async def test_operator_keys_cannot_be_made_over_the_api_nor_read_tenant_data(
    admin: Api, operator: Api
) -> None:
    refused = await admin.post("/v1/keys", {"role": "operator"})
    assert refused.status_code == 422
    assert (await admin.post("/v1/signup", {"slug": "x", "name": "X"})).status_code == 403
    assert (await operator.get("/v1/orders")).status_code == 403
    assert (await operator.get("/v1/channels")).status_code == 403
