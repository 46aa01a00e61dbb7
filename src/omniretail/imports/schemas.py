from __future__ import annotations

from pydantic import Field

from omniretail.schemas import Output


class RowErrorOut(Output):
    line: int
    field: str
    message: str


class ImportReport(Output):
    kind: str
    dry_run: bool
    rows: int
    created: int
    updated: int
    error_count: int = Field(default=0, description="every bad row found")
    errors: list[RowErrorOut] = Field(description="the first 1,000 bad rows, by line")
