"""job pieces: refine jobs remember which items are done, prioritize jobs keep each item's estimate, so several
workers can share one job and count each item once

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 05:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refine_jobs") as batch:
        batch.add_column(sa.Column("done_item_ids", sa.JSON(), nullable=True))
    with op.batch_alter_table("prioritize_jobs") as batch:
        batch.add_column(sa.Column("estimates", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prioritize_jobs") as batch:
        batch.drop_column("estimates")
    with op.batch_alter_table("refine_jobs") as batch:
        batch.drop_column("done_item_ids")
