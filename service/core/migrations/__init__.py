"""Alembic's script directory (env.py, versions/): run by service.core.migrate, never imported for the app."""
