"""mail: a user's e-mail address and whether unread inbox lines are mailed to them; when a line was mailed

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28 23:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("email_notifications", sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mailed_at", sa.DateTime(timezone=True), nullable=True))
        unmailed = sa.text("read_at IS NULL AND mailed_at IS NULL")  # a mail round's lines
        batch_op.create_index(
            "ix_notifications_unmailed", ["at"], unique=False, sqlite_where=unmailed, postgresql_where=unmailed
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_unmailed")
        batch_op.drop_column("mailed_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email_notifications")
        batch_op.drop_column("email")
