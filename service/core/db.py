"""Engine and sessions: a SQLite file under the data directory by default, PostgreSQL by DATABASE_URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, update
from sqlalchemy.orm import Session, sessionmaker

from service.core import migrate, outbox, scope

T = TypeVar("T")


def driver_url(url: str) -> str:
    """The URL with the driver Refinery installs: psycopg 3 for PostgreSQL (`postgresql://` would mean psycopg2)."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def make_engine(url: str) -> Engine:
    """Create the engine and bring the database to the newest schema (service.core.migrate); raises
    DatabaseVersionError for a database a newer Refinery has upgraded."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record) -> None:  # noqa: ANN001
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
    else:
        url = driver_url(url)
        engine = create_engine(url, pool_pre_ping=True)
    try:
        migrate.upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # one project at a time; webhook deliveries written as each transaction commits
        self.sessions = outbox.install(scope.scoped(sessionmaker(self.engine, expire_on_commit=False)))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error, so a failure stores nothing."""
        with self.sessions() as session, session.begin():
            yield session

    def get(self, table: type[T], row_id: int) -> T | None:
        """One row by id, usable after its session has closed."""
        with self.session() as session:
            return session.get(table, row_id)

    def update(self, table: type[Any], row_id: int, **values: Any) -> None:
        """Set columns of one row by id, in a transaction of its own (progress counters, statuses)."""
        with self.session() as session:
            session.execute(update(table).where(table.id == row_id).values(**values))
