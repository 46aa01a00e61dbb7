from __future__ import annotations

from pydantic import Field

from omniretail.schemas import Output


class RowErrorOut(Output):
    line: int = Field(description="the file's line number (the header is line 1)")
    field: str = Field(description="the column (or checked field, e.g. `capabilities`) at fault")
    message: str = Field(
        description="what is wrong, in the reader's language (Accept-Language, else the "
        "tenant's locale)"
    )


class ImportReport(Output):
    kind: str = Field(description="`locations` or `products`")
    dry_run: bool = Field(description="true: only checked, nothing written")
    rows: int = Field(description="data rows read (the header and blank lines not counted)")
    created: int = Field(description="locations or products that are new (would be, on a dry run)")
    updated: int = Field(description="existing ones changed (would be, on a dry run)")
    error_count: int = Field(default=0, description="every bad row found")
    errors: list[RowErrorOut] = Field(description="the first 1,000 bad rows, by line")
