"""Random sequences of receipts, sales, counts, reservations, releases, expiries, consumptions
and in-store sales, checked against a plain model after every step: positions equal the ledger
sum, reserved equals the held lines, available is never negative, and every operation succeeds
or is refused exactly when the model says so."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omniretail.db import Database, utcnow
from omniretail.errors import ValidationFailed
from omniretail.inventory import reservations as res
from omniretail.inventory import sales, service
from omniretail.inventory.domain import Reason, available
from omniretail.inventory.schemas import MovementLineIn
from omniretail.inventory.service import InsufficientStock
from tests.factories import make_tenant
from tests.inventory_factories import make_location, make_skus, receive

LOCATIONS = ("ST-1", "ST-2")
SKUS = ("A", "B")
_tenants = itertools.count(1)

key = st.tuples(st.sampled_from(LOCATIONS), st.sampled_from(SKUS))
qty = st.integers(min_value=1, max_value=6)
operation = st.one_of(
    st.tuples(st.just("receipt"), key, qty),
    st.tuples(st.just("sale"), key, qty),
    st.tuples(st.just("count"), key, st.integers(min_value=0, max_value=8)),
    st.tuples(st.just("reserve"), st.lists(st.tuples(key, qty), min_size=1, max_size=3), qty),
    st.tuples(st.just("release"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("confirm"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("consume"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("expire"), st.integers(1, 6), st.just(0)),
    st.tuples(st.just("sell_in_store"), key, qty),
)


@dataclass
class Model:
    on_hand: dict[tuple[str, str], int] = field(default_factory=dict)
    reserved: dict[tuple[str, str], int] = field(default_factory=dict)
    # reservation id -> (lines, expires_at or None, open)
    holds: dict[int, tuple[dict[tuple[str, str], int], dt.datetime | None, bool]] = field(
        default_factory=dict
    )

    def free(self, k: tuple[str, str]) -> int:
        return self.on_hand.get(k, 0) - self.reserved.get(k, 0)


async def check_books(db: Database, tenant_id: int, model: Model) -> None:
    async with db.uow(tenant_id) as uow:
        assert await service.check_ledger(uow) == []
        for loc, sku in itertools.product(LOCATIONS, SKUS):
            pos = await service.get_position(uow, location=loc, sku=sku)
            assert pos.available >= 0
            assert pos.available == available(pos.on_hand, pos.reserved, 0)
            assert (pos.on_hand, pos.reserved) == (
                model.on_hand.get((loc, sku), 0),
                model.reserved.get((loc, sku), 0),
            )


async def step(db: Database, tenant_id: int, model: Model, op: tuple, clock: list) -> None:  # type: ignore[type-arg]
    kind = op[0]
    now = clock[0]
    if kind in ("receipt", "sale", "count"):
        (loc, sku), n = op[1], op[2]
        k = (loc, sku)
        expect_ok = not (kind == "sale" and model.on_hand.get(k, 0) < n)
        try:
            async with db.uow(tenant_id) as uow:
                await service.do_apply_movements(
                    uow,
                    lines=[MovementLineIn(sku=sku, location=loc, reason=kind, qty=n)],
                    actor="prop",
                )
            ok = True
        except ValidationFailed:
            ok = False
        assert ok == expect_ok
        if ok:
            current = model.on_hand.get(k, 0)
            model.on_hand[k] = {"receipt": current + n, "sale": current - n, "count": n}[kind]
    elif kind == "reserve":
        lines: dict[tuple[str, str], int] = {}
        for k, n in op[1]:
            lines[k] = lines.get(k, 0) + n
        ttl = op[2] * 10
        expect_ok = all(model.free(k) >= n for k, n in lines.items())
        try:
            async with db.uow(tenant_id) as uow:
                held = await res.do_reserve(
                    uow,
                    lines=[res.StockLine(sku, loc, n) for (loc, sku), n in op[1]],
                    ttl_seconds=ttl,
                    actor="prop",
                    now=now,
                )
            ok = True
        except InsufficientStock:
            ok = False
        assert ok == expect_ok
        if ok:
            for k, n in lines.items():
                model.reserved[k] = model.reserved.get(k, 0) + n
            model.holds[held.id] = (lines, now + dt.timedelta(seconds=ttl), True)
    elif kind in ("release", "confirm", "consume"):
        if not model.holds:
            return
        ids = sorted(model.holds)
        rid = ids[op[1] % len(ids)]
        lines, expires, open_ = model.holds[rid]
        expired = expires is not None and expires <= now
        async with db.uow(tenant_id) as uow:
            try:
                if kind == "release":
                    await res.do_release_reservation(uow, reservation_id=rid, actor="p", now=now)
                elif kind == "confirm":
                    await res.do_confirm_reservation(uow, reservation_id=rid, now=now)
                else:
                    await res.do_consume_reservation(
                        uow, reservation_id=rid, actor="p", reason=Reason.SHIPMENT, now=now
                    )
                outcome = "ok"
            except (res.ReservationExpired, res.ReservationClosed):
                outcome = "refused"
            except InsufficientStock:
                outcome = "short"
                await uow.session.rollback()
        if kind == "release":
            assert outcome == "ok"
        elif not open_ or expired:
            assert outcome == "refused"
        elif kind == "consume" and any(model.on_hand.get(k, 0) < n for k, n in lines.items()):
            assert outcome == "short"
        else:
            assert outcome == "ok"
        if outcome != "ok" or not open_:
            return
        if kind == "confirm":
            model.holds[rid] = (lines, None, True)
            return
        for k, n in lines.items():
            model.reserved[k] -= n
            if kind == "consume":
                model.on_hand[k] -= n
        model.holds[rid] = (lines, expires, False)
    elif kind == "expire":
        clock[0] = now = now + dt.timedelta(seconds=op[1] * 10)
        async with db.uow(tenant_id) as uow:
            await res.do_release_expired(uow, now)
        for rid, (lines, expires, open_) in list(model.holds.items()):
            if open_ and expires is not None and expires <= now:
                for k, n in lines.items():
                    model.reserved[k] -= n
                model.holds[rid] = (lines, expires, False)
    elif kind == "sell_in_store":
        (loc, sku), n = op[1], op[2]
        expect_ok = model.free((loc, sku)) >= n
        try:
            async with db.uow(tenant_id) as uow:
                await sales.do_sell_in_store(uow, location=loc, lines=[(sku, n)], actor="pos")
            ok = True
        except InsufficientStock:
            ok = False
        assert ok == expect_ok
        if ok:
            model.on_hand[(loc, sku)] = model.on_hand.get((loc, sku), 0) - n


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=25))
async def test_random_sequences_keep_positions_equal_to_the_ledger(
    db: Database,
    operations: list[tuple],  # type: ignore[type-arg]
) -> None:
    tenant = await make_tenant(db, f"prop-{next(_tenants)}")
    await make_skus(db, tenant.id, *SKUS)
    for code in LOCATIONS:
        await make_location(db, tenant.id, code)
    model = Model()
    for loc, sku in itertools.product(LOCATIONS, SKUS):
        await receive(db, tenant.id, loc, sku, 3)
        model.on_hand[(loc, sku)] = 3
    clock = [utcnow()]
    for op in operations:
        await step(db, tenant.id, model, op, clock)
        await check_books(db, tenant.id, model)
