"""WeChat 小店 message push (JSON mode, plain text): the URL carries ``signature`` =
sha1(sorted(token, timestamp, nonce) joined), ``timestamp`` and ``nonce``; the body is
{ToUserName, FromUserName, CreateTime, MsgType "event", Event, order_info{order_id}}; the
reply is the text ``success``. Events channels_ec_order_pay / _cancel. ``product_infos`` and
``receiver`` in order_info are inferred (the real connector fetches order/get); the AES
(EncodingAESKey) mode is not done. See docs/channels.md."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from omniretail.connectors.platforms.base import (
    Acknowledgement,
    Action,
    MessageUnreadable,
    PlatformMessage,
    as_int,
    load_json,
    order_lines,
    same,
)

EVENTS = {"channels_ec_order_pay": Action.PAID, "channels_ec_order_cancel": Action.CANCELLED}


def url_signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324


class WeChat:
    name = "wechat"
    credential_fields: tuple[str, ...] = ("token",)

    def verify(
        self,
        *,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: bytes,
        credentials: Mapping[str, str],
    ) -> bool:
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not (timestamp.isascii() and nonce.isascii()):
            return False
        expected = url_signature(credentials["token"], timestamp, nonce)
        return same(expected, query.get("signature"))

    def parse(self, body: bytes) -> list[PlatformMessage]:
        push = load_json(body)
        if not isinstance(push, dict) or "Event" not in push:
            raise MessageUnreadable("a WeChat push is an event object")
        event = str(push["Event"])[:64]
        info = push.get("order_info") if isinstance(push.get("order_info"), dict) else {}
        assert isinstance(info, dict)
        action = EVENTS.get(event, Action.IGNORED)
        order_id = str(info["order_id"]) if info.get("order_id") is not None else None
        if action is not Action.IGNORED and order_id is None:
            raise MessageUnreadable("an order event has no order_info.order_id")
        paid = action is Action.PAID
        msg_id = f"{push.get('FromUserName', '')}:{push.get('CreateTime', '')}:{event}:{order_id}"
        return [
            PlatformMessage(
                msg_id=msg_id[:128],
                topic=event,
                action=action,
                platform_order_id=order_id,
                lines=order_lines(info.get("product_infos"), "out_sku_id", "sku_cnt")
                if paid
                else (),
                paid_amount=as_int(info.get("order_price"), "order_price") if paid else None,
                address=info.get("receiver") if isinstance(info.get("receiver"), dict) else None,
                raw=push,
            )
        ]

    def acknowledgement(self) -> Acknowledgement:
        return Acknowledgement("success", media_type="text/plain")

    def stock_request(self, *, shop_id: str, platform_sku: str, qty: int) -> dict[str, Any]:
        return {
            "method": "channels/ec/product/stock/update",
            "param": {"out_sku_id": platform_sku, "diff_type": 3, "num": qty},  # 3: set
        }

    def signed_headers(
        self, *, body: bytes, credentials: Mapping[str, str], timestamp: str, nonce: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        signature = url_signature(credentials["token"], timestamp, nonce)
        return {}, {"signature": signature, "timestamp": timestamp, "nonce": nonce}
