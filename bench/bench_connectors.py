"""A storm of platform pushes: 1,000 signed Youzan messages (800 distinct paid orders and 200
repeats, shuffled, 16 concurrent senders) through the webhook, then applied by the outbox
worker into orders; then the storm again while the dispatcher applies it in the same process
(as `omni serve`), and again while `omni worker` applies it from its own process. Prints
messages/s acknowledged (with ack latency), orders/s applied, that
each order exists once and the stock ledger is clean; then, with the outbox worker running as
in the server, how long local sales (in bursts) take to reach the platform's stock figure and
how many stock requests they became. In-process ASGI, so no network in the figures.

The storm is closed-loop: 16 senders each send again as soon as answered, so its latency is
mostly queueing at saturation. A platform sends at its own pace whatever our replies, so each
applying topology is also measured open-loop (``OMNI_BENCH_RATES``, default 50 and 100 pushes/s
for ``OMNI_BENCH_OPEN_SECONDS``, default 5 s, each): every push is sent on its schedule and its
latency counted from the moment it was due, so a stalled server shows in the figure instead of
slowing the senders down. ``OMNI_BENCH_DATABASES`` (default ``sqlite,postgresql``) picks the
databases; ``OMNI_BENCH_WORKER_NICE`` (default ``0``; say ``0,10``) the OS priorities `omni
worker` is run at, one measurement each.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi import FastAPI

from bench.ack_trace import Trace, tracing, watch_loop
from bench.common import fresh_pg_database, fresh_sqlite_url, open_database, summary
from omniretail.app import create_app
from omniretail.auth import service as auth
from omniretail.connectors.models import PlatformOrder, StockPush
from omniretail.connectors.simulator import paid_body, signed_request
from omniretail.connectors.vault import CredentialVault
from omniretail.db import Database
from omniretail.inventory import service as inventory

ORDERS, REPEATS, SENDERS = 800, 200, 16
RATES = [float(r) for r in os.environ.get("OMNI_BENCH_RATES", "50,100").split(",") if r]
OPEN_SECONDS = float(os.environ.get("OMNI_BENCH_OPEN_SECONDS", "5"))
DATABASES = os.environ.get("OMNI_BENCH_DATABASES", "sqlite,postgresql").split(",")
# `omni worker` apart is measured once per OS priority given (`nice -n`).
WORKER_NICE = [int(n) for n in os.environ.get("OMNI_BENCH_WORKER_NICE", "0").split(",") if n]
STOCK = 20000
# OMNI_BENCH_TRACE=1: where each slow open-loop push spent its time (bench/ack_trace.py).
TRACE = os.environ.get("OMNI_BENCH_TRACE", "") not in ("", "0")
BURSTS, BURST = 40, 5
CREDENTIALS = {"client_id": "bench-client", "client_secret": "bench-secret"}


async def _setup(db: Database, api: httpx.AsyncClient) -> tuple[int, dict[str, str], str]:
    async with db.uow(unscoped=True) as uow:
        created = await auth.do_create_tenant(uow, slug="bench", name="Bench")
        tenant_id = await auth.tenant_id_by_slug(uow, "bench")
    headers = {"Authorization": f"Bearer {created['admin_key']}"}
    for path, body in (
        ("/v1/channels", {"code": "youzan", "kind": "marketplace", "name": "Youzan"}),
        ("/v1/channels", {"code": "pos", "kind": "pos", "name": "POS"}),
        (
            "/v1/locations",
            {
                "code": "ST-1",
                "name": "Store",
                "type": "store",
                "lat": 31.2350,
                "lng": 121.4737,
                "capabilities": {"ship": True, "pickup": True, "sells_online": True},
            },
        ),
        (
            "/v1/products",
            {
                "code": "P",
                "title": "Tee",
                "category": "bench",
                "variants": [{"sku": "TEE", "price": 9900}],
            },
        ),
        (
            "/v1/inventory/movements",
            {
                "batch_id": "seed",
                "lines": [{"sku": "TEE", "location": "ST-1", "reason": "receipt", "qty": STOCK}],
            },
        ),
        (
            "/v1/connections",
            {
                "platform": "youzan",
                "shop_id": "kdt-1",
                "channel": "youzan",
                "locations": ["ST-1"],
                "credentials": CREDENTIALS,
            },
        ),
    ):
        response = await api.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.text
    return tenant_id, headers, response.json()["id"]


async def _sell(api: httpx.AsyncClient, headers: dict[str, str]) -> float:
    sale = await api.post(
        "/v1/orders",
        json={
            "channel": "pos",
            "lines": [{"sku": "TEE", "qty": 1}],
            "fulfillment": {"mode": "in_store", "location": "ST-1"},
            "payments": [{"method": "cash", "amount": 9900}],
        },
        headers=headers,
    )
    assert sale.status_code == 201, sale.text
    return time.perf_counter()


async def _latest_figure(db: Database, tenant_id: int) -> int | None:
    async with db.uow(tenant_id) as uow:
        qty = await uow.session.scalar(
            sa.select(StockPush.qty).order_by(StockPush.id.desc()).limit(1)
        )
    return None if qty is None else int(qty)


async def _stock_out(
    label: str,
    app: FastAPI,
    api: httpx.AsyncClient,
    headers: dict[str, str],
    tenant_id: int,
    on_hand: int,
) -> None:
    """Local sales in bursts of BURST at once, with the outbox worker running as in the
    server (woken on commit): for each sale, the time from its reply to the platform's
    recorded figure showing the whole burst."""
    db: Database = app.state.db
    stop = asyncio.Event()
    worker = asyncio.create_task(app.state.dispatcher.run_forever(stop, 0.5))
    latencies: list[float] = []
    pushes_before = await _push_count(db, tenant_id)
    figure = on_hand
    for _ in range(BURSTS):
        sold_at = await asyncio.gather(*(_sell(api, headers) for _ in range(BURST)))
        figure -= BURST
        deadline = time.perf_counter() + 30
        while await _latest_figure(db, tenant_id) != figure:
            assert time.perf_counter() < deadline, "the platform figure never arrived"
            await asyncio.sleep(0.002)
        seen = time.perf_counter()
        latencies += [seen - t for t in sold_at]
    stop.set()
    await worker
    pushes = await _push_count(db, tenant_id) - pushes_before
    print(
        f"{label}: stock out of {BURSTS * BURST} local sales in bursts of {BURST}: "
        f"{summary(latencies)} from sale to platform figure; {pushes} stock requests "
        f"(coalesced per SKU)"
    )


async def _push_count(db: Database, tenant_id: int) -> int:
    async with db.uow(tenant_id) as uow:
        return int(await uow.session.scalar(sa.select(sa.func.count()).select_from(StockPush)) or 0)


async def _storm(
    api: httpx.AsyncClient, connection: str, tag: str
) -> tuple[int, float, list[float]]:
    """The shuffled storm through the webhook; returns messages sent, seconds, ack latencies."""
    bodies = [paid_body("youzan", f"{tag}-{n}", [("TEE", 1)], 9900) for n in range(ORDERS)]
    rng = random.Random(5)
    storm = bodies + [rng.choice(bodies) for _ in range(REPEATS)]
    rng.shuffle(storm)
    queue = list(storm)
    latencies: list[float] = []

    async def sender() -> None:
        while queue:
            body = queue.pop()
            signed, query = signed_request("youzan", body, CREDENTIALS)
            started = time.perf_counter()
            reply = await api.post(
                f"/hooks/youzan/{connection}", content=body, headers=signed, params=query
            )
            latencies.append(time.perf_counter() - started)
            assert reply.status_code == 200, reply.text

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    return len(storm), time.perf_counter() - started, latencies


async def _open_loop(
    api: httpx.AsyncClient, connection: str, tag: str, rate: float, trace: Trace | None = None
) -> tuple[int, list[float]]:
    """Distinct paid orders pushed at ``rate`` a second for OPEN_SECONDS, each sent when due
    whatever the earlier replies (open loop); returns how many, and each one's latency from
    the moment it was due to its reply."""
    count = int(rate * OPEN_SECONDS)
    bodies = [paid_body("youzan", f"{tag}-{n}", [("TEE", 1)], 9900) for n in range(count)]
    latencies: list[float] = []
    answered: list[tuple[float, float]] = []
    start = time.perf_counter() + 0.05

    async def push(n: int, body: bytes) -> None:
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        signed, query = signed_request("youzan", body, CREDENTIALS)
        reply = await api.post(
            f"/hooks/youzan/{connection}", content=body, headers=signed, params=query
        )
        answered.append((due, time.perf_counter()))
        latencies.append(answered[-1][1] - due)
        assert reply.status_code == 200, reply.text

    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_loop(trace, stop))
    await asyncio.gather(*(push(n, body) for n, body in enumerate(bodies)))
    stop.set()
    await watcher
    if trace is not None:
        trace.explain(f"{rate:g}/s", answered)
    return count, latencies


async def _open_loops(label: str, api: httpx.AsyncClient, connection: str, tag: str) -> int:
    """The open-loop runs at each of RATES; returns how many orders they pushed."""
    pushed = 0
    for rate in RATES:
        with tracing(TRACE) as trace:
            count, latencies = await _open_loop(api, connection, f"{tag}{rate:g}", rate, trace)
        pushed += count
        print(f"{label}, open loop at {rate:g} pushes/s while applying: ack {summary(latencies)}")
    return pushed


async def _applied(db: Database, tenant_id: int) -> int:
    async with db.uow(tenant_id) as uow:
        return int(
            await uow.session.scalar(
                sa.select(sa.func.count())
                .select_from(PlatformOrder)
                .where(PlatformOrder.order_id.is_not(None))
            )
            or 0
        )


async def _storm_beside_dispatcher(
    label: str, app: FastAPI, api: httpx.AsyncClient, tenant_id: int, connection: str
) -> int:
    """The storm again while the outbox dispatcher applies it in the same process (woken on
    each commit), as `omni serve` runs by default."""
    db: Database = app.state.db
    stop = asyncio.Event()
    worker = asyncio.create_task(app.state.dispatcher.run_forever(stop, 0.5))
    before = await _applied(db, tenant_id)
    sent, seconds, latencies = await _storm(api, connection, "D")
    started = time.perf_counter()
    while await _applied(db, tenant_id) < before + ORDERS:
        assert time.perf_counter() - started < 600, "the dispatcher never caught up"
        await asyncio.sleep(0.2)
    behind = time.perf_counter() - started
    print(
        f"{label}, dispatcher applying in the same process: {sent} messages acknowledged at "
        f"{sent / seconds:.0f}/s (ack {summary(latencies)}); it finished "
        f"{behind:.1f} s after the last acknowledgement"
    )
    before = await _applied(db, tenant_id)
    pushed = await _open_loops(f"{label}, dispatcher in the same process", api, connection, "DO")
    await _caught_up(db, tenant_id, before + pushed)
    stop.set()
    await worker
    return ORDERS + pushed


async def _caught_up(db: Database, tenant_id: int, orders: int) -> None:
    started = time.perf_counter()
    while await _applied(db, tenant_id) < orders:
        assert time.perf_counter() - started < 600, "the applying never caught up"
        await asyncio.sleep(0.2)


async def _storm_beside_worker(
    label: str, db: Database, api: httpx.AsyncClient, tenant_id: int, connection: str, nice: int
) -> int:
    """The storm again while `omni worker`, in its own process as a deployment past one
    process runs it (at OS priority ``nice``), applies the messages as they arrive."""
    env = {**os.environ, "OMNI_DATABASE_URL": db.url, "OMNI_LOG_LEVEL": "warning"}
    command = [str(Path(sys.executable).parent / "omni"), "worker"]
    if nice:
        command = ["nice", "-n", str(nice), *command]
        label = f"{label} (worker at nice {nice})"
    worker = await asyncio.create_subprocess_exec(*command, env=env)
    try:
        before = await _applied(db, tenant_id)
        await asyncio.sleep(8)  # the worker's imports and first pass, before the clock starts
        sent, seconds, latencies = await _storm(api, connection, "W")
        started = time.perf_counter()
        while await _applied(db, tenant_id) < before + ORDERS:
            assert time.perf_counter() - started < 600, "the worker never caught up"
            await asyncio.sleep(0.2)
        behind = time.perf_counter() - started
        print(
            f"{label}, `omni worker` applying in its own process: {sent} messages acknowledged "
            f"at {sent / seconds:.0f}/s (ack {summary(latencies)}); the worker finished "
            f"{behind:.1f} s after the last acknowledgement"
        )
        before = await _applied(db, tenant_id)
        pushed = await _open_loops(f"{label}, `omni worker` apart", api, connection, "WO")
        await _caught_up(db, tenant_id, before + pushed)
    finally:
        worker.send_signal(signal.SIGTERM)
        await worker.wait()
    return ORDERS + pushed


async def run(label: str, db: Database) -> None:
    app = create_app(db.settings, db=db)
    app.state.connector_vault = CredentialVault([Fernet.generate_key().decode()])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as api:
        tenant_id, headers, connection = await _setup(db, api)
        await app.state.dispatcher.run_until_idle()
        sent, acked, latencies = await _storm(api, connection, "Y")
        started = time.perf_counter()
        await app.state.dispatcher.run_until_idle()
        applied = time.perf_counter() - started
        orders, cursor = 0, None
        while True:
            params = {"limit": 500, "channel": "youzan", **({"cursor": cursor} if cursor else {})}
            page = (await api.get("/v1/orders", params=params, headers=headers)).json()
            orders += len(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        async with db.uow(tenant_id) as uow:
            drift = await inventory.check_ledger(uow)
        print(
            f"{label}: {sent} messages acknowledged at {sent / acked:.0f}/s "
            f"(ack {summary(latencies)}); {orders} orders applied at {orders / applied:.0f}/s "
            f"(worker {applied:.1f} s); each once: {orders == ORDERS}; ledger clean: {not drift}"
        )
        sold = ORDERS + await _storm_beside_dispatcher(label, app, api, tenant_id, connection)
        for nice in WORKER_NICE:
            sold += await _storm_beside_worker(label, db, api, tenant_id, connection, nice)
        # The storms' follow-up events (analytics, loyalty... of 2,400 orders) first: the stock
        # out figures are for a steady state, not behind a backlog.
        await app.state.dispatcher.run_until_idle()
        await _stock_out(label, app, api, headers, tenant_id, on_hand=STOCK - sold)
    await db.dispose()


async def main() -> None:
    if "sqlite" in DATABASES:
        url = fresh_sqlite_url()
        await run("SQLite", await asyncio.to_thread(open_database, url, pool_size=32))
    if "postgresql" in DATABASES:
        # Separate checkouts on one machine (OMNI_TEST_PG_DB) get their own database.
        name = f"{os.environ.get('OMNI_TEST_PG_DB') or 'omni'}_bench_connectors"
        url = await fresh_pg_database(name)
        await run("PostgreSQL", await asyncio.to_thread(open_database, url, pool_size=32))


if __name__ == "__main__":
    asyncio.run(main())
