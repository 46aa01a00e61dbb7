"""The data hub (issue 15): every figure equals the same figure computed independently from
orders and returns with plain SQL; redelivered events count once; a rebuild gives the same;
a return in a later month reduces that month's net sales, not the original month's gross."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from typing import Any

import pytest
import sqlalchemy as sa

from omniretail.analytics import projection, service
from omniretail.analytics.schemas import SalesBy
from omniretail.auth.domain import Role
from omniretail.db import Database
from omniretail.events import Dispatcher, Event, OutboxEvent
from omniretail.orders import checkout, fulfilment
from omniretail.orders.access import Caller
from omniretail.orders.domain import Action
from omniretail.orders.schemas import OrderIn
from omniretail.payments.providers import builtin_providers
from omniretail.returns import service as returns
from omniretail.returns.schemas import ReturnIn
from omniretail.wiring import build_registry
from tests.factories import SANDBOX_SECRET, Api, TenantHandle, make_key
from tests.orders_world import World, build_world, place_paid

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
PROVIDERS = builtin_providers(SANDBOX_SECRET)
PERIODS = [
    (dt.date(2026, 10, 1), dt.date(2026, 10, 31)),
    (dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
    (dt.date(2026, 10, 31), dt.date(2026, 11, 1)),
    # No whole month or year: the customers' groups are taken from the facts across months.
    (dt.date(2026, 9, 20), dt.date(2026, 11, 10)),
    (dt.date(2026, 10, 1), dt.date(2026, 11, 10)),
    (dt.date(2026, 10, 20), dt.date(2026, 11, 30)),
    (dt.date(2026, 11, 3), dt.date(2026, 11, 20)),
    (dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
]


def at(day: int, hour: int, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 30, tzinfo=SHANGHAI).astimezone(dt.UTC)


async def customer(world: World, phone: str) -> str:
    response = await world.admin.post(
        "/v1/customers", {"identities": [{"type": "phone", "value": phone}]}
    )
    return str(response.json()["id"])


async def in_store(db: Database, tenant: TenantHandle, when: dt.datetime, **fields: Any) -> str:
    body = {
        "lines": [{"sku": "TEE-S", "qty": 1}],
        "payments": [{"method": "cash", "amount": 9900}],
        **fields,
    }
    async with db.uow(tenant.id) as uow:
        order = await checkout.do_place_order(
            uow,
            data=OrderIn.model_validate(body),
            caller=Caller(actor="test"),
            providers=PROVIDERS,
            now=when,
        )
    return order.id


async def shipped_online(
    db: Database, tenant: TenantHandle, when: dt.datetime, **fields: Any
) -> str:
    """An online order paid, shipped and delivered within the same minute, so that the day
    it was placed is the day it completed."""
    body = {
        "lines": [{"sku": "JEANS-32", "qty": 1}],
        "fulfillment": {"mode": "ship", "address": {"lat": 31.2304, "lng": 121.4737}},
        "payments": [{"method": "sandbox", "amount": 29900}],
        **fields,
    }
    async with db.uow(tenant.id) as uow:
        order = await place_paid(uow, body, when)
        for action in (Action.ACCEPT, Action.SHIP, Action.DELIVER):
            await fulfilment.do_fulfilment_action(
                uow,
                fulfilment_id=order.fulfillments[0].id,
                action=action,
                actor="test",
                now=when,
            )
    return order.id


async def history(world: World, db: Database, tenant: TenantHandle) -> dict[str, str]:
    for location in ("ST-A", "ST-B", "WH"):
        await world.stock(location, "TEE-S", 20)
        await world.stock(location, "JEANS-32", 20)
    x, y, z = [await customer(world, p) for p in ("13800000011", "13800000012", "13800000013")]
    ids = {
        # 23:30 on 31 October in Shanghai is 15:30 UTC: October's, locally.
        "x_pos": await in_store(
            db,
            tenant,
            at(31, 23, month=10),
            channel="pos",
            customer_id=x,
            fulfillment={"mode": "in_store", "location": "ST-A"},
        ),
        # 00:30 on 1 November in Shanghai is still 31 October in UTC: November's, locally.
        "x_app": await shipped_online(
            db, tenant, at(1, 0), channel="app", customer_id=x, attributed_location="EXP"
        ),
        "y_app_1": await shipped_online(db, tenant, at(5, 12), channel="app", customer_id=y),
        "y_app_2": await shipped_online(db, tenant, at(6, 12), channel="app", customer_id=y),
        "z_douyin": await in_store(
            db,
            tenant,
            at(7, 15),
            channel="douyin",
            customer_id=z,
            fulfillment={"mode": "in_store", "location": "ST-B"},
            attributed_staff="guide-7",
        ),
        "guest": await in_store(
            db,
            tenant,
            at(8, 10),
            channel="pos",
            fulfillment={"mode": "in_store", "location": "ST-B"},
            lines=[{"sku": "TEE-S", "qty": 2}],
            payments=[{"method": "cash", "amount": 19800}],
        ),
    }
    # October's sale comes back in November: November's net falls, October's gross stays.
    async with db.uow(tenant.id) as uow:
        await returns.do_create_return(
            uow,
            data=ReturnIn.model_validate(
                {
                    "order_id": ids["x_pos"],
                    "channel": "pos",
                    "location": "ST-A",
                    "lines": [{"sku": "TEE-S", "qty": 1, "condition": "resellable"}],
                }
            ),
            actor="test",
            caller_location=None,
            providers=PROVIDERS,
            now=at(25, 11),
        )
    await Dispatcher(db, build_registry()).run_until_idle()
    return ids


# --- the independent computation: plain SQL over orders and returns, bucketed in Python ---


async def source_rows(db: Database, tenant: TenantHandle) -> list[dict[str, Any]]:
    """One row per completed order (+) and per completed return (-), from the source tables."""
    async with db.engine.connect() as conn:
        orders = (
            await conn.execute(
                sa.text(
                    "SELECT o.public_id, o.channel, o.customer_id, o.created_at, o.total,"
                    " o.delivery_fee, o.placed_at_location, o.attributed_location,"
                    " o.attributed_staff,"
                    " (SELECT min(f.location_code) FROM fulfilments f WHERE f.order_id = o.id)"
                    "  AS fulfilled_from,"
                    " (SELECT sum(l.qty) FROM order_lines l WHERE l.order_id = o.id) AS units"
                    " FROM orders o WHERE o.tenant_id = :t AND o.status = 'completed'"
                ),
                {"t": tenant.id},
            )
        ).mappings()
        rows = []
        by_order = {}
        for o in orders:
            location = o["placed_at_location"] or o["fulfilled_from"]
            common = {
                "channel": o["channel"],
                "customer": o["customer_id"],
                "location": location,
                "online": o["placed_at_location"] is None,
                "fulfilled_from": o["fulfilled_from"],
                "attributed_location": o["attributed_location"],
                "attributed_staff": o["attributed_staff"],
            }
            by_order[o["public_id"]] = common
            rows.append(
                {
                    **common,
                    "kind": "sale",
                    "at": o["created_at"],
                    "amount": int(o["total"]) - int(o["delivery_fee"]),
                    "units": int(o["units"]),
                }
            )
        returned = (
            await conn.execute(
                sa.text(
                    "SELECT r.order_public_id, r.refund_total, r.received_at,"
                    " (SELECT sum(l.qty) FROM return_lines l WHERE l.return_id = r.id) AS units"
                    " FROM returns r WHERE r.tenant_id = :t AND r.status = 'completed'"
                ),
                {"t": tenant.id},
            )
        ).mappings()
        for r in returned:
            rows.append(
                {
                    **by_order[r["order_public_id"]],
                    "kind": "refund",
                    "at": r["received_at"],
                    "amount": -int(r["refund_total"]),
                    "units": -int(r["units"]),
                }
            )
    for row in rows:
        stamp = (
            row["at"]
            if isinstance(row["at"], dt.datetime)
            else dt.datetime.fromisoformat(row["at"])
        )
        row["day"] = stamp.replace(tzinfo=stamp.tzinfo or dt.UTC).astimezone(SHANGHAI).date()
    return rows


def expected_sales(rows: list[dict[str, Any]], key: str, start: dt.date, end: dt.date) -> Any:
    out: dict[Any, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        if start <= r["day"] <= end:
            k = str(r[key]) if r[key] is not None else None
            sale = r["kind"] == "sale"
            out[k][0] += r["amount"] if sale else 0
            out[k][1] += 0 if sale else -r["amount"]
            out[k][2] += 1 if sale else 0
    return {k: tuple(v) for k, v in out.items()}


def expected_customers(rows: list[dict[str, Any]], start: dt.date, end: dt.date) -> Any:
    per: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"channels": set(), "orders": 0, "gross": 0, "net": 0}
    )
    for r in rows:
        if r["customer"] and start <= r["day"] <= end:
            c = per[r["customer"]]
            c["net"] += r["amount"]
            if r["kind"] == "sale":
                c["channels"].add(r["channel"])
                c["orders"] += 1
                c["gross"] += r["amount"]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in per.values():
        if c["orders"]:
            n = len(c["channels"])
            groups[str(n) if n < 3 else "3+"].append(c)
    return {
        k: (
            len(g),
            sum(c["orders"] for c in g),
            round(sum(1 for c in g if c["orders"] >= 2) / len(g), 4),
            round(sum(c["gross"] for c in g) / sum(c["orders"] for c in g)),
            round(sum(c["net"] for c in g) / len(g)),
        )
        for k, g in groups.items()
    }


def expected_attribution(rows: list[dict[str, Any]], start: dt.date, end: dt.date) -> Any:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for r in rows:
        if not start <= r["day"] <= end:
            continue
        for name, store, applies in (
            ("in_store", r["location"], not r["online"]),
            ("fulfilled_online", r["fulfilled_from"], r["online"]),
            ("attributed_online", r["attributed_location"], r["online"]),
        ):
            if applies and store is not None:
                row = out[store]
                gross = r["amount"] if r["kind"] == "sale" else 0
                row[f"{name}_gross"] = row.get(f"{name}_gross", 0) + gross
                row[f"{name}_net"] = row.get(f"{name}_net", 0) + r["amount"]
    names = ("in_store", "fulfilled_online", "attributed_online")
    return [
        {
            "location": store,
            **{f"{n}_{m}": out[store].get(f"{n}_{m}", 0) for n in names for m in ("gross", "net")},
        }
        for store in sorted(out)
    ]


async def reported(db: Database, tenant: TenantHandle) -> dict[str, Any]:
    """Every figure the service reports for the test periods."""
    figures: dict[str, Any] = {}
    async with db.uow(tenant.id) as uow:
        for start, end in PERIODS:
            for by in (SalesBy.CHANNEL, SalesBy.LOCATION, SalesBy.DAY, SalesBy.ATTRIBUTED_STAFF):
                report = await service.sales_report(uow, start=start, end=end, by=by)
                figures[f"{by.value} {start}..{end}"] = {
                    r.key: (r.gross, r.refunds, r.orders) for r in report.rows
                }
            customers = await service.customers_report(uow, start=start, end=end)
            figures[f"customers {start}..{end}"] = {
                g.channels: (
                    g.customers,
                    g.orders,
                    g.repurchase_rate,
                    g.average_order_value,
                    g.lifetime_value,
                )
                for g in customers.groups
            }
            attribution = await service.attribution_report(uow, start=start, end=end)
            figures[f"attribution {start}..{end}"] = [r.model_dump() for r in attribution.rows]
    return figures


async def rollups(db: Database, tenant: TenantHandle) -> list[tuple[Any, ...]]:
    """Every rollup row: sales, customer groups and customer spans (an emptied row left by a
    customer who moved on counts as no row)."""
    queries = (
        "SELECT grain, dim, scope, day, key, kind, amount, facts, units FROM sales_rollups"
        " WHERE tenant_id = :t",
        "SELECT grain, scope, day, channel_group, customers, orders, repeat_customers, gross,"
        " net FROM customer_group_rollups WHERE tenant_id = :t AND customers <> 0",
        "SELECT scope, first_grain, first, last_grain, last, channel_group, customers, orders,"
        " repeat_customers, gross, net FROM customer_span_rollups WHERE tenant_id = :t AND"
        " (customers <> 0 OR orders <> 0 OR repeat_customers <> 0 OR gross <> 0 OR net <> 0)",
    )
    out: list[tuple[Any, ...]] = []
    async with db.engine.connect() as conn:
        for i, query in enumerate(queries):
            result = await conn.execute(sa.text(query), {"t": tenant.id})
            out += sorted((i, *row) for row in result)
    return out


def expected_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The customers and sales figures the service should report, computed independently."""
    figures: dict[str, Any] = {}
    for start, end in PERIODS:
        for key, by in (
            ("channel", SalesBy.CHANNEL),
            ("location", SalesBy.LOCATION),
            ("day", SalesBy.DAY),
            ("attributed_staff", SalesBy.ATTRIBUTED_STAFF),
        ):
            figures[f"{by.value} {start}..{end}"] = expected_sales(rows, key, start, end)
        figures[f"customers {start}..{end}"] = expected_customers(rows, start, end)
        figures[f"attribution {start}..{end}"] = expected_attribution(rows, start, end)
    return figures


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def test_every_figure_equals_an_independent_computation_and_a_rebuild(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    await history(world, db, tenant)
    rows = await source_rows(db, tenant)
    figures = await reported(db, tenant)
    assert figures == expected_figures(rows)

    # Redelivered events (at least once) change nothing.
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
    assert await reported(db, tenant) == figures

    # From scratch, the same: the rollups summed set-based equal those added fact by fact.
    kept_rollups = await rollups(db, tenant)
    async with db.uow(tenant.id) as uow:
        assert await projection.do_rebuild(uow) == len(kept)
    assert await reported(db, tenant) == figures
    assert await rollups(db, tenant) == kept_rollups


async def customer_of(db: Database, order_id: str) -> str:
    async with db.engine.connect() as conn:
        return str(
            await conn.scalar(
                sa.text("SELECT customer_id FROM orders WHERE public_id = :o"), {"o": order_id}
            )
        )


async def test_customers_merged_after_their_sales_count_as_one_customer_live_and_rebuilt(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    """y bought twice on the app, z once on douyin at store B: merged, they are one customer
    of two channels, in the whole tenant's groups and in store B's."""
    ids = await history(world, db, tenant)
    y, z = await customer_of(db, ids["y_app_1"]), await customer_of(db, ids["z_douyin"])
    merged = await world.admin.post(f"/v1/customers/{y}/merge", {"customer_id": z})
    assert merged.status_code == 200, merged.text
    await Dispatcher(db, build_registry()).run_until_idle()

    rows = await source_rows(db, tenant)
    assert {r["customer"] for r in rows if r["customer"]} == {
        y,
        await customer_of(db, ids["x_app"]),
    }
    figures = await reported(db, tenant)
    assert figures == expected_figures(rows)
    november = figures["customers 2026-11-01..2026-11-30"]
    assert november["2"] == (1, 3, 1.0, round((2 * 29900 + 9900) / 3), 2 * 29900 + 9900)
    store_b = [r for r in rows if r["location"] == "ST-B"]
    async with db.uow(tenant.id) as uow:
        for start, end in PERIODS:
            scoped = await service.customers_report(uow, start=start, end=end, location="ST-B")
            assert {
                g.channels: (g.customers, g.orders, g.repurchase_rate, g.average_order_value,
                             g.lifetime_value)
                for g in scoped.groups
            } == expected_customers(store_b, start, end)  # fmt: skip

    kept_rollups = await rollups(db, tenant)
    async with db.uow(tenant.id) as uow:
        await projection.do_rebuild(uow)
    assert await reported(db, tenant) == figures
    assert await rollups(db, tenant) == kept_rollups


async def test_a_return_in_a_later_month_lowers_that_months_net_not_the_first_gross(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    await history(world, db, tenant)
    async with db.uow(tenant.id) as uow:
        october = await service.sales_report(
            uow, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31), by=SalesBy.CHANNEL
        )
        november = await service.sales_report(
            uow, start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 30), by=SalesBy.CHANNEL
        )
    assert october.total.gross == october.total.net == 9900  # the sale at 23:30 local
    assert october.total.refunds == 0
    assert november.total.refunds == 9900
    assert november.total.gross == 3 * 29900 + 9900 + 19800
    pos = next(r for r in november.rows if r.key == "pos")
    assert (pos.gross, pos.refunds, pos.net) == (19800, 9900, 9900)


async def test_the_reports_over_http_follow_roles_and_stores(
    world: World, db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    await history(world, db, tenant)
    client = world.admin.client
    analyst = Api(client, await make_key(db, tenant, Role.ANALYST))
    store_b = world.keys["store_b"]
    period = {"from": "2026-10-01", "to": "2026-11-30"}
    whole = (await analyst.get("/v1/analytics/sales", **period, by="location")).json()
    assert {r["key"] for r in whole["rows"]} >= {"ST-A", "ST-B"}
    own = (await store_b.get("/v1/analytics/sales", **period, by="location")).json()
    assert [r["key"] for r in own["rows"]] == ["ST-B"]
    assert own["rows"][0] == next(r for r in whole["rows"] if r["key"] == "ST-B")
    assert (await world.keys["app"].get("/v1/analytics/sales", **period)).status_code == 403
    assert (await store_b.get("/v1/analytics/points")).status_code == 403
    assert (await analyst.get("/v1/analytics/points")).status_code == 200
    rival = Api(client, other_tenant.admin_key)
    assert (await rival.get("/v1/analytics/sales", **period)).json()["rows"] == []
    for bad in (
        {"from": "2026-11-30", "to": "2026-11-01"},
        {"from": "2020-01-01", "to": "2026-01-01"},
    ):
        refused = await analyst.get("/v1/analytics/sales", **bad)
        assert refused.status_code == 422, refused.text
    compared = (
        await analyst.get("/v1/analytics/sales", **{"from": "2026-11-01", "to": "2026-11-30"},
                          compare="true")
    ).json()  # fmt: skip
    assert compared["previous_total"]["net"] == compared["previous_total"]["gross"] == 9900
    csv = await analyst.get("/v1/analytics/customers", **period, format="csv")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.startswith("\ufeffchannels,customers,orders")
