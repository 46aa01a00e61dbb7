from __future__ import annotations

from typing import Annotated

from pydantic import Field

from omniretail.auth.domain import Role
from omniretail.schemas import SHOWN_ONCE, Code, Input, Output


class KeyIn(Input):
    role: Role
    location: Code | None = None
    channel: Code | None = None
    label: Annotated[str, Field(max_length=200)] | None = None


class KeyOut(Output):
    id: int
    key: Annotated[str | None, SHOWN_ONCE] = Field(
        description="shown only in this response (null on an idempotent replay)"
    )
    role: Role
    location: str | None
    channel: str | None
    label: str | None


class MeOut(Output):
    tenant: str
    currency: str
    timezone: str
    role: Role
    location: str | None
    channel: str | None
