"""analytics: customer groups kept from the facts (customer_rollups dropped), customer and split-order spans

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-27 07:45:00.000000

The customer groups are now moved from each customer's facts (a few rows) and a period that
is not a whole month or year is grouped from its facts, so the per-customer rows (about three
per sale) are no longer kept: a rebuild no longer writes them. ``customer_group_rollups``
keeps the same figures. ``customer_span_rollups`` answers the customers report over any
other period, ``fulfilment_split_spans`` the orders split over several parcels: run
``omni analytics rebuild --tenant T`` once after upgrading to fill them (and after a
downgrade, to fill the per-customer rows again).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import omniretail.db  # noqa: F401  (column types used by autogenerate)

revision: str = '0025'
down_revision: str | Sequence[str] | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('customer_rollups', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_rollups_tenant_customer')
        batch_op.drop_index(batch_op.f('ix_customer_rollups_tenant_id'))
    op.drop_table('customer_rollups')
    op.create_table('customer_span_rollups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('first_grain', sa.String(length=1), nullable=False),
    sa.Column('first', sa.Date(), nullable=False),
    sa.Column('last_grain', sa.String(length=1), nullable=False),
    sa.Column('last', sa.Date(), nullable=False),
    sa.Column('channel_group', sa.String(length=4), nullable=False),
    sa.Column('customers', sa.BigInteger(), nullable=False),
    sa.Column('orders', sa.BigInteger(), nullable=False),
    sa.Column('repeat_customers', sa.BigInteger(), nullable=False),
    sa.Column('gross', sa.BigInteger(), nullable=False),
    sa.Column('net', sa.BigInteger(), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_customer_span_rollups_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_span_rollups')),
    sa.UniqueConstraint('tenant_id', 'scope', 'first_grain', 'first', 'last_grain', 'last', 'channel_group', name='uq_customer_span_rollups_key')
    )
    with op.batch_alter_table('customer_span_rollups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_span_rollups_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('fulfilment_split_spans',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('dim', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('first_grain', sa.String(length=1), nullable=False),
    sa.Column('first', sa.Date(), nullable=False),
    sa.Column('last_grain', sa.String(length=1), nullable=False),
    sa.Column('last', sa.Date(), nullable=False),
    sa.Column('orders', sa.BigInteger(), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_fulfilment_split_spans_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fulfilment_split_spans')),
    sa.UniqueConstraint('tenant_id', 'dim', 'mode', 'key', 'first_grain', 'first', 'last_grain', 'last', name='uq_fulfilment_split_spans_key')
    )
    with op.batch_alter_table('fulfilment_split_spans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fulfilment_split_spans_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fulfilment_split_spans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fulfilment_split_spans_tenant_id'))
    op.drop_table('fulfilment_split_spans')
    with op.batch_alter_table('customer_span_rollups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_span_rollups_tenant_id'))
    op.drop_table('customer_span_rollups')
    op.create_table('customer_rollups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('grain', sa.String(length=1), nullable=False),
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('channels', sa.Text(), nullable=False),
    sa.Column('channel_count', sa.Integer(), nullable=False),
    sa.Column('orders', sa.BigInteger(), nullable=False),
    sa.Column('gross', sa.BigInteger(), nullable=False),
    sa.Column('net', sa.BigInteger(), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_customer_rollups_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_rollups')),
    sa.UniqueConstraint('tenant_id', 'scope', 'grain', 'day', 'customer_id', name=op.f('uq_customer_rollups_tenant_id_scope_grain_day_customer_id'))
    )
    with op.batch_alter_table('customer_rollups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_rollups_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_customer_rollups_tenant_customer', ['tenant_id', 'customer_id'], unique=False)
