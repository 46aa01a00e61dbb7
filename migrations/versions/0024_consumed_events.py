"""consumed events: NATS consumers' record of the outbox events they handled

Revision ID: 0024
Revises: 0022
Create Date: 2026-11-27 07:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import omniretail.db

revision: str = '0024'
down_revision: str | Sequence[str] | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consumed_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('consumer', sa.String(length=120), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('consumed_at', omniretail.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_consumed_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumed_events')),
    sa.UniqueConstraint('consumer', 'event_id', name=op.f('uq_consumed_events_consumer_event_id'))
    )
    with op.batch_alter_table('consumed_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consumed_events_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consumed_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consumed_events_tenant_id'))
    op.drop_table('consumed_events')
