"""Import (dry run or all-or-nothing apply) and export, for locations and products."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from omniretail.auth import service as auth
from omniretail.auth.domain import minor_digits
from omniretail.catalog import service as catalog
from omniretail.db import UnitOfWork
from omniretail.errors import ValidationFailed
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
from omniretail.imports.schemas import ImportReport, RowErrorOut
from omniretail.network import bulk as network_bulk
from omniretail.network import service as network

Progress = Callable[[int], None]


class Kind(StrEnum):
    LOCATIONS = "locations"
    PRODUCTS = "products"


class ImportRejected(ValidationFailed):
    code = "import_rejected"
    title = "The file has bad rows; nothing was imported"


def report(
    kind: Kind, parsed: Parsed, *, dry_run: bool, created: int, updated: int, errors: list[RowError]
) -> ImportReport:
    return ImportReport(
        kind=kind.value,
        dry_run=dry_run,
        rows=parsed.rows,
        created=created,
        updated=updated,
        errors=[
            RowErrorOut(line=e.line, field=e.field, message=e.message)
            for e in sorted(errors, key=lambda e: (e.line, e.field))
        ],
    )


async def do_import(
    uow: UnitOfWork, *, kind: Kind, text: str, dry_run: bool, actor: str
) -> ImportReport:
    """Check every row; with no bad row and not a dry run, apply all of it in this unit of
    work. With bad rows, :class:`ImportRejected` carries the report and nothing is written."""
    if kind is Kind.LOCATIONS:
        result = await _import_locations(uow, text=text, dry_run=dry_run)
    else:
        result = await _import_products(uow, text=text, dry_run=dry_run, actor=actor)
    if result.errors:
        raise ImportRejected(
            f"{len(result.errors)} problem(s) in the file",
            [e.model_dump() for e in result.errors],
            report=result.model_dump(),
        )
    return result


async def _import_locations(uow: UnitOfWork, *, text: str, dry_run: bool) -> ImportReport:
    parsed = parse_locations(text)
    if parsed.errors:
        return report(
            Kind.LOCATIONS, parsed, dry_run=dry_run, created=0, updated=0, errors=parsed.errors
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
    )


async def _import_products(
    uow: UnitOfWork, *, text: str, dry_run: bool, actor: str
) -> ImportReport:
    tenant = await auth.get_tenant(uow)
    parsed = parse_products(text, minor_digits(tenant.currency))
    if parsed.errors:
        return report(
            Kind.PRODUCTS, parsed, dry_run=dry_run, created=0, updated=0, errors=parsed.errors
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
