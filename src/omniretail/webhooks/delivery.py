"""Sending webhook deliveries: claim the due ones, POST them signed, record the outcome.

Safe in several workers at once, like outbound messages: a delivery is claimed by a
conditional update (attempts + 1, next try pushed a lease ahead) and committed before it is
sent, so two workers never send the same try; a worker that dies mid-send leaves the claim to
expire and the delivery is tried again (at least once: receivers dedupe on the event id).
A 2xx answer is success; anything else (another status, a timeout, a refused address) is a
failed try, retried with exponential backoff until ``MAX_ATTEMPTS``, then dead."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass

import httpx
import sqlalchemy as sa

from omniretail.config import Settings
from omniretail.connectors.vault import CredentialVault
from omniretail.db import Database
from omniretail.webhooks.addresses import WebhookUrlRefused, resolve_target
from omniretail.webhooks.domain import (
    CLAIM_LEASE,
    MAX_ATTEMPTS,
    DeliveryStatus,
    retry_delay,
    signature,
)
from omniretail.webhooks.models import WebhookDelivery, WebhookSubscription

log = logging.getLogger("omniretail.webhooks")

USER_AGENT = "Omniretail-Webhooks/1"
# Sends in flight at once per pass: one slow receiver must not hold up the others.
CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class WebhookSender:
    """How this install sends: the keys that open secrets, whether loopback receivers are
    allowed (tests and the demo), and how long a receiver may take to answer."""

    vault: CredentialVault
    allow_loopback: bool = False
    timeout_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookSender:
        return cls(
            vault=CredentialVault.from_setting(settings.connector_keys),
            allow_loopback=settings.webhooks_allow_loopback,
            timeout_seconds=settings.webhook_timeout_seconds,
        )


@dataclass(frozen=True, slots=True)
class _Claimed:
    tenant_id: int
    delivery_id: int
    event_id: str
    event_type: str
    url: str
    secret: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class _Outcome:
    delivered: bool
    response_code: int | None = None
    error: str | None = None


async def deliver_due_webhooks(
    db: Database, sender: WebhookSender, *, now: dt.datetime, limit: int = 200
) -> int:
    """Try every pending delivery due at ``now`` (up to ``limit``); returns how many were
    delivered."""
    async with db.uow(unscoped=True, read_only=True) as uow:
        due = (
            await uow.session.execute(
                sa.select(WebhookDelivery.tenant_id, WebhookDelivery.id)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PENDING.value,
                    WebhookDelivery.next_attempt_at <= now,
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
            )
        ).all()
    claimed = [
        c for tenant_id, delivery_id in due if (c := await _claim(db, tenant_id, delivery_id, now))
    ]
    if not claimed:
        return 0
    gate = asyncio.Semaphore(CONCURRENCY)

    async def send(item: _Claimed) -> _Outcome:
        async with gate:
            return await _send(client, item, sender)

    async with httpx.AsyncClient(
        timeout=sender.timeout_seconds, follow_redirects=False, trust_env=False
    ) as client:
        outcomes = await asyncio.gather(*(send(item) for item in claimed))
    for item, outcome in zip(claimed, outcomes, strict=True):
        await _record(db, item, outcome, now)
    return sum(1 for outcome in outcomes if outcome.delivered)


async def _claim(
    db: Database, tenant_id: int, delivery_id: int, now: dt.datetime
) -> _Claimed | None:
    async with db.uow(tenant_id) as uow:
        claimed = await uow.session.execute(
            sa.update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == DeliveryStatus.PENDING.value,
                WebhookDelivery.next_attempt_at <= now,
            )
            .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=now + CLAIM_LEASE)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None  # another worker has it
        row = await uow.session.get(WebhookDelivery, delivery_id, populate_existing=True)
        assert row is not None
        subscription = await uow.session.get(WebhookSubscription, row.subscription_id)
        assert subscription is not None
        return _Claimed(
            tenant_id=tenant_id,
            delivery_id=row.id,
            event_id=row.event_id,
            event_type=row.event_type,
            url=subscription.url,
            secret=subscription.secret,  # still sealed: opened only to sign
            body=row.body.encode(),
        )


async def _send(client: httpx.AsyncClient, item: _Claimed, sender: WebhookSender) -> _Outcome:
    try:
        secret = str(sender.vault.open(item.secret or "")["secret"])
    except Exception:
        return _Outcome(False, error="the signing secret cannot be opened with the configured keys")
    try:
        target = await resolve_target(item.url, allow_loopback=sender.allow_loopback)
    except WebhookUrlRefused as exc:
        return _Outcome(False, error=exc.detail[:500])
    timestamp = int(time.time())
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Omni-Event-Id": item.event_id,
        "X-Omni-Event-Type": item.event_type,
        "X-Omni-Timestamp": str(timestamp),
        "X-Omni-Signature": signature(secret, timestamp, item.body),
    }
    request = client.build_request(
        "POST",
        target.pinned_url,
        content=item.body,
        headers=headers,
        extensions={"sni_hostname": target.server_name},
    )
    try:
        # Streamed and closed unread: a receiver cannot make us buffer a large answer.
        response = await client.send(request, stream=True)
        await response.aclose()
    except httpx.HTTPError as exc:
        return _Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= response.status_code < 300:
        return _Outcome(True, response_code=response.status_code)
    return _Outcome(
        False, response_code=response.status_code, error=f"answered {response.status_code}"
    )


async def _record(db: Database, item: _Claimed, outcome: _Outcome, now: dt.datetime) -> None:
    async with db.uow(item.tenant_id) as uow:
        row = await uow.session.get(WebhookDelivery, item.delivery_id, populate_existing=True)
        if row is None or row.status != DeliveryStatus.PENDING.value:
            return  # cancelled meanwhile (its subscription was deleted)
        row.response_code = outcome.response_code
        row.last_error = outcome.error
        if outcome.delivered:
            row.status = DeliveryStatus.DELIVERED.value
            row.delivered_at = now
            row.next_attempt_at = None
        elif row.attempts >= MAX_ATTEMPTS:
            row.status = DeliveryStatus.DEAD.value
            row.next_attempt_at = None
            log.warning(
                "webhook delivery %s dead after %s tries",
                row.id,
                row.attempts,
                extra={"delivery": row.id, "event_id": row.event_id},
            )
        else:
            row.next_attempt_at = now + retry_delay(row.attempts)
