# ruff: noqa: RUF001  (Chinese text uses full-width punctuation, on purpose)
"""The middleware's own answers (a NUL in the URL, a body over the limit) come before a request,
a key or a tenant exist: they are worded in the language the caller's Accept-Language asks for."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.types import Receive, Scope, Send

from omniretail.observability import Front

LIMIT = 64


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _client() -> httpx.AsyncClient:
    app = Front(_echo, max_bytes=LIMIT)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://omni.test")


async def test_a_nul_in_the_url_is_refused_in_chinese_when_the_caller_asks() -> None:
    async with _client() as client:
        chinese = await client.get("/v1/products?q=a%00b", headers={"Accept-Language": "zh-CN"})
        english = await client.get("/v1/products?q=a%00b", headers={"Accept-Language": "en-GB"})
        unasked = await client.get("/v1/products?q=a%00b")
    assert chinese.status_code == english.status_code == unasked.status_code == 400
    assert chinese.headers["content-type"] == "application/problem+json"
    assert chinese.json()["code"] == english.json()["code"] == "invalid_url"
    assert chinese.json()["title"] == "网址无效"
    assert chinese.json()["detail"].startswith("网址中不能包含 NUL 字符")
    assert english.json()["title"] == unasked.json()["title"] == "Invalid URL"
    assert english.json()["detail"] == "the URL must not contain NUL characters"


async def test_a_body_over_the_limit_is_refused_in_the_callers_language() -> None:
    body = b"x" * (LIMIT + 1)
    async with _client() as client:
        chinese = await client.post(
            "/v1/locations", content=body, headers={"Accept-Language": "en;q=0.5, zh"}
        )
        english = await client.post("/v1/locations", content=body)
        fits = await client.post("/v1/locations", content=b"x" * LIMIT)
    assert chinese.status_code == english.status_code == 413
    assert chinese.json()["code"] == english.json()["code"] == "payload_too_large"
    assert chinese.json()["title"] == "请求体过大"
    assert chinese.json()["detail"] == f"请求体超过大小上限（the body exceeds {LIMIT} bytes）"
    assert english.json()["title"] == "Payload too large"
    assert english.json()["detail"] == f"the body exceeds {LIMIT} bytes"
    assert fits.status_code == 204


async def test_a_streamed_body_over_the_limit_is_refused_in_chinese_too() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * LIMIT

    async with _client() as client:
        refused = await client.post(
            "/v1/locations", content=chunks(), headers={"Accept-Language": "zh-Hans"}
        )
    assert refused.status_code == 413
    assert refused.json()["title"] == "请求体过大"
