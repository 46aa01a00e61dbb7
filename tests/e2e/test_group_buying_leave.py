"""Leaving an open group (拼团退团): the member is refunded exactly what they paid, once, their
unit goes back on sale and their seat is free for someone else; a group that filled or failed
cannot be left; scope follows the member's channel and pickup store."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI

from omniretail.auth.domain import Role
from omniretail.db import Database, utcnow
from omniretail.engagement import groupbuy, groupbuy_close
from omniretail.engagement.groupbuy_schemas import SeatIn
from omniretail.jobs import build_jobs
from omniretail.payments.providers import Authorisation, SandboxProvider, builtin_providers
from tests.e2e.test_group_buying import (
    GROUP_PRICE,
    RefusingSandbox,
    events,
    ledger_clean,
    members,
    seat,
    setup,
)
from tests.factories import SANDBOX_SECRET, Api, TenantHandle, make_key


class CountingRefunds(SandboxProvider):
    def __init__(self) -> None:
        super().__init__(SANDBOX_SECRET)
        self.refunded: list[int] = []

    def refund(self, *, amount: int, currency: str, provider_ref: str) -> Authorisation:
        self.refunded.append(amount)
        return super().refund(amount=amount, currency=currency, provider_ref=provider_ref)


def leave_path(group: str, member: str) -> str:
    return f"/v1/group-buys/groups/{group}/members/{member}/leave"


async def test_a_member_leaves_an_open_group_refunded_once_and_the_seat_goes_to_another(
    admin: Api, db: Database, tenant: TenantHandle, app: FastAPI
) -> None:
    world, (c1, c2, c3, c4) = await setup(admin, db, tenant, customers_=4)
    sandbox = CountingRefunds()
    app.state.payment_providers["sandbox"] = sandbox
    group = (await admin.post("/v1/group-buys/TEE3/groups", seat(c1))).json()["group"]["id"]
    joined = (await admin.post(f"/v1/group-buys/groups/{group}/members", seat(c2))).json()
    leaver, code = joined["member"]["id"], joined["member"]["pickup_code"]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 2}

    left = await admin.post(leave_path(group, leaver))
    assert left.status_code == 200, left.text
    assert (left.json()["status"], left.json()["refunded_amount"]) == ("left", GROUP_PRICE)
    assert sandbox.refunded == [GROUP_PRICE]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 1}
    assert (await admin.get(f"/v1/group-buys/groups/{group}")).json()["seats_taken"] == 1

    # Again: the member as it is, no second refund.
    again = await admin.post(leave_path(group, leaver))
    assert (again.status_code, again.json()["status"]) == (200, "left")
    assert sandbox.refunded == [GROUP_PRICE]

    # The same group is closed to the leaver; the seat went back to their campaign limit (1).
    rejoin = await admin.post(f"/v1/group-buys/groups/{group}/members", seat(c2))
    assert (rejoin.status_code, rejoin.json()["code"]) == (409, "group_buy_already_joined")
    assert (await admin.post("/v1/group-buys/TEE3/groups", seat(c2))).status_code == 201

    # Two others fill the group: orders for them and the opener, none for the leaver.
    for customer in (c3, c4):
        taken = await admin.post(f"/v1/group-buys/groups/{group}/members", seat(customer))
        assert taken.status_code == 201, taken.text
    final = (await admin.get(f"/v1/group-buys/groups/{group}")).json()
    assert (final["status"], final["seats_taken"]) == ("filled", 3)
    seated = {m["customer_id"]: m for m in await members(admin, group)}
    assert {c: (m["status"], m["order_id"] is not None) for c, m in seated.items()} == {
        c1: ("ordered", True),
        c2: ("left", False),
        c3: ("ordered", True),
        c4: ("ordered", True),
    }
    # The leaver's code redeems nothing, even now that the group filled.
    refused = await world.keys["store_a"].post(
        "/v1/group-buys/redemptions", {"location": "ST-A", "code": code}
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "group_buy_closed")
    # c1, c3, c4 ordered; c2's new group holds one: 4 reserved of 5, the ledger consistent.
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 4}
    await ledger_clean(db, tenant)
    [event] = await events(db, "groupbuy.left")
    assert (event["member_id"], event["refunded"]) == (leaver, GROUP_PRICE)
    notices = (await admin.get("/v1/messages")).json()["items"]
    assert [m["customer_id"] for m in notices if m["template"] == "group_refunded"] == [c2]


async def test_a_filled_or_failed_group_cannot_be_left_and_a_refused_refund_changes_nothing(
    admin: Api, db: Database, tenant: TenantHandle, app: FastAPI
) -> None:
    world, (c1, c2, c3) = await setup(admin, db, tenant, group_size=2, group_window_minutes=60)
    filled = (await admin.post("/v1/group-buys/TEE3/groups", seat(c1))).json()
    assert (
        await admin.post(f"/v1/group-buys/groups/{filled['group']['id']}/members", seat(c2))
    ).json()["group"]["status"] == "filled"
    refused = await admin.post(leave_path(filled["group"]["id"], filled["member"]["id"]))
    assert (refused.status_code, refused.json()["code"]) == (409, "group_buy_already_filled")
    assert refused.headers["content-type"].startswith("application/problem+json")

    opened = (await admin.post("/v1/group-buys/TEE3/groups", seat(c3))).json()
    group, member = opened["group"]["id"], opened["member"]["id"]
    app.state.payment_providers["sandbox"] = RefusingSandbox(SANDBOX_SECRET)
    stuck = await admin.post(leave_path(group, member))
    assert (stuck.status_code, stuck.json()["code"]) == (409, "group_buy_refund_refused")
    assert [m["status"] for m in await members(admin, group)] == ["held"]
    assert (await admin.get(f"/v1/group-buys/groups/{group}")).json()["seats_taken"] == 1
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 3}

    app.state.payment_providers["sandbox"] = SandboxProvider(SANDBOX_SECRET)
    [job] = [j for j in build_jobs(builtin_providers(SANDBOX_SECRET)) if "group" in j.name]
    assert await job.run(db, utcnow() + dt.timedelta(minutes=61)) == 1
    closed = await admin.post(leave_path(group, member))
    assert (closed.status_code, closed.json()["code"]) == (409, "group_buy_closed")
    unknown = await admin.post(leave_path(group, "gbm_0000000000000000"))
    assert unknown.status_code == 404
    await ledger_clean(db, tenant)


async def test_only_keys_in_the_members_scope_may_make_them_leave(
    admin: Api, db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    world, (c1, c2, _) = await setup(admin, db, tenant)
    opened = (await world.keys["app"].post("/v1/group-buys/TEE3/groups", seat(c1))).json()
    group, member = opened["group"]["id"], opened["member"]["id"]
    analyst = Api(admin.client, await make_key(db, tenant, Role.ANALYST))
    rival = Api(admin.client, other_tenant.admin_key)
    douyin = Api(admin.client, await make_key(db, tenant, Role.CHANNEL, channel="douyin"))
    for api, status in (
        (analyst, 403),
        (douyin, 403),  # another channel's member
        (world.keys["store_b"], 403),  # collecting at ST-A, not ST-B
        (rival, 404),
    ):
        assert (await api.post(leave_path(group, member))).status_code == status
    assert [m["status"] for m in await members(admin, group)] == ["held"]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 1}
    # The member's own channel and pickup store may.
    other = (
        await world.keys["store_a"].post(f"/v1/group-buys/groups/{group}/members", seat(c2))
    ).json()["member"]["id"]
    assert (await world.keys["app"].post(leave_path(group, member))).status_code == 200
    assert (await world.keys["store_a"].post(leave_path(group, other))).status_code == 200


@pytest.mark.pg_only
async def test_twenty_concurrent_leaves_refund_once(
    admin: Api, db: Database, tenant: TenantHandle, app: FastAPI
) -> None:
    world, (c1, c2, _) = await setup(admin, db, tenant)
    sandbox = CountingRefunds()
    app.state.payment_providers["sandbox"] = sandbox
    group = (await admin.post("/v1/group-buys/TEE3/groups", seat(c1))).json()["group"]["id"]
    member = (await admin.post(f"/v1/group-buys/groups/{group}/members", seat(c2))).json()
    results = await asyncio.gather(
        *(admin.post(leave_path(group, member["member"]["id"])) for _ in range(20))
    )
    assert [r.status_code for r in results] == [200] * 20
    assert sandbox.refunded == [GROUP_PRICE]
    assert (await admin.get(f"/v1/group-buys/groups/{group}")).json()["seats_taken"] == 1
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 1}
    assert len(await events(db, "groupbuy.left")) == 1
    await ledger_clean(db, tenant)


async def _join(db: Database, tenant: TenantHandle, group: str, customer: str) -> str:
    async with db.uow(tenant.id) as uow:
        taken = await groupbuy.do_join_group(
            uow,
            group_id=group,
            seat=SeatIn(**seat(customer)),
            providers=builtin_providers(SANDBOX_SECRET),
            actor="t",
        )
        return taken.group.status


@pytest.mark.pg_only
async def test_a_leave_waits_on_the_join_that_fills_the_group_then_is_refused(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    """Deterministic: the last seat is taken (not committed yet); the leave waits on the group
    row, then finds the group filled and the member ordered: never both an order and a refund."""
    _, (c1, c2, c3) = await setup(admin, db, tenant)
    group = (await admin.post("/v1/group-buys/TEE3/groups", seat(c1))).json()["group"]["id"]
    member = (await admin.post(f"/v1/group-buys/groups/{group}/members", seat(c2))).json()
    providers = builtin_providers(SANDBOX_SECRET)

    async def leave() -> Any:
        async with db.uow(tenant.id) as uow:
            return await groupbuy_close.do_leave_group(
                uow,
                group_id=group,
                member_id=member["member"]["id"],
                providers=providers,
                actor="t",
            )

    async with db.uow(tenant.id) as uow:
        taken = await groupbuy.do_join_group(
            uow, group_id=group, seat=SeatIn(**seat(c3)), providers=providers, actor="t"
        )
        assert taken.group.status == "filled"
        leaving = asyncio.create_task(leave())
        await asyncio.sleep(0.3)
        assert not leaving.done()  # waiting on the group row the join updated
    with pytest.raises(groupbuy.GroupAlreadyFilled):
        await leaving
    assert {m["status"] for m in await members(admin, group)} == {"ordered"}
    await ledger_clean(db, tenant)


@pytest.mark.pg_only
async def test_a_join_waits_on_a_leave_then_takes_the_freed_seat_without_filling(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    """Deterministic: a leave holds the group row (not committed yet); the join racing for
    what looked like the last seat waits, then takes the seat the leave freed, and the group
    stays open with one seat left."""
    world, (c1, c2, c3) = await setup(admin, db, tenant)
    group = (await admin.post("/v1/group-buys/TEE3/groups", seat(c1))).json()["group"]["id"]
    member = (await admin.post(f"/v1/group-buys/groups/{group}/members", seat(c2))).json()
    async with db.uow(tenant.id) as uow:
        left = await groupbuy_close.do_leave_group(
            uow,
            group_id=group,
            member_id=member["member"]["id"],
            providers=builtin_providers(SANDBOX_SECRET),
            actor="t",
        )
        assert left.status == "left"
        joining = asyncio.create_task(_join(db, tenant, group, c3))
        await asyncio.sleep(0.3)
        assert not joining.done()  # waiting on the group row the leave locked
    assert await joining == "open"
    final = (await admin.get(f"/v1/group-buys/groups/{group}")).json()
    assert (final["status"], final["seats_taken"]) == ("open", 2)
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 5, "reserved": 2}
    await ledger_clean(db, tenant)
