"""Connections for connector tests, and a tiny platform stand-in that signs pushes the way
each platform does (through the platform plugin's own ``signed_headers``)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI

from omniretail.connectors.platforms import builtin_platforms
from tests.orders_world import CUSTOMER, World

CREDENTIALS: dict[str, dict[str, str]] = {
    "douyin": {"app_key": "dy-app-7", "app_secret": "dy-secret-" + "x" * 8},
    "youzan": {"client_id": "yz-client-3", "client_secret": "yz-secret-" + "y" * 8},
    "xiaohongshu": {"app_key": "xhs-key-1", "app_secret": "xhs-secret-" + "z" * 8},
    "wechat": {"token": "wx-token-" + "w" * 8},
}
CHANNEL_OF = {"douyin": "douyin", "youzan": "youzan", "xiaohongshu": "xhs", "wechat": "wxshop"}
PLATFORMS = list(CREDENTIALS)


def paid_body(platform: str, order_id: str, lines: list[tuple[str, int]], amount: int) -> bytes:
    receiver = {"lat": CUSTOMER["lat"], "lng": CUSTOMER["lng"]}
    if platform == "douyin":
        data = {
            "p_id": order_id,
            "shop_id": 77,
            "order_status": 2,
            "order_type": 0,
            "pay_amount": amount,
            "lines": [{"out_sku_id": s, "num": q} for s, q in lines],
            "receiver": receiver,
        }
        return json.dumps(
            [{"tag": "101", "msg_id": f"m-paid-{order_id}", "data": json.dumps(data)}]
        ).encode()
    if platform == "youzan":
        msg = {
            "tid": order_id,
            "payment": amount,
            "orders": [{"outer_sku_id": s, "num": q} for s, q in lines],
            "receiver": receiver,
        }
        return json.dumps(_youzan("trade_TradePaid", f"yz-paid-{order_id}", msg)).encode()
    if platform == "xiaohongshu":
        data = {
            "orderId": order_id,
            "orderStatus": 4,
            "totalPayAmount": amount,
            "skuList": [{"skuId": s, "quantity": q} for s, q in lines],
            "receiver": receiver,
        }
        return json.dumps([_xhs("msg_fulfillment_status_change", data)]).encode()
    info = {
        "order_id": order_id,
        "order_price": amount,
        "product_infos": [{"out_sku_id": s, "sku_cnt": q} for s, q in lines],
        "receiver": receiver,
    }
    return json.dumps(_wechat("channels_ec_order_pay", info, 1700000000)).encode()


def cancel_body(platform: str, order_id: str) -> bytes:
    if platform == "douyin":
        data = json.dumps({"p_id": order_id, "order_status": 4})
        return json.dumps([{"tag": "106", "msg_id": f"m-cancel-{order_id}", "data": data}]).encode()
    if platform == "youzan":
        msg = {"tid": order_id}
        return json.dumps(_youzan("trade_TradeClose", f"yz-close-{order_id}", msg)).encode()
    if platform == "xiaohongshu":
        data = {"orderId": order_id, "orderStatus": 9}
        return json.dumps([_xhs("msg_fulfillment_status_change", data)]).encode()
    info = {"order_id": order_id}
    return json.dumps(_wechat("channels_ec_order_cancel", info, 1700000100)).encode()


def _youzan(kind: str, msg_id: str, msg: dict[str, Any]) -> dict[str, Any]:
    return {
        "client_id": CREDENTIALS["youzan"]["client_id"],
        "id": msg_id,
        "kdt_id": 4242,
        "kdt_name": "Acme",
        "msg": quote(json.dumps(msg)),
        "msg_id": msg_id,
        "sendCount": 1,
        "status": "",
        "test": False,
        "type": kind,
        "version": 1,
    }


def _xhs(tag: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"msgTag": tag, "sellerId": "seller-1", "data": json.dumps(data)}


def _wechat(event: str, info: dict[str, Any], at: int) -> dict[str, Any]:
    return {
        "ToUserName": "gh_shop",
        "FromUserName": "platform",
        "CreateTime": at,
        "MsgType": "event",
        "Event": event,
        "order_info": info,
    }


@dataclass
class Shop:
    """One connected platform shop, able to push signed messages to us."""

    platform: str
    connection_id: str
    client: httpx.AsyncClient
    credentials: dict[str, str]

    async def push(self, body: bytes, *, tamper: bool = False) -> httpx.Response:
        plugin = builtin_platforms()[self.platform]
        headers, query = plugin.signed_headers(
            body=body,
            credentials=self.credentials,
            timestamp="1700000000",
            nonce=secrets.token_hex(4),
        )
        sent = body + b" " if tamper else body
        return await self.client.post(
            f"/hooks/{self.platform}/{self.connection_id}",
            content=sent,
            headers={**headers, "Content-Type": "application/json"},
            params=query,
        )


async def connect(world: World, platform: str, locations: list[str] | None = None) -> Shop:
    channel = CHANNEL_OF[platform]
    if (await world.admin.get(f"/v1/channels/{channel}")).status_code == 404:
        created = await world.admin.post(
            "/v1/channels", {"code": channel, "kind": "marketplace", "name": channel}
        )
        assert created.status_code == 201, created.text
    response = await world.admin.post(
        "/v1/connections",
        {
            "platform": platform,
            "shop_id": f"{platform}-shop-1",
            "channel": channel,
            "locations": locations or ["ST-A"],
            "credentials": CREDENTIALS[platform],
        },
    )
    assert response.status_code == 201, response.text
    return Shop(platform, response.json()["id"], world.admin.client, CREDENTIALS[platform])


async def drain(app: FastAPI) -> None:
    await app.state.dispatcher.run_until_idle()
