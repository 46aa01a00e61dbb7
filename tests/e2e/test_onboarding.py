"""Onboarding, the whole journey: a SaaS operator signs a merchant up over the API, the
merchant's HQ connects its Youzan shop in the console (credentials, channel, serving store),
pushes a simulated order, and sees it arrive as an order holding stock."""

from __future__ import annotations

import re

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI

from omniretail.auth import service as auth
from omniretail.auth.domain import Role
from omniretail.auth.staff_domain import StaffRole
from omniretail.connectors.vault import CredentialVault
from omniretail.db import Database
from tests.connectors_world import drain
from tests.console_helpers import form_token, make_staff, sign_in
from tests.factories import Api, TenantHandle, make_key


async def sign_up(client: httpx.AsyncClient, db: Database, operator_home: TenantHandle) -> Api:
    operator = Api(client, await make_key(db, operator_home, Role.OPERATOR))
    created = await operator.post(
        "/v1/signup",
        {"slug": "tea-house", "name": "Tea House", "currency": "CNY", "locale": "zh-CN"},
    )
    assert created.status_code == 201, created.text
    return Api(client, created.json()["admin_key"])


async def set_up_shop(merchant: Api) -> None:
    """What a merchant does first: a channel, a store, a product, some stock."""
    for path, body in (
        ("/v1/channels", {"code": "youzan", "kind": "marketplace", "name": "有赞微商城"}),
        (
            "/v1/locations",
            {
                "code": "TH-1",
                "name": "Tea House Jing'an",
                "type": "store",
                "lat": 31.2304,
                "lng": 121.4737,
                "capabilities": {"ship": True, "pickup": True, "sells_online": True},
            },
        ),
        (
            "/v1/products",
            {
                "code": "OOLONG",
                "title": "Oolong 100 g",
                "category": "tea",
                "variants": [{"sku": "OOLONG-100", "price": 6800}],
            },
        ),
        (
            "/v1/inventory/movements",
            {
                "batch_id": "first-delivery",
                "lines": [{"sku": "OOLONG-100", "location": "TH-1", "reason": "receipt", "qty": 5}],
            },
        ),
    ):
        response = await merchant.post(path, body)
        assert response.status_code == 201, response.text


@pytest.fixture
async def merchant(
    app: FastAPI, client: httpx.AsyncClient, db: Database, tenant: TenantHandle
) -> tuple[Api, TenantHandle]:
    app.state.connector_vault = CredentialVault([Fernet.generate_key().decode()])
    merchant = await sign_up(client, db, tenant)
    await set_up_shop(merchant)
    async with db.uow(unscoped=True) as uow:
        tenant_id = await auth.tenant_id_by_slug(uow, "tea-house")
    handle = TenantHandle(slug="tea-house", id=tenant_id, admin_key=str(merchant.key))
    await make_staff(db, handle, StaffRole.ADMIN, "boss@tea.test", language="zh-CN")
    assert (await sign_in(client, "tea-house", "boss@tea.test")).status_code == 303
    return merchant, handle


async def connect_youzan(client: httpx.AsyncClient) -> str:
    form = await client.get("/console/connections", params={"platform": "youzan"})
    assert form.status_code == 200, form.text
    assert 'name="credential.client_secret"' in form.text
    token = await form_token(client, "/console/connections")
    made = await client.post(
        "/console/connections",
        data={
            "csrf": token,
            "platform": "youzan",
            "shop_id": "kdt-4242",
            "channel": "youzan",
            "credential.client_id": "yz-client",
            "credential.client_secret": "yz-secret-abcdef",
            "locations": ["TH-1"],
        },
    )
    assert made.status_code == 303, made.text
    connection_id = made.headers["location"].rsplit("/", 1)[1]
    assert connection_id.startswith("con_")
    return connection_id


async def test_a_new_merchant_connects_a_shop_and_sees_its_first_simulated_order(
    app: FastAPI, client: httpx.AsyncClient, merchant: tuple[Api, TenantHandle]
) -> None:
    api, _ = merchant
    app.state.settings = app.state.settings.model_copy(update={"console_simulator": True})
    connection_id = await connect_youzan(client)
    page = await client.get(f"/console/connections/{connection_id}")
    assert page.status_code == 200
    assert f"/hooks/youzan/{connection_id}" in page.text
    assert "yz-secret-abcdef" not in page.text  # credentials never shown again
    assert "等待第一笔订单" in page.text  # in the boss's language
    token = await form_token(client, f"/console/connections/{connection_id}")
    pushed = await client.post(
        f"/console/connections/{connection_id}/simulate",
        data={"csrf": token, "sku": "OOLONG-100", "qty": "2"},
    )
    assert pushed.status_code == 201, pushed.text
    platform_order = re.search(r'id="pushed">[^<]*(SIM-[0-9A-F]{8})', pushed.text)
    assert platform_order
    await drain(app)  # what `omni serve`'s worker does within milliseconds
    messages = await client.get(f"/console/connections/{connection_id}/messages")
    assert 'data-status="applied"' in messages.text, messages.text
    link = re.search(r'class="order-link" href="/console/orders/([^"]+)"', messages.text)
    assert link
    order = (await api.get(f"/v1/orders/{link.group(1)}")).json()
    assert order["channel"] == "youzan"
    assert [(line["sku"], line["qty"]) for line in order["lines"]] == [("OOLONG-100", 2)]
    stock = (await api.get("/v1/inventory/OOLONG-100")).json()["positions"][0]
    assert (stock["location"], stock["on_hand"], stock["reserved"]) == ("TH-1", 5, 2)
    listed = (await api.get(f"/v1/connections/{connection_id}/messages")).json()["items"]
    assert [m["platform_order_id"] for m in listed] == [platform_order.group(1)]


async def test_the_test_order_button_is_off_unless_the_install_turns_it_on(
    client: httpx.AsyncClient, merchant: tuple[Api, TenantHandle]
) -> None:
    api, _ = merchant
    connection_id = await connect_youzan(client)
    page = await client.get(f"/console/connections/{connection_id}")
    assert 'id="simulate-form"' not in page.text
    token = await form_token(client, f"/console/connections/{connection_id}")
    refused = await client.post(
        f"/console/connections/{connection_id}/simulate",
        data={"csrf": token, "sku": "OOLONG-100"},
    )
    assert refused.status_code == 422
    assert (await api.get(f"/v1/connections/{connection_id}/messages")).json()["items"] == []


async def test_a_shop_missing_credentials_or_stores_is_refused_and_only_admins_connect(
    client: httpx.AsyncClient, db: Database, merchant: tuple[Api, TenantHandle]
) -> None:
    api, handle = merchant
    token = await form_token(client, "/console/connections")
    incomplete = await client.post(
        "/console/connections",
        data={"csrf": token, "platform": "youzan", "shop_id": "s", "channel": "youzan"},
    )
    assert incomplete.status_code == 422
    assert 'id="problem"' in incomplete.text
    assert (await api.get("/v1/connections")).json()["items"] == []
    await make_staff(db, handle, StaffRole.OPS, "ops@tea.test")
    client.cookies.clear()
    assert (await sign_in(client, "tea-house", "ops@tea.test")).status_code == 303
    assert (await client.get("/console/connections")).status_code == 403
