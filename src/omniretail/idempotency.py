"""Idempotency keys for creating POSTs, stored per tenant and per caller.

The key row is inserted in the same transaction as what the request creates, and carries the
response. A retry with the same key and body replays that response; with another body it is
refused. A concurrent duplicate waits on the key's unique index (PostgreSQL) or on the write lock
(SQLite) and then replays. A request that failed rolled its key back, so it may be retried.

Keys belong to the caller (the API key, or the staff user) that sent them: two POS terminals
may both use key "1", and nobody replays another caller's response. The stored response has
its shown-once secrets (new API keys, pickup codes) nulled: a replay returns the resource
without them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from omniretail.db import (
    Base,
    BigId,
    JsonType,
    TenantScoped,
    UnitOfWork,
    UTCDateTime,
    dialect_insert,
    utcnow,
)
from omniretail.errors import Conflict, IdempotencyKeyReused


class IdempotencyRecord(TenantScoped, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "owner", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner: Mapped[str] = mapped_column(sa.String(64))
    key: Mapped[str] = mapped_column(sa.String(255))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    response: Mapped[Any] = mapped_column(JsonType, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: Any
    replayed: bool


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Same request = same method, path and JSON value (whitespace and key order ignored)."""
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


async def run_idempotent(
    uow: UnitOfWork,
    *,
    key: str | None,
    owner: str,
    request_fingerprint: str,
    create: Callable[[], Awaitable[tuple[int, Any, Any]]],
) -> Outcome:
    """``create`` returns the status, the response body, and the body to keep for replays
    (the response without its shown-once secrets)."""
    if key is None:
        status, body, _ = await create()
        return Outcome(status, body, replayed=False)
    tenant_id = uow.require_tenant()
    inserted = await uow.session.execute(
        dialect_insert(uow, IdempotencyRecord.__table__)
        .values(
            tenant_id=tenant_id,
            owner=owner,
            key=key,
            fingerprint=request_fingerprint,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "owner", "key"])
    )
    mine = (IdempotencyRecord.owner == owner, IdempotencyRecord.key == key)
    if inserted.rowcount == 1:  # type: ignore[attr-defined]
        status, body, kept = await create()
        await uow.session.execute(
            sa.update(IdempotencyRecord).where(*mine).values(status_code=status, response=kept)
        )
        return Outcome(status, body, replayed=False)
    record = await uow.session.scalar(sa.select(IdempotencyRecord).where(*mine))
    if record is None or record.status_code is None:
        raise Conflict("a request with this Idempotency-Key is still in progress")
    if record.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with a different request",
            [{"field": "Idempotency-Key", "message": "reused with another body or path"}],
        )
    return Outcome(record.status_code, record.response, replayed=True)


async def purge_idempotency_keys(uow: UnitOfWork, *, older_than: dt.timedelta) -> int:
    result = await uow.session.execute(
        sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - older_than)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
