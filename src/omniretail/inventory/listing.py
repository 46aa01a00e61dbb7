"""Stock positions in bulk: a location's positions page by page, and every position as CSV.

Both walk the (tenant, location code, SKU) index in key order, so a page costs the same on
the first and the thousandth location, and an export of millions of rows is read in chunks
without holding them all in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa

from omniretail.db import Database, UnitOfWork
from omniretail.errors import ValidationFailed
from omniretail.inventory.models import StockPosition
from omniretail.inventory.schemas import PositionOut
from omniretail.inventory.service import position_out
from omniretail.network import service as network

P = StockPosition
CSV_COLUMNS = ["location", "sku", "on_hand", "reserved", "safety_stock", "available"]
EXPORT_CHUNK = 5_000


def check_cursor(after: Any, *, by_location: bool) -> tuple[str, ...] | None:
    """A cursor names the last (SKU) or (location, SKU) given; anything else is a 422."""
    if after is None:
        return None
    size = 1 if by_location else 2
    if isinstance(after, list) and len(after) == size and all(isinstance(x, str) for x in after):
        return tuple(after)
    raise ValidationFailed(
        "invalid cursor", [{"field": "cursor", "message": "use next_cursor as given"}]
    )


async def list_positions(
    uow: UnitOfWork, *, location: str | None, limit: int, after: Any = None
) -> list[tuple[list[str], PositionOut]]:
    """Positions of one location in SKU order (or of every location, by location then SKU),
    each with its cursor value; ``limit + 1`` rows so the caller knows whether more exist.
    An unknown location is a 404."""
    last = check_cursor(after, by_location=location is not None)
    query = sa.select(P).order_by(P.location_code, P.sku).limit(limit + 1)
    if location is not None:
        await network.location_ref(uow, location)
        query = query.where(P.location_code == location)
        if last is not None:
            query = query.where(P.sku > last[0])
    elif last is not None:
        query = query.where(sa.tuple_(P.location_code, P.sku) > sa.tuple_(*last))
    rows = await uow.session.scalars(query)
    return [
        ([row.sku] if location is not None else [row.location_code, row.sku], position_out(row))
        for row in rows
    ]


async def export_positions(
    db: Database, tenant_id: int, *, location: str | None, bom: bool = False
) -> AsyncIterator[str]:
    """The positions as CSV (``location,sku,on_hand,reserved,safety_stock,available``), read
    in keyset chunks, each in its own short read-only transaction (never the SQLite write
    lock), so no transaction stays open while a slow client downloads. Check the location
    before streaming: an unknown one yields the header alone. ``bom`` starts the file with a
    byte order mark, without which Excel reads UTF-8 as the system's code page."""
    yield ("\ufeff" if bom else "") + _csv_lines([CSV_COLUMNS])
    after: list[str] | None = None
    while True:
        async with db.uow(tenant_id, read_only=True) as uow:
            page = await list_positions(uow, location=location, limit=EXPORT_CHUNK, after=after)
        rows = page[:EXPORT_CHUNK]
        if rows:
            yield _csv_lines(
                [
                    [p.location, p.sku, p.on_hand, p.reserved, p.safety_stock, p.available]
                    for _, p in rows
                ]
            )
        if len(page) <= EXPORT_CHUNK:
            return
        after = rows[-1][0]


def _csv_lines(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()
