"""sales facts by store and day (a store's customers over a period that is no whole month)

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-27 09:35:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0027'
down_revision: str | Sequence[str] | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sales_facts', schema=None) as batch_op:
        batch_op.create_index('ix_sales_facts_tenant_location_day', ['tenant_id', 'location', 'day'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sales_facts', schema=None) as batch_op:
        batch_op.drop_index('ix_sales_facts_tenant_location_day')
