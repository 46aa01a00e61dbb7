"""Pydantic building blocks every context's schemas share."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Code = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", max_length=64)
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=2000)]
Money = Annotated[int, Field(ge=0, le=10**13, description="integer minor units (fen)")]


class Input(BaseModel):
    """Request bodies: unknown fields and NaN/inf are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=10_000)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
