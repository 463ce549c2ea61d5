"""inbox: a person's notifications (mentions, suggestions given to them, comments and decisions on those), and the
suggestions each watches or has muted

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 20:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("suggestion_id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("project_id", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.ForeignKeyConstraint(["comment_id"], ["comments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.ForeignKeyConstraint(["suggestion_id"], ["suggestions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_comment_id"), ["comment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_recipient"), ["recipient"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_suggestion_id"), ["suggestion_id"], unique=False)
        batch_op.create_index("ix_notifications_unread", ["recipient", "project_id", "read_at"], unique=False)

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("suggestion_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=200), nullable=False),
        sa.Column("watching", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("project_id", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.ForeignKeyConstraint(["suggestion_id"], ["suggestions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("suggestion_id", "person", name="uq_subscriptions_suggestion_person"),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscriptions_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subscriptions_suggestion_id"), ["suggestion_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_suggestion_id"))
        batch_op.drop_index(batch_op.f("ix_subscriptions_project_id"))

    op.drop_table("subscriptions")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_unread")
        batch_op.drop_index(batch_op.f("ix_notifications_suggestion_id"))
        batch_op.drop_index(batch_op.f("ix_notifications_recipient"))
        batch_op.drop_index(batch_op.f("ix_notifications_project_id"))
        batch_op.drop_index(batch_op.f("ix_notifications_comment_id"))

    op.drop_table("notifications")
