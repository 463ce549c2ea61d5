"""Alembic revisions, oldest first: 0001 is the schema of Refinery 0.1 (databases made before migrations)."""
