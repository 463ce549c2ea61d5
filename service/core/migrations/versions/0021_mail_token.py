"""mail token: a user's secret for the unsubscribe link in the mail they get (List-Unsubscribe, RFC 8058)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mail_token", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_users_mail_token"), ["mail_token"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_mail_token"))
        batch_op.drop_column("mail_token")
