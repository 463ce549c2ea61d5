"""pull since: a pull reads only the issues changed there since the last pull that ended well (a day at most since
one read them all); `since` is None for a pull of every issue

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-29 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pull_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pull_jobs", schema=None) as batch_op:
        batch_op.drop_column("since")
