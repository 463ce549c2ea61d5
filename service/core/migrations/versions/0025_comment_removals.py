"""comment removals: a comment deleted here that a push had posted on its issue, for the next push to delete there

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-29 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comment_removals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("sent_as", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("project_id", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["backlog_items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("comment_removals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_comment_removals_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_comment_removals_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("comment_removals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_comment_removals_project_id"))
        batch_op.drop_index(batch_op.f("ix_comment_removals_item_id"))
    op.drop_table("comment_removals")
