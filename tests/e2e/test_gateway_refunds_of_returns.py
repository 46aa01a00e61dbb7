"""A return of goods paid with WeChat Pay: each return's refund is its own gateway refund
(its own out_refund_no, of the payment's whole total), recorded when the return is received and
sent after commit; two partial returns give back exactly what was paid."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from omniretail.db import Database, utcnow
from omniretail.payments.models import GatewayRefund
from omniretail.payments.refunds import send_due_refunds
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world
from tests.payment_fakes import FakeWeChatPay


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def _delivered_wechat_order(world: World, wechat: FakeWeChatPay) -> dict[str, Any]:
    await world.stock("ST-A", "TEE-S", 3)
    placed = await world.order(
        lines=[{"sku": "TEE-S", "qty": 3}], payments=[{"method": "wechat_pay", "amount": 29700}]
    )
    assert placed.status_code == 201, placed.text
    order: dict[str, Any] = placed.json()
    body, headers = wechat.paid(order["payments"][0]["provider_ref"].removeprefix("wxp:"), 29700)
    notified = await world.admin.client.post(
        "/v1/payments/wechat_pay/notify", content=body, headers=headers
    )
    assert notified.status_code == 204, notified.text
    for fulfilment in order["fulfillments"]:
        for action in ("accept", "ship", "deliver"):
            step = await world.admin.post(f"/v1/fulfillments/{fulfilment['id']}/{action}")
            assert step.status_code == 200, step.text
    return order


async def test_two_partial_returns_are_two_gateway_refunds_sent_after_commit(
    world: World, wechat: FakeWeChatPay, db: Database, tenant: TenantHandle, app: FastAPI
) -> None:
    order = await _delivered_wechat_order(world, wechat)
    body = {"order_id": order["id"], "channel": "app", "location": "ST-A"}
    refs = []
    for qty in (2, 1):
        returned = await world.admin.post(
            "/v1/returns", body | {"lines": [{"sku": "TEE-S", "qty": qty}]}
        )
        assert returned.status_code == 201, returned.text
        [refund] = returned.json()["refunds"]
        assert (refund["method"], refund["amount"]) == ("wechat_pay", qty * 9900)
        refs.append(refund["provider_ref"])
    assert wechat.requests == []  # receiving the returns called no one
    async with db.uow(tenant.id, read_only=True) as uow:
        rows = list(await uow.session.scalars(sa.select(GatewayRefund).order_by(GatewayRefund.id)))
    assert [(r.amount, r.total, r.status) for r in rows] == [
        (19800, 29700, "pending"),
        (9900, 29700, "pending"),
    ]
    assert refs == [f"wxp-refund:{r.out_refund_no}" for r in rows]

    assert await send_due_refunds(db, app.state.payment_providers, now=utcnow()) == 2
    assert wechat.refunded == {rows[0].out_refund_no: 19800, rows[1].out_refund_no: 9900}
    sent = sorted((b["amount"]["refund"], b["amount"]["total"]) for _, _, b in wechat.requests if b)
    assert sent == [(9900, 29700), (19800, 29700)]
