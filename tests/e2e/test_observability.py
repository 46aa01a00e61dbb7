"""Request ids, JSON access lines with secrets masked, and Prometheus metrics (issue 12)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from omniretail.app import create_app
from omniretail.db import Database
from omniretail.logs import RedactingFilter, json_formatter, redact
from tests.factories import Api, TenantHandle


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "omniretail.access"]


async def test_a_callers_request_id_is_returned_and_logged(
    admin: Api, caplog: pytest.LogCaptureFixture, tenant: TenantHandle
) -> None:
    caplog.set_level(logging.INFO, logger="omniretail.access")
    response = await admin.client.get(
        "/v1/locations/NOPE", headers={**admin.headers(), "X-Request-ID": "pos-7.req-0001"}
    )
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "pos-7.req-0001"
    (line,) = access_lines(caplog)
    assert line.request_id == "pos-7.req-0001"  # type: ignore[attr-defined]
    assert line.route == "/v1/locations/{code}"  # type: ignore[attr-defined]
    assert line.status == 404  # type: ignore[attr-defined]
    assert line.tenant == "acme"  # type: ignore[attr-defined]
    assert line.role == "admin"  # type: ignore[attr-defined]
    assert isinstance(line.key_id, int)  # type: ignore[attr-defined]
    assert line.latency_ms >= 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("sent", [None, "has spaces", "x" * 200, "é".encode()])
async def test_a_missing_or_implausible_request_id_is_replaced(
    client: httpx.AsyncClient, sent: str | bytes | None
) -> None:
    headers = {"X-Request-ID": sent} if sent is not None else {}
    response = await client.get("/healthz", headers=headers)
    made = response.headers["x-request-id"]
    assert made != sent
    assert len(made) == 32
    assert (await client.get("/healthz")).headers["x-request-id"] != made


async def test_failed_authentication_is_logged_without_the_key(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="omniretail.access")
    await client.get("/v1/me", headers={"Authorization": "Bearer omk_abcd_TOPSECRET"})
    (line,) = access_lines(caplog)
    assert line.status == 401  # type: ignore[attr-defined]
    assert not hasattr(line, "tenant")
    assert "TOPSECRET" not in repr(vars(line))


async def test_the_front_layers_own_answers_carry_the_request_id_and_are_logged(
    admin: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """A NUL in the URL and a declared body over the limit are answered by observability.Front
    before routing: with the caller's request id, one access line each; a liveness probe,
    also answered there, with an id and no line."""
    caplog.set_level(logging.INFO, logger="omniretail.access")
    ids = {"X-Request-ID": "front-1"}
    nul = await admin.client.get("/v1/locations?q=a%00b", headers={**admin.headers(), **ids})
    too_big = await admin.client.post(
        "/v1/locations",
        content=b"x" * 64,
        headers={**admin.headers(), "X-Request-ID": "front-2", "Content-Length": str(10**9)},
    )
    live = await admin.client.get("/healthz", headers={"X-Request-ID": "front-3"})
    assert (nul.status_code, too_big.status_code, live.status_code) == (400, 413, 200)
    assert [r.headers["x-request-id"] for r in (nul, too_big, live)] == [
        "front-1",
        "front-2",
        "front-3",
    ]
    assert nul.json()["code"] == "invalid_url"
    assert too_big.json()["code"] == "payload_too_large"
    lines = [(line.request_id, line.status) for line in access_lines(caplog)]  # type: ignore[attr-defined]
    assert lines == [("front-1", 400), ("front-2", 413)]


def test_the_json_formatter_masks_keys_phones_and_emails() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("omniretail.test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "customer %s (%s) used key %s",
            "+86 138 0013 8000",
            "li.wei@example.cn",
            "omk_k1_SeCrEt",
            extra={"authorization": "Bearer omk_k1_SeCrEt", "note": "call 13800138000"},
        )
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    text = json.dumps(line, ensure_ascii=False)
    for secret in ("SeCrEt", "0013", "li.wei", "13800138000"):
        assert secret not in text
    assert line["authorization"] == "***"
    assert line["message"] == "customer ***8000 (***@example.cn) used key omk_k1_***"
    assert line["level"] == "WARNING"
    assert "time" in line


def test_redaction_leaves_codes_and_amounts_alone() -> None:
    text = "order 20261126-0001 sku LM0001-BLA-M amount 39900 location ST-001"
    assert redact(text) == text


async def test_metrics_count_requests_by_route_and_checkouts(
    app: FastAPI, admin: Api, tenant: TenantHandle
) -> None:
    await admin.get("/v1/locations/ST-404")
    await admin.post("/v1/orders", {"channel": "app", "lines": []})
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://omni.test") as local:
        scraped = await local.get("/metrics")
    assert scraped.status_code == 200
    text = scraped.text
    assert (
        'omni_http_requests_total{method="GET",route="/v1/locations/{code}",status="404"}' in text
    )
    assert "ST-404" not in text
    assert 'omni_checkouts_total{outcome="refused"}' in text
    assert "omni_outbox_pending_events" in text
    assert "omni_outbox_lag_seconds" in text
    assert "omni_outbox_dead_letters 0.0" in text
    assert "omni_db_pool_connections_in_use" in text
    assert 'omni_http_request_duration_seconds_bucket{le="0.005",method="GET"' in text


async def test_metrics_show_the_hot_read_connections_beside_the_pool(
    app: FastAPI, admin: Api, db: Database, tenant: TenantHandle
) -> None:
    await admin.get("/v1/locations/ST-404")  # a hot read: it opens one hot-read connection
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://omni.test") as local:
        text = (await local.get("/metrics")).text
    size = 1 if db.is_sqlite else db.settings.db_hot_read_connections
    assert f"omni_db_pool_hot_read_size {size:.1f}" in text
    assert "omni_db_pool_hot_read_connections_open 1.0" in text
    assert "omni_db_pool_hot_read_connections_in_use 0.0" in text
    assert "omni_db_pool_hot_read_waiting 0.0" in text


REMOTE = ("203.0.113.7", 40000)


async def test_metrics_are_refused_to_other_hosts_without_the_token(
    db: Database, app: FastAPI
) -> None:
    transport = httpx.ASGITransport(app=app, client=REMOTE)
    async with httpx.AsyncClient(transport=transport, base_url="http://omni.test") as remote:
        refused = await remote.get("/metrics")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    settings = db.settings.model_copy(update={"metrics_token": SecretStr("scrape-me")})
    guarded = create_app(settings, db=db)
    transport = httpx.ASGITransport(app=guarded, client=REMOTE)
    async with httpx.AsyncClient(transport=transport, base_url="http://omni.test") as remote:
        assert (await remote.get("/metrics")).status_code == 403
        wrong = await remote.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        ok = await remote.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert ok.status_code == 200


_RECORD = """
from omniretail.metrics import REQUESTS
REQUESTS.labels("GET", "/v1/me", "200").inc({n})
"""


def test_metrics_from_several_processes_are_summed(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", _RECORD.format(n=n)], env=env, check=True)
    scrape = "from omniretail.metrics import exposition; print(exposition()[0].decode())"
    out = subprocess.run(
        [sys.executable, "-c", scrape], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert 'omni_http_requests_total{method="GET",route="/v1/me",status="200"} 5.0' in out


def test_job_lines_are_json_on_stderr_once_logging_is_configured() -> None:
    code = (
        "from omniretail.logs import configure_logging; import logging; configure_logging();"
        "logging.getLogger('omniretail.jobs').info('cancel unpaid orders: %s', 2,"
        " extra={'job': 'cancel unpaid orders'})"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert line["logger"] == "omniretail.jobs"
    assert line["job"] == "cancel unpaid orders"
    assert line["message"] == "cancel unpaid orders: 2"
