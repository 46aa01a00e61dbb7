"""Douyin shop (抖店) order push: a JSON array of {tag, msg_id, data}, ``data`` a JSON string;
``event-sign`` = hex MD5(app_key + raw body + app_secret), ``app-id`` = app_key (official Java
SDK, community SDK). ``lines``/``receiver`` inside data are inferred: the real push carries ids
and the connector would fetch the order's detail; see docs/channels.md."""

from __future__ import annotations

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

TAGS = {"101": Action.PAID, "106": Action.CANCELLED, "200": Action.REFUNDED}


class Douyin:
    name = "douyin"
    credential_fields: tuple[str, ...] = ("app_key", "app_secret")

    def verify(
        self,
        *,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: bytes,
        credentials: Mapping[str, str],
    ) -> bool:
        key, secret = credentials["app_key"].encode(), credentials["app_secret"].encode()
        return same(credentials["app_key"], headers.get("app-id")) and same(
            md5_hex(key + body + secret), headers.get("event-sign")
        )

    def parse(self, body: bytes) -> list[PlatformMessage]:
        records = load_json(body)
        if not isinstance(records, list):
            raise MessageUnreadable("a Douyin push is a JSON array")
        return [_message(record) for record in records]

    def acknowledgement(self) -> Acknowledgement:
        return Acknowledgement({"code": 0, "msg": "success"})

    def stock_request(self, *, shop_id: str, platform_sku: str, qty: int) -> dict[str, Any]:
        # sku/syncStock with an absolute figure (incremental false needs no idempotent_id).
        return {
            "method": "sku.syncStock",
            "param": {"out_sku_id": platform_sku, "stock_num": qty, "incremental": False},
        }

    def signed_headers(
        self, *, body: bytes, credentials: Mapping[str, str], timestamp: str, nonce: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        key, secret = credentials["app_key"], credentials["app_secret"]
        sign = md5_hex(key.encode() + body + secret.encode())
        return {"app-id": key, "event-sign": sign}, {}


def _message(record: Any) -> PlatformMessage:
    if not isinstance(record, dict) or "msg_id" not in record or "tag" not in record:
        raise MessageUnreadable("each record needs tag, msg_id and data")
    tag = str(record["tag"])
    try:
        data = json.loads(record.get("data") or "{}")
    except (TypeError, ValueError) as exc:
        raise MessageUnreadable("data is not a JSON string") from exc
    if not isinstance(data, dict):
        raise MessageUnreadable("data is not an object")
    action = TAGS.get(tag, Action.IGNORED)
    order_id = str(data["p_id"]) if data.get("p_id") is not None else None
    if action is not Action.IGNORED and order_id is None:
        raise MessageUnreadable("an order message has no p_id")
    paid = action is Action.PAID
    return PlatformMessage(
        msg_id=str(record["msg_id"])[:128],
        topic=tag,
        action=action,
        platform_order_id=order_id,
        lines=order_lines(data.get("lines"), "out_sku_id", "num") if paid else (),
        paid_amount=as_int(data.get("pay_amount"), "pay_amount") if paid else None,
        mode="pickup" if data.get("order_type") == 4 else "ship",  # 4: POI 核销 at a store
        address=data.get("receiver") if isinstance(data.get("receiver"), dict) else None,
        raw=record,
    )
