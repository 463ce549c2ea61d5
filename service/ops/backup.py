"""Backup and restore: one tar.gz with a manifest, every table as JSON lines, and the uploaded files.

The dump is logical (rows as JSON, read through the tables' own types), so a backup of SQLite restores into
PostgreSQL and the other way round. SQLite is first copied with sqlite3's backup API and dumped from the copy;
PostgreSQL is read in one REPEATABLE READ transaction: either way the tables are one consistent moment. The vector
index is not kept: it is rebuilt from the restored database (`refinery restore` does it).

A restore checks the whole archive before it touches anything, refuses a database that has rows (unless forced) and
writes every table in one transaction, so a bad archive or a failed restore changes nothing.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ValidationError
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Table,
    create_engine,
    delete,
    func,
    insert,
    inspect,
    null,
    select,
)
from sqlalchemy import text as sql
from sqlalchemy.engine import make_url
from sqlalchemy.types import JSON, TypeDecorator

from service.core import migrate
from service.core.db import Database, driver_url
from service.core.settings import Settings
from service.core.tables import Base, Project

FORMAT = 1  # the archive layout; a reader refuses a higher number
FOLDERS = ("uploads",)  # what the data directory keeps besides the database (models, fits, chroma, logs are rebuilt)
MANIFEST = "manifest.json"
BATCH = 500
RELOCATED = {("ingest_jobs", "file_path")}  # absolute paths into the data directory's uploads


class BackupError(Exception):
    """A backup cannot be made or restored; the message says why and what to do. Nothing was changed."""


class Manifest(BaseModel):
    format: int
    refinery_version: str
    created_at: datetime
    database: str  # the dialect it was taken from
    alembic_revision: str | None
    tables: dict[str, int]  # rows per table
    files: dict[str, int]  # files per folder of the data directory


def refinery_version() -> str:
    try:
        return version("refinery")
    except PackageNotFoundError:
        return "0"


def _engine(url: str) -> Engine:
    return create_engine(driver_url(url))


def _is_datetime(column: Column) -> bool:
    kind = column.type
    return isinstance(kind.impl if isinstance(kind, TypeDecorator) else kind, DateTime)


# --- backup -------------------------------------------------------------------------------------------------------


def backup(settings: Settings, out: Path) -> Manifest:
    """Write the database and the data directory's files to `out` (tar.gz); the manifest says what it holds."""
    with tempfile.TemporaryDirectory(prefix="refinery-backup-") as work:
        work_dir = Path(work)
        url = settings.db_url
        if url.startswith("sqlite"):
            engine = _engine(f"sqlite:///{_sqlite_snapshot(url, work_dir / 'snapshot.db')}")
        else:
            engine = _engine(url)
        try:
            with engine.connect() as connection:
                if engine.dialect.name == "postgresql":
                    connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
                with connection.begin():
                    tables = _dump(connection, work_dir / "db")
                    revision = _alembic_revision(connection)
            dialect = engine.dialect.name
        except Exception as exc:
            raise BackupError(f"the database could not be read: {exc}") from exc
        finally:
            engine.dispose()
        # after the database: a row names an upload only once its file is written, so every file it names is here
        files = {folder: _files(settings.data_dir / folder) for folder in FOLDERS}
        manifest = Manifest(
            format=FORMAT,
            refinery_version=refinery_version(),
            created_at=datetime.now(UTC),
            database=dialect,
            alembic_revision=revision,
            tables=tables,
            files={folder: len(found) for folder, found in files.items()},
        )
        partial = out.with_name(out.name + ".partial")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            with tarfile.open(partial, "w:gz") as tar:
                data = manifest.model_dump_json(indent=2).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime = len(data), int(manifest.created_at.timestamp())
                tar.addfile(info, io.BytesIO(data))
                for name in tables:
                    tar.add(work_dir / "db" / f"{name}.jsonl", f"db/{name}.jsonl")
                for folder, found in files.items():
                    for path in found:
                        tar.add(path, f"{folder}/{path.relative_to(settings.data_dir / folder).as_posix()}")
            partial.replace(out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise BackupError(f"{out} could not be written: {exc}") from exc
    return manifest


def _sqlite_snapshot(url: str, copy: Path) -> Path:
    path = make_url(url).database
    if not path or not Path(path).is_file():
        raise BackupError(f"there is no database at {path}: nothing to back up")
    source = sqlite3.connect(path)
    target = sqlite3.connect(copy)
    try:
        with target:
            source.backup(target)
    except sqlite3.Error as exc:
        raise BackupError(f"the database {path} could not be copied: {exc}") from exc
    finally:
        source.close()
        target.close()
    return copy


def _dump(connection: Connection, folder: Path) -> dict[str, int]:
    """Every known table present in the database, one JSON object per row, by primary key; rows per table."""
    folder.mkdir()
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    counts: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        if table.name not in present:
            continue
        have = {column["name"] for column in inspector.get_columns(table.name)}
        columns = [column for column in table.columns if column.name in have]
        rows = connection.execute(select(*columns).order_by(*table.primary_key.columns))
        count = 0
        with (folder / f"{table.name}.jsonl").open("w", encoding="utf-8") as out:
            for row in rows.mappings():
                out.write(json.dumps(dict(row), default=_encode, ensure_ascii=False) + "\n")
                count += 1
        counts[table.name] = count
    return counts


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot back up a {type(value).__name__}")


def _alembic_revision(connection: Connection) -> str | None:
    """The schema revision (None for a database Alembic never touched)."""
    return ",".join(sorted(migrate.current(connection))) or None


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


# --- restore ------------------------------------------------------------------------------------------------------


def restore(settings: Settings, archive: Path, force: bool = False) -> Manifest:
    """Restore a backup into the configured database and data directory. Raises BackupError, having changed
    nothing, for an unreadable archive, one from a newer Refinery, or a database with rows (unless `force`: then
    its rows are replaced)."""
    with tempfile.TemporaryDirectory(prefix="refinery-restore-") as work:
        staged = Path(work)
        manifest = _unpack(archive, staged)
        _check(manifest, staged)
        try:
            database = Database(settings.db_url)
        except Exception as exc:
            raise BackupError(f"the database could not be opened: {exc}") from exc
        try:
            with database.engine.begin() as connection:
                _empty(connection, force, settings)
                uploads = settings.data_dir / "uploads"
                for table in Base.metadata.sorted_tables:
                    if table.name in manifest.tables:
                        _load(connection, table, staged / "db" / f"{table.name}.jsonl", staged / "uploads", uploads)
                if connection.dialect.name == "postgresql":
                    _advance_sequences(connection)
        except BackupError:
            raise
        except Exception as exc:
            raise BackupError(f"the restore failed and was rolled back: {exc}") from exc
        finally:
            database.engine.dispose()
        shutil.rmtree(settings.points_models_dir, ignore_errors=True)  # fitted on the rows just replaced
        for folder in FOLDERS:
            if (staged / folder).is_dir():
                try:
                    shutil.copytree(staged / folder, settings.data_dir / folder, dirs_exist_ok=True)
                except OSError as exc:
                    raise BackupError(
                        f"the database was restored, but the files in {folder}/ could not be: {exc}. Free the space "
                        f"and run the restore again with --force"
                    ) from exc
    return manifest


def _unpack(archive: Path, staged: Path) -> Manifest:
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member)
            if MANIFEST not in {member.name for member in members}:
                raise BackupError(f"{archive} is not a Refinery backup: it has no {MANIFEST}")
            tar.extractall(staged, filter="data")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BackupError(f"{archive} is not a readable Refinery backup (a tar.gz): {exc}") from exc
    try:
        return Manifest.model_validate_json((staged / MANIFEST).read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError) as exc:
        raise BackupError(f"{archive} has a damaged manifest: {exc}") from exc


def _check_member(member: tarfile.TarInfo) -> None:
    path = PurePosixPath(member.name)
    top = path.parts[0] if path.parts else ""
    allowed = member.name == MANIFEST or (top == "db" and len(path.parts) == 2) or top in FOLDERS
    if not allowed or ".." in path.parts or path.is_absolute() or not (member.isfile() or member.isdir()):
        raise BackupError(f"the archive holds {member.name!r}, which no Refinery backup has: it is not one")


def _check(manifest: Manifest, staged: Path) -> None:
    """Refuse an archive a newer Refinery made, or whose tables do not match their manifest."""
    ours = refinery_version()
    if manifest.format > FORMAT:
        raise BackupError(f"the backup has format {manifest.format}; this Refinery reads up to {FORMAT}: upgrade it")
    try:
        newer = Version(manifest.refinery_version) > Version(ours)
    except InvalidVersion:
        newer = True
    if newer:
        raise BackupError(f"the backup was made by Refinery {manifest.refinery_version}, newer than {ours}: upgrade")
    known = {script.revision for script in migrate.scripts().walk_revisions()}
    if manifest.alembic_revision and not set(manifest.alembic_revision.split(",")) <= known:
        raise BackupError(
            f"the backup's schema revision {manifest.alembic_revision} is unknown here: a newer Refinery made it"
        )
    for name, count in manifest.tables.items():
        table = Base.metadata.tables.get(name)
        if table is None:
            raise BackupError(f"the backup has a table {name!r} this Refinery does not know: a newer one made it")
        path = staged / "db" / f"{name}.jsonl"
        if not path.is_file():
            raise BackupError(f"the backup lacks db/{name}.jsonl, which its manifest lists: it is incomplete")
        found = 0
        for row in _rows(path):
            if unknown := row.keys() - table.c.keys():
                raise BackupError(f"the backup's {name} rows have columns this Refinery lacks: {sorted(unknown)}")
            found += 1
        if found != count:
            raise BackupError(f"db/{name}.jsonl has {found} rows, its manifest says {count}: the archive is damaged")


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise BackupError(f"{path.name} line {number} is not JSON: the archive is damaged") from exc
            if not isinstance(row, dict):
                raise BackupError(f"{path.name} line {number} is not a row: the archive is damaged")
            yield row


def _empty(connection: Connection, force: bool, settings: Settings) -> None:
    """Refuse a database with rows; with `force`, delete them (children first)."""
    present = set(inspect(connection).get_table_names())
    tables = [table for table in Base.metadata.sorted_tables if table.name in present]
    filled = {t.name: n for t in tables if (n := connection.execute(select(func.count()).select_from(t)).scalar_one())}
    if filled == {Project.__tablename__: 1}:  # the default project every migrated database has: nothing of a user's
        filled = {}
    if filled and not force:
        rows = ", ".join(f"{count} in {name}" for name, count in filled.items())
        where = make_url(settings.db_url).render_as_string(hide_password=True)
        raise BackupError(f"the database {where} is not empty ({rows}): `restore --force` replaces its rows")
    for table in reversed(tables):
        connection.execute(delete(table))


def _load(connection: Connection, table: Table, path: Path, staged_uploads: Path, uploads: Path) -> None:
    dates = {column.name for column in table.columns if _is_datetime(column)}
    json_columns = {column.name for column in table.columns if isinstance(column.type, JSON)}
    batch: list[dict[str, Any]] = []
    for row in _rows(path):
        for column in dates & row.keys():
            if row[column] is not None:
                row[column] = datetime.fromisoformat(row[column])
        for column in json_columns & row.keys():
            if row[column] is None:
                row[column] = null()  # SQL NULL, as the ORM stores an unset JSON column
        for name, column in RELOCATED:
            if name == table.name and row.get(column):
                row[column] = _relocate(row[column], staged_uploads, uploads)
        batch.append(row)
        if len(batch) == BATCH:
            _insert(connection, table, batch)
    _insert(connection, table, batch)


def _insert(connection: Connection, table: Table, batch: list[dict[str, Any]]) -> None:
    """Insert the rows (columns a backup lacks take their defaults) and empty the batch."""
    if batch:
        connection.execute(insert(table), batch)
        batch.clear()


def _relocate(value: str, staged_uploads: Path, uploads: Path) -> str:
    """A path into the backed-up data directory's uploads, pointed at this data directory's."""
    name = Path(value).name
    return str(uploads / name) if Path(value).parent.name == "uploads" and (staged_uploads / name).is_file() else value


def _advance_sequences(connection: Connection) -> None:
    """PostgreSQL's id sequences past the restored ids, so new rows do not collide with them."""
    for table in Base.metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        if len(keys) == 1 and keys[0].autoincrement in (True, "auto") and keys[0].type.python_type is int:
            name, column = table.name, keys[0].name
            connection.execute(
                sql(
                    f"SELECT setval(pg_get_serial_sequence(:table, :column), COALESCE(MAX({column}), 1), "
                    f"MAX({column}) IS NOT NULL) FROM {name}"
                ),
                {"table": name, "column": column},
            )
