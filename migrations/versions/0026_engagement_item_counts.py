"""engagement item counts (popularity beside the pair counts) and a covering strongest index

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-27 07:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
down_revision: str | Sequence[str] | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('engagement_item_counts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('customers', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_engagement_item_counts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engagement_item_counts')),
    sa.UniqueConstraint('tenant_id', 'sku', 'kind', name=op.f('uq_engagement_item_counts_tenant_id_sku_kind'))
    )
    with op.batch_alter_table('engagement_item_counts', schema=None) as batch_op:
        batch_op.create_index('ix_engagement_item_counts_most', ['tenant_id', 'kind', 'customers', 'sku'], unique=False)
        batch_op.create_index(batch_op.f('ix_engagement_item_counts_tenant_id'), ['tenant_id'], unique=False)

    # The counts so far, from the signals they count (a customer absorbed by a merge counts
    # once here; `omni engagement rebuild-pairings` replays the outbox for the exact figures).
    op.execute(
        "INSERT INTO engagement_item_counts (tenant_id, sku, kind, customers) "
        "SELECT tenant_id, sku, kind, count(*) FROM engagement_item_signals "
        "GROUP BY tenant_id, sku, kind"
    )

    with op.batch_alter_table('engagement_item_pairs', schema=None) as batch_op:
        batch_op.drop_index('ix_engagement_item_pairs_strongest')
        batch_op.create_index('ix_engagement_item_pairs_strongest', ['tenant_id', 'sku', 'kind', 'customers', 'other'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('engagement_item_pairs', schema=None) as batch_op:
        batch_op.drop_index('ix_engagement_item_pairs_strongest')
        batch_op.create_index('ix_engagement_item_pairs_strongest', ['tenant_id', 'sku', 'kind', 'customers'], unique=False)

    with op.batch_alter_table('engagement_item_counts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_engagement_item_counts_tenant_id'))
        batch_op.drop_index('ix_engagement_item_counts_most')

    op.drop_table('engagement_item_counts')
