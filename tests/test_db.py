"""Database upgrades: a database created before a column existed gets it, and keeps its rows."""

from __future__ import annotations

from sqlalchemy import inspect, text

from service.core.db import Database


def test_columns_added_since_a_database_was_created_are_added(settings):
    database = Database(settings.db_url)
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO backlog_items (title, description, item_type, labels, created_at, "
                "updated_at) VALUES ('kept', '', 'feature', '[]', '2026-01-01', '2026-01-01')"
            )
        )
        connection.execute(text("ALTER TABLE backlog_items DROP COLUMN merged_into_id"))
        connection.execute(text("ALTER TABLE suggestions DROP COLUMN evidence"))
    database.engine.dispose()
    upgraded = Database(settings.db_url)
    columns = {c["name"] for c in inspect(upgraded.engine).get_columns("backlog_items")}
    assert "merged_into_id" in columns
    assert "evidence" in {c["name"] for c in inspect(upgraded.engine).get_columns("suggestions")}
    with upgraded.engine.connect() as connection:
        assert connection.execute(text("SELECT title, merged_into_id FROM backlog_items")).all() == [("kept", None)]
    upgraded.engine.dispose()
