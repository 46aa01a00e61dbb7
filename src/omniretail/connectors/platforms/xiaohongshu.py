"""Xiaohongshu push: a JSON array of {msgTag, sellerId, data (JSON string)}, headers
``timestamp``, ``app-key``, ``sign``. The sign algorithm is not published: we use
MD5(app_key + timestamp + raw body + app_secret), modelled on its API request signing
(inferred). orderStatus 4 (待发货, paid) may arrive twice; 8 closed and 9 cancelled (inferred).
There is no message id: ours is the SHA-256 of tag and data, so an identical repeat dedupes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

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

STATUS = {4: Action.PAID, 8: Action.CANCELLED, 9: Action.CANCELLED}


class Xiaohongshu:
    name = "xiaohongshu"
    credential_fields: tuple[str, ...] = ("app_key", "app_secret")

    def verify(
        self,
        *,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: bytes,
        credentials: Mapping[str, str],
    ) -> bool:
        timestamp = headers.get("timestamp", "")
        if not same(credentials["app_key"], headers.get("app-key")) or not timestamp.isascii():
            return False
        key, secret = credentials["app_key"].encode(), credentials["app_secret"].encode()
        return same(md5_hex(key + timestamp.encode() + body + secret), headers.get("sign"))

    def parse(self, body: bytes) -> list[PlatformMessage]:
        records = load_json(body)
        if not isinstance(records, list):
            raise MessageUnreadable("a Xiaohongshu push is a JSON array")
        return [_message(record) for record in records]

    def acknowledgement(self) -> Acknowledgement:
        return Acknowledgement({"success": True, "error_code": 0, "error_msg": ""})

    def stock_request(self, *, shop_id: str, platform_sku: str, qty: int) -> dict[str, Any]:
        return {"method": "product.updateSkuStock", "param": {"skuId": platform_sku, "qty": qty}}

    def signed_headers(
        self, *, body: bytes, credentials: Mapping[str, str], timestamp: str, nonce: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        key, secret = credentials["app_key"], credentials["app_secret"]
        sign = md5_hex(key.encode() + timestamp.encode() + body + secret.encode())
        return {"app-key": key, "timestamp": timestamp, "sign": sign}, {}


def _message(record: Any) -> PlatformMessage:
    if not isinstance(record, dict) or "msgTag" not in record:
        raise MessageUnreadable("each record needs msgTag, sellerId and data")
    tag, text = str(record["msgTag"])[:64], str(record.get("data") or "{}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MessageUnreadable("data is not a JSON string") from exc
    if not isinstance(data, dict):
        raise MessageUnreadable("data is not an object")
    action = Action.IGNORED
    if tag == "msg_fulfillment_status_change":
        action = STATUS.get(as_int(data.get("orderStatus", 0), "orderStatus"), Action.IGNORED)
    elif tag == "msg_after_sale_create":
        action = Action.REFUNDED
    order_id = str(data["orderId"]) if data.get("orderId") is not None else None
    if action is not Action.IGNORED and order_id is None:
        raise MessageUnreadable("an order message has no orderId")
    paid = action is Action.PAID
    return PlatformMessage(
        msg_id=hashlib.sha256(f"{tag}\n{text}".encode()).hexdigest(),
        topic=tag,
        action=action,
        platform_order_id=order_id,
        lines=order_lines(data.get("skuList"), "skuId", "quantity") if paid else (),
        paid_amount=as_int(data.get("totalPayAmount"), "totalPayAmount") if paid else None,
        address=data.get("receiver") if isinstance(data.get("receiver"), dict) else None,
        raw=record,
    )
