"""removal text: a comment deleted here keeps its posted text until a push deletes it there, so one whose post's
answer was lost is found on the issue by it

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-29 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("comment_removals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("comment_removals", schema=None) as batch_op:
        batch_op.drop_column("text")
