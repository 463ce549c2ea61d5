"""comments sent: a backlog item's comment, once a push has posted it on the item's issue in the tracker, names the
comment there; a push job counts the comments it sent

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_as", sa.String(length=300), nullable=True))
    with op.batch_alter_table("push_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("comments_sent", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("push_jobs", schema=None) as batch_op:
        batch_op.drop_column("comments_sent")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_column("sent_as")
