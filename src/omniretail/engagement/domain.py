# ruff: noqa: RUF001  (Chinese text uses full-width punctuation, on purpose)
"""Pure rules of engagement: message media, the consent channel each one needs, templates in
zh-CN and English, retry backoff, how a recipient's address may appear in a log, and the
campaign rules (holdout groups, quiet hours)."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import string
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

MAX_ATTEMPTS = 6
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=1)
# A claimed message not finished within this lease is tried again (its sender crashed).
CLAIM_LEASE = dt.timedelta(minutes=2)
LOCALES = ("zh-CN", "en")


class Medium(StrEnum):
    SMS = "sms"
    WECHAT_TEMPLATE = "wechat_template"
    APP_PUSH = "app_push"
    MINIPROGRAM_SUBSCRIBE = "miniprogram_subscribe"

    @property
    def consent_channel(self) -> str:
        """The customer's consent record (``PUT /v1/customers/{id}/consents/{channel}``) that
        a marketing message on this medium needs."""
        return _CONSENT[self]

    @property
    def identity_type(self) -> str:
        """The identity a message on this medium is addressed to."""
        return _ADDRESS[self]


_CONSENT = {
    Medium.SMS: "sms",
    Medium.WECHAT_TEMPLATE: "wechat",
    Medium.APP_PUSH: "app",
    Medium.MINIPROGRAM_SUBSCRIBE: "miniprogram",
}
_ADDRESS = {
    Medium.SMS: "phone",
    Medium.WECHAT_TEMPLATE: "wechat_openid",
    Medium.APP_PUSH: "member_card",
    Medium.MINIPROGRAM_SUBSCRIBE: "wechat_openid",
}
# The order in which a campaign picks a consented medium for a customer.
MEDIUM_PREFERENCE = (
    Medium.MINIPROGRAM_SUBSCRIBE,
    Medium.WECHAT_TEMPLATE,
    Medium.APP_PUSH,
    Medium.SMS,
)


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after MAX_ATTEMPTS, or no address to send to


class TemplateError(ValueError):
    """The template is unknown, or a parameter it needs is missing."""


@dataclass(frozen=True, slots=True)
class Template:
    code: str
    marketing: bool  # marketing needs the customer's consent; a service notice does not
    text: dict[str, str]  # locale -> text with {named} parameters

    def parameters(self) -> set[str]:
        names: set[str] = set()
        for text in self.text.values():
            names |= {f for _, f, _, _ in string.Formatter().parse(text) if f}
        return names


TEMPLATES: dict[str, Template] = {
    t.code: t
    for t in (
        Template(
            "tryon_coupon",
            marketing=True,
            text={
                "zh-CN": "您在{store}试穿的{sku}有专属优惠：券码{coupon}，{days}天内有效。",
                "en": "An offer on the {sku} you tried on at {store}: coupon {coupon}, "
                "valid for {days} days.",
            },
        ),
        Template(
            "store_offer",
            marketing=True,
            text={
                "zh-CN": "您附近的{store}有到店专享优惠：{offer}",
                "en": "{store} is nearby, with an in-store offer: {offer}",
            },
        ),
        Template(
            "pickup_ready",
            marketing=False,
            text={
                "zh-CN": "您的订单{order}已可在{store}自提，取货码{code}。",
                "en": "Your order {order} is ready for pickup at {store}; pickup code {code}.",
            },
        ),
        Template(
            "group_formed",
            marketing=False,
            text={
                "zh-CN": "拼团成功！订单{order}可在{store}自提。",
                "en": "Your group is complete! Order {order} can be picked up at {store}.",
            },
        ),
        Template(
            "group_refunded",
            marketing=False,
            text={
                "zh-CN": "拼团未成团，{amount}已原路退回。",
                "en": "The group did not fill; {amount} has been refunded.",
            },
        ),
    )
}


def template(code: str) -> Template:
    try:
        return TEMPLATES[code]
    except KeyError:
        raise TemplateError(f"no template {code!r}") from None


def render(code: str, locale: str, params: dict[str, str]) -> str:
    """The message text in ``locale`` (English when the template lacks it)."""
    tpl = template(code)
    missing = sorted(tpl.parameters() - params.keys())
    if missing:
        raise TemplateError(f"template {code!r} needs {', '.join(missing)}")
    text = tpl.text.get(locale) or tpl.text["en"]
    return text.format_map(params)


def retry_delay(attempts: int) -> dt.timedelta:
    """Exponential backoff after the ``attempts``-th failed try: 30 s, 60 s, 120 s, ... ≤ 1 h."""
    delay: dt.timedelta = BACKOFF_BASE * 2 ** max(attempts - 1, 0)
    return min(delay, BACKOFF_CAP)


def mask_address(address: str) -> str:
    """How an address may appear in a log or a reply: the ends kept, the middle hidden. (No
    digest: a hash of a phone number is reversed by trying every number.)"""
    if len(address) <= 6:
        return "***"
    return f"{address[:4]}****{address[-2:]}"


class CampaignKind(StrEnum):
    TRYON_NO_PURCHASE = "tryon_no_purchase"


class Outcome(StrEnum):
    """What a campaign's delayed check decided for one (customer, subject)."""

    WAITING = "waiting"
    SENT = "sent"  # coupon issued and the message queued
    BOUGHT = "bought"  # an order contained the subject in time: no offer needed
    NO_CONSENT = "no_consent"  # no medium the customer agreed to and can be reached on
    CAPPED = "capped"  # the customer had enough offers this week
    HOLDOUT = "holdout"  # in the control group: nothing sent, results compared
    ENDED = "ended"  # the campaign was stopped before the check


FREQUENCY_WINDOW = dt.timedelta(days=7)
# A customer's app may report presence once a minute.
PRESENCE_INTERVAL = dt.timedelta(seconds=60)


def in_holdout(campaign_code: str, customer_id: str, percent: int) -> bool:
    """A stable draw: a customer is in a campaign's control group or not, whatever the order
    in which events arrive."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"{campaign_code}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def in_quiet_hours(hour: int, quiet_start: int, quiet_end: int) -> bool:
    """Whether a local hour is quiet; the window may cross midnight (21 → 9)."""
    if quiet_start == quiet_end:
        return False
    if quiet_start < quiet_end:
        return quiet_start <= hour < quiet_end
    return hour >= quiet_start or hour < quiet_end


def next_sendable(now: dt.datetime, timezone: str, quiet_start: int, quiet_end: int) -> dt.datetime:
    """``now`` if it is outside the quiet hours in the tenant's zone, else the end of them."""
    zone = zoneinfo.ZoneInfo(timezone)
    local = now.astimezone(zone)
    if not in_quiet_hours(local.hour, quiet_start, quiet_end):
        return now
    end = local.replace(hour=quiet_end, minute=0, second=0, microsecond=0)
    if end <= local:
        end += dt.timedelta(days=1)
    # Rebuilt from the wall clock so that a DST change in between lands on the hour.
    wall = dt.datetime(end.year, end.month, end.day, quiet_end, tzinfo=zone)
    return wall.astimezone(dt.UTC)


# --- Recommendations and attribution ---------------------------------------------------------


class Signal(StrEnum):
    """What a customer did with a SKU: the two kinds of pair counts grow from these."""

    BOUGHT = "bought"  # in a completed order: co-purchase
    LOOKED = "looked"  # viewed, tried on, scanned, put in the cart: co-view


# A co-purchase says more than a co-view: the score of a pairing weighs them so.
SIGNAL_WEIGHT = {Signal.BOUGHT: 3, Signal.LOOKED: 1}
# A new signal pairs with the customer's most recent signals of its kind, up to this many: a
# customer with thousands of views adds bounded work, and old interests fade.
MAX_PARTNERS = 20
# A pairing seen with fewer customers is noise to its similarity (one customer's whim): it
# ranks after every pairing seen with at least this many, by its count.
MIN_SUPPORT = 2
# Best sellers read with a suggestion, to fill the list when the basis pairs with too few
# (the most a suggestion may ask for).
POPULAR_FALLBACK = 50
# ... chosen among this many of the most bought (before the stock filter and the customer's
# own purchases), so that reading them stays a bounded index range.
POPULAR_READ = 200
# The customer's most recent signals a suggestion is built from.
SUGGESTION_BASIS = 20
# Each SKU of the basis contributes its strongest pairings of each kind, up to this many: a
# suggestion reads at most 2 x 20 x 40 pair rows, however long the history.
PAIRINGS_PER_BASIS = 40
# A SKU's pairings read before the stock filter of ``GET /v1/skus/{sku}/pairings?location=``:
# enough that a store short of the best ones still fills the list.
SUGGESTION_CANDIDATES = 100
DEFAULT_ATTRIBUTION_DAYS = 14


def signal_owner(customer_id: str | None, order_id: str) -> str:
    """Whose signals an order's lines are: its customer's, or a guest basket of its own."""
    return customer_id or f"{_GUEST_BASKET}{order_id}"


_GUEST_BASKET = "order:"


def is_guest_basket(owner: str) -> bool:
    """Whether ``owner`` is an order's guest basket (see :func:`signal_owner`)."""
    return owner.startswith(_GUEST_BASKET)


def pairing_score(counts: dict[Signal, int]) -> int:
    return sum(SIGNAL_WEIGHT[kind] * n for kind, n in counts.items())


class PairRow(NamedTuple):
    """One pair count read for a suggestion: ``basis`` (a SKU of the customer's) was bought
    or looked at (``kind``) together with ``other`` by ``customers`` customers; ``basis_total``
    and ``other_total`` customers did so with each SKU at all."""

    basis: str
    kind: str
    other: str
    customers: int
    basis_total: int
    other_total: int


class Ranked(NamedTuple):
    other: str
    score: int  # the evidence: SIGNAL_WEIGHT-weighted pair counts summed over the basis
    because: tuple[str, ...]  # the basis SKUs it pairs with, in basis order


def similarity(row: PairRow) -> float:
    """Cosine of the two SKUs' customer sets: pairs / sqrt(customers of one x of the other).
    A raw pair count grows with the popularity of ``other`` alone (a best seller is bought
    with everything); this does not, so a pairing outranks a best seller only when the two
    go together more than their popularity explains."""
    return row.customers / math.sqrt(
        max(row.basis_total, row.customers) * max(row.other_total, row.customers)
    )


def rank_pairings(
    basis: Sequence[str], rows: Iterable[PairRow], popular: Sequence[str] = ()
) -> list[Ranked]:
    """The candidates best first, in three tiers:

    1. pairings seen with at least :data:`MIN_SUPPORT` customers, by their
       :data:`SIGNAL_WEIGHT`-weighted :func:`similarity` summed over the basis;
    2. the rest of the pairings (seen once: weak evidence, but still about this customer),
       by their weighted pair counts;
    3. ``popular`` (best sellers, most bought first), when the basis pairs with too few.

    Ties by SKU. Plain arithmetic here rather than in SQL, so both databases rank alike."""
    order = {sku: i for i, sku in enumerate(basis)}
    similar: dict[str, float] = {}
    evidence: dict[str, int] = {}
    because: dict[str, set[str]] = {}
    for row in rows:
        weight = SIGNAL_WEIGHT[Signal(row.kind)]
        evidence[row.other] = evidence.get(row.other, 0) + row.customers * weight
        because.setdefault(row.other, set()).add(row.basis)
        if row.customers >= MIN_SUPPORT:
            similar[row.other] = similar.get(row.other, 0.0) + weight * similarity(row)
    supported = sorted(similar, key=lambda sku: (-similar[sku], sku))
    weak = sorted(
        (sku for sku in evidence if sku not in similar), key=lambda sku: (-evidence[sku], sku)
    )
    ranked = [
        Ranked(sku, evidence[sku], tuple(sorted(because[sku], key=order.__getitem__)))
        for sku in supported + weak
    ]
    ranked += [Ranked(sku, 0, ()) for sku in dict.fromkeys(popular) if sku not in evidence]
    return ranked


def scan_credits(scanned_at: dt.datetime, placed_at: dt.datetime, window_days: int) -> bool:
    """A scan credits an order placed after it, within ``window_days`` (0: never)."""
    return window_days > 0 and scanned_at <= placed_at <= scanned_at + dt.timedelta(
        days=window_days
    )


def attribution_reason(
    *, sku: str, location: str, staff: str | None, scanned_at: dt.datetime, window_days: int
) -> str:
    by = f" shown by {staff}" if staff else ""
    return (
        f"a sample of {sku} was scanned at experience store {location}{by} on "
        f"{scanned_at.isoformat(timespec='minutes')}; the customer's orders of it within "
        f"{window_days} days are credited to that store"
    )
