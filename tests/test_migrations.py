"""Schema migrations (Alembic) on SQLite and PostgreSQL: a Refinery 0.1 database with data is upgraded and keeps
every row; a new database gets exactly the schema of service/core/tables.py; processes that open a database at
once do not collide; a database a newer Refinery upgraded is refused with what to do."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from service.api import create_app
from service.core import migrate
from service.core.db import Database
from service.core.settings import Settings, get_settings
from service.core.tables import Base
from tests.fixtures import db_v0_1


def heads() -> set[str]:
    return set(migrate.scripts().get_heads())


def schema_differences(database: Database) -> list:
    """What `alembic check` would report: the database's schema against the tables in the code."""
    with database.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def test_a_refinery_0_1_database_is_upgraded_and_keeps_every_row(settings: Settings, llm):
    db_v0_1.load(settings.db_url)
    database = Database(settings.db_url)
    expected = db_v0_1.expected_rows()
    with database.engine.connect() as connection:
        assert migrate.current(connection) == heads()
        columns = {name: list(rows[0]) for name, rows in expected.items()}
        assert db_v0_1.read_rows(connection, Base.metadata, columns) == expected
    assert schema_differences(database) == []  # 0001 is the schema 0.1 made: adopted and new databases agree
    database.engine.dispose()

    no_index = settings.model_copy(update={"duplicate_check": False})  # no embedding model to load
    with TestClient(create_app(no_index, llm)) as client:
        backlog = client.get("/v1/backlog").json()
        assert [(i["id"], i["title"], i["parent_id"]) for i in backlog] == [
            (1, "Filter search results by price", None),
            (2, "Export invoices", None),
            (3, "Export invoices as PDF", 2),
        ]
        assert backlog[1]["priority_set_at"] == "2026-11-06T09:30:00Z" and backlog[1]["depends_on"] == [1]
        assert [s["id"] for s in client.get("/v1/suggestions").json()] == [4, 3, 2, 1]
        history = client.get("/v1/suggestions/1/history").json()
        assert [e["action"] for e in history] == ["created", "accepted"]
        assert client.get("/v1/ingest/jobs/1").json()["status"] == "done"
        accepted = client.post("/v1/suggestions/2/accept", json={}, headers={"X-User": "cy"})
        assert accepted.status_code == 201, accepted.text  # new rows get new ids after the 0.1 ones
        assert [i["id"] for i in client.get("/v1/backlog").json()] == [1, 2, 3, 5]
    client.app.state.runtime.db.engine.dispose()


def test_a_new_database_gets_exactly_the_schema_of_the_tables(settings: Settings):
    """Fails when service/core/tables.py changes without a revision: `refinery db revision -m ...` writes it."""
    database = Database(settings.db_url)
    with database.engine.connect() as connection:
        assert migrate.current(connection) == heads()
    assert schema_differences(database) == []
    database.engine.dispose()


OPEN = """
import sys, time
from pathlib import Path
from service.core.db import Database
ready, go = Path(sys.argv[2]), Path(sys.argv[3])
ready.touch()
while not go.exists():
    time.sleep(0.005)
Database(sys.argv[1]).engine.dispose()
"""


@pytest.mark.parametrize("made_by", ["new", "refinery 0.1"])
def test_processes_that_open_a_database_at_once_upgrade_it_once(settings: Settings, tmp_path: Path, made_by: str):
    if made_by == "refinery 0.1":
        db_v0_1.load(settings.db_url)
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, settings.db_url, str(tmp_path / f"ready{n}"), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{n}").exists() for n in range(3)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # all three imported: they open the database together
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    database = Database(settings.db_url)
    assert schema_differences(database) == []
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        expected = 4 if made_by == "refinery 0.1" else 0
        assert connection.execute(text("SELECT count(*) FROM suggestions")).scalar() == expected
    database.engine.dispose()


def test_a_database_from_a_newer_refinery_is_refused_with_what_to_do(settings: Settings, monkeypatch):
    Database(settings.db_url).engine.dispose()
    database = Database(settings.db_url)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    database.engine.dispose()
    with pytest.raises(migrate.DatabaseVersionError, match="newer Refinery has upgraded it. Upgrade Refinery"):
        Database(settings.db_url)

    from service.cli import app

    monkeypatch.setenv("REFINERY_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        for command in (["db", "upgrade"], ["db", "current"], ["backlog", "list"]):
            result = CliRunner().invoke(app, command)
            assert result.exit_code == 2, (command, result.output)
            output = " ".join(result.output.split())  # rich wraps long lines
            assert "Upgrade Refinery" in output or "upgrade Refinery" in output, output
            assert "Traceback" not in result.output
    finally:
        get_settings.cache_clear()


def test_db_commands_show_and_upgrade_the_revision(tmp_path: Path, monkeypatch):
    from service.cli import app

    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        db_v0_1.load(get_settings().db_url)
        before = CliRunner().invoke(app, ["db", "current"])
        assert before.exit_code == 0 and "database: none" in before.output, before.output
        assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
        after = CliRunner().invoke(app, ["db", "current"])
        assert f"database: {', '.join(sorted(heads()))}" in after.output
    finally:
        get_settings.cache_clear()


def test_db_revision_writes_what_the_tables_add_to_the_newest_revision(tmp_path: Path, monkeypatch):
    """`refinery db revision` on a copy of the revisions, after a table is added to the tables: what it writes
    catches up with them, and a second one has nothing to write."""
    import shutil

    from sqlalchemy import Column, Integer, String, Table

    from service.core.tables import Base

    copy = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    newest = max(int(path.name[:4]) for path in (copy / "versions").glob("[0-9]*.py"))
    monkeypatch.setattr(migrate, "MIGRATIONS", copy)
    added = Table("scratch_notes", Base.metadata, Column("id", Integer, primary_key=True), Column("text", String(50)))
    try:
        written = migrate.new_revision("catch up")
        assert written.parent == copy / "versions" and written.name == f"{newest + 1:04d}_catch_up.py"
        assert "scratch_notes" in written.read_text()
        database = Database(f"sqlite:///{tmp_path}/refinery.db")
        assert schema_differences(database) == []
        database.engine.dispose()
        with pytest.raises(ValueError, match="nothing to write"):
            migrate.new_revision("again")
    finally:
        Base.metadata.remove(added)


def test_pending_refinement_suggestions_get_their_key_on_upgrade_and_a_later_duplicate_none(settings: Settings):
    """0006 keys the pending rewrite/split/estimate suggestions a database already has; of two made from the same
    item as it is (the two-worker race it closes), the first is keyed and the later one stays pending unkeyed."""
    import json

    from alembic import command
    from sqlalchemy import create_engine

    from service.core.db import driver_url

    engine = create_engine(driver_url(settings.db_url))
    with engine.begin() as connection:
        command.upgrade(migrate.config(connection), "0005")
        made = {"backlog_item_id": 7, "fingerprint": "f1"}
        for kind, status, inputs in [
            ("estimate", "pending", made),
            ("estimate", "pending", made),  # the same one again
            ("estimate", "pending", made | {"fingerprint": "f0"}),  # from the item before it changed
            ("rewrite", "pending", made),
            ("estimate", "accepted", made),
            ("decision", "pending", {"conversation_id": 1}),
        ]:
            connection.execute(
                text(
                    "INSERT INTO suggestions (kind, status, input, model, provider, prompt_version, usage, warnings, "
                    "created_at) VALUES (:kind, :status, :input, 'm', 'p', 'v', '{}', '[]', CURRENT_TIMESTAMP)"
                ),
                {"kind": kind, "status": status, "input": json.dumps(inputs)},
            )
    engine.dispose()
    database = Database(settings.db_url)
    with database.engine.connect() as connection:
        keys = connection.execute(text("SELECT pending_key FROM suggestions ORDER BY id")).scalars().all()
    assert keys == ["estimate:7:f1", None, "estimate:7:f0", "rewrite:7:f1", None, None]
    database.engine.dispose()
