"""tracker hooks: the secret that signs a tracker's webhooks, the last one received, a schedule of pulls, and which
Jira (Cloud or Data Center)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tracker_connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hook_secret", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("hook_received_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("hook_last", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("pull_every_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("edition", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tracker_connections", schema=None) as batch_op:
        batch_op.drop_column("edition")
        batch_op.drop_column("pull_every_minutes")
        batch_op.drop_column("hook_last")
        batch_op.drop_column("hook_received_at")
        batch_op.drop_column("hook_secret")
