"""Failed authentication is throttled per client address (issue 10, item 7): a stream of wrong
keys is answered 429 with Retry-After and costs no lookup, while a key known to work goes on
working from the same address."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from omniretail.auth.throttle import FailureThrottle
from tests.factories import Api

WRONG = "omk_aaaaaaaaaa_" + "x" * 43


@pytest.fixture
def tight(app: FastAPI) -> FailureThrottle:
    throttle = FailureThrottle(limit=5, window_seconds=60)
    app.state.auth_throttle = throttle
    return throttle


@pytest.mark.usefixtures("tight")
async def test_wrong_keys_from_one_address_are_held_back_with_retry_after(
    admin: Api, client: httpx.AsyncClient
) -> None:
    # The admin key worked before the storm, from the same address.
    assert (await admin.get("/v1/me")).status_code == 200
    answers = [
        (await client.get("/v1/me", headers={"Authorization": f"Bearer {WRONG}{n}"})).status_code
        for n in range(8)
    ]
    assert answers[:5] == [401] * 5
    assert answers[5:] == [429] * 3
    held = await client.get("/v1/me", headers={"Authorization": "Bearer nonsense"})
    assert held.status_code == 429
    assert held.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(held.headers["Retry-After"]) <= 60
    assert (await client.get("/v1/me")).status_code == 429  # no key at all: a failure too
    # The legitimate key is not locked out by the guesser next to it.
    assert (await admin.get("/v1/me")).status_code == 200


def test_the_throttle_forgets_failures_after_its_window() -> None:
    now = [0.0]
    throttle = FailureThrottle(limit=2, window_seconds=10, clock=lambda: now[0])
    for _ in range(2):
        throttle.record_failure("10.0.0.1")
    assert throttle.retry_after("10.0.0.1", "k") == 10
    assert throttle.retry_after("10.0.0.2", "k") is None
    now[0] = 4.0
    assert throttle.retry_after("10.0.0.1", "k") == 6
    now[0] = 10.5
    assert throttle.retry_after("10.0.0.1", "k") is None
    throttle.record_success("good")
    for _ in range(2):
        throttle.record_failure("10.0.0.1")
    assert throttle.retry_after("10.0.0.1", "good") is None
    assert throttle.retry_after("10.0.0.1", "bad") is not None
