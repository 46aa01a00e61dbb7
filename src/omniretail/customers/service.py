"""Use cases of the customers context: the identity graph, the profile and consent.

Customers are addressed by a random public id (``cus_…``). An id that was merged into another
customer keeps resolving to the survivor (:func:`access_customer`), so references held by other
contexts or clients never dangle.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from omniretail.channels import service as channels
from omniretail.customers.domain import (
    IdentityType,
    InvalidIdentity,
    new_public_id,
    normalise_identity,
)
from omniretail.customers.merge import live_customer, merge_rows
from omniretail.customers.models import (
    Consent,
    Customer,
    CustomerChannel,
    CustomerIdentity,
    CustomerMerge,
    CustomerOrder,
)
from omniretail.customers.profile import to_out
from omniretail.customers.schemas import (
    ConsentOut,
    CustomerOut,
    IdentityIn,
    MergeOut,
)
from omniretail.db import UnitOfWork, dialect_insert, utcnow
from omniretail.errors import AlreadyExists, Conflict, NotFound, ValidationFailed
from omniretail.events import record_event

Identity = tuple[IdentityType, str]


class IdentityTaken(AlreadyExists):
    code = "identity_taken"


class CustomerNotFound(NotFound):
    pass


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """What other contexts keep of a customer: the internal id and the public id."""

    id: int
    public_id: str


def check_identities(identities: Sequence[IdentityIn], field: str = "identities") -> list[Identity]:
    """Normalise each identity (E.164 phones, lower-case e-mails); every bad one is listed."""
    out: list[Identity] = []
    errors = []
    for i, item in enumerate(identities):
        try:
            out.append((item.type, normalise_identity(item.type, item.value)))
        except InvalidIdentity as exc:
            errors.append({"field": f"{field}.{i}.value", "message": str(exc)})
    if errors:
        raise ValidationFailed("invalid identity", errors)
    return list(dict.fromkeys(out))


async def access_customer(uow: UnitOfWork, public_id: str) -> Customer:
    """The live customer behind a public id, following merges; another tenant's is not found."""
    customer = await uow.session.scalar(sa.select(Customer).where(Customer.public_id == public_id))
    if customer is not None and customer.merged_into_id is not None:
        customer = await live_customer(uow, customer.merged_into_id)
    if customer is None:
        raise CustomerNotFound("customer", public_id)
    return customer


async def customer_ref(uow: UnitOfWork, public_id: str) -> CustomerRef:
    customer = await access_customer(uow, public_id)
    return CustomerRef(customer.id, customer.public_id)


async def customer_pk(uow: UnitOfWork, public_id: str) -> int:
    """The internal id of exactly this public id, merged or not (for moving data on merge)."""
    pk = await uow.session.scalar(sa.select(Customer.id).where(Customer.public_id == public_id))
    if pk is None:
        raise CustomerNotFound("customer", public_id)
    return int(pk)


async def customer_ref_by_pk(uow: UnitOfWork, pk: int) -> CustomerRef:
    customer = await live_customer(uow, pk)
    if customer is None:
        raise CustomerNotFound("customer", pk)
    return CustomerRef(customer.id, customer.public_id)


async def _insert_identity(
    uow: UnitOfWork, customer_pk: int, identity: Identity, channel: str | None
) -> bool:
    result = await uow.session.execute(
        dialect_insert(uow, CustomerIdentity.__table__)
        .values(
            tenant_id=uow.require_tenant(),
            customer_id=customer_pk,
            type=identity[0].value,
            value=identity[1],
            source_channel=channel,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "type", "value"])
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def _owners(uow: UnitOfWork, identities: Sequence[Identity]) -> dict[Identity, int]:
    if not identities:
        return {}
    condition = sa.or_(
        *(
            sa.and_(CustomerIdentity.type == t.value, CustomerIdentity.value == v)
            for t, v in identities
        )
    )
    rows = await uow.session.execute(
        sa.select(CustomerIdentity.type, CustomerIdentity.value, CustomerIdentity.customer_id)
        .where(condition)
        .execution_options(populate_existing=True)
    )
    return {(IdentityType(t), v): c for t, v, c in rows}


async def touch_channel(uow: UnitOfWork, customer_pk: int, channel: str, at: dt.datetime) -> None:
    """Record that the customer was seen on ``channel`` at ``at`` (channels used, first/last)."""
    table = CustomerChannel.__table__
    insert = dialect_insert(uow, table).values(
        tenant_id=uow.require_tenant(),
        customer_id=customer_pk,
        channel=channel,
        first_seen_at=at,
        last_seen_at=at,
    )
    excluded = insert.excluded
    await uow.session.execute(
        insert.on_conflict_do_update(
            index_elements=["tenant_id", "customer_id", "channel"],
            set_={
                "first_seen_at": sa.case(
                    (excluded.first_seen_at < table.c.first_seen_at, excluded.first_seen_at),
                    else_=table.c.first_seen_at,
                ),
                "last_seen_at": sa.case(
                    (excluded.last_seen_at > table.c.last_seen_at, excluded.last_seen_at),
                    else_=table.c.last_seen_at,
                ),
            },
        )
    )


async def _new_customer(uow: UnitOfWork, *, name: str | None, channel: str | None) -> Customer:
    customer = Customer(public_id=new_public_id(), name=name, created_channel=channel)
    uow.session.add(customer)
    await uow.flush()
    if channel:
        await touch_channel(uow, customer.id, channel, customer.created_at)
    record_event(
        uow,
        "customer.created",
        aggregate_type="customer",
        aggregate_id=customer.public_id,
        payload={"customer_id": customer.public_id, "channel": channel},
    )
    return customer


async def do_create_customer(
    uow: UnitOfWork,
    *,
    identities: Sequence[IdentityIn],
    name: str | None = None,
    channel: str | None = None,
) -> CustomerOut:
    """A new customer; an identity that already belongs to someone is a 409 ``identity_taken``
    naming the owner (use ``resolve`` to find-or-create)."""
    normal = check_identities(identities)
    if channel is not None:
        await channels.check_channel_exists(uow, channel)
    owners = await _owners(uow, normal)
    if owners:
        raise _taken(uow, owners, await _public_ids(uow, set(owners.values())))
    customer = await _new_customer(uow, name=name, channel=channel)
    for identity in normal:
        if not await _insert_identity(uow, customer.id, identity, channel):
            raise Conflict("an identity was registered concurrently; retry")
    return await to_out(uow, customer)


def _taken(uow: UnitOfWork, owners: dict[Identity, int], ids: dict[int, str]) -> IdentityTaken:
    return IdentityTaken(
        "identity already belongs to a customer",
        errors=[
            {"field": "identities", "value": f"{t.value}:{v}", "customer_id": ids[c]}
            for (t, v), c in owners.items()
        ],
    )


async def _public_ids(uow: UnitOfWork, pks: set[int]) -> dict[int, str]:
    rows = await uow.session.execute(
        sa.select(Customer.id, Customer.public_id).where(Customer.id.in_(pks))
    )
    return {pk: public for pk, public in rows}


async def _attach(
    uow: UnitOfWork,
    customer: Customer,
    identities: Sequence[Identity],
    *,
    channel: str | None,
    actor: str,
    reason: str,
) -> Customer:
    """Give ``customer`` these identities; one that belongs to someone else merges them."""
    for identity in identities:
        if await _insert_identity(uow, customer.id, identity, channel):
            continue
        owner = (await _owners(uow, [identity]))[identity]
        if owner != customer.id:
            customer, _ = await merge_rows(
                uow,
                survivor_pk=customer.id,
                absorbed_pk=owner,
                actor=actor,
                reason=f"{reason}: {identity[0].value} {identity[1]}",
            )
    return customer


async def do_resolve_customer(
    uow: UnitOfWork,
    *,
    identities: Sequence[IdentityIn],
    create_if_missing: bool = False,
    channel: str | None = None,
    actor: str = "system",
) -> tuple[CustomerOut, bool]:
    """The one customer behind these identities, and whether it was created now.

    Identities of several customers make them one (the oldest survives); identities nobody has
    yet are linked to it. Nobody at all: created if asked, else ``not_found``.
    """
    if channel is not None:
        await channels.check_channel_exists(uow, channel)
    customer, created = await resolve_customer(
        uow,
        identities=check_identities(identities),
        create_if_missing=create_if_missing,
        channel=channel,
        actor=actor,
    )
    return await to_out(uow, customer), created


async def resolve_customer(
    uow: UnitOfWork,
    *,
    identities: Sequence[Identity],
    create_if_missing: bool,
    channel: str | None,
    actor: str,
    at: dt.datetime | None = None,
) -> tuple[Customer, bool]:
    for _ in range(3):
        owners = await _owners(uow, identities)
        found = sorted(set(owners.values()))
        if not found:
            if not create_if_missing:
                raise CustomerNotFound("customer with identity", identities[0][1])
            fresh = await _create_with(uow, identities, channel)
            if fresh is not None:
                return fresh, True
            continue  # someone registered one of them meanwhile: resolve again
        survivor = await live_customer(uow, found[0])
        assert survivor is not None
        for other in found[1:]:
            survivor, _ = await merge_rows(
                uow,
                survivor_pk=survivor.id,
                absorbed_pk=other,
                actor=actor,
                reason="resolved together by one request's identities",
            )
        missing = [i for i in identities if i not in owners]
        survivor = await _attach(
            uow, survivor, missing, channel=channel, actor=actor, reason="identity resolved"
        )
        if channel:
            await touch_channel(uow, survivor.id, channel, at or utcnow())
        return survivor, False
    raise Conflict("identities changed concurrently; retry")


async def _create_with(
    uow: UnitOfWork, identities: Sequence[Identity], channel: str | None
) -> Customer | None:
    customer = await _new_customer(uow, name=None, channel=channel)
    for identity in identities:
        if not await _insert_identity(uow, customer.id, identity, channel):
            # Lost a race for this identity: undo the fresh customer rather than merge an
            # empty record into the winner.
            await uow.session.execute(
                sa.delete(CustomerIdentity)
                .where(CustomerIdentity.customer_id == customer.id)
                .execution_options(synchronize_session=False)
            )
            await uow.session.execute(
                sa.delete(CustomerChannel)
                .where(CustomerChannel.customer_id == customer.id)
                .execution_options(synchronize_session=False)
            )
            await uow.session.delete(customer)
            await uow.flush()
            return None
    return customer


async def do_link_identity(
    uow: UnitOfWork,
    *,
    customer_id: str,
    identity: IdentityIn,
    channel: str | None = None,
    actor: str = "system",
) -> CustomerOut:
    """Link an identity; if it belongs to another customer, that customer is merged into this
    one (this one survives)."""
    normal = check_identities([identity], field="identity")
    customer = await access_customer(uow, customer_id)
    customer = await _attach(
        uow, customer, normal, channel=channel, actor=actor, reason="identity linked"
    )
    return await to_out(uow, customer, requested=customer_id)


async def do_merge_customers(
    uow: UnitOfWork, *, survivor_id: str, absorbed_id: str, actor: str, reason: str
) -> MergeOut:
    """Merge ``absorbed_id`` into ``survivor_id``: identities, behaviour, orders, channels and
    consents move now; ``customer.merged`` tells other contexts (points, orders) to follow."""
    survivor = await access_customer(uow, survivor_id)
    absorbed = await access_customer(uow, absorbed_id)
    if survivor.id == absorbed.id:
        raise Conflict("these ids are already one customer", survivor_id=survivor.public_id)
    survivor, record = await merge_rows(
        uow, survivor_pk=survivor.id, absorbed_pk=absorbed.id, actor=actor, reason=reason
    )
    if record is None:
        raise Conflict("these ids are already one customer", survivor_id=survivor.public_id)
    return MergeOut(
        survivor_id=survivor.public_id,
        absorbed_id=record.absorbed_public_id,
        actor=record.actor,
        reason=record.reason,
        moved=record.moved,
        merged_at=record.merged_at,
    )


async def list_merges(uow: UnitOfWork, public_id: str) -> list[MergeOut]:
    """Every merge that made this customer, oldest first: the explanation of a merge."""
    customer = await access_customer(uow, public_id)
    rows = await uow.session.scalars(
        sa.select(CustomerMerge)
        .where(CustomerMerge.survivor_id == customer.id)
        .order_by(CustomerMerge.id)
    )
    return [
        MergeOut(
            survivor_id=customer.public_id,
            absorbed_id=row.absorbed_public_id,
            actor=row.actor,
            reason=row.reason,
            moved=row.moved,
            merged_at=row.merged_at,
        )
        for row in rows
    ]


async def get_customer(uow: UnitOfWork, public_id: str) -> CustomerOut:
    """The customer with its profile; a merged id answers with the survivor."""
    customer = await access_customer(uow, public_id)
    return await to_out(uow, customer, requested=public_id, profile=True)


async def do_set_consent(
    uow: UnitOfWork,
    *,
    customer_id: str,
    channel: str,
    granted: bool,
    source: str,
    at: dt.datetime | None = None,
) -> ConsentOut:
    """Record an opt-in or opt-out for one messaging channel, with when and where it came from."""
    customer = await access_customer(uow, customer_id)
    row = await uow.session.scalar(
        sa.select(Consent).where(Consent.customer_id == customer.id, Consent.channel == channel)
    )
    decided = at or utcnow()
    if row is None:
        row = Consent(customer_id=customer.id, channel=channel)
        uow.session.add(row)
    row.granted, row.source, row.decided_at = granted, source, decided
    await uow.flush()
    record_event(
        uow,
        "customer.consent_changed",
        aggregate_type="customer",
        aggregate_id=customer.public_id,
        payload={"customer_id": customer.public_id, "channel": channel, "granted": granted},
    )
    return ConsentOut.model_validate(row)


async def may_send_offer(uow: UnitOfWork, *, customer_id: str, channel: str) -> bool:
    """Whether a marketing message may go to this customer on this messaging channel.

    Anything that sends offers must ask this first. Only an explicit, current opt-in says yes:
    no record, an opt-out or an unknown customer all say no.
    """
    try:
        customer = await access_customer(uow, customer_id)
    except NotFound:
        return False
    granted = await uow.session.scalar(
        sa.select(Consent.granted).where(
            Consent.customer_id == customer.id, Consent.channel == channel
        )
    )
    return granted is True


async def do_record_order(
    uow: UnitOfWork,
    *,
    customer_id: str,
    order_ref: str,
    channel: str,
    location: str | None,
    amount: int,
    at: dt.datetime,
) -> bool:
    """Count a completed order in the profile (spend by channel, LTV, favourite store).

    Idempotent per ``order_ref``: a redelivered ``order.completed`` counts once. Returns whether
    it was new.
    """
    customer = await access_customer(uow, customer_id)
    result = await uow.session.execute(
        dialect_insert(uow, CustomerOrder.__table__)
        .values(
            tenant_id=uow.require_tenant(),
            customer_id=customer.id,
            order_ref=order_ref,
            channel=channel,
            location=location,
            amount=amount,
            completed_at=at,
            returned_value=0,
            returned_amount=0,
            return_refs=[],
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "order_ref"])
    )
    await touch_channel(uow, customer.id, channel, at)
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def do_record_return(
    uow: UnitOfWork, *, order_ref: str, return_ref: str, returned_value: int, order_value: int
) -> bool:
    """Net a return off the order's spend in the profile, in the ratio ``returned_value /
    order_value`` (cumulative, capped at the whole order). Idempotent per ``return_ref``;
    returns whether it counted now."""
    row = await uow.session.scalar(
        sa.select(CustomerOrder)
        .where(CustomerOrder.order_ref == order_ref)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None or order_value <= 0 or return_ref in (row.return_refs or []):
        return False
    row.returned_value = min(order_value, row.returned_value + max(0, returned_value))
    row.returned_amount = row.amount * row.returned_value // order_value
    row.return_refs = [*(row.return_refs or []), return_ref]
    await uow.flush()
    return True
