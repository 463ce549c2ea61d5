"""Databases made before migrations by an older Refinery: what it lacked is added (tables, nullable columns and
their indexes, as the additive upgrade did), its rows are kept, and it is adopted at the baseline revision."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from service.core import migrate
from service.core.db import Database
from service.core.tables import Base
from tests.fixtures import db_v0_1


def older(url: str, *statements: str) -> None:
    """The 0.1 database at `url`, changed by `statements` into one an older Refinery made."""
    db_v0_1.load(url)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def test_what_an_older_database_lacks_is_added_and_its_rows_kept(settings):
    older(
        settings.db_url,
        "DROP TABLE conversation_jobs",  # from before conversations
        "DROP TABLE conversations",
        "ALTER TABLE backlog_items DROP COLUMN merged_into_id",
        "DROP INDEX ix_backlog_items_parent_id",
        "ALTER TABLE backlog_items DROP COLUMN parent_id",
        "ALTER TABLE suggestions DROP COLUMN evidence",
    )
    database = Database(settings.db_url)
    with database.engine.connect() as connection:
        assert migrate.current(connection) == set(migrate.scripts().get_heads())
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        found = connection.execute(text("SELECT id, title, merged_into_id, parent_id FROM backlog_items ORDER BY id"))
        assert [tuple(row) for row in found] == [
            (1, "Filter search results by price", None, None),
            (2, "Export invoices", None, None),
            (3, "Export invoices as PDF", None, None),
            (4, "Invoice export", None, None),
        ]
        assert connection.execute(text("SELECT count(*) FROM suggestions WHERE evidence IS NULL")).scalar() == 4
        assert connection.execute(text("SELECT count(*) FROM conversations")).scalar() == 0
    indexes = {i["name"] for i in inspect(database.engine).get_indexes("backlog_items")}
    assert "ix_backlog_items_parent_id_project_id" in indexes  # by the item's epic in the project (0027)
    database.engine.dispose()


def test_an_older_database_without_a_required_column_is_refused_unchanged(settings):
    dropped = ("DROP TABLE conversation_jobs", "DROP TABLE conversations")  # the baseline makes these first
    older(settings.db_url, *dropped, "ALTER TABLE ingest_jobs DROP COLUMN stage")
    with pytest.raises(migrate.DatabaseVersionError, match="ingest_jobs lacks the required column stage"):
        Database(settings.db_url)
    engine = create_engine(settings.db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    assert "conversations" not in inspect(engine).get_table_names()  # nothing was changed: all or nothing
    engine.dispose()


PARENTS = {"backlog_items.parent_id", "tickets.theme_id", "comments.sent_as"}  # lookups that are not foreign keys


def test_a_lookup_by_a_rows_parent_in_the_project_reads_that_parents_rows_only(tmp_path):
    """The project scope adds `project_id = ?` to every query; by a row's parent (its item, suggestion, thread,
    webhook, job), SQLite must not read it through the project's own index, every row of the project (0027)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    Base.metadata.create_all(engine)
    walked = []
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if "project_id" not in table.c:
                continue
            for column in table.c:
                if column.name == "project_id" or not (column.foreign_keys or f"{table.name}.{column.name}" in PARENTS):
                    continue
                query = f"EXPLAIN QUERY PLAN SELECT * FROM {table.name} WHERE {column.name} = 1 AND project_id = 1"
                plan = connection.execute(text(query)).fetchall()[0][3]
                if f"ix_{table.name}_project_id " in plan or "SCAN" in plan:
                    walked.append(f"{table.name}.{column.name}: {plan}")
    engine.dispose()
    assert walked == []
