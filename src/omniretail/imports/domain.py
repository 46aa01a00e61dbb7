"""Pure CSV parsing and validation: every bad row is reported with its line number and field.

Locations: ``code,name,type,lat,lng,address,ship,pickup,local_delivery,sells_online,
delivery_radius_km,daily_capacity,opening_hours``; booleans are ``yes``/``no`` (also
``true``/``false``, ``1``/``0``); opening hours are ``day=HH:MM-HH:MM[,HH:MM-HH:MM]`` joined by
``;`` (``mon=10:00-22:00;sat=09:00-12:00,13:00-22:00``), empty for always open.

Products: one row per variant, ``product_code,title,category,sku,barcode,price`` and any further
columns (``size``, ``colour``, ...) as the variant's attributes. ``price`` is an amount in the
tenant's currency (``399.00``), converted exactly to minor units; more decimals than the currency
has is an error, never a rounding. Rows of one product must agree on title and category.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from omniretail.catalog.domain import barcode_error
from omniretail.catalog.schemas import ProductIn
from omniretail.network.domain import (
    WEEKDAYS,
    Capabilities,
    LocationType,
    capability_errors,
    opening_hours_errors,
)
from omniretail.network.schemas import LocationIn

LOCATION_COLUMNS = ["code", "name", "type", "lat", "lng", "address", "ship", "pickup",
                    "local_delivery", "sells_online", "delivery_radius_km", "daily_capacity",
                    "opening_hours"]  # fmt: skip
PRODUCT_COLUMNS = ["product_code", "title", "category", "sku", "barcode", "price"]
MAX_ROWS = 200_000


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str
    message: str


@dataclass(slots=True)
class Parsed:
    items: list[Any] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # code or sku -> first line
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


def read_rows(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the data rows with their line numbers (the header is line 1)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    rows = []
    for row in reader:
        if any((v or "").strip() for k, v in row.items() if k is not None):
            rows.append(
                (reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None})
            )
        if len(rows) > MAX_ROWS:
            break
    return header, rows


def parse_money(text: str, digits: int) -> int:
    """``'399.00'`` -> 39900 for two minor digits; refuses what cannot be exact."""
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError("not a number") from exc
    if not amount.is_finite():
        raise ValueError("not a number")
    if amount < 0:
        raise ValueError("must not be negative")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > digits:
        raise ValueError(f"at most {digits} decimals")
    return int(amount.scaleb(digits))


def format_money(amount: int, digits: int) -> str:
    return f"{Decimal(amount).scaleb(-digits):.{digits}f}"


_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0", ""}


def parse_bool(text: str) -> bool:
    value = text.lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise ValueError("yes or no")


def parse_hours(text: str) -> dict[str, list[str]] | None:
    if not text:
        return None
    hours: dict[str, list[str]] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        day, _, intervals = part.partition("=")
        day = day.strip().lower()
        if day not in WEEKDAYS or not intervals:
            raise ValueError("day=HH:MM-HH:MM;... with days mon..sun")
        hours[day] = [i.strip() for i in intervals.split(",") if i.strip()]
    if errors := opening_hours_errors(hours):
        raise ValueError(errors[0])
    return hours


def format_hours(hours: dict[str, list[str]] | None) -> str:
    return ";".join(f"{d}={','.join(v)}" for d, v in (hours or {}).items())


def _missing(header: list[str], required: Iterable[str]) -> list[RowError]:
    return [RowError(1, col, "missing column") for col in required if col not in header]


def parse_locations(text: str) -> Parsed:
    header, rows = read_rows(text)
    out = Parsed(rows=len(rows), errors=_missing(header, LOCATION_COLUMNS[:5]))
    if out.errors:
        return out
    for line, row in rows:
        errors = _location_row(line, row, out)
        out.errors += errors
    return out


def _location_row(line: int, row: dict[str, str], out: Parsed) -> list[RowError]:
    errors: list[RowError] = []
    values: dict[str, Any] = {k: row.get(k, "") for k in ("code", "name", "address")}
    values["address"] = values["address"] or None
    values["type"] = row.get("type", "")
    caps: dict[str, bool] = {}
    for name in ("ship", "pickup", "local_delivery", "sells_online"):
        try:
            caps[name] = parse_bool(row.get(name, ""))
        except ValueError as exc:
            errors.append(RowError(line, name, str(exc)))
    values["capabilities"] = caps
    for name in ("lat", "lng", "delivery_radius_km", "daily_capacity"):
        raw = row.get(name, "")
        if raw == "" and name in ("delivery_radius_km", "daily_capacity"):
            continue
        values[name] = raw
    try:
        values["opening_hours"] = parse_hours(row.get("opening_hours", ""))
    except ValueError as exc:
        errors.append(RowError(line, "opening_hours", str(exc)))
    if errors:
        return errors
    try:
        location = LocationIn.model_validate(values)
    except ValidationError as exc:
        return [
            RowError(line, ".".join(str(p) for p in e["loc"]) or "row", e["msg"])
            for e in exc.errors()
        ]
    for message in capability_errors(LocationType(location.type), Capabilities(**caps)):
        errors.append(RowError(line, "capabilities", message))
    if location.code in out.lines:
        errors.append(RowError(line, "code", f"also on line {out.lines[location.code]}"))
    if not errors:
        out.lines[location.code] = line
        out.items.append(location)
    return errors


def parse_products(text: str, digits: int) -> Parsed:
    header, rows = read_rows(text)
    out = Parsed(rows=len(rows), errors=_missing(header, PRODUCT_COLUMNS))
    if out.errors:
        return out
    attribute_columns = [h for h in header if h not in PRODUCT_COLUMNS]
    products: dict[str, dict[str, Any]] = {}
    first_line: dict[str, int] = {}
    barcodes: dict[str, int] = {}
    for line, row in rows:
        errors = _product_row(
            line, row, digits, attribute_columns, products, first_line, barcodes, out
        )
        out.errors += errors
    for code, product in products.items():
        try:
            out.items.append(ProductIn.model_validate(product))
        except ValidationError as exc:
            line = first_line[code]
            out.errors += [
                RowError(line, ".".join(str(p) for p in e["loc"]) or "row", e["msg"])
                for e in exc.errors()
            ]
    return out


def _product_row(
    line: int,
    row: dict[str, str],
    digits: int,
    attribute_columns: list[str],
    products: dict[str, dict[str, Any]],
    first_line: dict[str, int],
    barcodes: dict[str, int],
    out: Parsed,
) -> list[RowError]:
    errors = [
        RowError(line, name, "required")
        for name in ("product_code", "title", "category", "sku", "price")
        if not row.get(name)
    ]
    sku, code, barcode = row.get("sku", ""), row.get("product_code", ""), row.get("barcode", "")
    price = 0
    if row.get("price"):
        try:
            price = parse_money(row["price"], digits)
        except ValueError as exc:
            errors.append(RowError(line, "price", str(exc)))
    if barcode and (problem := barcode_error(barcode)):
        errors.append(RowError(line, "barcode", problem))
    if sku and sku in out.lines:
        errors.append(RowError(line, "sku", f"also on line {out.lines[sku]}"))
    if barcode and barcode in barcodes:
        errors.append(RowError(line, "barcode", f"also on line {barcodes[barcode]}"))
    product = products.get(code)
    if product is not None and (product["title"], product["category"]) != (
        row.get("title"),
        row.get("category"),
    ):
        errors.append(
            RowError(line, "title", f"differs from line {first_line[code]} of product {code}")
        )
    if errors:
        return errors
    out.lines[sku] = line
    if barcode:
        barcodes[barcode] = line
    if product is None:
        product = {"code": code, "title": row["title"], "category": row["category"], "variants": []}
        products[code] = product
        first_line[code] = line
    product["variants"].append(
        {
            "sku": sku,
            "barcode": barcode or None,
            "price": price,
            "attributes": {c: row[c] for c in attribute_columns if row.get(c)},
        }
    )
    return []


def write_csv(header: list[str], rows: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()
