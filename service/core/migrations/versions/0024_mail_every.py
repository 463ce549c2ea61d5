"""mail every: how often a person's unread inbox lines may be mailed (soon, hourly, daily), and when they last were;
the index of lines not yet mailed leads with their person (a round reads only the lines of the people due)

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-29 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mail_every", sa.String(length=10), server_default="soon", nullable=False))
        batch_op.add_column(sa.Column("last_mailed_at", sa.DateTime(timezone=True), nullable=True))
    _unmailed_index(["recipient", "at"])


def _unmailed_index(columns: list[str]) -> None:
    unmailed = sa.text("read_at IS NULL AND mailed_at IS NULL")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_unmailed")
        batch_op.create_index(
            "ix_notifications_unmailed", columns, unique=False, sqlite_where=unmailed, postgresql_where=unmailed
        )


def downgrade() -> None:
    _unmailed_index(["at"])
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_mailed_at")
        batch_op.drop_column("mail_every")
