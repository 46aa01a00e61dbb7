"""The platform simulator: builds pushes in each platform's shape and signs them with the
platform plugin's own scheme, so tests, the demo and a merchant trying the product can run the
whole loop (``omni channel-sim``) with no internet. Field names follow docs/channels.md."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import quote

import httpx

from omniretail.connectors.platforms import builtin_platforms

RECEIVER = {"lat": 31.2304, "lng": 121.4737}


def paid_body(platform: str, order_id: str, lines: list[tuple[str, int]], amount: int) -> bytes:
    receiver = {"lat": RECEIVER["lat"], "lng": RECEIVER["lng"]}
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
        text = json.dumps({"p_id": order_id, "order_status": 4})
        return json.dumps([{"tag": "106", "msg_id": f"m-cancel-{order_id}", "data": text}]).encode()
    if platform == "youzan":
        msg = {"tid": order_id}
        return json.dumps(_youzan("trade_TradeClose", f"yz-close-{order_id}", msg)).encode()
    if platform == "xiaohongshu":
        data = {"orderId": order_id, "orderStatus": 9}
        return json.dumps([_xhs("msg_fulfillment_status_change", data)]).encode()
    info = {"order_id": order_id}
    return json.dumps(_wechat("channels_ec_order_cancel", info, 1700000100)).encode()


def refund_body(platform: str, order_id: str) -> bytes:
    """A refund (or after-sale) completed on the platform."""
    if platform == "douyin":
        text = json.dumps({"p_id": order_id, "aftersale_id": f"as-{order_id}"})
        return json.dumps([{"tag": "200", "msg_id": f"m-refund-{order_id}", "data": text}]).encode()
    if platform == "youzan":
        msg = {"tid": order_id}
        return json.dumps(
            _youzan("trade_refund_RefundSuccess", f"yz-refund-{order_id}", msg)
        ).encode()
    if platform == "xiaohongshu":
        data = {"orderId": order_id, "returnsId": f"rt-{order_id}"}
        return json.dumps([_xhs("msg_after_sale_create", data)]).encode()
    if platform == "wechat":
        return json.dumps(after_sale_push(order_id, "MERCHANT_REFUND_SUCCESS", 1700000200)).encode()
    raise ValueError(f"no refund message for {platform}")


def after_sale_push(order_id: str, status: str, at: int) -> dict[str, Any]:
    """WeChat 小店's after-sale update in one state (field names inferred, docs/channels.md)."""
    return {
        "ToUserName": "gh_shop",
        "FromUserName": "platform",
        "CreateTime": at,
        "MsgType": "event",
        "Event": "channels_ec_aftersale_update",
        "finder_shop_aftersale_status_update": {
            "status": status,
            "after_sale_order_id": f"as-{order_id}",
            "order_id": order_id,
        },
    }


def _youzan(kind: str, msg_id: str, msg: dict[str, Any]) -> dict[str, Any]:
    return {
        "client_id": "simulator",
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


def signed_request(
    platform: str, body: bytes, credentials: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query string the platform would send with ``body``."""
    headers, query = builtin_platforms()[platform].signed_headers(
        body=body,
        credentials=credentials,
        timestamp=str(int(time.time())),
        nonce=secrets.token_hex(4),
    )
    return {**headers, "Content-Type": "application/json"}, query


async def push_orders(
    *,
    base_url: str,
    platform: str,
    connection_id: str,
    credentials: dict[str, str],
    sku: str,
    price: int,
    orders: int,
    prefix: str,
) -> list[tuple[str, int, str]]:
    """Push ``orders`` paid orders of one unit of ``sku``; returns (order id, status, reply)."""
    out = []
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        for n in range(orders):
            order_id = f"{prefix}-{n}"
            body = paid_body(platform, order_id, [(sku, 1)], price)
            headers, query = signed_request(platform, body, credentials)
            reply = await client.post(
                f"/hooks/{platform}/{connection_id}", content=body, headers=headers, params=query
            )
            out.append((order_id, reply.status_code, reply.text[:200]))
    return out
