"""pending key: a pending refinement suggestion is stored once per kind, item and fingerprint, even when two
workers make it at the same time (a unique column, cleared when the suggestion is decided)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 22:30:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
REFINEMENT = ("rewrite", "split", "estimate")


def upgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        batch.add_column(sa.Column("pending_key", sa.String(120), nullable=True))
        batch.create_unique_constraint("uq_suggestions_pending_key", ["pending_key"])
    suggestions = sa.table(
        "suggestions", sa.column("id", sa.Integer), sa.column("kind"), sa.column("status"), sa.column("input")
    )
    connection = op.get_bind()
    query = sa.select(suggestions.c.id, suggestions.c.kind, suggestions.c.input).where(
        suggestions.c.status == "pending", suggestions.c.kind.in_(REFINEMENT)
    )
    seen = set()
    for row_id, kind, inputs in connection.execute(query.order_by(suggestions.c.id)).all():
        inputs = json.loads(inputs) if isinstance(inputs, str) else inputs or {}
        key = f"{kind}:{inputs.get('backlog_item_id')}:{inputs.get('fingerprint')}"
        if key not in seen:  # a later duplicate stays pending, without a key
            seen.add(key)
            connection.execute(
                sa.text("UPDATE suggestions SET pending_key = :key WHERE id = :id"), {"key": key, "id": row_id}
            )


def downgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        batch.drop_constraint("uq_suggestions_pending_key", type_="unique")
        batch.drop_column("pending_key")
