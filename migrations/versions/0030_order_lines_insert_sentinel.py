"""an insert sentinel on order and fulfilment lines (one multi-row INSERT ... RETURNING on SQLite)

SQLite's INTEGER PRIMARY KEY gives SQLAlchemy no way to match the ids RETURNING gives back to
the rows of a multi-row INSERT, so it sent one INSERT a line. A nullable column that the ORM
fills with each row's position in the batch (``orm_insert_sentinel``) lets it send one.

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-27 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0030'
down_revision: str | Sequence[str] | None = '0029'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('order_lines', 'fulfilment_lines')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('_sentinel', sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('_sentinel')
