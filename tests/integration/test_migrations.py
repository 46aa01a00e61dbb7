"""The models and the migrations agree (what `alembic check` checks), on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from omniretail.db import Database
from omniretail.migrate import database_revisions, script_heads
from omniretail.models import metadata


async def test_the_schema_matches_the_models(db: Database) -> None:
    def diff(sync_conn: object) -> list[object]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})  # type: ignore[arg-type]
        return list(compare_metadata(context, metadata))

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_the_database_is_at_the_latest_revision(db: Database) -> None:
    assert await database_revisions(db) == script_heads()
