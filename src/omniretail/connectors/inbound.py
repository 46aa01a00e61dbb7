"""Messages in: verified on the raw body, deduplicated by message id, stored as received and
acknowledged at once; applying them is the worker's job (``connector.message_received``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

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
from omniretail.db import Database, UnitOfWork, utcnow
from omniretail.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from omniretail.events import record_event
from omniretail.group_commit import group_commit


class SignatureInvalid(Unauthenticated):
    code = "signature_invalid"
    title = "The message signature does not match"


@dataclass(frozen=True, slots=True)
class VerifiedPush:
    """A push whose signature matched, parsed into its messages (repeats within it dropped)."""

    tenant_id: int
    connection_id: int
    public_id: str
    messages: list[PlatformMessage]


async def check_push(
    uow: UnitOfWork,
    *,
    public_id: str,
    platform: Platform,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
    vault: CredentialVault,
) -> VerifiedPush:
    """Find the connection (a push arrives signed instead of with an API key), verify the
    signature on the raw body and parse it. Reads only: an unscoped, read-only unit of work
    will do, so on SQLite this takes no write lock."""
    found = (
        await uow.session.execute(
            sa.select(Connection.id, Connection.tenant_id, Connection.credentials).where(
                Connection.public_id == public_id,
                Connection.platform == platform.name,
                Connection.active.is_(True),
            )
        )
    ).one_or_none()
    if found is None:
        raise NotFound("connection", public_id)
    credentials = vault.open(found.credentials)
    if not platform.verify(headers=headers, query=query, body=body, credentials=credentials):
        raise SignatureInvalid("the message signature does not match")
    try:
        messages = platform.parse(body)
    except MessageUnreadable as exc:
        raise ValidationFailed(str(exc), [{"field": "body", "message": str(exc)}]) from exc
    unique = list({m.msg_id: m for m in reversed(messages)}.values())[::-1]
    return VerifiedPush(int(found.tenant_id), int(found.id), public_id, unique)


_MESSAGES = cast(sa.Table, InboundMessage.__table__)
# Built once per dialect: a plain multi-row INSERT that skips the ORM's unit of work; the
# unique (connection, msg_id) drops a message stored before (or by a concurrent push), and
# RETURNING names only the rows this statement stored.
_STORE = {
    dialect: insert(_MESSAGES)
    .on_conflict_do_nothing(index_elements=["connection_id", "msg_id"])
    .returning(_MESSAGES.c.id, _MESSAGES.c.msg_id)
    for dialect, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


async def do_store_messages(uow: UnitOfWork, push: VerifiedPush) -> int:
    """Store each new message of ``push`` once, with the outbox event that has the worker apply
    it; returns how many were new."""
    if not push.messages:
        return 0
    now = utcnow()
    rows = [_message_row(push, message, now) for message in push.messages]
    stored = {
        msg_id: int(row_id)
        for row_id, msg_id in await uow.session.execute(_STORE[uow.dialect], rows)
    }
    for message in push.messages:
        row_id = stored.get(message.msg_id)
        if row_id is not None and message.action is not Action.IGNORED:
            announce_message(
                uow,
                connection_id=push.connection_id,
                public_id=push.public_id,
                message_id=row_id,
                platform_order_id=message.platform_order_id or message.msg_id,
            )
    return len(stored)


def _message_row(push: VerifiedPush, message: PlatformMessage, now: dt.datetime) -> dict[str, Any]:
    ignored = message.action is Action.IGNORED
    return {
        "tenant_id": push.tenant_id,
        "connection_id": push.connection_id,
        "msg_id": message.msg_id,
        "topic": message.topic,
        "action": message.action.value,
        "platform_order_id": message.platform_order_id,
        "raw": _raw_text(message.raw),
        "parsed": message.as_json(),
        "status": "applied" if ignored else "received",
        "outcome": "not an order event" if ignored else None,
        "order_id": None,
        "received_at": now,
        "applied_at": now if ignored else None,
    }


async def receive_push(
    db: Database,
    *,
    public_id: str,
    platform: Platform,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
    vault: CredentialVault,
) -> tuple[Acknowledgement, int]:
    """Verify, then store each new message once; returns the platform's reply and how many
    messages were new. A bad signature raises before anything is written. The reply is given
    only once the messages are committed (durable before the acknowledgement); concurrent
    pushes to one connection share one short transaction and one commit (group commit), so a
    storm queues on the write lock once per batch, not once per push; on SQLite a batch takes
    its turn with the outbox dispatcher's deliveries instead of polling for the lock."""
    async with db.uow(unscoped=True, read_only=True) as uow:
        push = await check_push(
            uow,
            public_id=public_id,
            platform=platform,
            headers=headers,
            query=query,
            body=body,
            vault=vault,
        )

    async def store(uow: UnitOfWork) -> int:
        return await do_store_messages(uow, push)

    new: int = await group_commit(db, turns=True).run(
        ("connection_messages", push.connection_id), tenant_id=push.tenant_id, work=store
    )
    return platform.acknowledgement(), new


def announce_message(
    uow: UnitOfWork,
    *,
    connection_id: int,
    public_id: str,
    message_id: int,
    platform_order_id: str,
) -> None:
    # One aggregate per platform order: its messages apply in the order they were received.
    record_event(
        uow,
        "connector.message_received",
        aggregate_type="platform_order",
        aggregate_id=f"{connection_id}:{platform_order_id}"[:64],
        payload={"message_id": message_id, "connection_id": public_id},
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
    announce_message(
        uow,
        connection_id=connection.id,
        public_id=connection.public_id,
        message_id=row.id,
        platform_order_id=row.platform_order_id or row.msg_id,
    )
    await uow.flush()
    return message_out(row)
