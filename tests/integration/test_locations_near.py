from __future__ import annotations

from omniretail.db import Database
from omniretail.network import service
from omniretail.network.schemas import CapabilitiesIn, LocationIn
from tests.factories import TenantHandle

CENTRE = (31.2304, 121.4737)


def loc(code: str, lat: float, lng: float, **caps: bool) -> LocationIn:
    return LocationIn(
        code=code,
        name=code,
        type="store",
        lat=lat,
        lng=lng,  # type: ignore[arg-type]
        capabilities=CapabilitiesIn(**caps),
    )


async def test_nearest_first_within_radius_and_capability(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        for location in [
            loc("FAR", 31.50, 121.47, pickup=True),  # ~30 km north
            loc("NEAR", 31.2350, 121.4737, pickup=True),  # ~0.5 km
            loc("MID", 31.2304, 121.5100, pickup=True),  # ~3.5 km east
            loc("NOPICK", 31.2310, 121.4737, ship=True),  # closest, cannot do pickup
        ]:
            await service.do_create_location(uow, data=location)
    async with db.uow(tenant.id) as uow:
        found = await service.locations_near(
            uow, lat=CENTRE[0], lng=CENTRE[1], radius_km=10, capability="pickup"
        )
        everything = await service.locations_near(
            uow, lat=CENTRE[0], lng=CENTRE[1], radius_km=50, limit=2
        )
    assert [(f.code, round(f.distance_km, 1)) for f in found] == [("NEAR", 0.5), ("MID", 3.5)]
    assert [f.code for f in everything] == ["NOPICK", "NEAR"]
