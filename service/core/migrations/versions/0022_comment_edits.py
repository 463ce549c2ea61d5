"""comment edits: when a comment's author last changed it, and when a push last sent it to the tracker (an edit made
after that is sent by the next push)

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-29 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE comments SET sent_at = at WHERE sent_as IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_column("sent_at")
        batch_op.drop_column("edited_at")
