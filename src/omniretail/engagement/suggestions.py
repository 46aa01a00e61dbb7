"""Reading the pair counts: a SKU's pairings, and the guide screen's suggestions for a customer
(pairings of what they bought or looked at lately, in stock at the store, ranked).

A suggestion is one statement built once at import (:func:`_suggestion_statement`, checked
by :func:`omniretail.scoped.tenant_statement`, so every request hits the compiled cache):
the customer's recent signals, each one's strongest pairings, the stock at the store; the
ranking is plain Python over those rows (:func:`omniretail.engagement.domain.rank_pairings`),
then one catalogue read for the chosen SKUs' titles and prices."""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa

from omniretail.catalog import service as catalog
from omniretail.customers import service as customers
from omniretail.db import UnitOfWork
from omniretail.engagement.domain import (
    PAIRINGS_PER_BASIS,
    POPULAR_FALLBACK,
    POPULAR_READ,
    SIGNAL_WEIGHT,
    SUGGESTION_BASIS,
    SUGGESTION_CANDIDATES,
    PairRow,
    Ranked,
    Signal,
    rank_pairings,
)
from omniretail.engagement.models import ItemCount, ItemPair, ItemSignal
from omniretail.engagement.schemas import PairingOut, SkuPairingsOut, SuggestionOut, SuggestionsOut
from omniretail.errors import NotFound
from omniretail.inventory import positions
from omniretail.network import service as network
from omniretail.scoped import TENANT, TenantStatement, read_in, tenant_statement

# Suggestions past the limit whose variants are read with the first ones, in case some of them
# are no longer on sale.
SPARE = 5

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


def _basis(dialect: str) -> sa.CTE:
    """The customer's :data:`SUGGESTION_BASIS` most recent signals' SKUs, ``place`` 1 the
    newest (ties by SKU)."""
    at = sa.func.max(ItemSignal.last_at)
    basis = (
        sa.select(
            ItemSignal.sku,
            sa.func.row_number().over(order_by=(at.desc(), ItemSignal.sku)).label("place"),
        )
        .where(
            ItemSignal.tenant_id == sa.bindparam(TENANT),
            ItemSignal.customer_id == sa.bindparam("owner"),
        )
        .group_by(ItemSignal.sku)
        .order_by(at.desc(), ItemSignal.sku)
        .limit(SUGGESTION_BASIS)
        .cte("basis")
    )
    if dialect == "sqlite":
        # Read where it is used (a few rows by the customer's index) rather than materialised:
        # SQLite then drives the correlated reads of :func:`_strongest` from it, 2 ms instead
        # of 5 at demo scale.
        return basis.prefix_with("NOT MATERIALIZED")
    return basis


def _kinds() -> sa.CTE:
    return sa.union_all(
        *(sa.select(sa.literal(kind.value, sa.String).label("kind")) for kind in Signal)
    ).cte("kinds")


# Each basis SKU's strongest pairings of a kind, read backwards from the top of the covering
# (tenant, sku, kind, customers, other) index, no sort; ties by SKU (descending, the index's
# order), so that both databases pick the same ones.
_STRONGEST_FIRST = (ItemPair.customers.desc(), ItemPair.other.desc())


def _strongest(dialect: str, basis: sa.CTE, kinds: sa.CTE) -> sa.Select[Any]:
    """(basis SKU, kind, other, customers): each basis SKU's :data:`PAIRINGS_PER_BASIS`
    strongest pairings of each kind. A ``LATERAL`` subquery on PostgreSQL; SQLite has none,
    but reads a correlated ``rowid IN (... LIMIT n)`` the same way, once per (basis SKU,
    kind). (A ``ROW_NUMBER()`` over every pair of the basis, the portable form, sorted about
    5,000 rows per request at demo scale: 20 ms instead of 2.)"""
    if dialect == "postgresql":
        top = (
            sa.select(ItemPair.other, ItemPair.customers)
            .where(
                ItemPair.tenant_id == sa.bindparam(TENANT),
                ItemPair.sku == basis.c.sku,
                ItemPair.kind == kinds.c.kind,
            )
            .order_by(*_STRONGEST_FIRST)
            .limit(PAIRINGS_PER_BASIS)
            .lateral("top")
        )
        return sa.select(
            basis.c.sku.label("basis"), kinds.c.kind, top.c.other, top.c.customers
        ).select_from(basis.join(kinds, sa.true()).join(top, sa.true()))
    ids = (
        sa.select(ItemPair.id)
        .where(
            ItemPair.tenant_id == sa.bindparam(TENANT),
            ItemPair.sku == basis.c.sku,
            ItemPair.kind == kinds.c.kind,
        )
        .order_by(*_STRONGEST_FIRST)
        .limit(PAIRINGS_PER_BASIS)
    )
    # The rows are reached by rowid only (the ids are the tenant's, read above): with no other
    # usable index on it, SQLite cannot make the pairs table the outer loop, which it did
    # after an ANALYZE (every pair of the tenant, each against the basis: seconds).
    pair = sa.orm.aliased(ItemPair, name="pair")
    return sa.select(basis.c.sku.label("basis"), pair.kind, pair.other, pair.customers).select_from(
        basis.join(kinds, sa.true()).join(pair, pair.id.in_(ids))
    )


def _nothing(type_: type[sa.types.TypeEngine[Any]], name: str) -> sa.Label[Any]:
    """An empty column of a UNION, typed (PostgreSQL takes a bare NULL for text)."""
    return sa.cast(sa.null(), type_).label(name)


def _suggestion_statement(dialect: str, *, stocked: bool) -> TenantStatement:
    """One statement for a customer's suggestions, built and checked once at import (so every
    request hits the compiled cache). Rows of (basis, place, kind, other, customers,
    basis_total, other_total, available), in three sorts:

    - each SKU of the customer's basis with its ``place`` (the rest empty), so that a basis
      SKU without pairings still comes back;
    - a row per (basis SKU, kind, other) for each one's strongest pairings
      (:func:`_strongest`), with how many customers did that kind with each SKU at all;
    - the :data:`POPULAR_FALLBACK` best sellers (``basis`` empty), for a basis that pairs
      with too few.

    Never a SKU the customer bought; with ``stocked`` only those available at the store bound
    as ``location`` (inventory's own rule, :func:`positions.available_here`), with what is
    available there."""
    basis, kinds = _basis(dialect), _kinds()
    top = _strongest(dialect, basis, kinds).subquery("top")
    bought = sa.select(ItemSignal.sku).where(
        ItemSignal.tenant_id == sa.bindparam(TENANT),
        ItemSignal.customer_id == sa.bindparam("owner"),
        ItemSignal.kind == Signal.BOUGHT.value,
    )
    of_basis = sa.orm.aliased(ItemCount, name="of_basis")
    paired_from = top.outerjoin(
        ItemCount,
        sa.and_(
            ItemCount.tenant_id == sa.bindparam(TENANT),
            ItemCount.sku == top.c.other,
            ItemCount.kind == top.c.kind,
        ),
    ).outerjoin(
        of_basis,
        sa.and_(
            of_basis.tenant_id == sa.bindparam(TENANT),
            of_basis.sku == top.c.basis,
            of_basis.kind == top.c.kind,
        ),
    )
    best = sa.orm.aliased(ItemCount, name="best")
    # The most bought, from the top of the (tenant, kind, customers, sku) index read backwards
    # (ties by SKU descending), a bounded range however many SKUs the tenant sells; the stock
    # and the customer's purchases then filter those.
    most = (
        sa.select(best.sku, best.customers)
        .where(best.tenant_id == sa.bindparam(TENANT), best.kind == Signal.BOUGHT.value)
        .order_by(best.customers.desc(), best.sku.desc())
        .limit(POPULAR_READ)
        .subquery("most")
    )
    best_from: sa.FromClause = most
    available: sa.ColumnElement[Any] = _nothing(sa.BigInteger, "available")
    best_available: sa.ColumnElement[Any] = _nothing(sa.BigInteger, "available")
    if stocked:
        here = positions.available_here()
        available = here.c.available
        paired_from = paired_from.join(here, here.c.sku == top.c.other)
        best_here = positions.available_here("best_here")
        best_available = best_here.c.available
        best_from = most.join(best_here, best_here.c.sku == most.c.sku)
    places = sa.select(
        basis.c.sku.label("basis"),
        basis.c.place,
        _nothing(sa.String, "kind"),
        _nothing(sa.String, "other"),
        _nothing(sa.Integer, "customers"),
        _nothing(sa.Integer, "basis_total"),
        _nothing(sa.Integer, "other_total"),
        _nothing(sa.BigInteger, "available"),
    )
    paired = (
        sa.select(
            top.c.basis,
            _nothing(sa.BigInteger, "place"),
            top.c.kind,
            top.c.other,
            top.c.customers,
            of_basis.customers,
            ItemCount.customers,
            available,
        )
        .select_from(paired_from)
        .where(top.c.other.not_in(bought))
    )
    popular = (
        sa.select(
            _nothing(sa.String, "basis"),
            _nothing(sa.BigInteger, "place"),
            _nothing(sa.String, "kind"),
            most.c.sku,
            _nothing(sa.Integer, "customers"),
            _nothing(sa.Integer, "basis_total"),
            most.c.customers.label("other_total"),
            best_available.label("available"),
        )
        .select_from(best_from)
        .where(most.c.sku.not_in(bought))
        .order_by(most.c.customers.desc(), most.c.sku.desc())
        .limit(POPULAR_FALLBACK)
        .subquery("popular")
    )
    return tenant_statement(
        sa.union_all(places, paired, sa.select(popular))  # type: ignore[arg-type]
    )


_PAIRED = {
    (dialect, stocked): _suggestion_statement(dialect, stocked=stocked)
    for dialect in ("postgresql", "sqlite")
    for stocked in (False, True)
}


class Paired(NamedTuple):
    basis: list[str]  # the customer's most recent signals' SKUs, newest first
    ranked: list[Ranked]
    available: dict[str, int]  # with a store: what is available there of each ranked SKU


async def paired_for(uow: UnitOfWork, *, owner: str, location: str | None = None) -> Paired:
    """What goes with what ``owner`` bought or looked at lately, ranked by
    :func:`~omniretail.engagement.domain.rank_pairings` (best sellers last, to fill the
    list); with ``location``, only what is available there. Never a SKU ``owner`` bought;
    nothing without a basis. One round trip."""
    statement = _PAIRED[uow.dialect, location is not None]
    params = {"owner": owner} if location is None else {"owner": owner, "location": location}
    places: dict[str, int] = {}
    rows: list[PairRow] = []
    popular: list[tuple[int, str]] = []
    available: dict[str, int] = {}
    for row in await read_in(uow, statement, **params):
        sku, place, kind, other, count, basis_total, other_total, here = tuple(row)
        if other is None:
            places[sku] = int(place)
            continue
        if here is not None:
            available[other] = int(here)
        if sku is None:
            popular.append((int(other_total), other))
        else:
            rows.append(
                PairRow(sku, kind, other, int(count), int(basis_total or 0), int(other_total or 0))
            )
    if not places:
        return Paired([], [], {})
    basis = sorted(places, key=places.__getitem__)
    # The statement's order: most bought first, ties by SKU descending (its index's).
    best_sellers = [sku for _, sku in sorted(popular, reverse=True)]
    return Paired(basis, rank_pairings(basis, rows, best_sellers), available)


async def customer_suggestions(
    uow: UnitOfWork, *, customer_id: str, location: str, limit: int = 10
) -> SuggestionsOut:
    """What goes with what the customer bought or looked at lately, available at
    ``location`` (> 0), best first; never something they already bought. ``because`` names
    the SKUs of theirs each suggestion pairs with."""
    customer = await customers.customer_ref(uow, customer_id)
    await network.location_ref(uow, location)
    owner = customer.public_id
    paired = await paired_for(uow, owner=owner, location=location)
    # SKUs no longer on sale are dropped after the catalogue read: read a few spare, and the
    # rest only when too many of those were dropped.
    wanted = paired.ranked[: limit + SPARE]
    info = await catalog.variants_by_sku(uow, [r.other for r in wanted])
    chosen = [r for r in wanted if r.other in info and info[r.other].active][:limit]
    if len(chosen) < limit < len(paired.ranked):
        info = await catalog.variants_by_sku(uow, [r.other for r in paired.ranked])
        chosen = [r for r in paired.ranked if r.other in info and info[r.other].active][:limit]
    return SuggestionsOut(
        customer_id=owner,
        location=location,
        basis=paired.basis,
        items=[
            SuggestionOut(
                sku=r.other,
                title=info[r.other].title,
                price=info[r.other].price,
                score=r.score,
                available=paired.available[r.other],
                because=list(r.because),
            )
            for r in chosen
        ],
    )
