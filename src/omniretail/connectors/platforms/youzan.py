"""Youzan (有赞) push: one JSON object per request with client_id, kdt_id, msg (URL-encoded
JSON), msg_id, type; ``Event-Sign`` = MD5(client_id + raw body + client_secret). The fields
inside ``msg`` (tid, payment, orders, receiver) are inferred; see docs/channels.md."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from omniretail.connectors.platforms.base import (
    Acknowledgement,
    Action,
    MessageUnreadable,
    PlatformMessage,
    as_int,
    load_json,
    md5_hex,
    order_lines,
    same,
)

TYPES = {
    "trade_TradePaid": Action.PAID,
    "trade_TradeClose": Action.CANCELLED,
    "trade_refund_RefundSuccess": Action.REFUNDED,
}


class Youzan:
    name = "youzan"
    credential_fields: tuple[str, ...] = ("client_id", "client_secret")

    def verify(
        self,
        *,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: bytes,
        credentials: Mapping[str, str],
    ) -> bool:
        cid, secret = credentials["client_id"].encode(), credentials["client_secret"].encode()
        return same(md5_hex(cid + body + secret), headers.get("event-sign"))

    def parse(self, body: bytes) -> list[PlatformMessage]:
        push = load_json(body)
        if not isinstance(push, dict) or "msg_id" not in push or "type" not in push:
            raise MessageUnreadable("a Youzan push has msg_id, type and msg")
        action = TYPES.get(str(push["type"]), Action.IGNORED)
        try:
            msg = json.loads(unquote(str(push.get("msg") or "{}")))
        except ValueError as exc:
            raise MessageUnreadable("msg is not URL-encoded JSON") from exc
        if not isinstance(msg, dict):
            raise MessageUnreadable("msg is not an object")
        tid = str(msg["tid"]) if msg.get("tid") is not None else None
        if action is not Action.IGNORED and tid is None:
            raise MessageUnreadable("a trade message has no tid")
        paid = action is Action.PAID
        return [
            PlatformMessage(
                msg_id=str(push["msg_id"])[:128],
                topic=str(push["type"])[:64],
                action=action,
                platform_order_id=tid,
                lines=order_lines(msg.get("orders"), "outer_sku_id", "num") if paid else (),
                paid_amount=as_int(msg.get("payment"), "payment") if paid else None,
                mode={"self_fetch": "pickup", "city_delivery": "local_delivery"}.get(
                    str(msg.get("express_type")), "ship"
                ),
                address=msg.get("receiver") if isinstance(msg.get("receiver"), dict) else None,
                raw=push,
            )
        ]

    def acknowledgement(self) -> Acknowledgement:
        return Acknowledgement({"code": 0, "msg": "success"})

    def stock_request(self, *, shop_id: str, platform_sku: str, qty: int) -> dict[str, Any]:
        return {
            "method": "youzan.item.quantity.update",
            "param": {"kdt_id": shop_id, "sku_outer_id": platform_sku, "quantity": qty},
        }

    def signed_headers(
        self, *, body: bytes, credentials: Mapping[str, str], timestamp: str, nonce: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        cid, secret = credentials["client_id"], credentials["client_secret"]
        return {"Event-Sign": md5_hex(cid.encode() + body + secret.encode())}, {}
