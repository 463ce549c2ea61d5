"""projects: every project-scoped table gets project_id; what was there becomes the default project

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 01:50:49.072509
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCOPED = (
    "backlog_items", "conversation_jobs", "conversations", "ingest_jobs", "prioritize_jobs", "refine_jobs", "strategy",
    "suggestions", "themes", "tickets",
)  # fmt: skip
UNIQUE_IN_PROJECT = {  # table: (column unique per instance before, the constraint that makes it unique per project)
    "backlog_items": ("external_id", "uq_backlog_items_project_external_id"),
    "tickets": ("key", "uq_tickets_project_key"),
}
SQLITE_UNNAMED = {"uq": "uq_%(table_name)s_%(column_0_name)s"}  # how batch mode names the unnamed constraints


def upgrade() -> None:
    projects = sa.table(
        "projects", sa.column("id", sa.Integer), sa.column("key", sa.String), sa.column("name", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )  # fmt: skip
    bind = op.get_bind()
    if bind.execute(sa.select(projects.c.id).where(projects.c.id == 1)).first() is None:
        op.bulk_insert(
            projects, [{"id": 1, "key": "default", "name": "Default project", "created_at": datetime.now(UTC)}]
        )
        if bind.dialect.name == "postgresql":  # the id was given, so move the sequence past it
            bind.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('projects', 'id'), (SELECT max(id) FROM projects))")
            )
    sqlite = bind.dialect.name == "sqlite"
    for table in SCOPED:
        with op.batch_alter_table(table, naming_convention=SQLITE_UNNAMED if sqlite else None) as batch_op:
            batch_op.add_column(sa.Column("project_id", sa.Integer(), server_default=sa.text("1"), nullable=False))
            batch_op.create_index(f"ix_{table}_project_id", ["project_id"], unique=False)
            batch_op.create_foreign_key(f"fk_{table}_project_id", "projects", ["project_id"], ["id"])
            if table in UNIQUE_IN_PROJECT:
                column, name = UNIQUE_IN_PROJECT[table]
                batch_op.drop_constraint(f"uq_{table}_{column}" if sqlite else f"{table}_{column}_key", type_="unique")
                batch_op.create_unique_constraint(name, ["project_id", column])


def downgrade() -> None:
    for table in reversed(SCOPED):
        with op.batch_alter_table(table) as batch_op:
            if table in UNIQUE_IN_PROJECT:
                column, name = UNIQUE_IN_PROJECT[table]
                batch_op.drop_constraint(name, type_="unique")
                batch_op.create_unique_constraint(f"uq_{table}_{column}", [column])
            batch_op.drop_constraint(f"fk_{table}_project_id", type_="foreignkey")
            batch_op.drop_index(f"ix_{table}_project_id")
            batch_op.drop_column("project_id")
