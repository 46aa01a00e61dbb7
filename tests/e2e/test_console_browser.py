"""The five acceptance journeys of the console in a real headless Chromium (Debian's
``chromium``, driven by Playwright), with a screenshot of each step under
``test-artifacts/console/``. They run on SQLite: the same pages and rules are checked on both
databases over HTTP in ``test_console_http.py``."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from fastapi import FastAPI
from playwright.async_api import Browser, Page, async_playwright, expect

from omniretail.app import create_app
from omniretail.auth.staff_domain import MAX_FAILURES, StaffRole
from omniretail.config import Settings
from omniretail.console.mount import SIGNIN_FAILURES
from omniretail.db import Database
from omniretail.events import Dispatcher
from omniretail.wiring import build_registry
from tests.conftest import empty_all_tables
from tests.console_helpers import PASSWORD, make_staff
from tests.e2e.test_analytics_fulfilment_stock import history
from tests.e2e.test_group_buying import campaign, seat
from tests.factories import SANDBOX_SECRET, Api, TenantHandle, make_tenant
from tests.orders_world import CUSTOMER, PRICES, World, build_world, paid_online, tee_sold_at_st_a

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LIVE_TIMEOUT_S = 60
expect.set_options(timeout=LIVE_TIMEOUT_S * 1000)  # its own default is 5 s
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"


@dataclass
class Live:
    base: str
    db: Database
    tenant: TenantHandle
    world: World
    browser: Browser
    app: FastAPI

    async def page(self, journey: str) -> Page:
        context = await self.browser.new_context(viewport={"width": 1100, "height": 800})
        page = await context.new_page()
        # Generous waits: these check what the pages do, not how fast a loaded CI machine is.
        page.set_default_timeout(LIVE_TIMEOUT_S * 1000)
        (ARTIFACTS / journey).mkdir(parents=True, exist_ok=True)
        return page

    async def sign_in(self, page: Page, login: str, password: str = PASSWORD) -> None:
        await page.goto(f"{self.base}/console/sign-in")
        await page.fill("#tenant", self.tenant.slug)
        await page.fill("#login", login)
        await page.fill("#password", password)
        await page.click("#sign-in")


async def shot(page: Page, journey: str, step: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / journey / f"{step}.png"), full_page=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def live(backend_urls: dict[str, str]) -> AsyncIterator[Live]:
    db = Database(
        Settings(
            database_url=backend_urls["sqlite"],
            run_dispatcher=False,
            sandbox_payment_secret=SANDBOX_SECRET,
            connector_keys=Fernet.generate_key().decode(),
            console_simulator=True,
        )
    )
    await empty_all_tables(db)
    app = create_app(db.settings, db=db)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to wait on)
        await asyncio.sleep(0.05)
    tenant = await make_tenant(db, "acme")
    try:
        # httpx's default 5 s read timeout is a timing assertion in disguise: a callback took
        # longer than that once on a loaded CI machine (two xdist workers and Chromium on 2 cores).
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=LIVE_TIMEOUT_S
        ) as http:
            world = await build_world(Api(http, tenant.admin_key), db, tenant)
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                try:
                    yield Live(f"http://127.0.0.1:{port}", db, tenant, world, browser, app)
                finally:
                    await browser.close()
    finally:
        server.should_exit = True
        await serving
        await db.dispose()


async def _paid_pickup(world: World, store: str) -> dict[str, object]:
    await world.stock(store, "TEE-S", 3)
    customer = await world.keys["app"].post(
        "/v1/customers",
        {"name": CUSTOMER["name"], "identities": [{"type": "phone", "value": CUSTOMER["phone"]}]},
    )
    assert customer.status_code == 201, customer.text
    placed = await world.order(
        world.keys["app"],
        fulfillment={"mode": "pickup", "location": store},
        customer_id=customer.json()["id"],
    )
    assert placed.status_code == 201, placed.text
    order: dict[str, object] = placed.json()
    await paid_online(world, order)
    return order


async def test_journey_1_a_clerk_hands_over_a_pickup_placed_through_the_api(live: Live) -> None:
    journey = "1-pickup"
    order = await _paid_pickup(live.world, "ST-A")
    fulfilment = order["fulfillments"][0]  # type: ignore[index]
    await make_staff(
        live.db, live.tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"]
    )
    page = await live.page(journey)
    await live.sign_in(page, "clerk@acme.test")
    row = page.locator(f"#f-{fulfilment['id']}")
    await expect(row).to_have_attribute("data-status", "pending")
    await shot(page, journey, "1-queue")
    await row.locator("button.accept").click()
    await expect(row).to_have_attribute("data-status", "accepted")
    await shot(page, journey, "2-accepted")
    await row.locator("button.ready").click()
    await expect(row).to_have_attribute("data-status", "ready")
    await shot(page, journey, "3-ready")
    await row.get_by_role("link", name="Pickup handover").click()
    await page.fill("#code", str(fulfilment["pickup_code"]))
    await page.click("#verify")
    await expect(page.locator("#checked")).to_be_visible()
    await expect(page.locator("#customer-name")).to_have_text(CUSTOMER["name"])
    await expect(page.locator("#masked-phone")).to_have_text("138****8000")
    await shot(page, journey, "4-checked")
    checked = (await live.world.admin.get(f"/v1/orders/{order['id']}")).json()
    assert checked["fulfillments"][0]["status"] == "ready"  # a check hands nothing over
    await page.click("#confirm-handover")
    await expect(page.locator("#handed-over")).to_be_visible()
    await shot(page, journey, "5-handed-over")
    final = (await live.world.admin.get(f"/v1/orders/{order['id']}")).json()
    assert final["status"] == "completed"
    assert final["fulfillments"][0]["status"] == "handed_over"


async def test_journey_2_hq_sees_a_bad_row_named_before_anything_is_written(
    live: Live, tmp_path: Path
) -> None:
    journey = "2-import"
    header = "product_code,title,category,sku,barcode,price,size,colour\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(
        header + "P1,Tee,men/tees,P1-S,,99.00,S,black\nP1,Tee,men/tees,P1-M,,-1,M,black\n"
    )
    good = tmp_path / "good.csv"
    good.write_text(
        header + "P1,Tee,men/tees,P1-S,,99.00,S,black\nP1,Tee,men/tees,P1-M,,99.00,M,black\n"
    )
    await make_staff(live.db, live.tenant, StaffRole.ADMIN, "hq@acme.test")
    page = await live.page(journey)
    await live.sign_in(page, "hq@acme.test")
    await page.click("text=Import")
    await page.set_input_files("input[name=file]", str(bad))
    await page.click("#apply")
    await expect(page.locator("#import-rejected")).to_be_visible()
    await expect(page.locator("#bad-rows tbody tr")).to_have_count(1)
    await expect(page.locator("#bad-rows tbody tr td").first).to_have_text("3")
    await shot(page, journey, "1-bad-row-named")
    missing = await live.world.admin.get("/v1/products/P1")
    assert missing.status_code == 404
    await page.set_input_files("input[name=file]", str(good))
    await page.click("#dry-run")
    await expect(page.locator("#import-report")).to_contain_text("Checked")
    await shot(page, journey, "2-dry-run-ok")
    assert (await live.world.admin.get("/v1/products/P1")).status_code == 404
    await page.set_input_files("input[name=file]", str(good))
    await page.click("#apply")
    await expect(page.locator("#import-report")).to_contain_text("Imported")
    await shot(page, journey, "3-imported")
    product = (await live.world.admin.get("/v1/products/P1")).json()
    assert [v["sku"] for v in product["variants"]] == ["P1-M", "P1-S"] or len(
        product["variants"]
    ) == 2


async def test_journey_3_a_clerk_of_store_a_cannot_touch_store_b(live: Live) -> None:
    journey = "3-scope"
    order = await _paid_pickup(live.world, "ST-B")
    fulfilment = order["fulfillments"][0]  # type: ignore[index]
    await make_staff(
        live.db, live.tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"]
    )
    page = await live.page(journey)
    await live.sign_in(page, "clerk@acme.test")
    await expect(page.locator("#empty-queue")).to_be_visible()
    await shot(page, journey, "1-own-queue-empty")
    opened = await page.goto(f"{live.base}/console/stores/ST-B/queue")
    assert opened is not None
    assert opened.status == 403
    await expect(page.locator("#problem")).to_be_visible()
    await shot(page, journey, "2-store-b-refused")
    await page.goto(f"{live.base}/console/stores/ST-A/queue")
    token = await page.locator("input[name=csrf]").first.get_attribute("value")
    for path in (
        f"/console/stores/ST-B/fulfilments/{fulfilment['id']}/accept",
        f"/console/stores/ST-A/fulfilments/{fulfilment['id']}/accept",
    ):
        acted = await page.request.post(f"{live.base}{path}", form={"csrf": token or ""})
        assert acted.status in (403, 404)
    final = (await live.world.admin.get(f"/v1/orders/{order['id']}")).json()
    assert final["fulfillments"][0]["status"] == "pending"


async def test_journey_4_the_dashboard_gmv_by_channel_is_the_sum_of_the_orders(live: Live) -> None:
    journey = "4-dashboard"
    world = live.world
    await world.stock("ST-A", "TEE-S", 10)
    await world.stock("ST-A", "JEANS-32", 10)
    totals: dict[str, int] = {}
    for channel, api, sku, qty in (
        ("app", world.keys["app"], "TEE-S", 2),
        ("app", world.keys["app"], "JEANS-32", 1),
        ("pos", world.keys["pos_a"], "TEE-S", 1),
    ):
        body = {
            "channel": channel,
            "lines": [{"sku": sku, "qty": qty}],
            "fulfillment": {"mode": "pickup", "location": "ST-A"},
            "payments": [{"method": "sandbox", "amount": PRICES[sku] * qty, "token": "tok"}],
        }
        placed = await api.post("/v1/orders", body)
        assert placed.status_code == 201, placed.text
        order = placed.json()
        await paid_online(world, order)
        fulfilment = order["fulfillments"][0]
        for action in ("accept", "ready"):
            done = await world.keys["store_a"].post(
                f"/v1/fulfillments/{fulfilment['id']}/{action}", {}
            )
            assert done.status_code == 200, done.text
        handed = await world.keys["store_a"].post(
            "/v1/pickups/verify", {"code": fulfilment["pickup_code"], "location": "ST-A"}
        )
        assert handed.status_code == 200, handed.text
        totals[channel] = totals.get(channel, 0) + order["totals"]["total"]
    # One more order placed but never completed: sales count completed orders only.
    assert (await world.order(world.keys["app"])).status_code == 201
    await Dispatcher(live.db, build_registry()).run_until_idle()  # the analytics projection
    await make_staff(live.db, live.tenant, StaffRole.ANALYST, "analyst@acme.test")
    page = await live.page(journey)
    await live.sign_in(page, "analyst@acme.test")
    await expect(page.locator("#gmv-by-channel")).to_be_visible()
    await page.wait_for_function("document.querySelector('#chart-channel canvas') !== null")
    await shot(page, journey, "1-dashboard")
    shown = {
        await row.locator("td").first.inner_text(): int(
            await row.locator("td").nth(1).get_attribute("data-minor") or "0"
        )
        for row in await page.locator("#gmv-by-channel tr").all()
    }
    assert shown == totals
    await page.click("header >> text=Orders")
    await expect(page.locator("#orders tbody tr")).to_have_count(4)
    await page.locator("#orders tbody a").first.click()
    await expect(page.locator("#sourcing")).to_contain_text("ST-A")
    await shot(page, journey, "2-order-sourcing")
    await page.click("header >> text=Network")
    await page.wait_for_function("document.querySelector('#chart-network canvas') !== null")
    await shot(page, journey, "3-network")


async def test_journey_5_sign_out_csrf_and_throttled_passwords(live: Live) -> None:
    journey = "5-security"
    fulfilment = (await _paid_pickup(live.world, "ST-A"))["fulfillments"][0]  # type: ignore[index]
    await make_staff(
        live.db, live.tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"]
    )
    page = await live.page(journey)
    await live.sign_in(page, "clerk@acme.test")
    await expect(page.locator("#queue")).to_be_visible()
    # A forged form: posted from the page but without the session's token.
    await page.evaluate(
        """(action) => { const f = document.createElement('form'); f.method = 'post';
        f.action = action; document.body.appendChild(f); f.submit(); }""",
        f"/console/stores/ST-A/fulfilments/{fulfilment['id']}/accept",
    )
    await expect(page.locator("#problem")).to_contain_text("CSRF")
    await shot(page, journey, "1-forged-form-refused")
    order = (await live.world.admin.get(f"/v1/orders/{fulfilment['order_id']}")).json()
    assert order["fulfillments"][0]["status"] == "pending"
    await page.goto(f"{live.base}/console/stores/ST-A/queue")
    await page.click("#sign-out")
    await expect(page.locator("#sign-in")).to_be_visible()
    await page.goto(f"{live.base}/console/stores/ST-A/queue")
    await expect(page).to_have_url(f"{live.base}/console/sign-in")
    await shot(page, journey, "2-signed-out")
    for i in range(SIGNIN_FAILURES):
        # Short of the account's own lock-out, then other guessed logins from the same address.
        login = "clerk@acme.test" if i < MAX_FAILURES - 1 else f"guess{i}@acme.test"
        await live.sign_in(page, login, "not the password")
        await expect(page.locator("[role=alert]")).to_contain_text("Wrong")
    await shot(page, journey, "3-wrong-password")
    await live.sign_in(page, "clerk@acme.test")
    await expect(page.locator("[role=alert]")).to_contain_text("Too many")
    await shot(page, journey, "4-throttled")


async def test_journey_6_a_clerk_takes_a_return_after_seeing_the_refund(live: Live) -> None:
    journey = "6-returns-desk"
    sale = await tee_sold_at_st_a(live.world)
    await make_staff(
        live.db, live.tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"]
    )
    page = await live.page(journey)
    await live.sign_in(page, "clerk@acme.test")
    await page.click("header >> text=Returns desk")
    await page.fill("input[name=q]", str(sale["number"]))
    await page.click("#find")
    await page.locator(f"#o-{sale['id']} a").click()
    await page.fill("input[name='qty_TEE-S']", "1")
    await shot(page, journey, "1-order")
    await page.click("#quote")
    tender = page.locator("#quote-tenders tr[data-method='card_present']")
    await expect(tender).to_have_attribute("data-amount", "9900")
    await shot(page, journey, "2-refund-quoted")
    assert (await live.world.admin.get(f"/v1/orders/{sale['id']}/returns")).json() == []
    await page.click("#confirm-return")
    await expect(page.locator("#return-taken")).to_be_visible()
    await shot(page, journey, "3-return-taken")
    returns = (await live.world.admin.get(f"/v1/orders/{sale['id']}/returns")).json()
    assert [r["refund_total"] for r in returns] == [9900]


async def test_journey_7_a_guide_identifies_a_member_and_sees_what_is_here(live: Live) -> None:
    journey = "7-guide"
    world = live.world
    member = await world.keys["app"].post(
        "/v1/customers",
        {"name": CUSTOMER["name"], "identities": [{"type": "phone", "value": CUSTOMER["phone"]}]},
    )
    assert member.status_code == 201, member.text
    viewed = {
        "type": "view",
        "customer_id": member.json()["id"],
        "sku": "TEE-S",
        "channel": "app",
        "at": "2026-11-01T10:00:00+08:00",
    }
    assert (await world.admin.post("/v1/events", {"events": [viewed]})).status_code < 300
    # Somebody else looked at the tee in both sizes: the worker pairs them, so the other size
    # is suggested to this member.
    other = (await world.admin.post("/v1/customers", {"name": "Other"})).json()["id"]
    views = [
        {"type": "view", "customer_id": other, "sku": sku, "channel": "app",
         "at": "2026-11-03T10:00:00+08:00"}
        for sku in ("TEE-S", "TEE-M")
    ]  # fmt: skip
    assert (await world.admin.post("/v1/events", {"events": views})).status_code < 300
    await Dispatcher(live.db, build_registry()).run_until_idle()
    await world.stock("ST-A", "TEE-M", 3)
    await make_staff(
        live.db, live.tenant, StaffRole.STORE_CLERK, "guide@acme.test", locations=["ST-A"]
    )
    page = await live.page(journey)
    await live.sign_in(page, "guide@acme.test")
    await page.click("header >> text=Guide")
    await page.fill("input[name=q]", CUSTOMER["phone"])
    await page.click("#identify")
    await expect(page.locator("#member-name")).to_have_text(CUSTOMER["name"])
    await expect(page.locator("#member-phone")).to_have_text("138****8000")
    await expect(page.locator("#suggestions tr[data-sku='TEE-M']")).to_be_visible()
    await expect(page.locator("#activity .event-view")).to_have_count(1)
    await shot(page, journey, "1-member")


async def test_journey_8_hq_reads_the_data_hub_as_charts(live: Live) -> None:
    journey = "8-analytics"
    await history(live.world, live.db, live.tenant)
    await make_staff(live.db, live.tenant, StaffRole.ANALYST, "analyst@acme.test")
    page = await live.page(journey)
    await live.sign_in(page, "analyst@acme.test")
    await page.goto(f"{live.base}/console/analytics?from=2026-11-01&to=2026-11-30")
    for chart in ("days", "channel", "groups", "fulfilment", "stockouts"):
        await expect(page.locator(f"#chart-{chart} canvas")).to_have_count(1)
    await expect(page.locator("#oversells")).to_have_text("0")
    await shot(page, journey, "1-charts")


async def test_journey_9_hq_connects_a_platform_shop_and_sees_its_first_order(live: Live) -> None:
    journey = "9-connect"
    await live.world.stock("ST-A", "TEE-M", 4)
    await make_staff(live.db, live.tenant, StaffRole.ADMIN, "boss@acme.test")
    page = await live.page(journey)
    await live.sign_in(page, "boss@acme.test")
    await page.goto(f"{live.base}/console/connections")
    await page.click("#platform-youzan")
    await page.fill("input[name=shop_id]", "kdt-4242")
    await page.select_option("select[name=channel]", "app")
    await page.fill("input[name='credential.client_id']", "yz-client")
    await page.fill("input[name='credential.client_secret']", "yz-secret-abcdef")
    await page.check("input[name=locations][value=ST-A]")
    await shot(page, journey, "1-form")
    await page.click("#connect")
    await expect(page.locator("#webhook-path")).to_contain_text("/hooks/youzan/con_")
    await expect(page.locator("body")).not_to_contain_text("yz-secret-abcdef")
    await page.fill("#simulate-form input[name=sku]", "TEE-M")
    await page.click("#simulate")
    await expect(page.locator("#pushed")).to_contain_text("SIM-")
    await live.app.state.dispatcher.run_until_idle()  # what `omni serve`'s worker does
    # The page polls its messages: the push shows as applied, linked to the order it became.
    await expect(page.locator("#messages tr[data-status='applied']")).to_have_count(1)
    await expect(page.locator("#messages a.order-link")).to_have_count(1)
    await shot(page, journey, "2-first-order")


async def test_journey_10_hq_follows_a_group_buy_to_its_members(live: Live) -> None:
    journey = "10-group-buys"
    world = live.world
    await world.stock("ST-A", "TEE-S", 3)
    created = await world.admin.post("/v1/group-buys", campaign())
    assert created.status_code == 201, created.text
    people = []
    for phone in ("13800130001", "13800130002"):
        made = await world.admin.post(
            "/v1/customers", {"identities": [{"type": "phone", "value": phone}]}
        )
        assert made.status_code == 201, made.text
        people.append(made.json()["id"])
    opened = (await world.admin.post("/v1/group-buys/TEE3/groups", seat(people[0]))).json()
    group = opened["group"]["id"]
    joined = await world.admin.post(f"/v1/group-buys/groups/{group}/members", seat(people[1]))
    leaver = joined.json()["member"]["id"]
    left = await world.admin.post(f"/v1/group-buys/groups/{group}/members/{leaver}/leave")
    assert left.status_code == 200, left.text
    await make_staff(live.db, live.tenant, StaffRole.OPS, "ops@acme.test")
    page = await live.page(journey)
    await live.sign_in(page, "ops@acme.test")
    await page.click("header >> text=Group buys")
    await expect(page.locator("#gb-TEE3 td.open")).to_have_text("1")
    await shot(page, journey, "1-campaigns")
    await page.click("#gb-TEE3 a")
    await expect(page.locator(f"#g-{group}")).to_have_attribute("data-status", "open")
    await page.click(f"#g-{group} a")
    await expect(page.locator(f"#m-{leaver}")).to_have_attribute("data-status", "left")
    await expect(page.locator(f"#m-{opened['member']['id']}")).to_have_attribute(
        "data-status", "held"
    )
    await shot(page, journey, "2-members")
