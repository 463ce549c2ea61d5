"""tracker comments: comments written in the tracker, read by a pull (or an import) into their item's thread, found
again by the tracker's name for them (`sent_as`, now indexed)

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-29 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("from_tracker", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f("ix_comments_sent_as"), ["sent_as"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_comments_sent_as"))
        batch_op.drop_column("from_tracker")
