"""Checkout on SQLite: the read-only work before the write lock, the writers served in turn.

SQLite has one writer at a time, and a unit of work takes the write lock at its first
statement (``BEGIN IMMEDIATE``), so a checkout used to hold it through pricing and sourcing.
With eight clients the waiters' busy-wait back-off let newcomers overtake a waiter that had
slept long: a p99 of seconds against a p50 of tens of milliseconds.

Here the API first prices and plans the order in a read-only unit of work (a WAL snapshot:
readers never wait for the writer), then waits for its turn (a FIFO queue per process), takes
the write lock and confirms in a few indexed reads that what it read still holds: the prices,
products, promotions, the customer's tier and the tenant's settings unchanged, the chosen
locations still under their daily capacity. Holds re-check the stock themselves (conditional
updates) and re-plan when a unit went in between. When anything moved, the checkout does its
work under the lock, as it always did. PostgreSQL has row locks, not one writer: none of this
applies there.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import weakref
from collections.abc import AsyncIterator
from typing import Any

from omniretail.auth import service as auth
from omniretail.db import Database, UnitOfWork, utcnow
from omniretail.errors import DomainError
from omniretail.network import service as network
from omniretail.orders import checkout, planning, pricing_port, routing
from omniretail.orders.checkout import Prepared
from omniretail.orders.domain import Mode
from omniretail.orders.planning import Draft
from omniretail.orders.schemas import OrderIn

_turns: weakref.WeakKeyDictionary[Database, asyncio.Lock] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def write_turn(db: Database) -> AsyncIterator[None]:
    """On SQLite, checkouts of this process take the write lock one after the other, in the
    order they asked (asyncio locks are FIFO); on PostgreSQL, nothing."""
    if not db.is_sqlite:
        yield
        return
    lock = _turns.setdefault(db, asyncio.Lock())
    async with lock:
        yield


async def prepare_order(
    uow: UnitOfWork, *, data: OrderIn, now: dt.datetime | None = None
) -> Prepared | None:
    """Price and plan the order without writing. None when that cannot be done now (a bad
    reference, no stock, ...): the checkout under the lock then finds and reports it."""
    now = now or utcnow()
    lines = [(line.sku, line.qty) for line in data.lines]
    try:
        tenant, customer_id, version = await _terms_and_version(uow, data)
        quote = await pricing_port.price_cart(
            uow,
            channel=data.channel,
            customer_id=customer_id,
            location=data.fulfillment.location,
            lines=lines,
            coupon_codes=data.coupon_codes,
        )
        if data.fulfillment.mode is Mode.IN_STORE:
            # The till's location, found by pricing (remembered for the unit of work): its id
            # does not change, so the write needs no look-up.
            location = data.fulfillment.location
            assert location is not None
            ids = {location: (await network.location_ref(uow, location))[0]}
            return Prepared(quote=quote, version=version, location_ids=ids)
        draft = Draft(public_id="")
        await planning.plan_lines(
            uow, data, draft, now=now, timezone=tenant.timezone, settings=tenant.settings
        )
    except DomainError:
        return None
    return Prepared(
        quote=quote,
        version=version,
        plan=draft.plan,
        transfers=draft.transfers,
        sourcing=draft.sourcing,
        location_ids=draft.location_ids,
    )


# The tenant's terms and what the prepared work depends on (the prices, products and
# promotions of the cart) in ONE statement, read before the lock and again under it.
_TERMS_AND_VERSION = auth.terms_statement(*pricing_port.VERSION_COLUMNS)


async def _terms_and_version(
    uow: UnitOfWork, data: OrderIn
) -> tuple[auth.TenantTerms, str | None, tuple[Any, ...]]:
    """The tenant's terms, the customer, and what the prepared work depends on: the pricing
    inputs (the cart's prices and products, the promotions, the customer's tier) and the
    tenant's settings. Raises as checkout would for an unknown customer."""
    tenant, prices = await auth.tenant_terms_with(
        uow,
        _TERMS_AND_VERSION,
        **pricing_port.version_parameters([line.sku for line in data.lines]),
    )
    customer_id = await checkout._customer(uow, data.customer_id)
    tier = await pricing_port.customer_tier(uow, customer_id)
    return tenant, customer_id, (*prices, tier, json.dumps(tenant.settings, sort_keys=True))


async def confirm(
    uow: UnitOfWork, prepared: Prepared, *, data: OrderIn, now: dt.datetime | None = None
) -> Prepared | None:
    """Under the write lock: the prepared work if it still holds; without its plan if a
    chosen location reached its capacity meanwhile; None if the prices may have moved."""
    now = now or utcnow()
    tenant, _, version = await _terms_and_version(uow, data)
    if version != prepared.version:
        return None
    if prepared.plan is None:
        return prepared
    chosen = {code for code, _, _ in prepared.plan} | {t["location"] for t in prepared.transfers}
    capacities = await network.daily_capacities(uow, chosen)
    if capacities:
        load = await routing.orders_today(uow, capacities, now=now, timezone=tenant.timezone)
        if any(load.get(loc, 0) >= cap for loc, cap in capacities.items()):
            return dataclasses.replace(prepared, plan=None, transfers=[], sourcing={})
    return prepared
