"""Alembic, driven from code: the CLI, the app's readiness check and the tests share this."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from omniretail.config import normalise_database_url
from omniretail.db import Database


def migrations_dir() -> Path:
    """``migrations/`` at the repository root (the package is installed editable)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "migrations"
        if (candidate / "env.py").exists():
            return candidate
    raise RuntimeError("migrations/ not found beside the package")


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", normalise_database_url(database_url))
    return cfg


def upgrade(database_url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(database_url), revision)


def script_heads() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return set(script.get_heads())


async def database_revisions(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        try:
            rows = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
        except sa.exc.DBAPIError:
            return set()
        return {row[0] for row in rows}
