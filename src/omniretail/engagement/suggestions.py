"""Reading the pair counts: a SKU's pairings, and the guide screen's suggestions for a customer
(pairings of what they bought or looked at lately, in stock at the store, ranked).

A suggestion is a handful of indexed reads, whatever the history: the customer's recent signals,
the pairings of those SKUs summed and ranked in the database, one stock read for the candidates
at the one store, one catalogue read for their titles and prices."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import sqlalchemy as sa

from omniretail.catalog import service as catalog
from omniretail.customers import service as customers
from omniretail.db import UnitOfWork
from omniretail.engagement.domain import (
    PAIRINGS_PER_BASIS,
    SIGNAL_WEIGHT,
    SUGGESTION_BASIS,
    SUGGESTION_CANDIDATES,
    Signal,
)
from omniretail.engagement.models import ItemPair, ItemSignal
from omniretail.engagement.schemas import PairingOut, SkuPairingsOut, SuggestionOut, SuggestionsOut
from omniretail.errors import NotFound
from omniretail.inventory import positions
from omniretail.network import service as network

_WEIGHT = sa.case(
    *((ItemPair.kind == kind.value, weight) for kind, weight in SIGNAL_WEIGHT.items()), else_=0
)
_SCORE = sa.func.sum(ItemPair.customers * _WEIGHT)


def _count_of(kind: Signal) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((ItemPair.kind == kind.value, ItemPair.customers), else_=0))


async def _stock_at(
    uow: UnitOfWork, location: str | None, skus: list[str]
) -> dict[str, int] | None:
    if location is None:
        return None
    await network.location_ref(uow, location)
    return await positions.available_at(uow, location, skus)


async def sku_pairings(
    uow: UnitOfWork, *, sku: str, location: str | None = None, limit: int = 20
) -> SkuPairingsOut:
    """The SKUs bought or looked at together with ``sku``, best first (co-purchases weigh
    three times a co-view); with ``location``, only those available there (> 0)."""
    variants = await catalog.variants_by_sku(uow, [sku])
    if sku not in variants:
        raise NotFound("sku", sku)
    rows = (
        await uow.session.execute(
            sa.select(
                ItemPair.other,
                _SCORE.label("score"),
                _count_of(Signal.BOUGHT).label("bought"),
                _count_of(Signal.LOOKED).label("looked"),
            )
            .where(ItemPair.sku == sku)
            .group_by(ItemPair.other)
            .order_by(sa.desc("score"), ItemPair.other)
            .limit(SUGGESTION_CANDIDATES if location else limit)
        )
    ).all()
    stock = await _stock_at(uow, location, [r.other for r in rows])
    if stock is not None:
        rows = [r for r in rows if stock.get(r.other, 0) > 0]
    rows = rows[:limit]
    info = await catalog.variants_by_sku(uow, [r.other for r in rows])
    return SkuPairingsOut(
        sku=sku,
        location=location,
        items=[
            PairingOut(
                sku=r.other,
                title=info[r.other].title if r.other in info else None,
                score=int(r.score),
                co_purchase=int(r.bought),
                co_view=int(r.looked),
                available=None if stock is None else stock.get(r.other, 0),
            )
            for r in rows
        ],
    )


async def recent_basis(uow: UnitOfWork, owner: str) -> list[str]:
    """The customer's most recent signals' SKUs, newest first."""
    rows = await uow.session.execute(
        sa.select(ItemSignal.sku, sa.func.max(ItemSignal.last_at).label("at"))
        .where(ItemSignal.customer_id == owner)
        .group_by(ItemSignal.sku)
        .order_by(sa.desc("at"), ItemSignal.sku)
        .limit(SUGGESTION_BASIS)
    )
    return [r.sku for r in rows]


def _strongest(basis: list[str]) -> sa.Subquery:
    """Each basis SKU's :data:`PAIRINGS_PER_BASIS` strongest pairings of each kind, read from
    the top of the (sku, kind, customers) index: bounded work for a SKU paired with thousands."""
    parts = [
        sa.select(ItemPair.other, ItemPair.kind, ItemPair.customers)
        .where(ItemPair.sku == sku, ItemPair.kind == kind.value)
        # No tie-break: reading stops at the limit instead of sorting every tie.
        .order_by(ItemPair.customers.desc())
        .limit(PAIRINGS_PER_BASIS)
        .subquery()
        .select()
        for sku in basis
        for kind in Signal
    ]
    return sa.union_all(*parts).subquery("strongest")


class Ranked(NamedTuple):
    other: str
    score: int


async def ranked_pairings(
    uow: UnitOfWork, *, owner: str, basis: list[str], limit: int
) -> list[Ranked]:
    """The SKUs paired with ``basis`` (each basis SKU's strongest pairings), their scores
    summed, best first (ties by SKU); never one ``owner`` bought. Rows of (other, score)."""
    if not basis:
        return []
    bought = sa.select(ItemSignal.sku).where(
        ItemSignal.customer_id == owner, ItemSignal.kind == Signal.BOUGHT.value
    )
    top = _strongest(basis)
    weight = sa.case(*((top.c.kind == kind.value, w) for kind, w in SIGNAL_WEIGHT.items()), else_=0)
    score = sa.func.sum(top.c.customers * weight).label("score")
    rows = await uow.session.execute(
        sa.select(top.c.other, score)
        .where(top.c.other.not_in(bought.scalar_subquery()))
        .group_by(top.c.other)
        .order_by(sa.desc("score"), top.c.other)
        .limit(limit)
    )
    return [Ranked(str(other), int(total)) for other, total in rows]


async def _because(
    uow: UnitOfWork, basis: list[str], chosen: Iterable[str]
) -> dict[str, list[str]]:
    rows = await uow.session.execute(
        sa.select(ItemPair.other, ItemPair.sku)
        .where(ItemPair.sku.in_(basis), ItemPair.other.in_(list(chosen)))
        .distinct()
    )
    out: dict[str, list[str]] = {}
    for other, sku in rows:
        out.setdefault(other, []).append(sku)
    order = {sku: i for i, sku in enumerate(basis)}
    return {k: sorted(v, key=order.__getitem__) for k, v in out.items()}


async def customer_suggestions(
    uow: UnitOfWork, *, customer_id: str, location: str, limit: int = 10
) -> SuggestionsOut:
    """What goes with what the customer bought or looked at lately, available at
    ``location`` (> 0), best first; never something they already bought. ``because`` names
    the SKUs of theirs each suggestion pairs with."""
    customer = await customers.customer_ref(uow, customer_id)
    await network.location_ref(uow, location)
    owner = customer.public_id
    basis = await recent_basis(uow, owner)
    if not basis:
        return SuggestionsOut(customer_id=owner, location=location, basis=[], items=[])
    ranked = await ranked_pairings(uow, owner=owner, basis=basis, limit=SUGGESTION_CANDIDATES)
    here = await positions.available_at(uow, location, [r.other for r in ranked])
    in_stock = [r for r in ranked if here.get(r.other, 0) > 0]
    info = await catalog.variants_by_sku(uow, [r.other for r in in_stock])
    chosen = [r for r in in_stock if r.other in info and info[r.other].active][:limit]
    because = await _because(uow, basis, [r.other for r in chosen]) if chosen else {}
    return SuggestionsOut(
        customer_id=owner,
        location=location,
        basis=basis,
        items=[
            SuggestionOut(
                sku=r.other,
                title=info[r.other].title,
                price=info[r.other].price,
                score=int(r.score),
                available=here[r.other],
                because=because.get(r.other, []),
            )
            for r in chosen
        ],
    )
