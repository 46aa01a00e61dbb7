"""The pricing engine: pure functions from a cart, the active promotions and the context to
priced lines that explain every discount. No I/O.

Rules, so that a quote can be explained and audited:
- The list price is the same on every channel; only a promotion whose scope names a channel,
  location or tier makes prices differ, and the quote names it.
- Per line, the engine takes the better of (a) the best single ``exclusive`` promotion and
  (b) every ``stackable`` promotion in priority order (lower number first), each applied to
  what the previous ones left. Ties go to (a).
- ``percent``: ``value`` is a whole percentage (1..100) of the line amount, rounded half up to
  the fen. ``amount``: ``value`` fen off each unit. ``fixed_price``: each unit costs ``value``
  (never raises a price). ``buy_x_get_y``: across the lines in its scope, for every ``buy`` +
  ``get`` units the ``get`` cheapest are free.
- A discount never exceeds what is left of the line; totals never go below zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from omniretail.catalog.domain import category_matches
from omniretail.money import percent_of


class DiscountKind(StrEnum):
    PERCENT = "percent"
    AMOUNT = "amount"
    FIXED_PRICE = "fixed_price"
    BUY_X_GET_Y = "buy_x_get_y"


class Stacking(StrEnum):
    EXCLUSIVE = "exclusive"
    STACKABLE = "stackable"


@dataclass(frozen=True, slots=True)
class Scope:
    channels: frozenset[str] | None = None
    locations: frozenset[str] | None = None
    skus: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    tiers: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    title: str
    scope: Scope
    kind: DiscountKind
    value: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    stacking: Stacking = Stacking.STACKABLE
    priority: int = 100
    requires_coupon: bool = False
    buy: int = 0
    get: int = 0
    active: bool = True


@dataclass(frozen=True, slots=True)
class CartLine:
    sku: str
    qty: int
    unit_price: int
    category: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class Context:
    channel: str
    at: dt.datetime
    location: str | None = None
    tier: str | None = None
    unlocked: frozenset[str] = frozenset()  # promotions unlocked by valid coupons


@dataclass(frozen=True, slots=True)
class Discount:
    promotion: str
    title: str
    amount: int


@dataclass(frozen=True, slots=True)
class PricedLine:
    sku: str
    title: str
    qty: int
    unit_price: int
    discounts: tuple[Discount, ...]

    @property
    def gross(self) -> int:
        return self.unit_price * self.qty

    @property
    def discount(self) -> int:
        return sum(d.amount for d in self.discounts)

    @property
    def line_total(self) -> int:
        return self.gross - self.discount


@dataclass(frozen=True, slots=True)
class Priced:
    lines: tuple[PricedLine, ...]
    not_applied: tuple[tuple[str, str], ...] = field(default=())

    @property
    def subtotal(self) -> int:
        return sum(line.gross for line in self.lines)

    @property
    def discount_total(self) -> int:
        return sum(line.discount for line in self.lines)

    @property
    def total(self) -> int:
        return self.subtotal - self.discount_total


def why_not(rule: Rule, ctx: Context) -> str | None:
    """Why a promotion does not apply to this cart at all (None: it may, line by line)."""
    scope = rule.scope
    if not rule.active:
        return "ended"
    if not rule.starts_at <= ctx.at < rule.ends_at:
        return "outside its window"
    if rule.requires_coupon and rule.code not in ctx.unlocked:
        return "needs a coupon"
    if scope.channels is not None and ctx.channel not in scope.channels:
        return f"not on channel {ctx.channel}"
    if scope.locations is not None and ctx.location not in scope.locations:
        return "not at this location" if ctx.location else "in-store only"
    if scope.tiers is not None and ctx.tier not in scope.tiers:
        return "for other member tiers"
    return None


def covers(rule: Rule, line: CartLine) -> bool:
    scope = rule.scope
    if scope.skus is not None and line.sku not in scope.skus:
        return False
    return scope.categories is None or any(
        category_matches(line.category, c) for c in scope.categories
    )


def _single(rule: Rule, line: CartLine, left: int, bxgy: dict[str, dict[str, int]]) -> int:
    if rule.kind is DiscountKind.PERCENT:
        off = percent_of(left, rule.value * 100)
    elif rule.kind is DiscountKind.AMOUNT:
        off = min(rule.value, line.unit_price) * line.qty
    elif rule.kind is DiscountKind.FIXED_PRICE:
        off = max(0, line.unit_price - rule.value) * line.qty
    else:
        off = bxgy.get(rule.code, {}).get(line.sku, 0)
    return max(0, min(off, left))


def _buy_x_get_y(rule: Rule, lines: Sequence[CartLine]) -> dict[str, int]:
    """The ``get`` cheapest of every ``buy + get`` units in scope are free."""
    units = sorted(
        (
            (line.unit_price, line.sku)
            for line in lines
            if covers(rule, line)
            for _ in range(line.qty)
        ),
    )
    group = rule.buy + rule.get
    free = (len(units) // group) * rule.get if group > 0 else 0
    off: dict[str, int] = {}
    for price, sku in units[:free]:
        off[sku] = off.get(sku, 0) + price
    return off


def price_cart(lines: Sequence[CartLine], rules: Sequence[Rule], ctx: Context) -> Priced:
    eligible = []
    not_applied: list[tuple[str, str]] = []
    for rule in sorted(rules, key=lambda r: (r.priority, r.code)):
        reason = why_not(rule, ctx)
        if reason is None:
            eligible.append(rule)
        else:
            not_applied.append((rule.code, reason))
    bxgy = {r.code: _buy_x_get_y(r, lines) for r in eligible if r.kind is DiscountKind.BUY_X_GET_Y}
    priced = [_price_line(line, eligible, bxgy) for line in lines]
    used = {d.promotion for line in priced for d in line.discounts}
    not_applied += [
        (r.code, "no line in its scope gains from it") for r in eligible if r.code not in used
    ]
    return Priced(tuple(priced), tuple(not_applied))


def _price_line(
    line: CartLine, rules: Sequence[Rule], bxgy: dict[str, dict[str, int]]
) -> PricedLine:
    gross = line.unit_price * line.qty
    mine = [r for r in rules if covers(r, line)]
    best_exclusive: tuple[int, Rule] | None = None
    for rule in mine:
        if rule.stacking is Stacking.EXCLUSIVE:
            off = _single(rule, line, gross, bxgy)
            if off > 0 and (best_exclusive is None or off > best_exclusive[0]):
                best_exclusive = (off, rule)
    stacked: list[Discount] = []
    left = gross
    for rule in mine:
        if rule.stacking is Stacking.STACKABLE:
            off = _single(rule, line, left, bxgy)
            if off > 0:
                stacked.append(Discount(rule.code, rule.title, off))
                left -= off
    stacked_total = gross - left
    if best_exclusive is not None and best_exclusive[0] >= stacked_total:
        off, rule = best_exclusive
        chosen: tuple[Discount, ...] = (Discount(rule.code, rule.title, off),)
    else:
        chosen = tuple(stacked)
    return PricedLine(line.sku, line.title, line.qty, line.unit_price, chosen)
