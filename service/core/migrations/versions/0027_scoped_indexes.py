"""scoped indexes: a project's rows are indexed by their parent (item, suggestion, thread, webhook) and the project
together, so a lookup by the parent in the current project reads the parent's rows, not every row of the project
(`service.core.tables.scoped_index`)

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-29 06:15:00
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

LOOKUPS = {
    "backlog_items": ["parent_id", "source_suggestion_id"],
    "item_events": ["item_id"],
    "comments": ["suggestion_id", "item_id", "sent_as"],
    "notifications": ["suggestion_id", "item_id", "comment_id"],
    "comment_removals": ["item_id"],
    "subscriptions": ["suggestion_id", "item_id"],
    "webhook_deliveries": ["webhook_id"],
    "tickets": ["job_id", "theme_id"],
    "themes": ["job_id"],
    "conversation_jobs": ["conversation_id"],
}
UNINDEXED = {("backlog_items", "source_suggestion_id")}  # read by a split's undo; had no index of its own


def upgrade() -> None:
    for table, columns in LOOKUPS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                if (table, column) not in UNINDEXED:
                    batch_op.drop_index(f"ix_{table}_{column}")
                batch_op.create_index(f"ix_{table}_{column}_project_id", [column, "project_id"], unique=False)


def downgrade() -> None:
    for table, columns in LOOKUPS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_index(f"ix_{table}_{column}_project_id")
                if (table, column) not in UNINDEXED:
                    batch_op.create_index(f"ix_{table}_{column}", [column], unique=False)
