"""WeChat 小店 message push (JSON mode, plain text): the URL carries ``signature`` =
sha1(sorted(token, timestamp, nonce) joined), ``timestamp`` and ``nonce``; the body is
{ToUserName, FromUserName, CreateTime, MsgType "event", Event, order_info{order_id}}; the
reply is the text ``success``. Events channels_ec_order_pay / _cancel, and the after-sale
update channels_ec_aftersale_update whose ``finder_shop_aftersale_status_update`` {status,
order_id, after_sale_order_id} with status MERCHANT_REFUND_SUCCESS is a completed refund (the
event's field and status names are inferred). ``product_infos`` and ``receiver`` in
order_info are inferred (the real connector fetches order/get); the AES (EncodingAESKey) mode
is not done. See docs/channels.md."""

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
AFTER_SALE_EVENT = "channels_ec_aftersale_update"
AFTER_SALE_FIELD = "finder_shop_aftersale_status_update"
# The after-sale states that mean the buyer's money went back; the others (applied, merchant
# processing, rejected, cancelled by the buyer) are stored and not acted on.
REFUNDED_STATES = frozenset({"MERCHANT_REFUND_SUCCESS"})


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
        if event == AFTER_SALE_EVENT:
            return [self._after_sale(push, event)]
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

    def _after_sale(self, push: dict[str, Any], event: str) -> PlatformMessage:
        update = push.get(AFTER_SALE_FIELD)
        if not isinstance(update, dict) or update.get("order_id") is None:
            raise MessageUnreadable(f"an after-sale event has no {AFTER_SALE_FIELD}.order_id")
        status = str(update.get("status", ""))[:64]
        order_id = str(update["order_id"])
        # One message per after-sale state: the same state pushed again is a repeat.
        msg_id = f"aftersale:{update.get('after_sale_order_id', '')}:{status}:{order_id}"
        return PlatformMessage(
            msg_id=msg_id[:128],
            topic=event,
            action=Action.REFUNDED if status in REFUNDED_STATES else Action.IGNORED,
            platform_order_id=order_id,
            raw=push,
        )

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
