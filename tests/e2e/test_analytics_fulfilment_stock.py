"""The data hub's fulfilment and stock facts (issue 15): every figure equals the same figure
computed independently in the test (plain SQL over fulfilments, locations and the stock ledger,
and the milestone times the test itself chose), on both databases; redelivery and a rebuild
change nothing; oversells read 0."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from typing import Any

import pytest
import sqlalchemy as sa

from omniretail.analytics import projection, service, stock
from omniretail.analytics.schemas import FulfilmentBy, InventoryBy
from omniretail.db import Database, utcnow
from omniretail.events import Dispatcher, Event, OutboxEvent
from omniretail.orders import fulfilment, pickup
from omniretail.orders.domain import Action
from omniretail.payments.providers import builtin_providers
from omniretail.wiring import build_registry
from tests.factories import SANDBOX_SECRET, Api, TenantHandle
from tests.orders_world import CUSTOMER, World, build_world, place_paid

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
PROVIDERS = builtin_providers(SANDBOX_SECRET)
PERIODS = [
    (dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
    (dt.date(2026, 11, 10), dt.date(2026, 11, 10)),
    (dt.date(2026, 11, 11), dt.date(2026, 11, 14)),
    (dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
]
ADDRESS = {"lat": CUSTOMER["lat"], "lng": CUSTOMER["lng"]}


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.UTC)


class Scenario:
    """Places orders through the real services at chosen times and remembers, for the
    independent computation, when each fulfilment reached its milestone."""

    def __init__(self, db: Database, tenant: TenantHandle) -> None:
        self.db, self.tenant = db, tenant
        self.milestones: dict[str, dt.datetime] = {}

    async def place(self, when: dt.datetime, sku: str, mode: str, **extra: Any) -> Any:
        price = {"TEE-S": 9900, "TEE-M": 9900, "JEANS-32": 29900}[sku]
        body: dict[str, Any] = {
            "channel": "app",
            "lines": [{"sku": sku, "qty": 1}],
            "fulfillment": {"mode": mode, **extra},
            "payments": [{"method": "sandbox", "amount": price}],
        }
        if mode in ("ship", "local_delivery"):
            body["fulfillment"]["address"] = ADDRESS
        async with self.db.uow(self.tenant.id) as uow:
            return await place_paid(uow, body, when)

    async def act(self, fulfilment_id: str, action: Action, when: dt.datetime) -> None:
        async with self.db.uow(self.tenant.id) as uow:
            await fulfilment.do_fulfilment_action(
                uow, fulfilment_id=fulfilment_id, action=action, actor="test", now=when
            )

    async def milestone(self, fulfilment_id: str, action: Action, when: dt.datetime) -> None:
        await self.act(fulfilment_id, action, when)
        self.milestones[fulfilment_id] = when

    async def hand_over(self, order: Any, when: dt.datetime) -> None:
        f = order.fulfillments[0]
        async with self.db.uow(self.tenant.id) as uow:
            await pickup.do_verify_pickup(
                uow, code=f.pickup_code, location=f.location, actor="test", key_id=None, now=when
            )


async def history(world: World, db: Database, tenant: TenantHandle) -> Scenario:
    await world.stock("ST-A", "TEE-S", 3)
    await world.stock("ST-B", "TEE-S", 1)
    await world.stock("ST-A", "JEANS-32", 2)
    await world.stock("WH", "TEE-M", 5)
    s = Scenario(db, tenant)
    accept = Action.ACCEPT

    # A pickup at ST-A ready within its 2 hours, then collected.
    o = await s.place(at(10, 10), "TEE-S", "pickup", location="ST-A")
    f = o.fulfillments[0].id
    await s.act(f, accept, at(10, 10, 5))
    await s.milestone(f, Action.READY, at(10, 11))
    await s.hand_over(o, at(10, 18))
    # A pickup at ST-B ready late; its last tee: ST-B runs out of TEE-S.
    o = await s.place(at(11, 10), "TEE-S", "pickup", location="ST-B")
    f = o.fulfillments[0].id
    await s.act(f, accept, at(11, 10, 30))
    await s.milestone(f, Action.READY, at(11, 15))
    await s.hand_over(o, at(11, 20))
    # A pickup ready on time but never collected: cancelled after its milestone.
    o = await s.place(at(12, 9), "TEE-S", "pickup", location="ST-A")
    f = o.fulfillments[0].id
    await s.act(f, accept, at(12, 9, 10))
    await s.milestone(f, Action.READY, at(12, 10))
    await s.act(f, Action.CANCEL, at(14, 10))
    # A parcel only the warehouse can send, shipped within 48 hours and delivered.
    o = await s.place(at(12, 12), "TEE-M", "ship")
    f = o.fulfillments[0].id
    await s.act(f, accept, at(12, 13))
    await s.milestone(f, Action.SHIP, at(13, 9))
    await s.act(f, Action.DELIVER, at(14, 15))
    # A parcel from store ST-A (nearest with the jeans), shipped late.
    o = await s.place(at(13, 8), "JEANS-32", "ship")
    f = o.fulfillments[0].id
    await s.act(f, accept, at(13, 9))
    await s.milestone(f, Action.SHIP, at(15, 12))
    # A local delivery from ST-A at the door in 20 minutes: its promise is 30.
    o = await s.place(at(16, 19), "JEANS-32", "local_delivery")
    f = o.fulfillments[0].id
    await s.act(f, accept, at(16, 19, 2))
    await s.act(f, Action.SHIP, at(16, 19, 5))
    await s.milestone(f, Action.DELIVER, at(16, 19, 20))
    # Placed but not yet at its milestone: not a fact.
    o = await s.place(at(17, 10), "TEE-S", "pickup", location="ST-A")
    await s.act(o.fulfillments[0].id, accept, at(17, 10, 5))

    await Dispatcher(db, build_registry()).run_until_idle()
    await stock.catch_up(db, tenant.id, now=utcnow() + dt.timedelta(minutes=1))
    return s


# --- the independent computation -----------------------------------------------------------


async def fulfilment_rows(db: Database, tenant: TenantHandle, s: Scenario) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        result = await conn.execute(
            sa.text(
                "SELECT f.public_id, f.mode, f.location_code, l.type, f.distance_km,"
                " f.promised_at, f.status, o.public_id AS order_id"
                " FROM fulfilments f JOIN locations l ON l.id = f.location_id"
                " JOIN orders o ON o.id = f.order_id WHERE f.tenant_id = :t"
            ),
            {"t": tenant.id},
        )
        rows = []
        for r in result.mappings():
            when = s.milestones.get(r["public_id"])
            if when is None:
                continue  # never reached its milestone
            promised = r["promised_at"]
            if isinstance(promised, str):  # SQLite hands back text
                promised = dt.datetime.fromisoformat(promised)
            if promised is not None and promised.tzinfo is None:
                promised = promised.replace(tzinfo=dt.UTC)
            rows.append(
                {
                    **r,
                    "day": when.astimezone(SHANGHAI).date(),
                    "kept": None if promised is None else when <= promised,
                    "distance_m": None
                    if r["distance_km"] is None
                    else round(float(r["distance_km"]) * 1000),
                }
            )
        return rows


def expected_fulfilment(
    rows: list[dict[str, Any]], by: str, start: dt.date, end: dt.date
) -> dict[str, Any]:
    inside = [r for r in rows if start <= r["day"] <= end]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in inside:
        groups[(r["mode"], r["type"] if by == "location_type" else r["location_code"])].append(r)
    per_mode: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in inside:
        per_mode[r["mode"]].append(r)
    out = []
    for (mode, key), group in sorted(groups.items()):
        distances = [r["distance_m"] for r in group if r["distance_m"] is not None]
        promised = [r for r in group if r["kept"] is not None]
        kept = sum(1 for r in promised if r["kept"])
        out.append(
            {
                "mode": mode,
                "key": key,
                "fulfilments": len(group),
                "orders": len({r["order_id"] for r in group}),
                "share": round(len(group) / len(per_mode[mode]), 4),
                "average_distance_m": round(sum(distances) / len(distances)) if distances else None,
                "promised": len(promised),
                "promise_kept": kept,
                "promise_kept_rate": round(kept / len(promised), 4) if promised else None,
                "done": sum(1 for r in group if r["status"] in ("handed_over", "delivered")),
                "cancelled": sum(1 for r in group if r["status"] in ("cancelled", "rejected")),
            }
        )
    splits = {
        mode: round(len(group) / len({r["order_id"] for r in group}), 4)
        for mode, group in per_mode.items()
    }
    return {"rows": out, "shipments_per_order": splits}


async def ledger(db: Database, tenant: TenantHandle) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        result = await conn.execute(
            sa.text(
                "SELECT id, location_code, sku, reason, on_hand_delta, reserved_delta, created_at"
                " FROM stock_movements WHERE tenant_id = :t ORDER BY id"
            ),
            {"t": tenant.id},
        )
        rows = []
        for r in result.mappings():
            created = r["created_at"]
            if isinstance(created, str):
                created = dt.datetime.fromisoformat(created)
            if created.tzinfo is None:
                created = created.replace(tzinfo=dt.UTC)
            rows.append({**r, "day": created.astimezone(SHANGHAI).date()})
        return rows


def expected_inventory(
    rows: list[dict[str, Any]], by: str, start: dt.date, end: dt.date
) -> dict[str, Any]:
    positions: dict[tuple[str, str], dict[str, int]] = {}
    running: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:  # in ledger order, replaying each position's balance
        key = (r["location_code"], r["sku"])
        balance = running[key]
        before = balance[0] - balance[1]
        balance[0] += r["on_hand_delta"]
        balance[1] += r["reserved_delta"]
        if r["day"] > end:
            continue
        p = positions.setdefault(
            key,
            {"opening": 0, "closing": 0, "reserved": 0, "received": 0, "sold": 0, "outs": 0},
        )
        p["closing"] += r["on_hand_delta"]
        p["reserved"] += r["reserved_delta"]
        if r["day"] < start:
            p["opening"] += r["on_hand_delta"]
            continue
        if r["reason"] in ("receipt", "transfer_in") and r["on_hand_delta"] > 0:
            p["received"] += r["on_hand_delta"]
        if r["reason"] in ("sale", "shipment", "pickup"):
            p["sold"] -= r["on_hand_delta"]
        if before > 0 >= balance[0] - balance[1]:
            p["outs"] += 1
    groups: dict[str, list[dict[str, int]]] = defaultdict(list)
    for (location, sku), p in positions.items():
        groups[location if by == "location" else sku].append(p)
    days = (end - start).days + 1
    out = []
    for key, group in sorted(groups.items()):
        opening = sum(p["opening"] for p in group)
        closing = sum(p["closing"] for p in group)
        sold = sum(p["sold"] for p in group)
        average = (opening + closing) / 2
        out.append(
            {
                "key": key,
                "positions": len(group),
                "opening_on_hand": opening,
                "closing_on_hand": closing,
                "received": sum(p["received"] for p in group),
                "sold": sold,
                "turnover": round(sold / average, 4) if average > 0 else None,
                "days_of_cover": round(closing * days / sold, 1) if sold else None,
                "stockouts": sum(p["outs"] for p in group),
                "out_of_stock_at_close": sum(1 for p in group if p["closing"] - p["reserved"] <= 0),
                "oversells": 0,
            }
        )
    return {"rows": out}


async def reported(db: Database, tenant: TenantHandle) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with db.uow(tenant.id) as uow:
        for start, end in PERIODS:
            for f_by in FulfilmentBy:
                r = await service.fulfilment_report(uow, start=start, end=end, by=f_by)
                figures[f"fulfilment {f_by} {start}..{end}"] = r.model_dump(
                    include={"rows", "shipments_per_order"}
                )
            for i_by in InventoryBy:
                i = await service.inventory_report(uow, start=start, end=end, by=i_by)
                figures[f"inventory {i_by} {start}..{end}"] = i.model_dump(include={"rows"})
    return figures


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def test_fulfilment_and_stock_figures_equal_an_independent_computation(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    s = await history(world, db, tenant)
    f_rows = await fulfilment_rows(db, tenant, s)
    l_rows = await ledger(db, tenant)
    figures = await reported(db, tenant)
    for start, end in PERIODS:
        for f_by in FulfilmentBy:
            assert figures[f"fulfilment {f_by} {start}..{end}"] == expected_fulfilment(
                f_rows, f_by.value, start, end
            ), (f_by, start, end)
        for i_by in InventoryBy:
            got = figures[f"inventory {i_by} {start}..{end}"]["rows"]
            want = expected_inventory(l_rows, i_by.value, start, end)["rows"]
            assert len(got) == len(want)
            for row, expected in zip(got, want, strict=True):
                assert row == expected, (i_by, start, end)

    # The story the figures tell, checked by hand too.
    november = figures["fulfilment location_type 2026-11-01..2026-11-30"]["rows"]
    ship = {r["key"]: r for r in november if r["mode"] == "ship"}
    assert (ship["store"]["share"], ship["warehouse"]["share"]) == (0.5, 0.5)
    assert (ship["store"]["promise_kept"], ship["warehouse"]["promise_kept"]) == (0, 1)
    pickups = next(r for r in november if r["mode"] == "pickup")
    assert (pickups["fulfilments"], pickups["promise_kept"], pickups["done"]) == (3, 2, 2)
    assert pickups["cancelled"] == 1
    st_b = next(
        r
        for r in figures["inventory location 2026-11-01..2026-11-30"]["rows"]
        if r["key"] == "ST-B"
    )
    assert (st_b["sold"], st_b["stockouts"], st_b["out_of_stock_at_close"]) == (1, 1, 1)
    assert all(
        r["oversells"] == 0 for k, v in figures.items() if "inventory" in k for r in v["rows"]
    )

    # Redelivered events and a rerun of the ledger projection change nothing.
    async with db.uow(tenant.id) as uow:
        kept = (
            await uow.session.scalars(
                sa.select(OutboxEvent).where(OutboxEvent.type.in_(projection.PROJECTED))
            )
        ).all()
        for row in kept:
            event = Event(
                row.id, row.tenant_id, row.type, row.aggregate_type, row.aggregate_id,
                row.payload, row.occurred_at,
            )  # fmt: skip
            await projection.HANDLERS[row.type](uow, event)
    assert await stock.catch_up(db, tenant.id, now=utcnow() + dt.timedelta(minutes=1)) == 0
    assert await reported(db, tenant) == figures

    # From scratch, the same; the rollups summed set-based equal those kept fact by fact
    # (some ledger entries were dated before others of their position, some after).
    kept_rollups = await rollup_rows(db, tenant)
    async with db.uow(tenant.id) as uow:
        assert await projection.do_rebuild(uow) == len(kept)
        assert await stock.do_rebuild_stock(uow, now=utcnow() + dt.timedelta(minutes=1)) == len(
            l_rows
        )
    assert await reported(db, tenant) == figures
    assert await rollup_rows(db, tenant) == kept_rollups
    async with db.uow(tenant.id) as uow:
        await stock.rebuild_stock_rollups(uow)
    assert await rollup_rows(db, tenant) == kept_rollups


async def rollup_rows(db: Database, tenant: TenantHandle) -> list[tuple[Any, ...]]:
    queries = (
        "SELECT grain, dim, scope, day, key, received, sold, on_hand_delta, reserved_delta,"
        " stockouts, oversells, new_positions, out_delta FROM stock_rollups WHERE tenant_id = :t",
        "SELECT grain, day, mode, location, location_type, fulfilments, single_orders,"
        " distance_m, measured, promised, kept, done, cancelled FROM fulfilment_rollups"
        " WHERE tenant_id = :t",
        "SELECT dim, mode, key, first_grain, first, last_grain, last, orders"
        " FROM fulfilment_split_spans WHERE tenant_id = :t AND orders <> 0",
    )
    async with db.engine.connect() as conn:
        return [
            (i, *row)
            for i, query in enumerate(queries)
            for row in sorted(
                tuple(r) for r in await conn.execute(sa.text(query), {"t": tenant.id})
            )
        ]


async def test_a_ledger_entry_that_slipped_under_the_mark_is_caught_and_rebuilt(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    """A transaction that committed a lower ledger id after the projection passed it (ids
    are handed out before commit) must not be lost: the next run notices and rebuilds."""
    await world.stock("ST-A", "TEE-S", 4)
    await world.stock("ST-A", "TEE-S", 6)
    later = utcnow() + dt.timedelta(minutes=1)
    assert await stock.catch_up(db, tenant.id, now=later) == 2
    async with db.uow(tenant.id) as uow:
        first = await uow.session.scalar(sa.text("SELECT min(id) FROM stock_movements"))
        # Play the late commit: the first entry was never projected.
        await uow.session.execute(
            sa.text(
                "UPDATE stock_facts SET on_hand_delta = on_hand_delta - 4, received = received - 4"
            )
        )
        assert first is not None
    assert await stock.catch_up(db, tenant.id, now=later) == 2
    async with db.uow(tenant.id) as uow:
        report = await service.inventory_report(
            uow, start=dt.date(2026, 1, 1), end=dt.date(2027, 12, 31), by=InventoryBy.SKU
        )
    assert (report.total.closing_on_hand, report.total.received) == (10, 10)


async def test_the_reports_over_http_follow_roles_stores_and_csv(
    world: World, db: Database, tenant: TenantHandle, other_tenant: TenantHandle, admin: Api
) -> None:
    await history(world, db, tenant)
    month = {"from": "2026-11-01", "to": "2026-11-30"}
    everyone = await admin.get("/v1/analytics/fulfilment", **month, by="location")
    assert everyone.status_code == 200
    assert {r["key"] for r in everyone.json()["rows"]} == {"ST-A", "ST-B", "WH"}
    store_b = world.keys["store_b"]
    mine = await store_b.get("/v1/analytics/fulfilment", **month, by="location")
    assert mine.status_code == 200
    assert {r["key"] for r in mine.json()["rows"]} == {"ST-B"}
    stock_b = await store_b.get("/v1/analytics/inventory", **month)
    assert [r["key"] for r in stock_b.json()["rows"]] == ["ST-B"]
    assert (await world.keys["app"].get("/v1/analytics/inventory", **month)).status_code == 403
    rival = Api(admin.client, other_tenant.admin_key)
    theirs = await rival.get("/v1/analytics/inventory", **month)
    assert theirs.status_code == 200
    assert theirs.json()["rows"] == []
    csv = await admin.get("/v1/analytics/inventory", **month, format="csv")
    assert csv.status_code == 200
    assert csv.text.startswith("\ufeffkey,positions,")
    bad = await admin.get("/v1/analytics/fulfilment", **{"from": "2026-11-30", "to": "2026-11-01"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


async def test_events_about_orders_not_held_here_are_skipped(
    db: Database, tenant: TenantHandle
) -> None:
    """An order completed elsewhere and only announced is not a sale of ours: its events
    pass without a fact and without failing the event's other handlers."""
    now = utcnow()
    events = [
        Event(1, tenant.id, "order.completed", "order", "ord_x",
              {"order_id": "ord_x", "completed_at": now.isoformat()}, now),
        Event(2, tenant.id, "fulfillment.shipped", "order", "ord_x",
              {"fulfillment_id": "ful_x", "order_id": "ord_x", "at": now.isoformat()}, now),
    ]  # fmt: skip
    async with db.uow(tenant.id) as uow:
        for event in events:
            await projection.HANDLERS[event.type](uow, event)
        assert await uow.session.scalar(sa.text("SELECT count(*) FROM sales_facts")) == 0
        assert await uow.session.scalar(sa.text("SELECT count(*) FROM fulfilment_facts")) == 0


async def test_an_order_split_over_two_parcels_is_one_order_in_every_period(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    """Tees only the warehouse holds and jeans only store A holds, in one parcel order: two
    shipments, on two days. Each day sees one order; the month sees one order of two."""
    await world.stock("WH", "TEE-M", 5)
    await world.stock("ST-A", "JEANS-32", 2)
    s = Scenario(db, tenant)
    body: dict[str, Any] = {
        "channel": "app",
        "lines": [{"sku": "TEE-M", "qty": 1}, {"sku": "JEANS-32", "qty": 1}],
        "fulfillment": {"mode": "ship", "address": ADDRESS},
        "payments": [{"method": "sandbox", "amount": 9900 + 29900}],
    }
    async with db.uow(tenant.id) as uow:
        order = await place_paid(uow, body, at(20, 10))
    assert len(order.fulfillments) == 2
    for day, f in zip((20, 22), order.fulfillments, strict=True):
        await s.act(f.id, Action.ACCEPT, at(day, 11))
        await s.milestone(f.id, Action.SHIP, at(day, 12))
    await s.act(order.fulfillments[0].id, Action.DELIVER, at(23, 12))
    await Dispatcher(db, build_registry()).run_until_idle()

    f_rows = await fulfilment_rows(db, tenant, s)
    periods = [
        (dt.date(2026, 11, d), dt.date(2026, 11, e))
        for d, e in ((20, 20), (22, 22), (21, 25), (20, 22), (10, 21))
    ]
    periods += [(dt.date(2026, 10, 15), dt.date(2026, 11, 21))]
    periods += [(dt.date(2026, 11, 1), dt.date(2026, 11, 30))]
    async with db.uow(tenant.id) as uow:
        for start, end in periods:
            for f_by in FulfilmentBy:
                r = await service.fulfilment_report(uow, start=start, end=end, by=f_by)
                got = r.model_dump(include={"rows", "shipments_per_order"})
                assert got == expected_fulfilment(f_rows, f_by.value, start, end)
        month = await service.fulfilment_report(
            uow, start=periods[-1][0], end=periods[-1][1], by=FulfilmentBy.LOCATION_TYPE
        )
    assert month.shipments_per_order == {"ship": 2.0}
    assert sum(r.done for r in month.rows) == 1

    kept_rollups = await rollup_rows(db, tenant)
    async with db.uow(tenant.id) as uow:
        await projection.do_rebuild(uow)
    assert await rollup_rows(db, tenant) == kept_rollups
