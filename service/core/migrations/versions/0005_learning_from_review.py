"""learning from review: a project's merge decisions recalibrate its duplicate verdict, its drafts accepted with
edits become drafting examples; an admin's reset is the time from which each counts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("duplicates_learned_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("drafts_learned_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("drafts_learned_since")
        batch.drop_column("duplicates_learned_since")
