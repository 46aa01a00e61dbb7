"""The same Idempotency-Key twice creates once; with another body it is refused."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa

from omniretail.channels.models import Channel
from omniretail.db import Database
from tests.factories import Api, TenantHandle

BODY = {"code": "app", "kind": "app", "name": "Lumen app"}


async def count_channels(db: Database) -> int:
    async with db.uow(unscoped=True) as uow:
        return int(await uow.session.scalar(sa.select(sa.func.count()).select_from(Channel)) or 0)


async def test_the_same_key_twice_creates_once_and_replays(admin: Api, db: Database) -> None:
    headers = {"Idempotency-Key": "k-1"}
    first = await admin.post("/v1/channels", BODY, headers=headers)
    second = await admin.post("/v1/channels", BODY, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await count_channels(db) == 1


async def test_the_same_key_with_another_body_is_422(admin: Api, db: Database) -> None:
    headers = {"Idempotency-Key": "k-2"}
    await admin.post("/v1/channels", BODY, headers=headers)
    other = await admin.post("/v1/channels", BODY | {"name": "renamed"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    on_other_path = await admin.post("/v1/locations", {"code": "x"}, headers=headers)
    assert on_other_path.status_code == 422
    assert await count_channels(db) == 1


async def test_a_failed_request_does_not_burn_its_key(admin: Api, db: Database) -> None:
    await admin.post("/v1/channels", BODY)
    headers = {"Idempotency-Key": "k-3"}
    clash = await admin.post("/v1/channels", BODY, headers=headers)
    assert clash.status_code == 409
    retry = await admin.post("/v1/channels", BODY | {"code": "app2"}, headers=headers)
    assert retry.status_code == 201


async def test_keys_are_per_tenant(admin: Api, other_tenant: TenantHandle) -> None:
    rival = Api(admin.client, other_tenant.admin_key)
    headers = {"Idempotency-Key": "shared-key"}
    assert (await admin.post("/v1/channels", BODY, headers=headers)).status_code == 201
    replay = await rival.post("/v1/channels", BODY, headers=headers)
    assert replay.status_code == 201
    assert "Idempotent-Replayed" not in replay.headers


async def test_concurrent_duplicates_create_once(admin: Api, db: Database) -> None:
    headers = {"Idempotency-Key": "race"}
    responses = await asyncio.gather(
        *(admin.post("/v1/channels", BODY, headers=headers) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    assert await count_channels(db) == 1


async def test_an_empty_or_overlong_key_is_422_naming_the_header(
    admin: Api, db: Database, client: httpx.AsyncClient
) -> None:
    # web.context reads the header itself: the bounds FastAPI's Header() used to check hold.
    for key, kind in (("", "string_too_short"), ("k" * 256, "string_too_long")):
        refused = await admin.post("/v1/channels", BODY, headers={"Idempotency-Key": key})
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        body = refused.json()
        assert body["code"] == "validation_error"
        assert [(e["field"], e["location"], e["type"]) for e in body["errors"]] == [
            ("header.Idempotency-Key", "header", kind)
        ]
    # Checked before the key is: an anonymous caller is told the same, as before.
    anonymous = await client.post("/v1/channels", json=BODY, headers={"Idempotency-Key": ""})
    assert anonymous.status_code == 422
    assert await count_channels(db) == 0
    longest = await admin.post("/v1/channels", BODY, headers={"Idempotency-Key": "k" * 255})
    assert longest.status_code == 201
