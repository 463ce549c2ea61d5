"""hand rank: who put a backlog item in its place in the order by hand (a rerank by scores keeps it there); a push
that also sends the order, and the order a tracker was last sent

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 20:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("backlog_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ranked_by", sa.String(length=200), nullable=True))
    with op.batch_alter_table("push_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("send_order", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("tracker_connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("order_sent", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tracker_connections", schema=None) as batch_op:
        batch_op.drop_column("order_sent")
    with op.batch_alter_table("push_jobs", schema=None) as batch_op:
        batch_op.drop_column("send_order")
    with op.batch_alter_table("backlog_items", schema=None) as batch_op:
        batch_op.drop_column("ranked_by")
