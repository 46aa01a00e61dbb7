"""Refunds through remote gateways: recorded with the change that owes them, sent after commit.

A cancellation, a return or a failed group buy decides a refund inside its unit of work,
with rows locked. Calling WeChat Pay or Alipay there would hold those locks (and, on SQLite,
the database's one write lock) for as long as the gateway takes, and a rollback after the
call could not take the money back. So :func:`request_refund` only writes a ``pending`` row
(:class:`GatewayRefund`) in the caller's transaction: a rollback drops it with everything else.

:func:`send_due_refunds` (a worker job) claims due rows by a conditional update committed
before the call (two workers never send the same try), calls the gateway with no transaction
open, and records the outcome in a short transaction of its own. Every try of a refund sends
the same ``out_refund_no``, which the gateways treat as the same refund, so a retry after a
lost answer never pays twice. An answer that does not verify, a timeout or a 5xx is no answer:
the row stays pending, tried again with exponential backoff; after ``MAX_ATTEMPTS`` it is
``failed`` for a person to look at. A refund the gateway accepted but has not finished
(``processing``) is settled by WeChat Pay's refund notification or, failing that, by a query.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from omniretail.db import Database, UnitOfWork, utcnow
from omniretail.events import record_event
from omniretail.payments.gateway import (
    GatewayUnavailable,
    RefundGateway,
    RefundOrder,
    RefundOutcome,
    RefundState,
    http_client,
)
from omniretail.payments.models import GatewayRefund
from omniretail.payments.providers import Authorisation, PaymentProvider, PaymentStatus

log = logging.getLogger("omniretail.payments.refunds")

MAX_ATTEMPTS = 12
# A claimed try that never reports (the worker died mid-call) is retried after the lease.
CLAIM_LEASE = dt.timedelta(minutes=2)
# How long after an accepted refund the gateway is asked how it went, if no notification came.
QUERY_AFTER = dt.timedelta(minutes=2)
CONCURRENCY = 8
OPEN = (RefundState.PENDING.value, RefundState.PROCESSING.value)


def retry_delay(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min ... capped at an hour: twelve tries span about seven hours."""
    return dt.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def new_out_refund_no() -> str:
    # 32 characters of [0-9a-z]: within both gateways' limits (64) and alphabets.
    return "rf" + secrets.token_hex(15)


async def request_refund(
    uow: UnitOfWork,
    provider: PaymentProvider,
    *,
    amount: int,
    total: int,
    currency: str,
    provider_ref: str,
    reason: str,
    now: dt.datetime | None = None,
) -> Authorisation:
    """Refund ``amount`` fen of a payment of ``total`` fen. A gateway's refund is recorded
    here and sent after commit (``pending``, its reference names the refund); any other
    provider refunds at once, as before. Never calls out while the caller's locks are held."""
    if not isinstance(provider, RefundGateway):
        return provider.refund(amount=amount, currency=currency, provider_ref=provider_ref)
    if not 0 < amount <= total:
        raise ValueError(f"a refund of {amount} fen of a payment of {total} fen")
    now = now or utcnow()
    row = GatewayRefund(
        out_refund_no=new_out_refund_no(),
        method=provider.method,
        provider_ref=provider_ref,
        amount=amount,
        total=total,
        currency=currency,
        reason=reason[:80],
        status=RefundState.PENDING.value,
        attempts=0,
        next_attempt_at=now,
    )
    uow.session.add(row)
    return Authorisation(PaymentStatus.PENDING, provider.refund_reference(row.out_refund_no))


@dataclass(frozen=True, slots=True)
class _Claimed:
    tenant_id: int
    row_id: int
    query: bool  # accepted earlier: ask how it went instead of sending it again
    order: RefundOrder
    method: str


async def send_due_refunds(
    db: Database,
    providers: dict[str, PaymentProvider],
    *,
    now: dt.datetime,
    limit: int = 100,
) -> int:
    """Send (or query) every refund due at ``now``; returns how many were settled."""
    async with db.uow(unscoped=True, read_only=True) as uow:
        due = (
            await uow.session.execute(
                sa.select(GatewayRefund.tenant_id, GatewayRefund.id)
                .where(GatewayRefund.status.in_(OPEN), GatewayRefund.next_attempt_at <= now)
                .order_by(GatewayRefund.next_attempt_at, GatewayRefund.id)
                .limit(limit)
            )
        ).all()
    claimed = [c for tenant_id, row_id in due if (c := await _claim(db, tenant_id, row_id, now))]
    if not claimed:
        return 0
    gate = asyncio.Semaphore(CONCURRENCY)
    gateways = [p for p in providers.values() if isinstance(p, RefundGateway)]
    timeout = max((g.timeout_seconds for g in gateways), default=10.0)
    async with http_client(timeout) as client:

        async def send(item: _Claimed) -> RefundOutcome | str:
            gateway = providers.get(item.method)
            if not isinstance(gateway, RefundGateway):
                return f"{item.method} is not configured here"
            # The gateways' timestamps are the wall clock's; ``now`` only says what is due.
            async with gate:
                try:
                    if item.query:
                        return await gateway.query_refund(client, item.order, now=utcnow())
                    return await gateway.send_refund(client, item.order, now=utcnow())
                except GatewayUnavailable as exc:
                    return str(exc)
                except ValueError as exc:  # a request that cannot be built: no retry mends it
                    return RefundOutcome(RefundState.FAILED, message=str(exc))
                except Exception:  # one refund's bug must not lose the others' outcomes
                    log.exception("refund %s: sending failed", item.order.out_refund_no)
                    return "unexpected error while sending (see the logs)"

        outcomes = await asyncio.gather(*(send(item) for item in claimed))
    settled = 0
    for item, outcome in zip(claimed, outcomes, strict=True):
        settled += await _record(db, item, outcome, now)
    return settled


async def _claim(db: Database, tenant_id: int, row_id: int, now: dt.datetime) -> _Claimed | None:
    async with db.uow(tenant_id) as uow:
        claimed = await uow.session.execute(
            sa.update(GatewayRefund)
            .where(
                GatewayRefund.id == row_id,
                GatewayRefund.status.in_(OPEN),
                GatewayRefund.next_attempt_at <= now,
            )
            .values(attempts=GatewayRefund.attempts + 1, next_attempt_at=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None  # another worker has it
        row = await uow.session.get(GatewayRefund, row_id, populate_existing=True)
        assert row is not None
        return _Claimed(
            tenant_id=tenant_id,
            row_id=row.id,
            query=row.status == RefundState.PROCESSING.value,
            method=row.method,
            order=RefundOrder(
                out_refund_no=row.out_refund_no,
                provider_ref=row.provider_ref,
                amount=row.amount,
                total=row.total,
                currency=row.currency,
                reason=row.reason,
            ),
        )


async def _record(
    db: Database, item: _Claimed, outcome: RefundOutcome | str, now: dt.datetime
) -> int:
    async with db.uow(item.tenant_id) as uow:
        row = await uow.session.get(
            GatewayRefund, item.row_id, populate_existing=True, with_for_update=True
        )
        if row is None or row.status not in OPEN:
            return 0  # settled meanwhile (a notification came first)
        if isinstance(outcome, str):
            _retry_later(row, outcome, now)
            return 0
        if outcome.gateway_refund_id:
            row.gateway_refund_id = outcome.gateway_refund_id[:64]
        if outcome.state is RefundState.PENDING:  # the gateway never took it: send it again
            row.status = RefundState.PENDING.value
            _retry_later(row, outcome.message, now)
            return 0
        if outcome.state is RefundState.PROCESSING:
            row.status = RefundState.PROCESSING.value
            row.last_error = None
            _retry_later(row, outcome.message, now, delay=QUERY_AFTER)
            return 0
        _settle(uow, row, outcome.state, outcome.message, now)
        return 1


def _retry_later(
    row: GatewayRefund, error: str, now: dt.datetime, *, delay: dt.timedelta | None = None
) -> None:
    row.last_error = error[:500] or None
    if row.attempts >= MAX_ATTEMPTS:
        log.warning("refund %s given up after %s tries: %s", row.out_refund_no, row.attempts, error)
        row.status = RefundState.FAILED.value
        row.next_attempt_at = None
        row.settled_at = now
        return
    row.next_attempt_at = now + (delay or retry_delay(row.attempts))


def _settle(
    uow: UnitOfWork, row: GatewayRefund, state: RefundState, message: str, now: dt.datetime
) -> None:
    row.status = state.value
    row.next_attempt_at = None
    row.settled_at = now
    if state is RefundState.FAILED:
        row.last_error = message[:500] or "refused by the gateway"
        log.warning("refund %s refused by %s: %s", row.out_refund_no, row.method, message)
    else:
        row.last_error = None
    record_event(
        uow,
        f"payment.refund_{state.value}",
        aggregate_type="payment",
        aggregate_id=row.provider_ref,
        payload={
            "provider_ref": row.provider_ref,
            "out_refund_no": row.out_refund_no,
            "method": row.method,
            "amount": row.amount,
            "currency": row.currency,
            "message": row.last_error,
        },
    )


async def settle_notified_refund(
    db: Database, *, out_refund_no: str, state: RefundState, gateway_refund_id: str
) -> bool:
    """A gateway's verified refund notification: the refund is settled once (a repeat, or a
    notification for a refund already settled by a query, changes nothing). False for a
    refund we never asked for."""
    async with db.uow(unscoped=True, read_only=True) as uow:
        tenant_id = await uow.session.scalar(
            sa.select(GatewayRefund.tenant_id).where(GatewayRefund.out_refund_no == out_refund_no)
        )
    if tenant_id is None:
        return False
    async with db.uow(int(tenant_id)) as uow:
        row = await uow.session.scalar(
            sa.select(GatewayRefund)
            .where(GatewayRefund.out_refund_no == out_refund_no)
            .with_for_update()
        )
        assert row is not None
        if row.status in OPEN:
            row.gateway_refund_id = gateway_refund_id[:64] or row.gateway_refund_id
            _settle(uow, row, state, "notified", utcnow())
    return True
