"""item comments: a comment is on a suggestion or on a backlog item (exactly one); an inbox line tells of either

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-28 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_id", sa.Integer(), nullable=True))
        batch_op.alter_column("suggestion_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f("ix_comments_item_id"), ["item_id"], unique=False)
        batch_op.create_foreign_key("fk_comments_item_id_backlog_items", "backlog_items", ["item_id"], ["id"])
        batch_op.create_check_constraint("ck_comments_one_thread", "(suggestion_id IS NULL) <> (item_id IS NULL)")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_id", sa.Integer(), nullable=True))
        batch_op.alter_column("suggestion_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f("ix_notifications_item_id"), ["item_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_notifications_item_id_backlog_items", "backlog_items", ["item_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE item_id IS NOT NULL")
    op.execute("DELETE FROM comments WHERE item_id IS NOT NULL")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint("fk_notifications_item_id_backlog_items", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_notifications_item_id"))
        batch_op.alter_column("suggestion_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("item_id")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_constraint("ck_comments_one_thread", type_="check")
        batch_op.drop_constraint("fk_comments_item_id_backlog_items", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_comments_item_id"))
        batch_op.alter_column("suggestion_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("item_id")
