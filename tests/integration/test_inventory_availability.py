"""Availability for channels: network ATP less the channel's buffer, nearby locations by mode,
in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from omniretail.channels import service as channels
from omniretail.channels.schemas import ChannelKind
from omniretail.db import Database
from omniretail.events import OutboxEvent
from omniretail.inventory import availability as atp
from omniretail.inventory import reservations as res
from omniretail.inventory import sales, service
from omniretail.network.schemas import CapabilitiesIn
from tests.factories import TenantHandle
from tests.inventory_factories import make_location, make_skus, receive

CENTRE = (31.2304, 121.4737)


@contextmanager
def count_queries(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


@pytest.fixture
async def network(db: Database, tenant: TenantHandle) -> TenantHandle:
    t = tenant.id
    await make_skus(db, t, "TEE")
    # ~0.5 km north: a store that delivers 3 km around it.
    await make_location(db, t, "NEAR", lat=31.2350, lng=121.4737, delivery_radius_km=3.0)
    # ~3.5 km east: ships and delivers but its delivery radius stops at 2 km.
    await make_location(db, t, "MID", lat=31.2304, lng=121.5100, delivery_radius_km=2.0)
    # ~5 km south: pickup only, does not sell online.
    await make_location(
        db, t, "PICK", lat=31.1854, lng=121.4737, capabilities=CapabilitiesIn(pickup=True)
    )
    # ~30 km away: a warehouse.
    await make_location(
        db,
        t,
        "WH",
        type="warehouse",
        lat=31.50,
        lng=121.47,
        capabilities=CapabilitiesIn(ship=True, sells_online=True),
    )
    await make_location(db, t, "EMPTY", lat=31.2310, lng=121.4737)
    for code, qty in {"NEAR": 2, "MID": 5, "PICK": 4, "WH": 100}.items():
        await receive(db, t, code, "TEE", qty)
    await receive(db, t, "EMPTY", "TEE", 1)
    async with db.uow(t) as uow:
        await res.do_reserve(
            uow, lines=[res.StockLine("TEE", "EMPTY", 1)], ttl_seconds=60, actor="a"
        )
        await channels.do_create_channel(uow, code="douyin", kind=ChannelKind.DOUYIN, name="D")
        await channels.do_create_channel(uow, code="app", kind=ChannelKind.APP, name="App")
        await atp.do_set_channel_buffers(uow, channel="douyin", default=10, skus={"TEE": 30})
        await atp.do_set_channel_buffers(uow, channel="app", default=3, skus={})
    return tenant


async def nearby(
    db: Database, tenant_id: int, mode: str | None, **kw: Any
) -> list[tuple[str, int]]:
    async with db.uow(tenant_id) as uow:
        out = await atp.availability(
            uow, sku="TEE", lat=CENTRE[0], lng=CENTRE[1], radius_km=10, mode=mode, **kw
        )
    return [(loc.location, loc.available) for loc in out.locations]


async def test_network_available_to_sell_is_online_stock_less_the_channel_buffer(
    db: Database, network: TenantHandle
) -> None:
    async with db.uow(network.id) as uow:
        douyin = await atp.availability(uow, sku="TEE", channel="douyin")
        app = await atp.availability(uow, sku="TEE", channel="app")
        plain = await atp.availability(uow, sku="TEE")
    # Online: NEAR 2 + MID 5 + WH 100 + EMPTY 0 (held); PICK does not sell online.
    assert douyin.network is not None
    assert app.network is not None
    assert plain.network is not None
    assert plain.network.model_dump() == {"available": 107, "buffer": 0, "available_to_sell": 107}
    assert douyin.network.model_dump() == {"available": 107, "buffer": 30, "available_to_sell": 77}
    assert app.network.available_to_sell == 104


async def test_nearby_lists_locations_that_can_serve_the_mode_nearest_first(
    db: Database, network: TenantHandle
) -> None:
    assert await nearby(db, network.id, "pickup") == [("NEAR", 2), ("MID", 5), ("PICK", 4)]
    assert await nearby(db, network.id, "ship") == [("NEAR", 2), ("MID", 5)]
    # MID is 3.5 km away but delivers only 2 km around it.
    assert await nearby(db, network.id, "local_delivery") == [("NEAR", 2)]
    assert await nearby(db, network.id, "pickup", limit=1) == [("NEAR", 2)]


async def test_nearby_availability_costs_the_same_queries_for_5_or_25_locations(
    db: Database, network: TenantHandle
) -> None:
    async def both() -> tuple[list[str], list[str], int]:
        async with db.uow(network.id) as uow:
            with count_queries(db) as nearby:
                out = await atp.availability(
                    uow, sku="TEE", channel="app", lat=CENTRE[0], lng=CENTRE[1], mode="pickup"
                )
            with count_queries(db) as view:
                await atp.availability(uow, sku="TEE", channel="app")
        return nearby, view, len(out.locations)

    def selects(statements: list[str]) -> int:
        return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT"))

    few_nearby, few_view, found = await both()
    assert found == 3
    for i in range(20):
        code = f"X-{i}"
        await make_location(db, network.id, code, lat=CENTRE[0] + i / 1000, lng=CENTRE[1])
        await receive(db, network.id, code, "TEE", 1)
    many_nearby, many_view, found = await both()
    assert found == 23
    # Nearby: the SKU, the nearby locations, their positions.
    assert selects(few_nearby) == selects(many_nearby) == 3
    # Network view: the SKU, the locations that do not sell online, the sum, the buffer.
    assert selects(few_view) == selects(many_view) == 4


async def test_availability_events_are_raised_only_when_available_changes(
    db: Database, network: TenantHandle
) -> None:
    async with db.uow(network.id) as uow:
        await uow.session.execute(sa.delete(OutboxEvent))
    async with db.uow(network.id) as uow:
        # WH has 100 with no safety stock: each change of on hand moves available.
        await sales.do_sell_in_store(uow, location="NEAR", lines=[("TEE", 1)], actor="pos")
    async with db.uow(network.id) as uow:
        # A count that finds what the books say changes nothing and says nothing.
        await service.do_count(uow, location="MID", sku="TEE", on_hand=5, actor="rfid")
        # Safety stock above on hand: available stays 0 whatever else happens below it.
        await service.do_count(
            uow, location="PICK", sku="TEE", on_hand=4, safety_stock=9, actor="x"
        )
        await service.do_count(uow, location="PICK", sku="TEE", on_hand=3, actor="x")
    async with db.uow(network.id) as uow:
        payloads = list(
            await uow.session.scalars(
                sa.select(OutboxEvent.payload)
                .where(OutboxEvent.type == "inventory.availability_changed")
                .order_by(OutboxEvent.id)
            )
        )
    assert [(p["location"], p["available_before"], p["available_after"]) for p in payloads] == [
        ("NEAR", 2, 1),
        ("PICK", 4, 0),
    ]
