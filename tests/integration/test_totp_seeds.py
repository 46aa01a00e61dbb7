"""TOTP seeds are sealed at rest: new ones as they are made, old clear ones by the migration
(which refuses to run without a key rather than leave them in clear)."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from omniretail.auth.seeds import SeedSealer, StaffKeysMissing, is_sealed
from omniretail.auth.staff import do_create_staff
from omniretail.auth.staff_domain import StaffRole
from omniretail.auth.staff_models import StaffUser
from omniretail.db import Database
from omniretail.migrate import upgrade
from tests.factories import STAFF_KEY, TenantHandle

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


async def test_a_new_seed_is_stored_sealed_and_opens_with_the_key(
    db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as uow:
        made = await do_create_staff(
            uow, role=StaffRole.OPS, password="long enough pw", name="Ops",
            email="ops@acme.test", totp=True,
        )  # fmt: skip
    seed = made["totp_uri"].split("secret=")[1].split("&")[0]
    async with db.uow(tenant.id) as uow:
        stored = await uow.session.scalar(sa.select(StaffUser.totp_secret))
    assert stored is not None
    assert seed not in stored
    assert is_sealed(stored)
    assert SeedSealer([STAFF_KEY]).open(stored) == seed
    with pytest.raises(StaffKeysMissing):
        SeedSealer([Fernet.generate_key().decode()]).open(stored)
    with pytest.raises(StaffKeysMissing):
        SeedSealer([]).seal(seed)


def _at_0014_with_a_clear_seed(path: Path) -> str:
    url = f"sqlite:///{path}"
    upgrade(f"sqlite+aiosqlite:///{path}", "0016-1")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tenants (id, slug, name, currency, timezone, settings, created_at) "
                "VALUES (1, 't', 'T', 'CNY', 'Asia/Shanghai', '{}', '2026-11-01 00:00:00')"
            )
        )
        conn.execute(sa.text(
            "INSERT INTO staff_users (id, tenant_id, email, name, password_hash, role, locations,"
            " language, totp_secret, failed_signins, session_version, created_at) VALUES "
            f"(1, 1, 'a@t.test', 'A', 'x', 'ops', '[]', 'en', '{SEED}', 0, 1,"
            " '2026-11-01 00:00:00')"
        ))  # fmt: skip
    engine.dispose()
    return url


def _stored(url: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(sa.text("SELECT totp_secret FROM staff_users")).scalar_one()
    engine.dispose()
    return str(value)


def test_the_migration_seals_clear_seeds_and_refuses_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMNI_DATABASE_URL", raising=False)
    url = _at_0014_with_a_clear_seed(tmp_path / "m.db")
    monkeypatch.setenv("OMNI_STAFF_KEYS", "")
    with pytest.raises(RuntimeError, match="OMNI_STAFF_KEYS"):
        upgrade(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", "0016")
    assert _stored(url) == SEED  # nothing changed
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("OMNI_STAFF_KEYS", key)
    upgrade(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", "0016")
    sealed = _stored(url)
    assert is_sealed(sealed)
    assert SeedSealer([key]).open(sealed) == SEED
    assert pyotp.TOTP(SeedSealer([key]).open(sealed)).now().isdigit()
