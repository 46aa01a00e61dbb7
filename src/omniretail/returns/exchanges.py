"""Exchanges: a return and a new order at the price difference, in one transaction."""

from __future__ import annotations

import datetime as dt

from omniretail.auth import service as auth
from omniretail.db import UnitOfWork, utcnow
from omniretail.orders import checkout, pricing_port
from omniretail.orders.access import Caller
from omniretail.orders.checkout import PaymentMismatch
from omniretail.orders.schemas import OrderIn, PaymentIn
from omniretail.payments.providers import PaymentProvider
from omniretail.returns import service
from omniretail.returns.schemas import ExchangeIn, ExchangeOut, ReturnIn


async def do_exchange(
    uow: UnitOfWork,
    *,
    data: ExchangeIn,
    caller: Caller,
    providers: dict[str, PaymentProvider],
    now: dt.datetime | None = None,
) -> ExchangeOut:
    """The returned goods' money value pays for the new goods (``exchange_credit``); the
    customer pays any difference with ``new_order.payments``, or gets the rest refunded to the
    original tenders. Points spent on the old order come back as points, as in any return.
    Everything or nothing: stock, refunds, points and the new order commit together."""
    now = now or utcnow()
    checkout.check_client_payments(
        data.new_order.payments, providers, field_prefix="new_order.payments"
    )
    opened = await service.do_create_return(
        uow,
        data=ReturnIn(
            order_id=data.order_id,
            channel=data.channel,
            lines=data.lines,
            courier_pickup={"lat": 0.0, "lng": 0.0},
        ),  # received just below, at data.location
        actor=caller.actor,
        caller_location=caller.location,
        caller_channels=caller.channels,
        providers=providers,
        now=now,
    )
    ret = await service.access_return(uow, opened.id, for_update=True)
    order = await service.order_of(uow, ret)
    # The return above was opened as a courier pick-up, which names no store: the store that
    # takes the goods back is checked here, as for any return received at a store.
    rules = service.return_rules(await auth.tenant_settings(uow))
    await service.check_receiving_location(uow, data.location, order, rules, caller.location)
    new = data.new_order
    quote = await pricing_port.price_cart(
        uow,
        channel=data.channel,
        customer_id=order.customer_id,
        location=new.fulfillment.location,
        lines=[(x.sku, x.qty) for x in new.lines],
        coupon_codes=(),
    )
    credit = min(service.money_refundable(ret, order), quote.total)
    restocked, points = await service.receive(
        uow,
        ret,
        order,
        data.location,
        actor=caller.actor,
        providers=providers,
        now=now,
        keep_as_credit=credit,
    )
    credit_tender = [PaymentIn(method="exchange_credit", amount=credit)] if credit else []
    try:
        placed = await checkout.do_place_order(
            uow,
            data=OrderIn(
                channel=data.channel,
                customer_id=order.customer_id,
                lines=new.lines,
                fulfillment=new.fulfillment,
                payments=list(new.payments),
                attributed_staff=new.attributed_staff,
            ),
            caller=caller,
            providers=providers,
            internal_payments=credit_tender,
            now=now,
        )
    except PaymentMismatch as exc:
        due = int(exc.extra.get("amount_due", 0)) - credit
        raise PaymentMismatch(
            f"the returned goods cover {credit}; pay {due} more",
            [{"field": "new_order.payments", "message": f"must add up to {due}"}],
            amount_due=due,
        ) from exc
    difference = sum(p.amount for p in new.payments)
    return ExchangeOut(
        returned=service.return_out(ret, restocked, points),
        order=placed,
        credit=credit,
        difference_paid=difference,
        refunded=sum(r.amount for r in ret.refunds),
    )
