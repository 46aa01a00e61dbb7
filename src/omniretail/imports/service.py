"""Import (dry run or all-or-nothing apply) and export, for locations and products.

A file is parsed and validated in a worker thread before any transaction opens
(:func:`parse_file`), so a large file neither blocks the event loop nor holds SQLite's write
lock while Python reads it; the unit of work then only checks against the database and writes
in multi-row statements. A report lists the first :data:`MAX_LISTED_ERRORS` bad rows and counts
all of them.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable
from enum import StrEnum

from omniretail.auth import service as auth
from omniretail.auth.domain import minor_digits
from omniretail.catalog import service as catalog
from omniretail.db import UnitOfWork
from omniretail.errors import TooLarge, ValidationFailed
from omniretail.i18n import ENGLISH
from omniretail.imports.domain import (
    LOCATION_COLUMNS,
    PRODUCT_COLUMNS,
    Parsed,
    RowError,
    format_hours,
    format_money,
    parse_locations,
    parse_products,
    write_csv,
)
from omniretail.imports.messages import row_message
from omniretail.imports.schemas import ImportReport, RowErrorOut
from omniretail.network import bulk as network_bulk
from omniretail.network import service as network

Progress = Callable[[int], None]

MAX_LISTED_ERRORS = 1000
# One file is applied in one transaction (all rows or none), which holds SQLite's write lock
# while it writes: about 7 s for 50,000 products on a small machine, well inside the busy
# timeout other writers wait. Larger catalogues are imported as several files.
MAX_IMPORT_ROWS = 50_000


class ImportTooLarge(TooLarge):
    code = "import_too_large"
    title = "Too many rows in one file"


class Kind(StrEnum):
    LOCATIONS = "locations"
    PRODUCTS = "products"


class ImportRejected(ValidationFailed):
    code = "import_rejected"
    title = "The file has bad rows; nothing was imported"


def report(
    kind: Kind,
    parsed: Parsed,
    *,
    dry_run: bool,
    created: int,
    updated: int,
    errors: list[RowError],
    locale: str = ENGLISH,
) -> ImportReport:
    """The import's outcome; each bad row's message in ``locale`` (en or zh-CN)."""
    listed = sorted(errors, key=lambda e: (e.line, e.field))[:MAX_LISTED_ERRORS]
    return ImportReport(
        kind=kind.value,
        dry_run=dry_run,
        rows=parsed.rows,
        created=created,
        updated=updated,
        error_count=len(errors),
        errors=[
            RowErrorOut(line=e.line, field=e.field, message=row_message(e.message, locale))
            for e in listed
        ],
    )


async def parse_file(kind: Kind, text: str, *, currency: str) -> Parsed:
    """Read and validate every row, off the event loop (no database needed). A file of more
    than :data:`MAX_IMPORT_ROWS` rows is refused (:class:`ImportTooLarge`)."""
    # Lines bound rows from above (a quoted cell may span lines): a far larger file is
    # refused before it is parsed at all.
    if text.count("\n") > 2 * MAX_IMPORT_ROWS:
        raise _too_large()
    try:
        if kind is Kind.LOCATIONS:
            parsed = await asyncio.to_thread(parse_locations, text)
        else:
            parsed = await asyncio.to_thread(parse_products, text, minor_digits(currency))
    except csv.Error as exc:
        raise ImportRejected(
            "the file is not valid CSV", [{"field": "body", "message": str(exc)}]
        ) from exc
    if parsed.rows > MAX_IMPORT_ROWS:
        raise _too_large()
    return parsed


def _too_large() -> ImportTooLarge:
    return ImportTooLarge(
        f"a file may hold at most {MAX_IMPORT_ROWS} rows; split it and import each part",
        max_rows=MAX_IMPORT_ROWS,
    )


async def do_import(
    uow: UnitOfWork,
    *,
    kind: Kind,
    parsed: Parsed,
    dry_run: bool,
    actor: str,
    locale: str = ENGLISH,
) -> ImportReport:
    """Check the parsed rows against the database; with no bad row and not a dry run, apply
    all of them in this unit of work. With bad rows, :class:`ImportRejected` carries the report
    (the first :data:`MAX_LISTED_ERRORS` rows named, all counted) and nothing is written."""
    if kind is Kind.LOCATIONS:
        result = await _import_locations(uow, parsed=parsed, dry_run=dry_run, locale=locale)
    else:
        result = await _import_products(
            uow, parsed=parsed, dry_run=dry_run, actor=actor, locale=locale
        )
    if result.errors:
        raise ImportRejected(
            f"{result.error_count} problem(s) in the file"
            + (
                f"; the first {len(result.errors)} are listed"
                if result.error_count > len(result.errors)
                else ""
            ),
            [e.model_dump() for e in result.errors],
            report=result.model_dump(),
        )
    return result


async def _import_locations(
    uow: UnitOfWork, *, parsed: Parsed, dry_run: bool, locale: str
) -> ImportReport:
    if parsed.errors:
        return report(
            Kind.LOCATIONS,
            parsed,
            dry_run=dry_run,
            created=0,
            updated=0,
            errors=parsed.errors,
            locale=locale,
        )
    outcome = await network_bulk.do_upsert_locations(uow, locations=parsed.items, dry_run=dry_run)
    errors = [RowError(parsed.lines.get(code, 0), f, m) for code, f, m in outcome.conflicts]
    return report(
        Kind.LOCATIONS,
        parsed,
        dry_run=dry_run,
        created=outcome.created,
        updated=outcome.updated,
        errors=errors,
        locale=locale,
    )


async def _import_products(
    uow: UnitOfWork, *, parsed: Parsed, dry_run: bool, actor: str, locale: str
) -> ImportReport:
    if parsed.errors:
        return report(
            Kind.PRODUCTS,
            parsed,
            dry_run=dry_run,
            created=0,
            updated=0,
            errors=parsed.errors,
            locale=locale,
        )
    outcome = await catalog.do_upsert_products(
        uow, products=parsed.items, actor=actor, dry_run=dry_run
    )
    errors = [
        RowError(parsed.lines.get(sku, 0), field, message)
        for sku, field, message in outcome.conflicts
    ]
    return report(
        Kind.PRODUCTS,
        parsed,
        dry_run=dry_run,
        created=outcome.created,
        updated=outcome.updated,
        errors=errors,
        locale=locale,
    )


async def export(uow: UnitOfWork, *, kind: Kind) -> str:
    if kind is Kind.LOCATIONS:
        rows = []
        after = None
        while True:
            page = await network.list_locations(uow, limit=500, after=after)
            for loc in page[:500]:
                rows.append(
                    {
                        "code": loc.code,
                        "name": loc.name,
                        "type": loc.type.value,
                        "lat": loc.lat,
                        "lng": loc.lng,
                        "address": loc.address or "",
                        "ship": _yes(loc.capabilities.ship),
                        "pickup": _yes(loc.capabilities.pickup),
                        "local_delivery": _yes(loc.capabilities.local_delivery),
                        "sells_online": _yes(loc.capabilities.sells_online),
                        "delivery_radius_km": ""
                        if loc.delivery_radius_km is None
                        else loc.delivery_radius_km,
                        "daily_capacity": "" if loc.daily_capacity is None else loc.daily_capacity,
                        "opening_hours": format_hours(loc.opening_hours),
                    }
                )
            if len(page) <= 500:
                break
            after = page[499].code
        return write_csv(LOCATION_COLUMNS, rows)
    tenant = await auth.get_tenant(uow)
    digits = minor_digits(tenant.currency)
    products = await catalog.all_products(uow)
    attributes = sorted({k for p in products for v in p.variants for k in v.attributes})
    return write_csv(
        PRODUCT_COLUMNS + attributes,
        (
            {
                "product_code": p.code,
                "title": p.title,
                "category": p.category,
                "sku": v.sku,
                "barcode": v.barcode or "",
                "price": format_money(v.price, digits),
                **{k: v.attributes.get(k, "") for k in attributes},
            }
            for p in products
            for v in p.variants
        ),
    )


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
