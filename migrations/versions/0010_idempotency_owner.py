"""idempotency keys belong to the caller that sent them; stored responses hold no secrets

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Stored responses written before this revision may hold API keys and pickup codes in
    # clear, and carry no owner: they are dropped (they only lived 24 hours anyway).
    op.execute(sa.text("DELETE FROM idempotency_keys"))
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=64), nullable=False))
        batch_op.drop_constraint('uq_idempotency_keys_tenant_id_key', type_='unique')
        batch_op.create_unique_constraint(
            batch_op.f('uq_idempotency_keys_tenant_id_owner_key'), ['tenant_id', 'owner', 'key']
        )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM idempotency_keys"))
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_constraint('uq_idempotency_keys_tenant_id_owner_key', type_='unique')
        batch_op.create_unique_constraint(
            batch_op.f('uq_idempotency_keys_tenant_id_key'), ['tenant_id', 'key']
        )
        batch_op.drop_column('owner')
