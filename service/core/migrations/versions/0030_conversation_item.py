"""conversation item: a backlog item's comments read as a conversation name the item, which the model is then shown
first among the items the conversation may change

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-29 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_conversations_item_id_project_id", ["item_id", "project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_item_id_project_id")
        batch_op.drop_column("item_id")
