"""import jobs: a tracker's export file, or a pull of its issues, imported as a background job with progress

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLES = ("import_jobs", "pull_jobs")


def upgrade() -> None:
    for name in TABLES:
        op.create_table(
            name,
            sa.Column("source", sa.String(length=300), nullable=False),
            sa.Column("actor", sa.String(length=200), nullable=True),
            sa.Column("phase", sa.String(length=20), nullable=False),
            sa.Column("records", sa.JSON(), nullable=True),
            sa.Column("problems", sa.JSON(), nullable=False),
            sa.Column("created", sa.Integer(), nullable=False),
            sa.Column("updated", sa.Integer(), nullable=False),
            sa.Column("unchanged", sa.Integer(), nullable=False),
            sa.Column("created_ids", sa.JSON(), nullable=False),
            sa.Column("updates", sa.JSON(), nullable=False),
            sa.Column("dry_run", sa.Boolean(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("total", sa.Integer(), nullable=False),
            sa.Column("processed", sa.Integer(), nullable=False),
            sa.Column("failed", sa.Integer(), nullable=False),
            sa.Column("errors", sa.JSON(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("project_id", sa.Integer(), server_default=sa.text("1"), nullable=False),
            sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{name}_project_id"), ["project_id"], unique=False)
            batch_op.create_index(batch_op.f(f"ix_{name}_status"), ["status"], unique=False)


def downgrade() -> None:
    for name in TABLES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{name}_status"))
            batch_op.drop_index(batch_op.f(f"ix_{name}_project_id"))
        op.drop_table(name)
