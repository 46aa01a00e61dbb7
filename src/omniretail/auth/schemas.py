from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from omniretail.auth.domain import Role
from omniretail.schemas import SHOWN_ONCE, Code, Input, Output

Locale = Literal["en", "zh-CN"]


def _known_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("an IANA time zone such as Asia/Shanghai") from exc
    return value


TimeZone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_zone)]


class KeyIn(Input):
    role: Role = Field(description="admin, ops, store, channel or analyst")
    location: Code | None = Field(
        None, description="a store role's location code (the key acts for that store only)"
    )
    channel: Code | None = Field(
        None, description="a channel role's channel code (the key sells on that channel only)"
    )
    label: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="a note for people, e.g. who holds the key"
    )


class KeyOut(Output):
    id: int = Field(description="the key's id (for `omni key revoke` and DELETE /v1/keys/{id})")
    key: Annotated[str | None, SHOWN_ONCE] = Field(
        description="shown only in this response (null on an idempotent replay)"
    )
    role: Role = Field(description="admin, ops, store, channel or analyst")
    location: str | None = Field(description="the store a store key acts for, else null")
    channel: str | None = Field(description="the channel a channel key sells on, else null")
    label: str | None = Field(description="the note given when it was made")


class MeOut(Output):
    tenant: str = Field(description="the tenant's slug")
    currency: str = Field(description="the tenant's ISO 4217 currency code, e.g. CNY")
    timezone: str = Field(description="the tenant's IANA time zone, e.g. Asia/Shanghai")
    role: Role = Field(description="the calling key's role")
    location: str | None = Field(description="a store key's location code, else null")
    channel: str | None = Field(description="a channel key's channel code, else null")


FEE = "flat fee in minor units (fen for CNY); 0 = free"
WINDOW = "days after the order a return is accepted"
NON_RETURNABLE = "category paths never returnable"
STORES_TAKE_BACK = "stores take back online orders"


class DeliveryFees(Input):
    """A flat fee per fulfilment mode, in minor units (0 = free); members with the
    free-delivery benefit pay none."""

    ship: Annotated[int, Field(ge=0, le=10**7)] | None = Field(None, description=FEE)
    pickup: Annotated[int, Field(ge=0, le=10**7)] | None = Field(None, description=FEE)
    local_delivery: Annotated[int, Field(ge=0, le=10**7)] | None = Field(None, description=FEE)
    in_store: Annotated[int, Field(ge=0, le=10**7)] | None = Field(None, description=FEE)


class ReturnRules(Input):
    window_days: Annotated[int, Field(ge=0, le=365)] | None = Field(None, description=WINDOW)
    non_returnable_categories: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=200)]
        | None
    ) = Field(None, description=NON_RETURNABLE)
    stores_accept_online_returns: bool | None = Field(None, description=STORES_TAKE_BACK)


class SettingsPatch(Input):
    """Every tenant setting; a PATCH is a JSON Merge Patch: give only what changes, ``null``
    puts a setting back to its default."""

    max_shipments: Annotated[int, Field(ge=1, le=10)] | None = Field(
        None, description="most locations one order is split over (default 3)"
    )
    payment_window_seconds: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] | None = Field(
        None, description="how long an unpaid online order holds its stock (default 900)"
    )
    delivery_fees: DeliveryFees | None = Field(None, description="per mode (default none)")
    allow_negative_stock: bool | None = Field(
        None, description="late POS sales may drive on hand below zero (default false)"
    )
    ship_promise_hours: Annotated[int, Field(ge=1, le=720)] | None = Field(
        None, description="promised delivery of a shipment (default 48)"
    )
    local_promise_minutes: Annotated[int, Field(ge=5, le=1440)] | None = Field(
        None, description="promised local delivery (default 30)"
    )
    pickup_promise_hours: Annotated[int, Field(ge=0, le=720)] | None = Field(
        None, description="promised readiness of a pickup (default 2)"
    )
    transfer_promise_hours: Annotated[int, Field(ge=0, le=720)] | None = Field(
        None, description="added when a pickup needs a transfer (default 24)"
    )
    returns: ReturnRules | None = Field(
        None,
        description="window_days (default 30), non_returnable_categories (default none), "
        "stores_accept_online_returns (default true)",
    )
    locale: Locale | None = Field(
        None,
        description="language of error messages, CSV error reports and demo data when a "
        "request sends no Accept-Language: en or zh-CN (default en)",
    )
    timezone: TimeZone | None = Field(
        None,
        description="IANA time zone of the tenant's business day (order numbers, reports), "
        "e.g. Asia/Shanghai; it cannot be unset",
    )
    experience_attribution_days: Annotated[int, Field(ge=0, le=90)] | None = Field(
        None,
        description="a sample scanned in an experience store credits the customer's orders "
        "of that SKU placed within this many days to that store and guide; 0 turns it off "
        "(default 14)",
    )


class ReturnRulesOut(Output):
    window_days: int = Field(30, description=WINDOW)
    non_returnable_categories: list[str] = Field([], description=NON_RETURNABLE)
    stores_accept_online_returns: bool = Field(True, description=STORES_TAKE_BACK)


class DeliveryFeesOut(Output):
    ship: int = Field(0, description=FEE)
    pickup: int = Field(0, description=FEE)
    local_delivery: int = Field(0, description=FEE)
    in_store: int = Field(0, description=FEE)


class SettingsOut(Output):
    """Every setting with the value in force (the default where none was set)."""

    max_shipments: int = Field(3, description="most locations one order is split over")
    payment_window_seconds: int = Field(
        900, description="how long an unpaid online order holds its stock, seconds"
    )
    delivery_fees: DeliveryFeesOut = Field(
        DeliveryFeesOut(), description="flat fee per fulfilment mode"
    )
    allow_negative_stock: bool = Field(
        False, description="late POS sales may drive on hand below zero"
    )
    ship_promise_hours: int = Field(48, description="promised delivery of a shipment, hours")
    local_promise_minutes: int = Field(30, description="promised local delivery, minutes")
    pickup_promise_hours: int = Field(2, description="promised readiness of a pickup, hours")
    transfer_promise_hours: int = Field(
        24, description="added when a pickup needs a transfer, hours"
    )
    returns: ReturnRulesOut = Field(ReturnRulesOut(), description="the return rules")
    locale: Locale = Field(
        "en", description="language of problems and CSV reports without Accept-Language"
    )
    timezone: str = Field("Asia/Shanghai", description="the tenant's IANA time zone")
    experience_attribution_days: int = Field(
        14, description="days an experience store's sample scan credits later orders (0: off)"
    )


class SettingChangeOut(Output):
    id: int = Field(description="the audit entry's id")
    actor: str = Field(description="who changed them, e.g. `key:<id>:<role>` or `cli`")
    changed: list[str] = Field(description="dotted names of the settings that changed")
    before: dict[str, Any] = Field(description="the stored settings before the change")
    after: dict[str, Any] = Field(description="the stored settings after the change")
    created_at: dt.datetime = Field(description="when (UTC)")


class SignupIn(Input):
    """A new merchant, as a SaaS operator signs it up."""

    slug: Annotated[str, Field(min_length=1, max_length=63)] = Field(
        description="the tenant's short name: lowercase letters, digits and '-'"
    )
    name: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="the merchant's display name"
    )
    currency: Annotated[str, Field(min_length=3, max_length=3)] = Field(
        "CNY", description="ISO 4217 code with minor units, one per tenant"
    )
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        "Asia/Shanghai", description="IANA time zone: the merchant's business day"
    )
    locale: Locale | None = Field(
        None, description="en or zh-CN: the language of the merchant's error messages"
    )


class SignupOut(Output):
    tenant: str = Field(description="the new tenant's slug")
    name: str = Field(description="the merchant's display name")
    currency: str = Field(description="ISO 4217 code of every amount in the tenant (e.g. CNY)")
    timezone: str = Field(description="IANA time zone of the merchant's business day")
    locale: Locale = Field(
        description="en or zh-CN: the language of the merchant's error messages (en when none "
        "was given)"
    )
    admin_key: Annotated[str | None, SHOWN_ONCE] = Field(
        description="the merchant's first admin key: shown only in this response"
    )
