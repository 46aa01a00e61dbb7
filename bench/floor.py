"""The floor for ``bench_http``: a bare FastAPI app with no database and no middleware that
returns a location-shaped JSON, served by the same uvicorn settings as ``omni serve``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

app = FastAPI()

LOCATION: dict[str, Any] = {
    "code": "ST-000",
    "name": "Store 0",
    "type": "store",
    "lat": 31.2304,
    "lng": 121.4737,
    "address": None,
    "capabilities": {"ship": True, "pickup": True, "local_delivery": False, "sells_online": True},
    "delivery_radius_km": None,
    "daily_capacity": None,
    "opening_hours": None,
    "active": True,
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
}


@app.get("/v1/locations/{code}")
async def location(code: str) -> dict[str, Any]:
    return {**LOCATION, "code": code}
