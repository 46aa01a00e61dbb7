"""Console page latency at demo scale (Lumen: 34 stores, ~1,600 SKUs, ~10,000 stock
positions, the demo's orders), in process over ASGI on SQLite: a clerk's queue, handover
form and stock lookup, and HQ's dashboard. Target: each page in <= 100 ms server time."""

from __future__ import annotations

import asyncio
import re
import time

import httpx

from bench.common import fresh_sqlite_url, summary
from omniretail.app import create_app
from omniretail.auth import service as auth
from omniretail.catalog import service as catalog
from omniretail.config import Settings
from omniretail.customers import search as customer_search
from omniretail.db import Database
from omniretail.demo import DEMO_SLUG, seed_demo
from omniretail.migrate import upgrade
from omniretail.orders import queries

ROUNDS = 60
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _signed_in(app: object, login: str, password: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://bench.local",
    )
    form = await client.get("/console/sign-in")
    match = _CSRF.search(form.text)
    assert match
    signed = await client.post(
        "/console/sign-in",
        data={"tenant": DEMO_SLUG, "login": login, "password": password, "csrf": match.group(1)},
    )
    assert signed.status_code == 303, signed.text
    return client


async def _time(client: httpx.AsyncClient, path: str) -> list[float]:
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = await client.get(path)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return samples


async def main() -> None:
    url = fresh_sqlite_url()
    await asyncio.to_thread(upgrade, url)
    db = Database(Settings(database_url=url, run_dispatcher=False))
    seeded = await seed_demo(db)
    logins = {s["role"]: s for s in seeded["staff"]}
    app = create_app(db.settings, db=db)
    clerk = await _signed_in(app, logins["store_clerk"]["login"], logins["store_clerk"]["password"])
    hq = await _signed_in(app, logins["admin"]["login"], logins["admin"]["password"])
    store = logins["store_clerk"]["locations"][0]
    async with db.uow(unscoped=True) as uow:
        tenant_id = await auth.tenant_id_by_slug(uow, DEMO_SLUG)
    async with db.uow(tenant_id) as uow:
        sku = (await catalog.all_products(uow))[0].variants[0].sku
        order = (await queries.list_orders(uow, limit=1))[0][1]
        person = (await customer_search.list_customers(uow, limit=1))[0][1]
    pages = [
        (clerk, f"/console/stores/{store}/queue"),
        (clerk, f"/console/stores/{store}/handover"),
        (clerk, f"/console/stores/{store}/stock?q={sku}"),
        (clerk, f"/console/stores/{store}/returns?q={order.number}"),
        (clerk, f"/console/stores/{store}/returns/{order.id}"),
        (clerk, f"/console/stores/{store}/guide?customer={person.id}"),
        (hq, "/console/dashboard"),
        (hq, "/console/inventory"),
        (hq, "/console/inventory?watch=low"),
        (hq, "/console/customers"),
        (hq, f"/console/customers/{person.id}"),
        (hq, "/console/keys"),
        (hq, "/console/group-buys"),
        (hq, "/console/group-buys/DUO-TEE"),
    ]
    for client, path in pages:
        print(f"   GET {path}: {summary(await _time(client, path))}", flush=True)
    await clerk.aclose()
    await hq.aclose()
    await db.dispose()
