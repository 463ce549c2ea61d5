"""Alembic's environment: migrations run on the connection `service.core.migrate` passes in
`config.attributes["connection"]`, inside the transaction (and lock) it holds."""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext

from service.core.tables import Base, UTCDateTime


def render_item(kind: str, obj: Any, _context: AutogenContext) -> str | bool:
    """Render the app's UTCDateTime as the plain column type it stores, so revisions never import the app."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `refinery db upgrade` (service.core.migrate), not the alembic command")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite changes columns by copying the table; batch_alter_table does that for it
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
