"""imported fields: each imported item keeps its fields as the tracker last gave them, so that a re-import applies
the tracker's changes since then and keeps what was changed here; and whether its tracker closed it (done or
cancelled: history for estimates and duplicates, not work to refine, prioritize or plan)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("backlog_items") as batch:
        batch.add_column(sa.Column("imported", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("closed", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("backlog_items") as batch:
        batch.drop_column("closed")
        batch.drop_column("imported")
