"""imported fields: each imported item keeps its fields as the tracker last gave them, so that a re-import applies
the tracker's changes since then and keeps what was changed here; and whether its tracker closed it (done or
cancelled: history for estimates and duplicates, not work to refine, prioritize or plan); and the item's own
history of changes made outside suggestions (a person's edit, a re-import taking the tracker's changes)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("backlog_items") as batch:
        batch.add_column(sa.Column("imported", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("closed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "item_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("project_id", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["backlog_items.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("item_events") as batch:
        batch.create_index(batch.f("ix_item_events_item_id"), ["item_id"], unique=False)
        batch.create_index(batch.f("ix_item_events_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    op.drop_table("item_events")
    with op.batch_alter_table("backlog_items") as batch:
        batch.drop_column("closed")
        batch.drop_column("imported")
