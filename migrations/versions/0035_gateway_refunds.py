"""gateway refunds: refunds owed through WeChat Pay and Alipay, sent after commit

A refund through a remote gateway is a recorded request (this table) written with the change
that owes it; a worker job sends it after commit and keeps its outcome.

Revision ID: 0035
Revises: 0030
Create Date: 2026-11-27 13:40:52.644028
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import omniretail.db

revision: str = '0035'
down_revision: str | Sequence[str] | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('gateway_refunds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('out_refund_no', sa.String(length=64), nullable=False),
    sa.Column('method', sa.String(length=32), nullable=False),
    sa.Column('provider_ref', sa.String(length=128), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reason', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', omniretail.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('gateway_refund_id', sa.String(length=64), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', omniretail.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('settled_at', omniretail.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint('amount > 0 AND amount <= total', name=op.f('ck_gateway_refunds_amount_range')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gateway_refunds_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gateway_refunds')),
    sa.UniqueConstraint('out_refund_no', name=op.f('uq_gateway_refunds_out_refund_no'))
    )
    with op.batch_alter_table('gateway_refunds', schema=None) as batch_op:
        batch_op.create_index('ix_gateway_refunds_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_gateway_refunds_provider_ref'), ['provider_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_gateway_refunds_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('gateway_refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gateway_refunds_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_gateway_refunds_provider_ref'))
        batch_op.drop_index('ix_gateway_refunds_due')

    op.drop_table('gateway_refunds')
