"""Use cases of outgoing webhooks: subscribe (the URL checked against SSRF, the secret
sealed), list, delete, read the delivery log, and turn our events into deliveries.

Deliveries are made by the outbox handlers (``webhooks.handlers``) in the transaction that
marks the event dispatched, so each event becomes at most one delivery per subscription;
sending them is ``webhooks.delivery``'s job, after commit."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa

from omniretail.connectors.vault import CredentialVault
from omniretail.db import UnitOfWork, dialect_insert, utcnow
from omniretail.errors import Conflict, NotFound, ValidationFailed
from omniretail.scoped import TENANT, tenant_bound
from omniretail.webhooks.addresses import resolve_target
from omniretail.webhooks.domain import DeliveryStatus, WebhookEvent, delivery_body
from omniretail.webhooks.models import WebhookDelivery, WebhookSubscription
from omniretail.webhooks.schemas import DeliveryOut, SubscriptionIn, SubscriptionOut


def subscription_out(row: WebhookSubscription, *, secret: str | None = None) -> SubscriptionOut:
    return SubscriptionOut(
        id=row.public_id,
        url=row.url,
        event_types=[WebhookEvent(t) for t in row.event_types],
        description=row.description,
        created_at=row.created_at,
        secret=secret,
    )


async def do_create_subscription(
    uow: UnitOfWork, *, data: SubscriptionIn, vault: CredentialVault, allow_loopback: bool
) -> SubscriptionOut:
    """Check the URL (http or https, resolving to public addresses only; loopback when the
    install allows it), make a signing secret, store it sealed. The reply is the only place
    the secret ever appears."""
    await resolve_target(data.url, allow_loopback=allow_loopback)
    secret = "whsec_" + secrets.token_urlsafe(32)
    row = WebhookSubscription(
        public_id="whs_" + secrets.token_hex(8),
        url=data.url,
        event_types=sorted({t.value for t in data.event_types}),
        description=data.description,
        secret=vault.seal({"secret": secret}),
        created_at=utcnow(),
    )
    uow.session.add(row)
    await uow.flush()
    return subscription_out(row, secret=secret)


async def access_subscription(uow: UnitOfWork, public_id: str) -> WebhookSubscription:
    """The tenant's live subscription (a deleted or another tenant's one is not found)."""
    row = await uow.session.scalar(
        sa.select(WebhookSubscription).where(
            WebhookSubscription.public_id == public_id,
            WebhookSubscription.deleted_at.is_(None),
        )
    )
    if row is None:
        raise NotFound("webhook subscription", public_id)
    return row


def _int_cursor(after: Any) -> int | None:
    if after is None:
        return None
    if not isinstance(after, int):
        raise ValidationFailed(
            "invalid cursor", [{"field": "cursor", "message": "use next_cursor as given"}]
        )
    return after


async def list_subscriptions(
    uow: UnitOfWork, *, limit: int, after: Any = None
) -> list[tuple[int, SubscriptionOut]]:
    """Live subscriptions, oldest first, each with its cursor value; no secrets."""
    query = (
        sa.select(WebhookSubscription)
        .where(WebhookSubscription.deleted_at.is_(None))
        .order_by(WebhookSubscription.id)
        .limit(limit + 1)
    )
    cursor = _int_cursor(after)
    if cursor is not None:
        query = query.where(WebhookSubscription.id > cursor)
    return [(row.id, subscription_out(row)) for row in await uow.session.scalars(query)]


async def do_delete_subscription(uow: UnitOfWork, *, public_id: str) -> None:
    """Stop sending: the subscription is gone from the API and its pending deliveries are
    cancelled (a try already under way finishes; its outcome is not recorded)."""
    row = await access_subscription(uow, public_id)
    row.deleted_at = utcnow()
    await uow.session.execute(
        sa.update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == row.id,
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
        )
        .values(status=DeliveryStatus.CANCELLED.value, next_attempt_at=None)
    )
    await uow.flush()


class DeliveryNotDead(Conflict):
    code = "webhook_delivery_not_dead"
    title = "Only a dead delivery can be sent again"


async def do_resend_delivery(
    uow: UnitOfWork, *, subscription: WebhookSubscription, delivery_id: int, now: dt.datetime
) -> DeliveryOut:
    """Give a dead delivery (every try failed) a new round of tries, the first one now, with
    the same body and event id (the receiver dedupes by it). 409 for any other status."""
    row = await uow.session.scalar(
        sa.select(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.subscription_id == subscription.id,
        )
        .with_for_update()
    )
    if row is None:
        raise NotFound("webhook delivery", delivery_id)
    if row.status != DeliveryStatus.DEAD.value:
        raise DeliveryNotDead(f"delivery {delivery_id} is {row.status}")
    row.status = DeliveryStatus.PENDING.value
    row.attempts = 0
    row.next_attempt_at = now
    await uow.flush()
    return DeliveryOut.model_validate(row)


async def do_rotate_secret(
    uow: UnitOfWork, *, subscription: WebhookSubscription, vault: CredentialVault
) -> SubscriptionOut:
    """Replace the signing secret. No overlap: every try from now on, pending retries included,
    is signed with the new secret only; a receiver still checking the old one fails those tries,
    and they are retried with backoff (8 tries over hours) until it has the new one. The reply
    is the only place the new secret appears."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    subscription.secret = vault.seal({"secret": secret})
    await uow.flush()
    return subscription_out(subscription, secret=secret)


async def list_deliveries(
    uow: UnitOfWork,
    *,
    subscription: WebhookSubscription,
    status: DeliveryStatus | None = None,
    limit: int,
    after: Any = None,
) -> list[tuple[int, DeliveryOut]]:
    """The delivery log, newest first."""
    query = (
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit + 1)
    )
    cursor = _int_cursor(after)
    if cursor is not None:
        query = query.where(WebhookDelivery.id < cursor)
    if status is not None:
        query = query.where(WebhookDelivery.status == status.value)
    return [(row.id, DeliveryOut.model_validate(row)) for row in await uow.session.scalars(query)]


async def _live_subscriptions(uow: UnitOfWork) -> list[tuple[int, list[str]]]:
    """The tenant's live subscriptions (id, event types), read once per unit of work: the
    dispatcher delivers a group of events in one, and most tenants have none, so the group
    asks once instead of once per event. A subscription made meanwhile gets the events
    delivered after this unit of work, as it would had it been made a moment later."""
    known: list[tuple[int, list[str]]] | None = uow.session.info.get(_SUBSCRIPTIONS)
    if known is None:
        rows = await uow.session.execute(_LIVE_SUBSCRIPTIONS, {TENANT: uow.require_tenant()})
        known = [(row.id, list(row.event_types)) for row in rows]
        uow.session.info[_SUBSCRIPTIONS] = known
    return known


_SUBSCRIPTIONS = "webhook_subscriptions"
_SUBSCRIPTION_TABLE = cast(sa.Table, WebhookSubscription.__table__)
_LIVE_SUBSCRIPTIONS = tenant_bound(
    sa.select(_SUBSCRIPTION_TABLE.c.id, _SUBSCRIPTION_TABLE.c.event_types).where(
        _SUBSCRIPTION_TABLE.c.tenant_id == sa.bindparam(TENANT),
        _SUBSCRIPTION_TABLE.c.deleted_at.is_(None),
    ),
    bind=TENANT,
)


async def do_record_deliveries(
    uow: UnitOfWork,
    *,
    event_type: WebhookEvent,
    events: Sequence[tuple[str, dt.datetime, dict[str, Any]]],
) -> None:
    """One pending delivery per (subscription to ``event_type``, event); ``events`` are
    (event id, time, data). A repeated event id adds nothing."""
    if not events:
        return
    subscriptions = [
        subscription_id
        for subscription_id, event_types in await _live_subscriptions(uow)
        if event_type.value in event_types
    ]
    if not subscriptions:
        return
    tenant_id, now = uow.require_tenant(), utcnow()
    rows = [
        {
            "tenant_id": tenant_id,
            "subscription_id": subscription_id,
            "event_id": event_id,
            "event_type": event_type.value,
            "body": delivery_body(event_id, event_type.value, at, data),
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for subscription_id in subscriptions
        for event_id, at, data in events
    ]
    insert = dialect_insert(uow, WebhookDelivery.__table__).on_conflict_do_nothing(
        index_elements=["subscription_id", "event_id"]
    )
    await uow.session.execute(insert, rows)
