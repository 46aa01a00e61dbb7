"""Connections for connector tests, and a tiny platform stand-in that signs pushes the way
each platform does (through the platform plugin's own ``signed_headers``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from omniretail.connectors.platforms import builtin_platforms
from tests.orders_world import World

CREDENTIALS: dict[str, dict[str, str]] = {
    "douyin": {"app_key": "dy-app-7", "app_secret": "dy-secret-" + "x" * 8},
    "youzan": {"client_id": "yz-client-3", "client_secret": "yz-secret-" + "y" * 8},
    "xiaohongshu": {"app_key": "xhs-key-1", "app_secret": "xhs-secret-" + "z" * 8},
    "wechat": {"token": "wx-token-" + "w" * 8},
}
CHANNEL_OF = {"douyin": "douyin", "youzan": "youzan", "xiaohongshu": "xhs", "wechat": "wxshop"}
PLATFORMS = list(CREDENTIALS)


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
