"""Online payments after checkout: what the buyer pays with (the payable payment, for the
gateway's parameters), the provider's signed callback that captures or declines, and the
order left unpaid past its payment window, cancelled with its stock given back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.db import Database, UnitOfWork, utcnow
from omniretail.errors import Conflict, NotFound, ValidationFailed
from omniretail.events import record_event
from omniretail.inventory import reservations
from omniretail.inventory.reservations import ReservationExpired
from omniretail.orders.access import check_order_visible
from omniretail.orders.domain import OrderStatus
from omniretail.orders.fulfilment import do_cancel_order, refresh_order_status
from omniretail.orders.models import Fulfilment, Order, Payment
from omniretail.orders.queries import access_order, order_out
from omniretail.orders.schemas import OrderOut
from omniretail.payments.providers import PaymentProvider, PaymentStatus


class NothingToPay(Conflict):
    code = "nothing_to_pay"
    title = "Nothing to pay with this method"


@dataclass(frozen=True, slots=True)
class Payable:
    """A payment waiting for the buyer: what the gateway is asked to collect."""

    provider_ref: str
    amount: int  # fen
    currency: str
    description: str


async def access_payable(
    uow: UnitOfWork, *, order_id: str, method: str, channels: Collection[str] | None
) -> Payable:
    """The order's payment by ``method`` still waiting for the buyer (404 for an order the
    caller may not see; 409 when the order waits for no such payment)."""
    order = await access_order(uow, order_id)
    check_order_visible(order_id=order_id, order_channel=order.channel, channels=channels)
    pending = [
        p
        for p in order.payments
        if p.method == method and p.status == PaymentStatus.PENDING.value and p.provider_ref
    ]
    if order.status != OrderStatus.PENDING_PAYMENT.value or not pending:
        raise NothingToPay(f"order {order_id} waits for no {method} payment")
    if order.currency != "CNY":
        raise NothingToPay(f"{method} collects CNY, the order is in {order.currency}")
    payment = pending[0]
    return Payable(
        provider_ref=payment.provider_ref or "",
        amount=payment.amount,
        currency=order.currency,
        description=f"Order {order.number}",
    )


async def tenant_of_payment(uow: UnitOfWork, provider_ref: str) -> int:
    """For a callback, which arrives with a provider's signature instead of an API key."""
    tenant_id = await uow.session.scalar(
        sa.select(Payment.tenant_id).where(Payment.provider_ref == provider_ref)
    )
    if tenant_id is None:
        raise NotFound("payment", provider_ref)
    return int(tenant_id)


async def settle_notified_payment(
    db: Database,
    *,
    provider_ref: str,
    status: PaymentStatus,
    amount: int,
    providers: dict[str, PaymentProvider],
) -> OrderOut:
    """A provider's verified notification (a callback carries the provider's signature, not
    an API key): the payment's tenant is found first, then it is settled in that tenant's
    unit of work (:func:`do_settle_payment`). 404 for an unknown payment."""
    async with db.uow(unscoped=True) as uow:
        tenant_id = await tenant_of_payment(uow, provider_ref)
    async with db.uow(tenant_id) as uow:
        order = await do_settle_payment(
            uow, provider_ref=provider_ref, status=status, amount=amount, providers=providers
        )
        return order_out(order)


async def do_settle_payment(
    uow: UnitOfWork,
    *,
    provider_ref: str,
    status: PaymentStatus,
    amount: int,
    providers: dict[str, PaymentProvider],
    now: dt.datetime | None = None,
) -> Order:
    """Apply a provider's verdict once; a repeated callback changes nothing. A capture
    confirms the order's holds (they stop expiring); if a hold already expired and the stock
    is gone, the order is cancelled and the money refunded. A decline cancels the order."""
    now = now or utcnow()
    payment = await uow.session.scalar(
        sa.select(Payment).where(Payment.provider_ref == provider_ref).with_for_update()
    )
    if payment is None:
        raise NotFound("payment", provider_ref)
    if amount != payment.amount:
        raise ValidationFailed(
            "the amount differs from the payment's",
            [{"field": "amount", "message": f"expected {payment.amount}"}],
        )
    order = await uow.session.scalar(
        sa.select(Order).where(Order.id == payment.order_id).with_for_update()
    )
    assert order is not None
    if payment.status != PaymentStatus.PENDING.value:
        return order
    if status is PaymentStatus.DECLINED:
        payment.status = PaymentStatus.DECLINED.value
        await do_cancel_order(
            uow, order_id=order.public_id, actor="payments:declined", providers=providers, now=now
        )
        return order
    payment.status = PaymentStatus.CAPTURED.value
    order.paid_amount += payment.amount
    record_event(
        uow,
        "payment.captured",
        aggregate_type="order",
        aggregate_id=order.public_id,
        payload={"order_id": order.public_id, "method": payment.method, "amount": payment.amount},
    )
    if any(p.status == PaymentStatus.PENDING.value for p in order.payments):
        return order
    if not await _confirm_holds(uow, order, now):
        await do_cancel_order(
            uow,
            order_id=order.public_id,
            actor="payments:stock-expired",
            providers=providers,
            now=now,
        )
        return order
    order.status = OrderStatus.CONFIRMED.value
    await refresh_order_status(uow, order, now=now)
    return order


async def _confirm_holds(uow: UnitOfWork, order: Order, now: dt.datetime) -> bool:
    ids = {
        int(f.reservation_id)
        for f in (
            await uow.session.scalars(sa.select(Fulfilment).where(Fulfilment.order_id == order.id))
        ).all()
        if f.reservation_id
    }
    for reservation_id in sorted(ids):
        try:
            await reservations.do_confirm_reservation(
                uow, reservation_id=reservation_id, reference=order.public_id, now=now
            )
        except ReservationExpired:
            return False
    return True


async def tenants_with_unpaid_orders(uow: UnitOfWork, *, before: dt.datetime) -> list[int]:
    rows = await uow.session.scalars(
        sa.select(Order.tenant_id)
        .where(Order.status == OrderStatus.PENDING_PAYMENT.value, Order.created_at < before)
        .distinct()
    )
    return [int(r) for r in rows]


async def do_cancel_unpaid_orders(
    uow: UnitOfWork,
    *,
    providers: dict[str, PaymentProvider],
    now: dt.datetime | None = None,
    limit: int = 200,
) -> int:
    """Cancel this tenant's orders still unpaid after their payment window (worker job)."""
    now = now or utcnow()
    window = int((await auth.tenant_settings(uow)).get("payment_window_seconds", 900))
    due = (
        await uow.session.scalars(
            sa.select(Order.public_id)
            .where(
                Order.status == OrderStatus.PENDING_PAYMENT.value,
                Order.created_at < now - dt.timedelta(seconds=window),
            )
            .order_by(Order.id)
            .limit(limit)
        )
    ).all()
    for public_id in due:
        await do_cancel_order(
            uow, order_id=public_id, actor="payments:window-closed", providers=providers, now=now
        )
    return len(due)
