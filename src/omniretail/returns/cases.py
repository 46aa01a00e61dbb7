"""One after-sales desk (no 踢皮球): any channel opens a case on any order of the tenant, owned
by a location, with a timeline of notes; whoever opened it can see it through."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import sqlalchemy as sa

from omniretail.channels import service as channels
from omniretail.db import UnitOfWork, utcnow
from omniretail.errors import Conflict, Forbidden, NotFound, ValidationFailed
from omniretail.events import record_event
from omniretail.network import service as network
from omniretail.orders.access import Caller, check_location, check_order_visible
from omniretail.orders.domain import new_public_id
from omniretail.orders.models import Order
from omniretail.returns.models import Case, CaseNote
from omniretail.returns.schemas import (
    CaseIn,
    CaseNoteIn,
    CaseNoteOut,
    CaseOut,
    CaseStatus,
    CaseType,
)

# A closed case stays closed; a resolved one may be reopened if the customer comes back.
_NEXT = {
    CaseStatus.OPEN: {CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED, CaseStatus.CLOSED},
    CaseStatus.IN_PROGRESS: {CaseStatus.RESOLVED, CaseStatus.CLOSED},
    CaseStatus.RESOLVED: {CaseStatus.OPEN, CaseStatus.CLOSED},
    CaseStatus.CLOSED: set(),
}


class CaseClosed(Conflict):
    code = "case_closed"
    title = "The case is closed"


def case_out(case: Case) -> CaseOut:
    return CaseOut(
        id=case.public_id,
        order_id=case.order_public_id,
        type=CaseType(case.type),
        status=CaseStatus(case.status),
        subject=case.subject,
        opened_channel=case.opened_channel,
        owner_location=case.owner_location,
        return_id=case.return_public_id,
        timeline=[CaseNoteOut.model_validate(n) for n in case.notes],
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


async def _check_location(uow: UnitOfWork, code: str | None) -> None:
    if code is None:
        return
    try:
        await network.location_ref(uow, code)
    except NotFound as exc:
        raise ValidationFailed(
            "unknown location", [{"field": "owner_location", "message": "no such location"}]
        ) from exc


async def do_open_case(
    uow: UnitOfWork, *, data: CaseIn, caller: Caller, now: dt.datetime | None = None
) -> CaseOut:
    """Open a case on an order the caller may see; a store key's cases are its own store's."""
    now = now or utcnow()
    actor = caller.actor
    order = await uow.session.scalar(sa.select(Order).where(Order.public_id == data.order_id))
    if order is None:
        raise NotFound("order", data.order_id)
    check_order_visible(
        order_id=order.public_id, order_channel=order.channel, channels=caller.channels
    )
    await channels.check_channel_exists(uow, data.channel)
    await _check_location(uow, data.owner_location)
    if data.owner_location is not None:
        check_location(data.owner_location, caller_location=caller.location)
    # Default owner: the store asking, else where the order was placed, else the first
    # fulfilling location.
    owner = (
        data.owner_location
        or caller.location
        or order.placed_at_location
        or next((f.location_code for f in order.fulfilments), None)
    )
    case = Case(
        public_id=new_public_id("case"),
        order_id=order.id,
        order_public_id=order.public_id,
        type=data.type.value,
        status=CaseStatus.OPEN.value,
        subject=data.subject,
        opened_channel=data.channel,
        owner_location=owner,
        created_at=now,
    )
    case.notes.append(
        CaseNote(
            author=actor,
            channel=data.channel,
            body=data.note or data.subject,
            status_change=CaseStatus.OPEN.value,
            at=now,
        )
    )
    uow.session.add(case)
    await uow.flush()
    record_event(
        uow,
        "case.opened",
        aggregate_type="case",
        aggregate_id=case.public_id,
        payload={
            "case_id": case.public_id,
            "order_id": order.public_id,
            "type": case.type,
            "owner_location": owner,
            "channel": data.channel,
        },
    )
    return case_out(case)


async def access_case(
    uow: UnitOfWork,
    public_id: str,
    *,
    for_update: bool = False,
    channels: Collection[str] | None = None,
) -> Case:
    """The case, if the caller may see it: a channel key sees cases on its channel's orders."""
    query = sa.select(Case).where(Case.public_id == public_id)
    if channels is not None:
        query = query.join(Order, Order.id == Case.order_id).where(Order.channel.in_(channels))
    if for_update:
        query = query.with_for_update()
    case = await uow.session.scalar(query)
    if case is None:
        raise NotFound("case", public_id)
    return case


async def do_add_case_note(
    uow: UnitOfWork,
    *,
    case_id: str,
    data: CaseNoteIn,
    caller: Caller,
    now: dt.datetime | None = None,
) -> CaseOut:
    """Add to a case's timeline, maybe moving its status or owner. A store key works the
    cases its store owns (and may hand one to another store); others' it can only read."""
    now = now or utcnow()
    actor = caller.actor
    case = await access_case(uow, case_id, for_update=True, channels=caller.channels)
    if caller.location is not None and case.owner_location != caller.location:
        raise Forbidden(f"this key works the cases of {caller.location!r} only")
    status = CaseStatus(case.status)
    if status is CaseStatus.CLOSED:
        raise CaseClosed(f"case {case_id} is closed")
    if data.status is not None and data.status is not status and (data.status not in _NEXT[status]):
        raise Conflict(f"a {status.value} case cannot become {data.status.value}")
    if data.channel is not None:
        await channels.check_channel_exists(uow, data.channel)
    await _check_location(uow, data.owner_location)
    if data.owner_location is not None:
        case.owner_location = data.owner_location
    if data.status is not None:
        case.status = data.status.value
    case.notes.append(
        CaseNote(
            author=actor,
            channel=data.channel,
            body=data.body,
            status_change=data.status.value if data.status else None,
            at=now,
        )
    )
    case.updated_at = now
    await uow.flush()
    record_event(
        uow,
        "case.updated",
        aggregate_type="case",
        aggregate_id=case.public_id,
        payload={
            "case_id": case.public_id,
            "status": case.status,
            "owner_location": case.owner_location,
        },
    )
    return case_out(case)


async def get_case(
    uow: UnitOfWork, public_id: str, *, channels: Collection[str] | None = None
) -> CaseOut:
    return case_out(await access_case(uow, public_id, channels=channels))


async def list_cases(
    uow: UnitOfWork,
    *,
    channels: Collection[str] | None = None,
    order_id: str | None = None,
    owner_location: str | None = None,
    status: CaseStatus | None = None,
    limit: int = 50,
    after: int | None = None,
) -> list[tuple[int, CaseOut]]:
    query = sa.select(Case).order_by(Case.id.desc()).limit(limit + 1)
    if after is not None:
        query = query.where(Case.id < after)
    if channels is not None:
        query = query.join(Order, Order.id == Case.order_id).where(Order.channel.in_(channels))
    if order_id:
        query = query.where(Case.order_public_id == order_id)
    if owner_location:
        query = query.where(Case.owner_location == owner_location)
    if status is not None:
        query = query.where(Case.status == status.value)
    return [(c.id, case_out(c)) for c in await uow.session.scalars(query)]
