"""Group buying (拼团) with in-store redemption.

A customer opens a group of a campaign, or joins an open one, through any channel: the seat is
taken by one conditional update (a seat left, the group open, its window not ended), the unit
is held at the chosen pickup store and the group price is authorised through the payment
provider, all in the caller's transaction. The join that takes the last seat fills the group:
each member's hold is turned into an order for pickup at their store through checkout, paid by
their held payment, whose pickup fulfilment carries the code the member was given when they
joined. Before that the code is refused at the counter. A group whose window ends unfilled is
failed by the worker (``groupbuy_close``): every member refunded their payment in full, their
stock released."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.channels import service as channels
from omniretail.customers import service as customers
from omniretail.db import UnitOfWork, dialect_insert, utcnow
from omniretail.engagement import messages
from omniretail.engagement.domain import MEDIUM_PREFERENCE
from omniretail.engagement.groupbuy_campaigns import access_group_buy
from omniretail.engagement.groupbuy_domain import (
    GroupStatus,
    MemberStatus,
    campaign_running,
    group_closes_at,
    new_group_id,
    new_member_id,
)
from omniretail.engagement.groupbuy_models import (
    GroupBuy,
    GroupBuyGroup,
    GroupBuyMember,
    GroupBuySeats,
)
from omniretail.engagement.groupbuy_schemas import (
    GroupOut,
    MemberOut,
    SeatIn,
    SeatOut,
)
from omniretail.errors import Conflict, NotFound, ValidationFailed
from omniretail.events import record_event
from omniretail.inventory import reservations
from omniretail.inventory.positions import StockLine
from omniretail.network import service as network
from omniretail.orders import checkout, pickup
from omniretail.orders.access import Caller
from omniretail.orders.domain import Mode, new_pickup_code, pickup_code_digest
from omniretail.orders.schemas import FulfilmentIn, LineIn, OrderIn, PaymentIn
from omniretail.payments.gateway import GatewayTender
from omniretail.payments.providers import Authorisation, PaymentProvider, PaymentStatus

OPEN_GROUPS_SHOWN = 50


class GroupFull(Conflict):
    code = "group_buy_full"
    title = "The group is full"


class GroupClosed(Conflict):
    code = "group_buy_closed"
    title = "The group or campaign is closed"


class SeatLimitReached(Conflict):
    code = "group_buy_limit_reached"
    title = "The customer holds as many seats as the campaign allows"


class AlreadyInGroup(Conflict):
    code = "group_buy_already_joined"
    title = "The customer is already in this group"


class GroupAlreadyFilled(Conflict):
    code = "group_buy_already_filled"
    title = "The group has already filled"


class GroupNotComplete(Conflict):
    code = "group_buy_not_complete"
    title = "The group is not complete yet"


class HeldPayment:
    """A member's payment, authorised when the seat was taken, as the tender of their order:
    captured with the authorisation's reference (no second charge); a later refund of the
    order goes to the provider that took it."""

    online = False
    in_person = False
    internal = True

    def __init__(self, provider: PaymentProvider, provider_ref: str) -> None:
        self.method = provider.method
        self._provider = provider
        self._ref = provider_ref

    def authorise(
        self, *, amount: int, currency: str, reference: str, token: str | None
    ) -> Authorisation:
        return Authorisation(PaymentStatus.CAPTURED, self._ref)

    def refund(self, *, amount: int, currency: str, provider_ref: str) -> Authorisation:
        return self._provider.refund(amount=amount, currency=currency, provider_ref=provider_ref)


def _holds_a_seat(provider: PaymentProvider) -> bool:
    """A seat is held on an authorisation its provider gives at once. A gateway's
    (WeChat Pay, Alipay) is only pending until the buyer pays and the gateway notifies us,
    and nothing pays for a seat or tells a member's payment apart from an order's: taken on
    it, the seat, its stock and, once the group fills, its goods would be had for nothing."""
    return not (provider.internal or provider.in_person or isinstance(provider, GatewayTender))


# --- groups and seats --------------------------------------------------------------------------


def _group_out(group: GroupBuyGroup, campaign: str) -> GroupOut:
    return GroupOut(
        id=group.public_id,
        campaign=campaign,
        status=GroupStatus(group.status),
        size=group.size,
        seats_taken=group.seats_taken,
        seats_left=group.size - group.seats_taken,
        opened_at=group.opened_at,
        closes_at=group.closes_at,
        settled_at=group.settled_at,
    )


def member_out(member: GroupBuyMember, group_id: str, code: str | None = None) -> MemberOut:
    return MemberOut(
        id=member.public_id,
        group_id=group_id,
        customer_id=member.customer_id,
        channel=member.channel,
        pickup_location=member.location,
        status=MemberStatus(member.status),
        amount=member.amount,
        payment_method=member.payment_method,
        payment_ref=member.payment_ref,
        refunded_amount=member.refunded_amount,
        order_id=member.order_id,
        pickup_code=code,
    )


async def _group(uow: UnitOfWork, group_id: str) -> tuple[GroupBuyGroup, GroupBuy]:
    row = (
        await uow.session.execute(
            sa.select(GroupBuyGroup, GroupBuy)
            .join(GroupBuy, GroupBuy.id == GroupBuyGroup.campaign_id)
            .where(GroupBuyGroup.public_id == group_id)
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise NotFound("group", group_id)
    return row[0], row[1]


async def get_group(uow: UnitOfWork, group_id: str) -> GroupOut:
    group, campaign = await _group(uow, group_id)
    return _group_out(group, campaign.code)


async def list_open_groups(uow: UnitOfWork, code: str, *, now: dt.datetime) -> list[GroupOut]:
    """The campaign's groups a customer could join now, those closing soonest first (what a
    channel shows as "join a group" instead of opening one)."""
    campaign = await access_group_buy(uow, code)
    rows = await uow.session.scalars(
        sa.select(GroupBuyGroup)
        .where(
            GroupBuyGroup.campaign_id == campaign.id,
            GroupBuyGroup.status == GroupStatus.OPEN.value,
            GroupBuyGroup.closes_at > now,
        )
        .order_by(GroupBuyGroup.closes_at, GroupBuyGroup.id)
        .limit(OPEN_GROUPS_SHOWN)
    )
    return [_group_out(g, campaign.code) for g in rows]


async def list_groups(
    uow: UnitOfWork, code: str, *, limit: int, after: str | None = None
) -> list[GroupOut]:
    """Every group of the campaign, whatever its status, newest first (``after``: the last
    group id of the previous page): head office's view in the console."""
    campaign = await access_group_buy(uow, code)
    query = sa.select(GroupBuyGroup).where(GroupBuyGroup.campaign_id == campaign.id)
    if after:
        before = await uow.session.scalar(
            sa.select(GroupBuyGroup.id).where(GroupBuyGroup.public_id == after)
        )
        if before is not None:
            query = query.where(GroupBuyGroup.id < before)
    rows = await uow.session.scalars(query.order_by(GroupBuyGroup.id.desc()).limit(limit))
    return [_group_out(g, campaign.code) for g in rows]


async def group_counts(uow: UnitOfWork) -> dict[str, dict[str, int]]:
    """Per campaign code, its groups by status (one grouped read)."""
    rows = await uow.session.execute(
        sa.select(GroupBuy.code, GroupBuyGroup.status, sa.func.count())
        .join(GroupBuyGroup, GroupBuyGroup.campaign_id == GroupBuy.id)
        .group_by(GroupBuy.code, GroupBuyGroup.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for code, status, n in rows:
        counts.setdefault(str(code), {})[str(status)] = int(n)
    return counts


async def list_members(uow: UnitOfWork, group_id: str) -> list[MemberOut]:
    group, _ = await _group(uow, group_id)
    return [member_out(m, group.public_id) for m in await members_of(uow, group.id)]


async def members_of(uow: UnitOfWork, group_pk: int) -> Sequence[GroupBuyMember]:
    return (
        await uow.session.scalars(
            sa.select(GroupBuyMember)
            .where(GroupBuyMember.group_id == group_pk)
            .order_by(GroupBuyMember.id)
        )
    ).all()


async def do_open_group(
    uow: UnitOfWork,
    *,
    code: str,
    seat: SeatIn,
    providers: dict[str, PaymentProvider],
    actor: str,
    now: dt.datetime | None = None,
) -> SeatOut:
    """Open a group of the campaign with the customer in its first seat (see
    :func:`do_join_group` for what taking a seat means). 409 ``group_buy_closed`` outside the
    campaign's window."""
    now = now or utcnow()
    campaign = await access_group_buy(uow, code)
    if not campaign_running(now, starts_at=campaign.starts_at, ends_at=campaign.ends_at):
        raise GroupClosed(f"group buy {code!r} runs {campaign.starts_at} to {campaign.ends_at}")
    await _check_seat(uow, campaign, seat, providers)
    group = GroupBuyGroup(
        public_id=new_group_id(),
        campaign_id=campaign.id,
        status=GroupStatus.OPEN.value,
        size=campaign.group_size,
        seats_taken=0,
        opened_at=now,
        closes_at=group_closes_at(
            now, window_minutes=campaign.group_window_minutes, campaign_ends_at=campaign.ends_at
        ),
    )
    uow.session.add(group)
    await uow.flush()
    record_event(
        uow,
        "groupbuy.opened",
        aggregate_type="group_buy",
        aggregate_id=group.public_id,
        payload={
            "group_id": group.public_id,
            "campaign": campaign.code,
            "sku": campaign.sku,
            "size": group.size,
            "channel": seat.channel,
            "closes_at": group.closes_at.isoformat(),
        },
    )
    return await _take_seat(uow, group, campaign, seat, providers, actor=actor, now=now)


async def do_join_group(
    uow: UnitOfWork,
    *,
    group_id: str,
    seat: SeatIn,
    providers: dict[str, PaymentProvider],
    actor: str,
    now: dt.datetime | None = None,
) -> SeatOut:
    """Take a seat in an open group: the customer's seat in the campaign is counted against
    its per-customer limit (409 ``group_buy_limit_reached``), the seat is taken by one
    conditional update (409 ``group_buy_full`` or ``group_buy_closed`` when none is left:
    of callers racing for the last seat exactly one wins), a unit is held at the pickup store
    (409 ``insufficient_stock``) and the group price authorised (409 ``payment_declined``).
    Any refusal leaves nothing taken, held or charged. The member's pickup code is in the
    answer, once. Taking the last seat fills the group (:func:`_fill`)."""
    now = now or utcnow()
    group, campaign = await _group(uow, group_id)
    await _check_seat(uow, campaign, seat, providers)
    return await _take_seat(uow, group, campaign, seat, providers, actor=actor, now=now)


async def _check_seat(
    uow: UnitOfWork, campaign: GroupBuy, seat: SeatIn, providers: dict[str, PaymentProvider]
) -> None:
    """Everything about the request that needs no lock: 422 naming each bad field."""
    errors = []
    try:
        await channels.channel_ref(uow, seat.channel)
    except NotFound:
        errors.append({"field": "channel", "message": f"no channel {seat.channel!r}"})
    try:
        await customers.customer_ref(uow, seat.customer_id)
    except NotFound:
        errors.append({"field": "customer_id", "message": "no such customer"})
    if seat.pickup_location not in campaign.pickup_locations:
        errors.append(
            {
                "field": "pickup_location",
                "message": f"one of {', '.join(campaign.pickup_locations)}",
            }
        )
    provider = providers.get(seat.payment.method)
    if provider is None or not _holds_a_seat(provider):
        usable = sorted(m for m, p in providers.items() if _holds_a_seat(p))
        message = f"one of {', '.join(usable)}"
        if isinstance(provider, GatewayTender):
            message += f" ({provider.method}'s money comes after the seat, by notification)"
        errors.append({"field": "payment.method", "message": message})
    if errors:
        raise ValidationFailed("the seat cannot be taken as asked", errors)
    if seat.payment.amount != campaign.group_price:
        raise checkout.PaymentMismatch(
            f"the group price is {campaign.group_price}",
            [{"field": "payment.amount", "message": f"must be {campaign.group_price}"}],
            amount_due=campaign.group_price,
        )


async def _claim_customer_seat(uow: UnitOfWork, campaign: GroupBuy, customer_id: str) -> None:
    await uow.session.execute(
        dialect_insert(uow, GroupBuySeats.__table__)
        .values(
            tenant_id=uow.require_tenant(),
            campaign_id=campaign.id,
            customer_id=customer_id,
            seats=0,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "campaign_id", "customer_id"])
    )
    claimed = await uow.session.execute(
        sa.update(GroupBuySeats)
        .where(
            GroupBuySeats.campaign_id == campaign.id,
            GroupBuySeats.customer_id == customer_id,
            GroupBuySeats.seats < campaign.per_customer_limit,
        )
        .values(seats=GroupBuySeats.seats + 1)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise SeatLimitReached(
            f"at most {campaign.per_customer_limit} seat(s) per customer in {campaign.code!r}",
            limit=campaign.per_customer_limit,
        )


async def _claim_group_seat(uow: UnitOfWork, group: GroupBuyGroup, now: dt.datetime) -> int:
    """The seat number taken, by one conditional update; raises when none is left."""
    taken = (
        await uow.session.execute(
            sa.update(GroupBuyGroup)
            .where(
                GroupBuyGroup.id == group.id,
                GroupBuyGroup.status == GroupStatus.OPEN.value,
                GroupBuyGroup.seats_taken < GroupBuyGroup.size,
                GroupBuyGroup.closes_at > now,
            )
            .values(seats_taken=GroupBuyGroup.seats_taken + 1)
            .returning(GroupBuyGroup.seats_taken)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if taken is not None:
        return int(taken[0])
    status, seats, size = (
        await uow.session.execute(
            sa.select(GroupBuyGroup.status, GroupBuyGroup.seats_taken, GroupBuyGroup.size).where(
                GroupBuyGroup.id == group.id
            )
        )
    ).one()
    if status == GroupStatus.OPEN.value and seats < size:
        raise GroupClosed(f"group {group.public_id} closed at {group.closes_at.isoformat()}")
    if status == GroupStatus.FAILED.value:
        raise GroupClosed(f"group {group.public_id} did not fill in time")
    raise GroupFull(f"group {group.public_id} has no seat left", group_id=group.public_id)


async def _take_seat(
    uow: UnitOfWork,
    group: GroupBuyGroup,
    campaign: GroupBuy,
    seat: SeatIn,
    providers: dict[str, PaymentProvider],
    *,
    actor: str,
    now: dt.datetime,
) -> SeatOut:
    customer_id = (await customers.customer_ref(uow, seat.customer_id)).public_id
    # The customer's counter row first: it also serialises one customer's joins.
    await _claim_customer_seat(uow, campaign, customer_id)
    if await uow.session.scalar(
        sa.select(GroupBuyMember.id).where(
            GroupBuyMember.group_id == group.id, GroupBuyMember.customer_id == customer_id
        )
    ):
        raise AlreadyInGroup(f"{customer_id} holds or held a seat in {group.public_id}")
    seat_number = await _claim_group_seat(uow, group, now)
    member_id = new_member_id()
    location_id, _ = await network.location_ref(uow, seat.pickup_location)
    held = await reservations.do_reserve(
        uow,
        lines=[StockLine(sku=campaign.sku, location=seat.pickup_location, qty=1)],
        ttl_seconds=None,
        actor=actor,
        reference=member_id,
        channel=seat.channel,
        now=now,
    )
    tenant = await auth.get_tenant(uow)
    provider = providers[seat.payment.method]
    authorised = provider.authorise(
        amount=seat.payment.amount,
        currency=tenant.currency,
        reference=member_id,
        token=seat.payment.token,
    )
    if authorised.status is PaymentStatus.DECLINED:
        raise checkout.PaymentDeclined(
            authorised.message or "the payment was declined", method=seat.payment.method
        )
    code = new_pickup_code()
    member = GroupBuyMember(
        public_id=member_id,
        group_id=group.id,
        customer_id=customer_id,
        channel=seat.channel,
        location=seat.pickup_location,
        location_id=location_id,
        amount=seat.payment.amount,
        payment_method=provider.method,
        payment_ref=authorised.provider_ref,
        reservation_id=held.id,
        pickup_code_digest=pickup_code_digest(uow.require_tenant(), location_id, code),
        status=MemberStatus.HELD.value,
        refunded_amount=0,
        joined_at=now,
    )
    uow.session.add(member)
    await uow.flush()
    record_event(
        uow,
        "groupbuy.joined",
        aggregate_type="group_buy",
        aggregate_id=group.public_id,
        payload={
            "group_id": group.public_id,
            "campaign": campaign.code,
            "member_id": member_id,
            "customer_id": customer_id,
            "channel": seat.channel,
            "location": seat.pickup_location,
            "amount": member.amount,
            "seat": seat_number,
            "size": group.size,
        },
    )
    if seat_number == group.size:
        await _fill(uow, group, campaign, providers, now=now)
    group, _ = await _group(uow, group.public_id)  # its seats and status as they are now
    return SeatOut(
        group=_group_out(group, campaign.code), member=member_out(member, group.public_id, code)
    )


async def _fill(
    uow: UnitOfWork,
    group: GroupBuyGroup,
    campaign: GroupBuy,
    providers: dict[str, PaymentProvider],
    *,
    now: dt.datetime,
) -> None:
    """Every member's hold becomes an order for pickup at their store, paid by their held
    payment, handed over with their code; all in the transaction that took the last seat."""
    await uow.session.execute(
        sa.update(GroupBuyGroup)
        .where(GroupBuyGroup.id == group.id)
        .values(status=GroupStatus.FILLED.value, settled_at=now)
        .execution_options(synchronize_session=False)
    )
    actor = f"group-buy:{group.public_id}"
    orders = []
    for member in await members_of(uow, group.id):
        if member.status != MemberStatus.HELD.value:
            continue  # left while the group was open: refunded already
        # Released and held again by checkout in one transaction: nobody can take it between.
        await reservations.do_release_reservation(
            uow, reservation_id=member.reservation_id, actor=actor, now=now
        )
        order = await checkout.do_place_order(
            uow,
            data=OrderIn(
                channel=member.channel,
                customer_id=member.customer_id,
                lines=[LineIn(sku=campaign.sku, qty=1)],
                fulfillment=FulfilmentIn(mode=Mode.PICKUP, location=member.location),
            ),
            caller=Caller(actor=actor),
            providers={
                **providers,
                member.payment_method: HeldPayment(
                    providers[member.payment_method], member.payment_ref
                ),
            },
            internal_payments=[PaymentIn(method=member.payment_method, amount=member.amount)],
            now=now,
            fixed_prices=checkout.FixedPrices(
                prices={campaign.sku: campaign.group_price},
                reason=f"group-buy:{campaign.code}",
                title=campaign.title,
            ),
            pickup_code_digest=member.pickup_code_digest,
        )
        member.order_id = order.id
        member.status = MemberStatus.ORDERED.value
        await notify_member(
            uow,
            customer_id=member.customer_id,
            template="group_formed",
            params={"order": order.number, "store": member.location},
            dedupe_key=f"group:{member.public_id}:formed",
        )
        orders.append({"member_id": member.public_id, "order_id": order.id})
    record_event(
        uow,
        "groupbuy.filled",
        aggregate_type="group_buy",
        aggregate_id=group.public_id,
        payload={
            "group_id": group.public_id,
            "campaign": campaign.code,
            "orders": orders,
            "filled_at": now.isoformat(),
        },
    )


async def notify_member(
    uow: UnitOfWork, *, customer_id: str, template: str, params: dict[str, str], dedupe_key: str
) -> None:
    """A service notice (no consent needed) on the first medium the customer can be reached
    on, queued once per key; a customer with no reachable identity gets none."""
    customer = await customers.get_customer(uow, customer_id)
    held = {i.type.value for i in customer.identities}
    medium = next((m for m in MEDIUM_PREFERENCE if m.identity_type in held), None)
    if medium is not None:
        await messages.do_queue_message(
            uow,
            customer_id=customer_id,
            medium=medium,
            template_code=template,
            params=params,
            dedupe_key=dedupe_key,
        )


# --- redemption at the store ---------------------------------------------------------------------


async def check_code_redeemable(
    uow: UnitOfWork, *, location: str, code: str, key_id: int | None, now: dt.datetime
) -> None:
    """Before the counter hands anything over: a group-buy code whose group has not filled is
    refused (409 ``group_buy_not_complete``; ``group_buy_closed`` when it failed and was
    refunded). Any other code is left to the pickup check."""
    location_id, _ = await network.location_ref(uow, location)
    await pickup.check_attempts(uow, location_id, key_id, now)
    digest = pickup_code_digest(uow.require_tenant(), location_id, code)
    found = (
        await uow.session.execute(
            sa.select(GroupBuyGroup.status, GroupBuyMember.status)
            .join(GroupBuyMember, GroupBuyMember.group_id == GroupBuyGroup.id)
            .where(
                GroupBuyMember.location_id == location_id,
                GroupBuyMember.pickup_code_digest == digest,
            )
        )
    ).first()
    status, member_status = found if found is not None else (None, None)
    if member_status == MemberStatus.LEFT.value:
        raise GroupClosed("the member left the group; the payment was refunded")
    if status == GroupStatus.OPEN.value:
        raise GroupNotComplete("the group has seats left: the code is redeemable once it fills")
    if status == GroupStatus.FAILED.value:
        raise GroupClosed("the group did not fill; the payment was refunded")
