"""Group buying (拼团, issue 16): a group fills and its members' orders are created for pickup
at their stores, their codes redeemable only then; a group whose window ends unfilled refunds
every member to the fen and gives the stock back; the last seat has exactly one winner."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from omniretail.auth.domain import Role
from omniretail.customers import service as customers
from omniretail.customers.schemas import IdentityIn
from omniretail.db import Database, utcnow
from omniretail.engagement import groupbuy
from omniretail.engagement.groupbuy_close import fail_due_groups_everywhere
from omniretail.engagement.groupbuy_schemas import SeatIn
from omniretail.events import OutboxEvent
from omniretail.inventory import service as inventory
from omniretail.jobs import build_jobs
from omniretail.payments.providers import (
    Authorisation,
    PaymentStatus,
    SandboxProvider,
    builtin_providers,
)
from tests.factories import SANDBOX_SECRET, Api, TenantHandle, make_key
from tests.orders_world import World, build_world, numbers_drawn
from tests.payment_fakes import FakeAlipay, FakeWeChatPay

PRICE, GROUP_PRICE = 9900, 5900


def campaign(**overrides: Any) -> dict[str, Any]:
    return {
        "code": "TEE3",
        "title": "三人团 tee",
        "sku": "TEE-S",
        "group_size": 3,
        "group_price": GROUP_PRICE,
        "starts_at": "2026-01-01T00:00:00+08:00",
        "ends_at": "2030-01-01T00:00:00+08:00",
        "pickup_locations": ["ST-A", "ST-B"],
        "per_customer_limit": 1,
    } | overrides


def seat(customer: str, *, channel: str = "app", store: str = "ST-A", **pay: Any) -> dict[str, Any]:
    return {
        "channel": channel,
        "customer_id": customer,
        "pickup_location": store,
        "payment": {"method": "sandbox", "amount": GROUP_PRICE, "token": "tok"} | pay,
    }


async def setup(
    admin: Api, db: Database, tenant: TenantHandle, customers_: int = 3, **overrides: Any
) -> tuple[World, list[str]]:
    world = await build_world(admin, db, tenant)
    await world.stock("ST-A", "TEE-S", 5)
    await world.stock("ST-B", "TEE-S", 5)
    created = await admin.post("/v1/group-buys", campaign(**overrides))
    assert created.status_code == 201, created.text
    async with db.uow(tenant.id) as uow:
        ids = [
            (
                await customers.do_create_customer(
                    uow, identities=[IdentityIn(type="phone", value=f"1380013{i:04d}")]
                )
            ).id
            for i in range(customers_)
        ]
    return world, ids


async def members(admin: Api, group: str) -> list[dict[str, Any]]:
    response = await admin.get(f"/v1/group-buys/groups/{group}/members")
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


async def ledger_clean(db: Database, tenant: TenantHandle) -> None:
    async with db.uow(tenant.id) as uow:
        assert await inventory.check_ledger(uow) == []


async def events(db: Database, type_: str) -> list[dict[str, Any]]:
    async with db.uow(unscoped=True) as uow:
        rows = await uow.session.scalars(
            sa.select(OutboxEvent.payload).where(OutboxEvent.type == type_).order_by(OutboxEvent.id)
        )
        return list(rows)


async def test_a_full_group_orders_for_pickup_and_its_codes_redeem_only_then(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    world, (c1, c2, c3) = await setup(admin, db, tenant)
    app, store_a = world.keys["app"], world.keys["store_a"]
    opened = await app.post("/v1/group-buys/TEE3/groups", seat(c1))
    assert opened.status_code == 201, opened.text
    group, first = opened.json()["group"], opened.json()["member"]
    assert (group["status"], group["seats_taken"], group["seats_left"]) == ("open", 1, 2)
    assert (first["status"], first["amount"], first["order_id"]) == ("held", GROUP_PRICE, None)
    code = first["pickup_code"]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 1}
    shown = (await world.keys["store_b"].get("/v1/group-buys/TEE3/groups")).json()
    assert [(g["id"], g["seats_left"]) for g in shown] == [(group["id"], 2)]

    # Not complete: the code is refused at the counter, and no pickup carries it yet.
    early = await store_a.post("/v1/group-buys/redemptions", {"location": "ST-A", "code": code})
    assert early.status_code == 409, early.text
    assert early.json()["code"] == "group_buy_not_complete"
    verify = await store_a.post("/v1/pickups/verify", {"location": "ST-A", "code": code})
    assert verify.status_code == 422

    # A pickup fee is not added to a group order: the group price is all a member pays.
    assert (
        await admin.patch("/v1/settings", {"delivery_fees": {"pickup": 300}})
    ).status_code == 200
    joined = await admin.post(
        f"/v1/group-buys/groups/{group['id']}/members", seat(c2, channel="pos", store="ST-B")
    )
    assert joined.status_code == 201, joined.text
    assert joined.json()["group"]["seats_left"] == 1
    last = await store_a.post(
        f"/v1/group-buys/groups/{group['id']}/members",
        seat(c3, channel="pos"),
        headers={"Idempotency-Key": "last-seat"},
    )
    assert last.status_code == 201, last.text
    assert (last.json()["group"]["status"], last.json()["member"]["status"]) == (
        "filled",
        "ordered",
    )
    replay = await store_a.post(
        f"/v1/group-buys/groups/{group['id']}/members",
        seat(c3, channel="pos"),
        headers={"Idempotency-Key": "last-seat"},
    )
    assert (replay.status_code, replay.headers.get("Idempotent-Replayed")) == (201, "true")
    assert replay.json()["member"]["pickup_code"] is None
    assert (await admin.get("/v1/group-buys/TEE3/groups")).json() == []  # none to join

    seated = await members(admin, group["id"])
    assert [(m["customer_id"], m["status"]) for m in seated] == [
        (c1, "ordered"),
        (c2, "ordered"),
        (c3, "ordered"),
    ]
    for member in seated:
        order = (await admin.get(f"/v1/orders/{member['order_id']}")).json()
        assert order["customer_id"] == member["customer_id"]
        assert order["channel"] == member["channel"]
        assert order["status"] == "confirmed"
        assert order["totals"]["total"] == order["totals"]["paid"] == GROUP_PRICE
        [line] = order["lines"]
        assert (line["unit_price"], line["discount"], line["line_total"]) == (
            PRICE,
            PRICE - GROUP_PRICE,
            GROUP_PRICE,
        )
        [payment] = order["payments"]
        # The held authorisation is the order's payment: charged once.
        assert (payment["method"], payment["provider_ref"], payment["status"]) == (
            "sandbox",
            member["payment_ref"],
            "captured",
        )
        [fulfilment] = order["fulfillments"]
        assert (fulfilment["mode"], fulfilment["location"]) == ("pickup", member["pickup_location"])
    # The members' holds became their orders' holds, at their stores.
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 2}
    assert await world.on_hand("ST-B", "TEE-S") == {"on_hand": 5, "reserved": 1}

    order = (await admin.get(f"/v1/orders/{seated[0]['order_id']}")).json()
    fulfilment = order["fulfillments"][0]["id"]
    for action in ("accept", "ready"):
        acted = await store_a.post(f"/v1/fulfillments/{fulfilment}/{action}")
        assert acted.status_code == 200, acted.text
    handed = await store_a.post("/v1/group-buys/redemptions", {"location": "ST-A", "code": code})
    assert handed.status_code == 200, handed.text
    assert (handed.json()["id"], handed.json()["status"]) == (fulfilment, "handed_over")
    again = await store_a.post("/v1/group-buys/redemptions", {"location": "ST-A", "code": code})
    assert again.status_code == 409
    assert again.json()["code"] == "pickup_code_used"
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 4, "reserved": 1}
    await ledger_clean(db, tenant)
    assert [e["seat"] for e in await events(db, "groupbuy.joined")] == [1, 2, 3]
    assert len(await events(db, "groupbuy.opened")) == 1
    [filled] = await events(db, "groupbuy.filled")
    assert {o["order_id"] for o in filled["orders"]} == {m["order_id"] for m in seated}
    notices = (await admin.get("/v1/messages")).json()["items"]
    assert sorted((m["customer_id"], m["template"]) for m in notices) == sorted(
        (c, "group_formed") for c in (c1, c2, c3)
    )


async def test_an_unfilled_group_refunds_every_member_to_the_fen_and_releases_stock(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    world, (c1, c2, c3) = await setup(admin, db, tenant, group_window_minutes=60)
    opened = await admin.post("/v1/group-buys/TEE3/groups", seat(c1))
    group = opened.json()["group"]["id"]
    code = opened.json()["member"]["pickup_code"]
    joined = await admin.post(f"/v1/group-buys/groups/{group}/members", seat(c2, store="ST-B"))
    assert joined.status_code == 201, joined.text
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 1}

    # A provider refusing the refund: the group stays as it was, to be tried again.
    refusing = builtin_providers(SANDBOX_SECRET) | {"sandbox": RefusingSandbox(SANDBOX_SECRET)}
    [stuck] = [j for j in build_jobs(refusing) if "group" in j.name]
    assert await stuck.run(db, utcnow() + dt.timedelta(minutes=61)) == 0
    assert (await admin.get(f"/v1/group-buys/groups/{group}")).json()["status"] == "open"
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 1}

    [job] = [j for j in build_jobs(builtin_providers(SANDBOX_SECRET)) if "group" in j.name]
    assert await job.run(db, utcnow() + dt.timedelta(minutes=30)) == 0  # still open
    assert await job.run(db, utcnow() + dt.timedelta(minutes=61)) == 1
    assert await job.run(db, utcnow() + dt.timedelta(minutes=62)) == 0  # once

    failed = (await admin.get(f"/v1/group-buys/groups/{group}")).json()
    assert (failed["status"], failed["seats_taken"]) == ("failed", 2)
    refunded = await members(admin, group)
    assert [(m["status"], m["refunded_amount"]) for m in refunded] == [
        ("refunded", GROUP_PRICE),
        ("refunded", GROUP_PRICE),
    ]
    assert sum(m["refunded_amount"] for m in refunded) == sum(m["amount"] for m in refunded)
    assert all(m["order_id"] is None for m in refunded)
    for store in ("ST-A", "ST-B"):
        assert await world.on_hand(store, "TEE-S") == {"on_hand": 5, "reserved": 0}
    await ledger_clean(db, tenant)
    [event] = await events(db, "groupbuy.failed")
    assert event["refunded_total"] == 2 * GROUP_PRICE
    notices = (await admin.get("/v1/messages")).json()["items"]
    assert sorted((m["customer_id"], m["template"]) for m in notices) == sorted(
        (c, "group_refunded") for c in (c1, c2)
    )

    # The failed group's seats are closed and its codes redeem nothing; the customer may
    # try again in a new group (the seat counted against the limit was given back).
    store_a = world.keys["store_a"]
    late = await admin.post(f"/v1/group-buys/groups/{group}/members", seat(c3))
    assert (late.status_code, late.json()["code"]) == (409, "group_buy_closed")
    refused = await store_a.post("/v1/group-buys/redemptions", {"location": "ST-A", "code": code})
    assert (refused.status_code, refused.json()["code"]) == (409, "group_buy_closed")
    assert (await admin.post("/v1/group-buys/TEE3/groups", seat(c1))).status_code == 201


async def test_the_per_customer_limit_and_one_seat_per_group_hold(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    world, (c1, _, _) = await setup(admin, db, tenant, per_customer_limit=2)
    first = (await admin.post("/v1/group-buys/TEE3/groups", seat(c1))).json()["group"]["id"]
    twice = await admin.post(f"/v1/group-buys/groups/{first}/members", seat(c1))
    assert (twice.status_code, twice.json()["code"]) == (409, "group_buy_already_joined")
    assert (await admin.post("/v1/group-buys/TEE3/groups", seat(c1))).status_code == 201
    third = await admin.post("/v1/group-buys/TEE3/groups", seat(c1))
    assert (third.status_code, third.json()["code"]) == (409, "group_buy_limit_reached")
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 2}
    assert (await admin.get(f"/v1/group-buys/groups/{first}")).json()["seats_taken"] == 1


async def test_a_declined_payment_takes_no_seat_and_holds_no_stock(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    world, (c1, c2, _) = await setup(admin, db, tenant)
    group = (await admin.post("/v1/group-buys/TEE3/groups", seat(c1))).json()["group"]["id"]
    declined = await admin.post(f"/v1/group-buys/groups/{group}/members", seat(c2, token="decline"))
    assert (declined.status_code, declined.json()["code"]) == (409, "payment_declined")
    assert (await admin.get(f"/v1/group-buys/groups/{group}")).json()["seats_taken"] == 1
    assert len(await members(admin, group)) == 1
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 1}


async def test_a_campaign_that_cannot_be_sold_is_422_and_nothing_is_made(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    await build_world(admin, db, tenant)
    for change, field in (
        ({"group_price": PRICE}, "group_price"),
        ({"sku": "NOPE"}, "sku"),
        ({"ends_at": "2025-01-01T00:00:00Z"}, "ends_at"),
        ({"pickup_locations": ["ST-A", "NOWHERE"]}, "pickup_locations.1"),
        ({"pickup_locations": ["EXP"]}, "pickup_locations.0"),
        ({"group_size": 1}, "group_size"),
        ({"group_price": 10.5}, "group_price"),
        ({"starts_at": "2026-01-01T00:00:00"}, "starts_at"),
    ):
        refused = await admin.post("/v1/group-buys", campaign(**change))
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"] for e in refused.json()["errors"]}, refused.json()
    assert (await admin.get("/v1/group-buys")).json() == []


async def test_a_seat_asked_for_wrongly_is_422_and_changes_nothing(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    world, (c1, _, _) = await setup(admin, db, tenant)
    for body, code, field in (
        (seat(c1, store="ST-C"), "validation_error", "pickup_location"),
        (seat(c1, method="cash"), "validation_error", "payment.method"),
        (seat(c1, method="exchange_credit"), "validation_error", "payment.method"),
        (seat("cus_nobody"), "validation_error", "customer_id"),
        (seat(c1, amount=GROUP_PRICE - 1), "payment_mismatch", "payment.amount"),
        (seat(c1) | {"extra": 1}, "validation_error", "extra"),
    ):
        refused = await admin.post("/v1/group-buys/TEE3/groups", body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == code
        assert any(field in e["field"] for e in refused.json()["errors"]), refused.json()
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 0}
    assert (await admin.get("/v1/group-buys/NOPE")).status_code == 404


async def test_a_seat_is_not_taken_on_a_gateway_payment_that_has_not_come(
    app: FastAPI, admin: Api, db: Database, tenant: TenantHandle
) -> None:
    # WeChat Pay's and Alipay's money comes after the seat, by notification, and nothing pays
    # for a seat: a seat taken on one would be stock, and once the group fills goods, for free.
    app.state.payment_providers["wechat_pay"] = FakeWeChatPay().provider()
    app.state.payment_providers["alipay"] = FakeAlipay().provider()
    world, (c1, _, _) = await setup(admin, db, tenant)
    for method in ("wechat_pay", "alipay"):
        refused = await admin.post("/v1/group-buys/TEE3/groups", seat(c1, method=method))
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        [error] = refused.json()["errors"]
        assert error["field"] == "payment.method"
        assert error["message"].startswith("one of sandbox (")
        assert "notification" in error["message"]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 0}
    taken = await admin.post("/v1/group-buys/TEE3/groups", seat(c1))
    assert taken.status_code == 201, taken.text


async def test_keys_seat_customers_only_within_their_scope(
    admin: Api, db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    world, (c1, c2, _) = await setup(admin, db, tenant)
    analyst = Api(admin.client, await make_key(db, tenant, Role.ANALYST))
    rival = Api(admin.client, other_tenant.admin_key)
    app, store_b = world.keys["app"], world.keys["store_b"]
    assert (
        await app.post("/v1/group-buys/TEE3/groups", seat(c1, channel="pos"))
    ).status_code == 403
    assert (await store_b.post("/v1/group-buys/TEE3/groups", seat(c1))).status_code == 403
    assert (await analyst.post("/v1/group-buys/TEE3/groups", seat(c1))).status_code == 403
    assert (await app.post("/v1/group-buys", campaign(code="MINE"))).status_code == 403
    group = (await app.post("/v1/group-buys/TEE3/groups", seat(c1))).json()["group"]["id"]
    assert (await rival.get(f"/v1/group-buys/groups/{group}")).status_code == 404
    assert (await rival.post(f"/v1/group-buys/groups/{group}/members", seat(c2))).status_code == 404
    assert (await app.get(f"/v1/group-buys/groups/{group}/members")).status_code == 403
    assert (await world.keys["store_b"].post(
        "/v1/group-buys/redemptions", {"location": "ST-A", "code": "12345678"}
    )).status_code == 403  # fmt: skip
    assert (await admin.get(f"/v1/group-buys/groups/{group}")).json()["seats_taken"] == 1


class RefusingSandbox(SandboxProvider):
    def refund(self, *, amount: int, currency: str, provider_ref: str) -> Authorisation:
        return Authorisation(PaymentStatus.DECLINED, provider_ref, "gateway down")


class CountingSandbox(SandboxProvider):
    def __init__(self) -> None:
        super().__init__(SANDBOX_SECRET)
        self.authorised = 0

    def authorise(
        self, *, amount: int, currency: str, reference: str, token: str | None
    ) -> Authorisation:
        self.authorised += 1
        return super().authorise(amount=amount, currency=currency, reference=reference, token=token)


@pytest.mark.pg_only
async def test_fifty_callers_racing_for_the_last_seat_seat_exactly_one(
    admin: Api, db: Database, tenant: TenantHandle, app: FastAPI
) -> None:
    world, ids = await setup(admin, db, tenant, customers_=52)
    sandbox = CountingSandbox()
    app.state.payment_providers["sandbox"] = sandbox
    group = (await admin.post("/v1/group-buys/TEE3/groups", seat(ids[0]))).json()["group"]["id"]
    assert (
        await admin.post(f"/v1/group-buys/groups/{group}/members", seat(ids[1], store="ST-B"))
    ).status_code == 201
    racers = ids[2:]
    results = await asyncio.gather(
        *(admin.post(f"/v1/group-buys/groups/{group}/members", seat(c)) for c in racers)
    )
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1, codes
    assert codes.count(409) == 49, codes
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"group_buy_full"}
    winner = next(r.json()["member"] for r in results if r.status_code == 201)
    seated = await members(admin, group)
    assert [m["customer_id"] for m in seated] == [ids[0], ids[1], winner["customer_id"]]
    assert all(m["status"] == "ordered" for m in seated)
    assert sandbox.authorised == 3  # one authorisation per seat: no loser was charged
    final = (await admin.get(f"/v1/group-buys/groups/{group}")).json()
    assert (final["status"], final["seats_taken"]) == ("filled", 3)
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 2}
    await ledger_clean(db, tenant)


@pytest.mark.pg_only
async def test_a_join_waits_on_the_last_seat_taken_by_an_open_transaction_then_finds_it_full(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    """Deterministic: the first caller has taken the last seat and not committed; the second
    waits on the group row, then finds no seat left (never a second winner)."""
    _, (c1, c2, c3, c4) = await setup(admin, db, tenant, customers_=4)
    group = (await admin.post("/v1/group-buys/TEE3/groups", seat(c1))).json()["group"]["id"]
    assert (await admin.post(f"/v1/group-buys/groups/{group}/members", seat(c2))).status_code == 201
    providers = builtin_providers(SANDBOX_SECRET)

    async def join(customer: str) -> str:
        async with db.uow(tenant.id) as uow:
            taken = await groupbuy.do_join_group(
                uow, group_id=group, seat=SeatIn(**seat(customer)), providers=providers, actor="t"
            )
            return taken.group.status

    first = db.uow(tenant.id)
    async with first as uow:
        taken = await groupbuy.do_join_group(
            uow, group_id=group, seat=SeatIn(**seat(c3)), providers=providers, actor="t"
        )
        assert taken.group.status == "filled"
        second = asyncio.create_task(join(c4))
        await asyncio.sleep(0.3)
        assert not second.done()  # waiting on the row the first transaction updated
    with pytest.raises(groupbuy.GroupFull):
        await second
    assert [m["customer_id"] for m in await members(admin, group)] == [c1, c2, c3]


@pytest.mark.pg_only
async def test_a_join_just_before_the_deadline_is_refunded_with_the_rest(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    """Deterministic: a seat taken (uncommitted) just before the window ends holds the group
    row; the job waits for it, then fails the group and refunds that member too."""
    world, (c1, c2, _) = await setup(admin, db, tenant, group_window_minutes=60)
    group = (await admin.post("/v1/group-buys/TEE3/groups", seat(c1))).json()["group"]["id"]
    providers = builtin_providers(SANDBOX_SECRET)
    closes = dt.datetime.fromisoformat(
        (await admin.get(f"/v1/group-buys/groups/{group}")).json()["closes_at"]
    )
    joining = db.uow(tenant.id)
    async with joining as uow:
        await groupbuy.do_join_group(
            uow,
            group_id=group,
            seat=SeatIn(**seat(c2)),
            providers=providers,
            actor="t",
            now=closes - dt.timedelta(seconds=1),
        )
        job = asyncio.create_task(fail_due_groups_everywhere(db, providers=providers, now=closes))
        await asyncio.sleep(0.3)
        assert not job.done()  # waiting on the group row the join updated
    assert await job == 1
    refunded = await members(admin, group)
    assert [(m["customer_id"], m["refunded_amount"]) for m in refunded] == [
        (c1, GROUP_PRICE),
        (c2, GROUP_PRICE),
    ]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 0}
    await ledger_clean(db, tenant)


async def test_a_filled_groups_order_whose_number_is_taken_is_placed_under_another(
    admin: Api, db: Database, tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, (c1, c2) = await setup(admin, db, tenant, customers_=2, group_size=2)
    earlier = await world.order()
    assert earlier.status_code == 201, earlier.text
    taken = earlier.json()["number"]
    opened = await world.keys["app"].post("/v1/group-buys/TEE3/groups", seat(c1))
    assert opened.status_code == 201, opened.text
    group = opened.json()["group"]["id"]
    # The last seat orders for both members: the second member's number is taken.
    numbers_drawn(monkeypatch, {1: taken})

    last = await world.keys["app"].post(f"/v1/group-buys/groups/{group}/members", seat(c2))

    assert last.status_code == 201, last.text
    assert last.json()["group"]["status"] == "filled"
    placed = [m["order_id"] for m in await members(admin, group)]
    assert None not in placed
    numbers = [(await admin.get(f"/v1/orders/{order}")).json()["number"] for order in placed]
    assert taken not in numbers
    assert len(set(numbers)) == 2
    listed = (await admin.get("/v1/orders")).json()["items"]
    assert len(listed) == 3  # the earlier order and the two members', each once
    await ledger_clean(db, tenant)
