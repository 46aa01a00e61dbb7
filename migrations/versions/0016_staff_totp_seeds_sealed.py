"""staff users' TOTP seeds sealed at rest (Fernet with OMNI_STAFF_KEYS)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 01:49:13.146923

The column widens to hold a Fernet token, and every seed stored in clear before is sealed
with the first key of ``OMNI_STAFF_KEYS``. With clear seeds present and no key set, the
upgrade stops and says so (nothing is changed): set the key and run it again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import omniretail.db  # noqa: F401  (column types used by autogenerate)
from omniretail.auth.seeds import SeedSealer, is_sealed
from omniretail.config import Settings

revision: str = '0016'
down_revision: str | Sequence[str] | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_staff = sa.table(
    'staff_users', sa.column('id', sa.BigInteger), sa.column('totp_secret', sa.String)
)


def _seeds() -> list[tuple[int, str]]:
    rows = op.get_bind().execute(
        sa.select(_staff.c.id, _staff.c.totp_secret).where(_staff.c.totp_secret.is_not(None))
    )
    return [(int(i), str(s)) for i, s in rows]


def _rewrite(changed: dict[int, str]) -> None:
    for staff_id, value in changed.items():
        op.get_bind().execute(
            sa.update(_staff).where(_staff.c.id == staff_id).values(totp_secret=value)
        )


def upgrade() -> None:
    clear = [(i, s) for i, s in _seeds() if not is_sealed(s)]
    sealer = SeedSealer.from_setting(Settings().staff_keys)
    if clear and not Settings().staff_keys.strip():
        raise RuntimeError(
            f"{len(clear)} staff TOTP seeds are stored in clear: set OMNI_STAFF_KEYS "
            "(a Fernet key) and run the migration again to seal them"
        )
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.alter_column('totp_secret',
               existing_type=sa.VARCHAR(length=64),
               type_=sa.String(length=255),
               existing_nullable=True)
    _rewrite({i: sealer.seal(s) for i, s in clear})


def downgrade() -> None:
    sealed = [(i, s) for i, s in _seeds() if is_sealed(s)]
    sealer = SeedSealer.from_setting(Settings().staff_keys)
    _rewrite({i: sealer.open(s) for i, s in sealed})
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.alter_column('totp_secret',
               existing_type=sa.String(length=255),
               type_=sa.VARCHAR(length=64),
               existing_nullable=True)
