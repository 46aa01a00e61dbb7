"""Messages in: verified on the raw body, deduplicated by message id, stored as received and
acknowledged at once; applying them is the worker's job (``connector.message_received``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from omniretail.connectors.models import Connection, InboundMessage
from omniretail.connectors.platforms.base import (
    Acknowledgement,
    Action,
    MessageUnreadable,
    Platform,
    PlatformMessage,
)
from omniretail.connectors.schemas import MessageOut
from omniretail.connectors.vault import CredentialVault
from omniretail.db import UnitOfWork, utcnow
from omniretail.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from omniretail.events import record_event


class SignatureInvalid(Unauthenticated):
    code = "signature_invalid"
    title = "The message signature does not match"


async def tenant_of_connection(uow: UnitOfWork, *, platform: str, public_id: str) -> int:
    """For a platform push, which arrives signed instead of with an API key."""
    tenant_id = await uow.session.scalar(
        sa.select(Connection.tenant_id).where(
            Connection.public_id == public_id,
            Connection.platform == platform,
            Connection.active.is_(True),
        )
    )
    if tenant_id is None:
        raise NotFound("connection", public_id)
    return int(tenant_id)


async def do_receive_push(
    uow: UnitOfWork,
    *,
    public_id: str,
    platform: Platform,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
    vault: CredentialVault,
) -> tuple[Acknowledgement, int]:
    """Verify, then store each new message once. Returns the platform's reply and how many
    messages were new. A bad signature raises before anything is written."""
    connection = await uow.session.scalar(
        sa.select(Connection).where(Connection.public_id == public_id)
    )
    if connection is None:
        raise NotFound("connection", public_id)
    credentials = vault.open(connection.credentials)
    if not platform.verify(headers=headers, query=query, body=body, credentials=credentials):
        raise SignatureInvalid("the message signature does not match")
    try:
        messages = platform.parse(body)
    except MessageUnreadable as exc:
        raise ValidationFailed(str(exc), [{"field": "body", "message": str(exc)}]) from exc
    seen = set(
        await uow.session.scalars(
            sa.select(InboundMessage.msg_id).where(
                InboundMessage.connection_id == connection.id,
                InboundMessage.msg_id.in_([m.msg_id for m in messages]),
            )
        )
    )
    new = 0
    for message in messages:
        if message.msg_id in seen:
            continue
        seen.add(message.msg_id)
        if await _store(uow, connection, message):
            new += 1
    return platform.acknowledgement(), new


async def _store(uow: UnitOfWork, connection: Connection, message: PlatformMessage) -> bool:
    ignored = message.action is Action.IGNORED
    row = InboundMessage(
        connection_id=connection.id,
        msg_id=message.msg_id,
        topic=message.topic,
        action=message.action.value,
        platform_order_id=message.platform_order_id,
        raw=_raw_text(message.raw),
        parsed=message.as_json(),
        status="applied" if ignored else "received",
        outcome="not an order event" if ignored else None,
        applied_at=utcnow() if ignored else None,
    )
    try:
        async with uow.session.begin_nested():
            uow.session.add(row)
            await uow.flush()
    except IntegrityError:
        return False  # the same message arrived concurrently; the other request stored it
    if not ignored:
        announce_message(uow, connection, row)
    return True


def announce_message(uow: UnitOfWork, connection: Connection, row: InboundMessage) -> None:
    # One aggregate per platform order: its messages apply in the order they were received.
    record_event(
        uow,
        "connector.message_received",
        aggregate_type="platform_order",
        aggregate_id=f"{connection.id}:{row.platform_order_id or row.msg_id}"[:64],
        payload={"message_id": row.id, "connection_id": connection.public_id},
    )


def _raw_text(raw: dict[str, Any]) -> str:
    return json.dumps(raw, ensure_ascii=False, sort_keys=True)


def message_out(row: InboundMessage) -> MessageOut:
    return MessageOut(
        id=row.id,
        msg_id=row.msg_id,
        topic=row.topic,
        action=row.action,
        platform_order_id=row.platform_order_id,
        status=row.status,
        outcome=row.outcome,
        order_id=row.order_id,
        received_at=row.received_at,
        applied_at=row.applied_at,
    )


async def list_messages(
    uow: UnitOfWork, *, connection: Connection, status: str | None, limit: int, after: Any
) -> list[MessageOut]:
    query = (
        sa.select(InboundMessage)
        .where(InboundMessage.connection_id == connection.id)
        .order_by(InboundMessage.id)
        .limit(limit + 1)
    )
    if status is not None:
        query = query.where(InboundMessage.status == status)
    if isinstance(after, int) and not isinstance(after, bool) and 0 <= after < 2**63:
        query = query.where(InboundMessage.id > after)
    elif after is not None:
        raise ValidationFailed("invalid cursor", [{"field": "cursor", "message": "use as given"}])
    return [message_out(row) for row in await uow.session.scalars(query)]


class MessageNotParked(Conflict):
    code = "message_not_parked"
    title = "Only a parked message can be retried"


async def do_retry_message(
    uow: UnitOfWork, *, connection: Connection, message_id: int
) -> MessageOut:
    """Put a parked message back in the queue (after the mapping or stock was fixed)."""
    row = await uow.session.scalar(
        sa.select(InboundMessage)
        .where(InboundMessage.id == message_id, InboundMessage.connection_id == connection.id)
        .with_for_update()
    )
    if row is None:
        raise NotFound("message", message_id)
    if row.status != "parked":
        raise MessageNotParked(f"message {message_id} is {row.status}")
    row.status = "received"
    row.outcome = None
    announce_message(uow, connection, row)
    await uow.flush()
    return message_out(row)
