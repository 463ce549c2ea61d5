"""item subscriptions: a person watches or mutes a backlog item's thread as they do a suggestion's (exactly one)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_id", sa.Integer(), nullable=True))
        batch_op.alter_column("suggestion_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f("ix_subscriptions_item_id"), ["item_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_subscriptions_item_id_backlog_items", "backlog_items", ["item_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_unique_constraint("uq_subscriptions_item_person", ["item_id", "person"])
        batch_op.create_check_constraint("ck_subscriptions_one_thread", "(suggestion_id IS NULL) <> (item_id IS NULL)")


def downgrade() -> None:
    op.execute("DELETE FROM subscriptions WHERE item_id IS NOT NULL")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_constraint("ck_subscriptions_one_thread", type_="check")
        batch_op.drop_constraint("uq_subscriptions_item_person", type_="unique")
        batch_op.drop_constraint("fk_subscriptions_item_id_backlog_items", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_subscriptions_item_id"))
        batch_op.alter_column("suggestion_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("item_id")
