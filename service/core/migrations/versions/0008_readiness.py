"""readiness: each project's Definition of Ready (the quality criteria it checks, the most points that fit a
sprint); none means the default (every criterion, 8 points)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 03:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("readiness", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("readiness")
