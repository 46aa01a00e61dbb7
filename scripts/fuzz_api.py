"""Fuzz the whole HTTP API with schemathesis and fail on any 5xx.

    .venv/bin/python scripts/fuzz_api.py [--database-url URL] [--max-time SECONDS]

Starts `omni serve` on a fresh database (a temporary SQLite file unless a PostgreSQL URL is
given; that database is emptied first), seeds two tenants through the API, then runs
schemathesis' coverage and fuzzing phases over every operation of /openapi.json with the first
tenant's admin key. Path parameters are drawn half the time from a dictionary holding both
tenants' real ids and codes, so the fuzzer also walks into the other tenant's resources.
Exits non-zero if schemathesis finds a server error (or any other failed check).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from omniretail.config import normalise_database_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "fuzz-sandbox-secret"  # noqa: S105 (a throwaway server's own)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def reset_postgres(url: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        await conn.execute(sa.text("CREATE SCHEMA public"))
    await engine.dispose()


def run(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, check=True, capture_output=True, text=True)  # noqa: S603
    return done.stdout


def ok(response: httpx.Response) -> Any:
    if response.status_code >= 300:
        raise SystemExit(f"seeding failed: {response.request.url} {response.text}")
    return response.json()


def seed(base: str, key: str, suffix: str) -> dict[str, list[Any]]:
    """A small retailer: a channel, two stores, a product, stock, a customer, orders, a return,
    a case and a reservation. Returns its ids and codes by parameter name."""
    h = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=h, timeout=30) as c:
        channel = f"app{suffix}"
        ok(c.post("/v1/channels", json={"code": channel, "kind": "app", "name": "App"}))
        stores = [f"S{suffix}-1", f"S{suffix}-2"]
        for i, code in enumerate(stores):
            ok(
                c.post(
                    "/v1/locations",
                    json={
                        "code": code,
                        "name": code,
                        "type": "store",
                        "lat": 31.23 + i / 100,
                        "lng": 121.47,
                        "capabilities": {"ship": True, "pickup": True, "sells_online": True},
                    },
                )
            )
        sku, product = f"SKU{suffix}", f"P{suffix}"
        ok(
            c.post(
                "/v1/products",
                json={
                    "code": product,
                    "title": "Tee",
                    "category": "men/tops",
                    "variants": [{"sku": sku, "price": 9900}],
                },
            )
        )
        ok(
            c.post(
                "/v1/inventory/movements",
                json={
                    "batch_id": f"seed{suffix}",
                    "lines": [{"sku": sku, "location": stores[0], "reason": "receipt", "qty": 50}],
                },
            )
        )
        customer = ok(c.post("/v1/customers", json={"channel": channel}))["id"]
        pickup = ok(
            c.post(
                "/v1/orders",
                json={
                    "channel": channel,
                    "customer_id": customer,
                    "lines": [{"sku": sku, "qty": 1}],
                    "fulfillment": {"mode": "pickup", "location": stores[0]},
                    "payments": [{"method": "sandbox", "amount": 9900}],
                },
            )
        )
        sale = ok(
            c.post(
                "/v1/orders",
                json={
                    "channel": channel,
                    "lines": [{"sku": sku, "qty": 2}],
                    "fulfillment": {"mode": "in_store", "location": stores[0]},
                    "payments": [{"method": "cash", "amount": 19800}],
                },
            )
        )
        ret = ok(
            c.post(
                "/v1/returns",
                json={
                    "order_id": sale["id"],
                    "channel": channel,
                    "courier_pickup": {"lat": 31.2, "lng": 121.4},
                    "lines": [{"sku": sku, "qty": 1, "condition": "resellable"}],
                },
            )
        )
        case = ok(
            c.post(
                "/v1/cases",
                json={
                    "order_id": pickup["id"],
                    "type": "complaint",
                    "subject": "late",
                    "channel": channel,
                },
            )
        )
        reservation = ok(
            c.post(
                "/v1/reservations", json={"lines": [{"sku": sku, "location": stores[0], "qty": 1}]}
            )
        )
        key_id = ok(c.post("/v1/keys", json={"role": "analyst"}))["id"]
    return {
        "order_id": [pickup["id"], sale["id"]],
        "fulfillment_id": [pickup["fulfillments"][0]["id"]],
        "return_id": [ret["id"]],
        "case_id": [case["id"]],
        "customer_id": [customer],
        "reservation_id": [reservation["id"]],
        "key_id": [key_id],
        "code": [channel, product, *stores],
        "location": stores,
        "sku": [sku],
        "channel": [channel],
    }


def config(path: Path, ids: dict[str, list[Any]]) -> None:
    lines = []
    for name, values in ids.items():
        lines.append(f"[dictionaries.{name}]\nvalues = {json.dumps(values)}\n")
    lines.append("[parameters]")
    for name in ids:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}')
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--max-time", type=int, default=300, help="seconds of fuzzing")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="omni-fuzz-"))
    url = normalise_database_url(args.database_url or f"sqlite:///{work / 'fuzz.db'}")
    if url.startswith("postgresql"):
        asyncio.run(reset_postgres(url))
    port = free_port()
    env = {
        **os.environ,
        "OMNI_DATABASE_URL": url,
        "OMNI_SANDBOX_PAYMENT_SECRET": SECRET,
        "OMNI_PORT": str(port),
        "OMNI_LOG_LEVEL": "warning",
        # The fuzzer sends malformed keys on purpose; the throttle is tested elsewhere.
        "OMNI_AUTH_FAILURE_LIMIT": "1000000",
    }
    run(str(BIN / "omni"), "migrate", env=env)
    ours = json.loads(run(str(BIN / "omni"), "tenant", "create", "acme", "--name", "Acme", env=env))
    theirs = json.loads(
        run(str(BIN / "omni"), "tenant", "create", "rival", "--name", "Rival", env=env)
    )
    server = subprocess.Popen([str(BIN / "omni"), "serve", "--port", str(port)], env=env)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        ids = seed(base, ours["admin_key"], "A")
        for name, values in seed(base, theirs["admin_key"], "B").items():
            ids[name] += values
        config(work / "schemathesis.toml", ids)

        def fuzz(*selection: str, seconds: int) -> int:
            return subprocess.call(  # noqa: S603
                [
                    str(BIN / "schemathesis"),
                    "--config-file",
                    str(work / "schemathesis.toml"),
                    "run",
                    f"{base}/openapi.json",
                    "--phases",
                    "coverage,fuzzing",
                    "--checks",
                    "not_a_server_error",
                    "--max-time",
                    str(seconds),
                    "--workers",
                    "2",
                    "-H",
                    f"Authorization: Bearer {ours['admin_key']}",
                    *selection,
                ],
                cwd=work,
            )

        # Revoking keys by fuzzed ids would soon revoke the fuzzer's own key and leave every
        # later request a 401: that operation runs alone, last.
        rest = fuzz("--exclude-path", "/v1/keys/{key_id}", seconds=args.max_time)
        keys = fuzz("--include-path", "/v1/keys/{key_id}", seconds=30)
        return rest or keys
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
