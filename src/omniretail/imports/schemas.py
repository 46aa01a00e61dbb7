from __future__ import annotations

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
    errors: list[RowErrorOut]
