"""consumed events by age (the retention purge deletes the oldest rows in batches)

Revision ID: 0029
Revises: 0027
Create Date: 2026-11-27 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0029'
down_revision: str | Sequence[str] | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('consumed_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consumed_events_consumed_at'), ['consumed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consumed_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consumed_events_consumed_at'))
