"""Movement batches, counts and the ledger, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.db import Database
from omniretail.errors import ValidationFailed
from omniretail.events import OutboxEvent
from omniretail.inventory import reservations, service
from omniretail.inventory.models import StockMovement
from omniretail.inventory.schemas import MovementLineIn
from tests.factories import TenantHandle
from tests.inventory_factories import (
    assert_books_balance,
    make_location,
    make_skus,
    position,
    receive,
)


def line(sku: str, location: str, reason: str, qty: int) -> MovementLineIn:
    return MovementLineIn(sku=sku, location=location, reason=reason, qty=qty)


async def events(db: Database, tenant_id: int, type_: str) -> list[dict[str, object]]:
    async with db.uow(tenant_id) as uow:
        rows = await uow.session.scalars(
            sa.select(OutboxEvent.payload).where(OutboxEvent.type == type_).order_by(OutboxEvent.id)
        )
        return list(rows)


@pytest.fixture
async def shop(db: Database, tenant: TenantHandle) -> TenantHandle:
    await make_skus(db, tenant.id, "TEE-S", "TEE-M")
    await make_location(db, tenant.id, "ST-1")
    await make_location(db, tenant.id, "ST-2")
    await make_location(db, tenant.id, "EX-1", type="experience_store")
    return tenant


async def test_a_batch_applies_every_line_in_order_and_the_ledger_balances(
    db: Database, shop: TenantHandle
) -> None:
    async with db.uow(shop.id) as uow:
        result = await service.do_apply_movements(
            uow,
            lines=[
                line("TEE-S", "ST-1", "receipt", 10),
                line("TEE-S", "ST-1", "sale", 3),
                line("TEE-M", "ST-2", "receipt", 4),
                line("TEE-S", "ST-1", "count", 6),
                line("TEE-S", "ST-1", "adjustment", -1),
                line("TEE-M", "ST-2", "transfer_out", 4),
            ],
            actor="pos",
        )
    assert (result.lines, result.movements) == (6, 6)
    assert await position(db, shop.id, "ST-1", "TEE-S") == (5, 0)
    assert await position(db, shop.id, "ST-2", "TEE-M") == (0, 0)
    await assert_books_balance(db, shop.id)
    changed = await events(db, shop.id, "inventory.availability_changed")
    assert {
        (e["location"], e["sku"], e["available_before"], e["available_after"]) for e in changed
    } == {("ST-1", "TEE-S", 0, 5)}


async def test_a_bad_batch_is_rejected_whole_naming_each_bad_line(
    db: Database, shop: TenantHandle
) -> None:
    await receive(db, shop.id, "ST-1", "TEE-S", 2)
    with pytest.raises(ValidationFailed) as caught:
        async with db.uow(shop.id) as uow:
            await service.do_apply_movements(
                uow,
                lines=[
                    line("TEE-S", "ST-1", "receipt", 5),
                    line("NOPE", "ST-1", "receipt", 1),
                    line("TEE-S", "NOWHERE", "receipt", 1),
                    line("TEE-S", "ST-1", "receipt", 0),
                    line("TEE-S", "ST-1", "sale", 1),
                    line("TEE-M", "ST-1", "sale", 1),
                    line("TEE-S", "EX-1", "receipt", 1),
                    line("TEE-S", "ST-1", "teleport", 1),
                    line("TEE-S", "ST-1", "receipt", -2),
                ],
                actor="erp",
            )
    named = sorted({e["index"] for e in caught.value.extra["errors"]})
    assert named == [1, 2, 3, 6, 7, 8]
    # Only once the lines are well formed is stock checked: the oversell on line 5 shows up.
    with pytest.raises(ValidationFailed) as caught:
        async with db.uow(shop.id) as uow:
            await service.do_apply_movements(
                uow,
                lines=[
                    line("TEE-S", "ST-1", "receipt", 5),
                    line("TEE-S", "ST-1", "sale", 7),
                    line("TEE-M", "ST-1", "sale", 1),
                ],
                actor="erp",
            )
    assert [e["index"] for e in caught.value.extra["errors"]] == [2]
    assert await position(db, shop.id, "ST-1", "TEE-S") == (2, 0)
    async with db.uow(shop.id) as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(StockMovement.id))) == 1
    await assert_books_balance(db, shop.id)


async def test_a_tenant_that_allows_negative_stock_records_the_sale(
    db: Database, shop: TenantHandle
) -> None:
    async with db.uow(shop.id) as uow:
        await auth.do_update_tenant_settings(uow, changes={"allow_negative_stock": True})
    async with db.uow(shop.id) as uow:
        await service.do_apply_movements(uow, lines=[line("TEE-S", "ST-1", "sale", 2)], actor="pos")
    assert await position(db, shop.id, "ST-1", "TEE-S") == (-2, 0)
    await receive(db, shop.id, "ST-1", "TEE-S", 5)
    assert await position(db, shop.id, "ST-1", "TEE-S") == (3, 0)
    await assert_books_balance(db, shop.id)


async def test_a_batch_id_is_applied_once_and_a_replay_returns_the_first_result(
    db: Database, shop: TenantHandle
) -> None:
    lines = [line("TEE-S", "ST-1", "receipt", 4)]
    async with db.uow(shop.id) as uow:
        first = await service.do_apply_movements(uow, lines=lines, actor="erp", batch_id="b-1")
    async with db.uow(shop.id) as uow:
        again = await service.do_apply_movements(uow, lines=lines, actor="erp", batch_id="b-1")
    assert again == first
    assert await position(db, shop.id, "ST-1", "TEE-S") == (4, 0)
    with pytest.raises(ValidationFailed) as caught:
        async with db.uow(shop.id) as uow:
            await service.do_apply_movements(
                uow, lines=[line("TEE-S", "ST-1", "receipt", 5)], actor="erp", batch_id="b-1"
            )
    assert caught.value.code == "batch_id_reused"


async def test_a_count_sets_on_hand_records_the_variance_and_names_reservations_at_risk(
    db: Database, shop: TenantHandle
) -> None:
    await receive(db, shop.id, "ST-1", "TEE-S", 5)
    async with db.uow(shop.id) as uow:
        held = await reservations.do_reserve(
            uow,
            lines=[reservations.StockLine("TEE-S", "ST-1", 4)],
            ttl_seconds=600,
            actor="app",
        )
    async with db.uow(shop.id) as uow:
        counted = await service.do_count(
            uow, location="ST-1", sku="TEE-S", on_hand=2, safety_stock=1, actor="rfid"
        )
    assert (counted.on_hand, counted.reserved, counted.safety_stock, counted.available) == (
        2,
        4,
        1,
        0,
    )
    at_risk = await events(db, shop.id, "inventory.reservations_at_risk")
    assert at_risk == [
        {
            "sku": "TEE-S",
            "location": "ST-1",
            "on_hand": 2,
            "reserved": 4,
            "shortfall": 2,
            "reservations": [held.id],
        }
    ]
    async with db.uow(shop.id) as uow:
        reasons = list(
            await uow.session.execute(
                sa.select(StockMovement.reason, StockMovement.on_hand_delta).order_by(
                    StockMovement.id
                )
            )
        )
    assert [tuple(r) for r in reasons] == [("receipt", 5), ("reserve", 0), ("count", -3)]
    await assert_books_balance(db, shop.id)
