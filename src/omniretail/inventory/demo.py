"""Demo stock: every store, dark store and warehouse receives the catalogue's variants."""

from __future__ import annotations

import random

from omniretail.catalog import service as catalog
from omniretail.db import Database
from omniretail.inventory import service
from omniretail.inventory.schemas import MovementLineIn
from omniretail.network import service as network
from omniretail.network.domain import LocationType

# Units received per variant: warehouses deep, dark stores fast movers, stores a few (some none,
# so that nearby availability has gaps to show).
_RANGE = {
    LocationType.WAREHOUSE.value: (150, 400),
    LocationType.DARK_STORE.value: (10, 40),
    LocationType.STORE.value: (0, 8),
}


async def seed_inventory(db: Database, tenant_id: int, *, seed: int = 11) -> int:
    """Receive stock for whatever variants exist now, in one batch; returns the lines applied.
    Idempotent: the batch id makes a second call a replay."""
    rng = random.Random(seed)
    async with db.uow(tenant_id) as uow:
        skus: list[str] = []
        after = None
        while True:
            products = await catalog.list_products(uow, limit=500, after=after)
            skus += [v.sku for p in products[:500] for v in p.variants]
            if len(products) <= 500:
                break
            after = products[499].code
        locations = []
        after = None
        while True:
            found = await network.list_locations(uow, limit=500, after=after)
            locations += [loc for loc in found[:500] if loc.type.value in _RANGE]
            if len(found) <= 500:
                break
            after = found[499].code
    lines = []
    for location in locations:
        low, high = _RANGE[location.type.value]
        for sku in skus:
            qty = rng.randint(low, high)
            if qty:
                lines.append(
                    MovementLineIn(
                        sku=sku, location=location.code, reason="receipt", qty=qty, reference="demo"
                    )
                )
    if not lines:
        return 0
    async with db.uow(tenant_id) as uow:
        result = await service.do_apply_movements(
            uow, lines=lines, actor="demo", batch_id="demo-initial-stock"
        )
    return result.lines
