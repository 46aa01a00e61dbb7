"""Concurrent holds on one position share one commit per batch over HTTP, yet each request keeps
its own outcome: no oversell, each Idempotency-Key creates once, one request's failure undoes
only its own writes."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx
import sqlalchemy as sa

from omniretail.db import Database
from omniretail.events import OutboxEvent
from omniretail.group_commit import group_commit
from tests.e2e.test_inventory_api import batch, setup_shop
from tests.factories import Api

HOLD = {"lines": [{"sku": "TEE-S", "location": "ST-1", "qty": 1}], "ttl_seconds": 600}


async def test_racing_holds_with_repeated_keys_hold_each_unit_once(
    admin: Api, db: Database
) -> None:
    await setup_shop(admin)
    received = await admin.post(
        "/v1/inventory/movements", batch("init", ("TEE-S", "ST-1", "receipt", 5))
    )
    assert received.status_code == 201, received.text

    async def hold(key: str, body: dict[str, object]) -> tuple[str, httpx.Response]:
        return key, await admin.post("/v1/reservations", body, headers={"Idempotency-Key": key})

    requests = [hold(f"cart-{i}", HOLD) for i in range(20) for _ in range(2)]
    requests.append(hold("cart-0", {**HOLD, "ttl_seconds": 60}))  # the key reused, other body
    results = await asyncio.gather(*requests)

    by_key: dict[str, list[httpx.Response]] = defaultdict(list)
    for key, response in results:
        by_key[key].append(response)
    reused = by_key["cart-0"].pop()
    assert reused.status_code == 422, reused.text
    assert reused.json()["code"] == "idempotency_key_reused"
    held_ids = set()
    for key, (first, second) in by_key.items():
        assert first.status_code == second.status_code, key
        assert first.json() == second.json(), key
        if first.status_code == 201:
            held_ids.add(first.json()["id"])
        else:
            assert first.json()["code"] == "insufficient_stock"
    assert len(held_ids) == 5
    position = (await admin.get("/v1/inventory/TEE-S")).json()["positions"][0]
    assert (position["on_hand"], position["reserved"], position["available"]) == (5, 5, 0)
    assert group_commit(db).batches < len(results)


async def test_a_short_hold_in_a_batch_leaves_the_others_held(admin: Api, db: Database) -> None:
    await setup_shop(admin)
    await admin.post("/v1/inventory/movements", batch("init", ("TEE-S", "ST-1", "receipt", 3)))
    too_many = {"lines": [{"sku": "TEE-S", "location": "ST-1", "qty": 4}], "ttl_seconds": 600}
    results = await asyncio.gather(
        admin.post("/v1/reservations", HOLD),
        admin.post("/v1/reservations", too_many),
        admin.post("/v1/reservations", HOLD),
    )
    assert [r.status_code for r in results] == [201, 409, 201]
    position = (await admin.get("/v1/inventory/TEE-S")).json()["positions"][0]
    assert (position["reserved"], position["available"]) == (2, 1)


async def test_a_batch_that_fits_is_held_by_one_update_and_each_hold_sees_its_own_figures(
    admin: Api, db: Database
) -> None:
    await setup_shop(admin)
    await admin.post("/v1/inventory/movements", batch("init", ("TEE-S", "ST-1", "receipt", 100)))
    updates: list[str] = []

    def count(*args: object) -> None:
        if "UPDATE stock_positions" in str(args[2]):
            updates.append(str(args[2]))

    def hold(qty: int) -> dict[str, object]:
        return {"lines": [{"sku": "TEE-S", "location": "ST-1", "qty": qty}], "ttl_seconds": 600}

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    batches_before = group_commit(db).batches
    try:
        results = await asyncio.gather(
            *(admin.post("/v1/reservations", hold(1 + i % 3)) for i in range(30)),
            # a repeat of a key in the same batch: claimed with the batch, not drawn, given back
            *(
                admin.post("/v1/reservations", hold(2), headers={"Idempotency-Key": "k"})
                for _ in "ab"
            ),
        )
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert [r.status_code for r in results] == [201] * 32
    batches = group_commit(db).batches - batches_before
    # One UPDATE per batch, one more when a batch gives back what a replay did not draw.
    assert len(updates) <= 2 * batches < 32
    held = sum(1 + i % 3 for i in range(30)) + 2
    position = (await admin.get("/v1/inventory/TEE-S")).json()["positions"][0]
    assert (position["reserved"], position["available"]) == (held, 100 - held)
    async with db.uow(unscoped=True) as uow:
        figures = (
            await uow.session.execute(
                sa.select(OutboxEvent.payload)
                .where(OutboxEvent.type == "inventory.availability_changed")
                .order_by(OutboxEvent.id)
            )
        ).scalars()
        chain = [(p["available_before"], p["available_after"]) for p in figures][1:]
    # Each batch announces its change of the position once (its holds commit at once: the
    # figures between two of them are never seen), one change after the other.
    assert len(chain) == batches
    assert chain[0][0] == 100
    assert chain[-1][1] == 100 - held
    assert all(after == chain[i + 1][0] for i, (_, after) in enumerate(chain[:-1]))
    assert sum(before - after for before, after in chain) == held


async def test_a_batch_without_failures_takes_no_savepoints_and_one_with_a_failure_is_redone(
    admin: Api, db: Database
) -> None:
    await setup_shop(admin)
    await admin.post("/v1/inventory/movements", batch("init", ("TEE-S", "ST-1", "receipt", 10)))
    savepoints: list[str] = []

    def count(*args: object) -> None:
        if str(args[2]).startswith("SAVEPOINT"):
            savepoints.append(str(args[2]))

    too_many = {"lines": [{"sku": "TEE-S", "location": "ST-1", "qty": 40}], "ttl_seconds": 600}
    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        clean = await asyncio.gather(*(admin.post("/v1/reservations", HOLD) for _ in range(6)))
        assert [r.status_code for r in clean] == [201] * 6
        assert savepoints == []
        mixed = await asyncio.gather(
            admin.post("/v1/reservations", HOLD),
            admin.post("/v1/reservations", too_many),
            admin.post("/v1/reservations", HOLD),
        )
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    # The refused request's outcome is its own; the others' holds are kept exactly once.
    assert [r.status_code for r in mixed] == [201, 409, 201]
    assert savepoints != []
    position = (await admin.get("/v1/inventory/TEE-S")).json()["positions"][0]
    assert (position["reserved"], position["available"]) == (8, 2)
