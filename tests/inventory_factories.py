"""Stock test data built through the services: products, locations, receipts."""

from __future__ import annotations

import itertools
from typing import Any

from omniretail.catalog import service as catalog
from omniretail.catalog.schemas import ProductIn
from omniretail.db import Database
from omniretail.inventory import service as inventory
from omniretail.inventory.schemas import MovementLineIn
from omniretail.network import service as network
from omniretail.network.schemas import CapabilitiesIn, LocationIn

_n = itertools.count(1)
ACTOR = "test"


async def make_skus(db: Database, tenant_id: int, *skus: str) -> list[str]:
    async with db.uow(tenant_id) as uow:
        await catalog.do_create_product(
            uow,
            data=ProductIn.model_validate(
                {
                    "code": f"P-{next(_n):05d}",
                    "title": "Linen shirt",
                    "category": "men/shirts",
                    "variants": [{"sku": sku, "price": 19900} for sku in skus],
                }
            ),
            actor=ACTOR,
        )
    return list(skus)


async def make_location(
    db: Database,
    tenant_id: int,
    code: str,
    *,
    type: str = "store",
    lat: float = 31.2304,
    lng: float = 121.4737,
    **caps: Any,
) -> str:
    capabilities = caps.pop("capabilities", None) or CapabilitiesIn(
        ship=True, pickup=True, local_delivery=True, sells_online=True
    )
    if type == "experience_store":
        capabilities = CapabilitiesIn()
    async with db.uow(tenant_id) as uow:
        await network.do_create_location(
            uow,
            data=LocationIn(
                code=code,
                name=code,
                type=type,  # type: ignore[arg-type]
                lat=lat,
                lng=lng,
                capabilities=capabilities,
                **caps,
            ),
        )
    return code


async def receive(db: Database, tenant_id: int, location: str, sku: str, qty: int) -> None:
    async with db.uow(tenant_id) as uow:
        await inventory.do_apply_movements(
            uow,
            lines=[MovementLineIn(sku=sku, location=location, reason="receipt", qty=qty)],
            actor=ACTOR,
        )


async def position(db: Database, tenant_id: int, location: str, sku: str) -> tuple[int, int]:
    """(on_hand, reserved) of one position."""
    async with db.uow(tenant_id) as uow:
        pos = await inventory.get_position(uow, location=location, sku=sku)
    return pos.on_hand, pos.reserved


async def assert_books_balance(db: Database, tenant_id: int) -> None:
    async with db.uow(tenant_id) as uow:
        assert await inventory.check_ledger(uow) == []
