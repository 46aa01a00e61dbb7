"""Outbound messages: queue one (consent checked for marketing), deliver due ones through the
medium's sender with retries and exponential backoff, list them.

Delivery is at least once per attempt window and safe in several workers: a message is
claimed by a conditional update (attempts + 1, next try pushed a lease ahead), sent after that
commit, and its outcome recorded in a second transaction; a worker that dies mid-send leaves
the claim to expire and the message is tried again."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from omniretail.customers import service as customers
from omniretail.db import Database, UnitOfWork, dialect_insert, utcnow
from omniretail.engagement.domain import (
    CLAIM_LEASE,
    MAX_ATTEMPTS,
    MEDIUM_PREFERENCE,
    Medium,
    MessageStatus,
    TemplateError,
    render,
    retry_delay,
    template,
)
from omniretail.engagement.models import OutboundMessage
from omniretail.engagement.schemas import OutboundMessageOut
from omniretail.engagement.senders import Sender, SendFailed
from omniretail.errors import Conflict, NotFound, ValidationFailed

log = logging.getLogger("omniretail.engagement")


class NoConsent(Conflict):
    code = "no_consent"
    title = "The customer has not agreed to offers on this channel"


def to_out(row: OutboundMessage) -> OutboundMessageOut:
    return OutboundMessageOut(
        id=row.public_id,
        customer_id=row.customer_id,
        medium=Medium(row.medium),
        template=row.template,
        locale=row.locale,
        marketing=row.marketing,
        status=MessageStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        provider_ref=row.provider_ref,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


async def do_queue_message(
    uow: UnitOfWork,
    *,
    customer_id: str,
    medium: Medium,
    template_code: str,
    params: Mapping[str, str],
    locale: str = "zh-CN",
    dedupe_key: str | None = None,
    not_before: dt.datetime | None = None,
) -> OutboundMessageOut:
    """Queue a message for the sender of ``medium``. A marketing template needs the customer's
    current opt-in for that medium (``NoConsent`` otherwise). With ``dedupe_key`` the same key
    queues once: a second call returns the first message unchanged."""
    try:
        tpl = template(template_code)
        render(template_code, locale, dict(params))
    except TemplateError as exc:
        raise ValidationFailed(str(exc), [{"field": "template", "message": str(exc)}]) from exc
    customer = await customers.customer_ref(uow, customer_id)
    if tpl.marketing and not await customers.may_send_offer(
        uow, customer_id=customer.public_id, channel=medium.consent_channel
    ):
        raise NoConsent(
            f"no opt-in for {medium.consent_channel!r} offers", channel=medium.consent_channel
        )
    now = utcnow()
    values: dict[str, Any] = {
        "tenant_id": uow.require_tenant(),
        "public_id": "msg_" + secrets.token_hex(10),
        "customer_id": customer.public_id,
        "medium": medium.value,
        "template": template_code,
        "locale": locale,
        "params": dict(params),
        "marketing": tpl.marketing,
        "dedupe_key": dedupe_key,
        "status": MessageStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": max(not_before or now, now),
        "created_at": now,
    }
    insert = dialect_insert(uow, OutboundMessage.__table__).values(**values)
    if dedupe_key is not None:
        insert = insert.on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
    await uow.session.execute(insert)
    query = sa.select(OutboundMessage).execution_options(populate_existing=True)
    if dedupe_key is not None:
        query = query.where(OutboundMessage.dedupe_key == dedupe_key)
    else:
        query = query.where(OutboundMessage.public_id == values["public_id"])
    row = (await uow.session.scalars(query)).one()
    return to_out(row)


async def get_message(uow: UnitOfWork, message_id: str) -> OutboundMessageOut:
    row = await uow.session.scalar(
        sa.select(OutboundMessage).where(OutboundMessage.public_id == message_id)
    )
    if row is None:
        raise NotFound("message", message_id)
    return to_out(row)


async def list_messages(
    uow: UnitOfWork,
    *,
    limit: int,
    after: int | None = None,
    customer_id: str | None = None,
    status: MessageStatus | None = None,
) -> list[tuple[int, OutboundMessageOut]]:
    """Newest first, each with its cursor value; one query."""
    query = sa.select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(limit + 1)
    if after is not None:
        query = query.where(OutboundMessage.id < after)
    if customer_id is not None:
        ref = await customers.customer_ref(uow, customer_id)
        query = query.where(OutboundMessage.customer_id == ref.public_id)
    if status is not None:
        query = query.where(OutboundMessage.status == status.value)
    return [(row.id, to_out(row)) for row in await uow.session.scalars(query)]


@dataclass(frozen=True, slots=True)
class _Claimed:
    tenant_id: int
    message_id: int
    public_id: str
    medium: Medium
    attempts: int
    address: str | None
    text: str
    refusal: str | None  # why it must not be sent at all


async def _address(uow: UnitOfWork, customer_id: str, medium: Medium) -> str | None:
    customer = await customers.get_customer(uow, customer_id)
    for identity in reversed(customer.identities):
        if identity.type.value == medium.identity_type:
            return identity.value
    return None


async def _claim(
    db: Database, tenant_id: int, message_id: int, now: dt.datetime
) -> _Claimed | None:
    async with db.uow(tenant_id) as uow:
        claimed = await uow.session.execute(
            sa.update(OutboundMessage)
            .where(
                OutboundMessage.id == message_id,
                OutboundMessage.status == MessageStatus.PENDING.value,
                OutboundMessage.next_attempt_at <= now,
            )
            .values(attempts=OutboundMessage.attempts + 1, next_attempt_at=now + CLAIM_LEASE)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None  # another worker has it
        row = await uow.session.get(OutboundMessage, message_id, populate_existing=True)
        assert row is not None
        medium = Medium(row.medium)
        refusal = None
        if row.marketing and not await customers.may_send_offer(
            uow, customer_id=row.customer_id, channel=medium.consent_channel
        ):
            refusal = "consent withdrawn before sending"
        address = await _address(uow, row.customer_id, medium)
        if address is None:
            refusal = refusal or f"the customer has no {medium.identity_type} to send to"
        return _Claimed(
            tenant_id=tenant_id,
            message_id=row.id,
            public_id=row.public_id,
            medium=medium,
            attempts=row.attempts,
            address=address,
            text=render(row.template, row.locale, dict(row.params)),
            refusal=refusal,
        )


async def _record(db: Database, claim: _Claimed, values: dict[str, Any]) -> None:
    async with db.uow(claim.tenant_id) as uow:
        await uow.session.execute(
            sa.update(OutboundMessage)
            .where(OutboundMessage.id == claim.message_id)
            .values(**values)
        )


async def _deliver_one(
    db: Database, senders: Mapping[Medium, Sender], claim: _Claimed, now: dt.datetime
) -> bool:
    if claim.refusal is not None or claim.address is None:
        await _record(
            db, claim, {"status": MessageStatus.FAILED.value, "last_error": claim.refusal}
        )
        return False
    try:
        ref = await senders[claim.medium].send(
            message_id=claim.public_id, address=claim.address, text=claim.text
        )
    except SendFailed as exc:
        gave_up = claim.attempts >= MAX_ATTEMPTS
        await _record(
            db,
            claim,
            {
                "status": (MessageStatus.FAILED if gave_up else MessageStatus.PENDING).value,
                "next_attempt_at": now + retry_delay(claim.attempts),
                "last_error": str(exc)[:500],
            },
        )
        return False
    await _record(
        db,
        claim,
        {
            "status": MessageStatus.SENT.value,
            "provider_ref": ref,
            "sent_at": now,
            "last_error": None,
        },
    )
    return True


async def deliver_due_messages(
    db: Database,
    senders: Mapping[Medium, Sender],
    *,
    now: dt.datetime | None = None,
    limit: int = 200,
) -> int:
    """Send the messages whose time has come, in every tenant; returns how many were sent."""
    when = now or utcnow()
    async with db.uow(unscoped=True) as uow:
        due = (
            await uow.session.execute(
                sa.select(OutboundMessage.tenant_id, OutboundMessage.id)
                .where(
                    OutboundMessage.status == MessageStatus.PENDING.value,
                    OutboundMessage.next_attempt_at <= when,
                )
                .order_by(OutboundMessage.next_attempt_at, OutboundMessage.id)
                .limit(limit)
            )
        ).all()
    sent = 0
    for tenant_id, message_id in due:
        claim = await _claim(db, tenant_id, message_id, when)
        if claim is not None and await _deliver_one(db, senders, claim, when):
            sent += 1
    return sent


async def count_offers(uow: UnitOfWork, *, customer_id: str, since: dt.datetime) -> int:
    """Marketing messages queued for a customer since ``since`` (not failed): the frequency
    cap counts these."""
    count = await uow.session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboundMessage)
        .where(
            OutboundMessage.customer_id == customer_id,
            OutboundMessage.marketing.is_(True),
            OutboundMessage.created_at >= since,
            OutboundMessage.status != MessageStatus.FAILED.value,
        )
    )
    return int(count or 0)


async def reachable_medium(uow: UnitOfWork, customer_id: str) -> Medium | None:
    """The preferred medium on which the customer both agreed to offers and can be reached."""
    customer = await customers.get_customer(uow, customer_id)
    held = {i.type.value for i in customer.identities}
    for medium in MEDIUM_PREFERENCE:
        if medium.identity_type in held and await customers.may_send_offer(
            uow, customer_id=customer_id, channel=medium.consent_channel
        ):
            return medium
    return None
