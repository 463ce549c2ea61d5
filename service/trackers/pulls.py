"""What a pull reads from the tracker: the issues changed there since the last pull that ended well, or every issue.

A pull reads every issue when asked (`full`), the first time, when the tracker connected is not the one the last pull
read, and when the last pull of every issue is a day old or more (`FULL_EVERY`): only such a pull sees an issue
deleted or moved out there, and what a tracker's "updated" may not count (a link, relation, sub-issue or dependency
changed alone: not relied on). Otherwise it asks for the issues updated since the start of the last pull that ended
well (each tracker looks back `http.CLOCK_SKEW` more): an issue changed while that pull read is read again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.backlog.importers import ParsedImport
from service.core.enums import JobStatus
from service.core.errors import TooLarge
from service.core.runtime import Runtime
from service.core.tables import BacklogItem, PullJob, TrackerConnection, utcnow
from service.trackers.service import as_import, client, connection, describe, prefix

FULL_EVERY = timedelta(days=1)  # a pull reads every issue at least this often


def changes_since(session: Session, source: str, full: bool = False) -> datetime | None:
    """Where a pull of the tracker `source` names (a pull job's: the project, repository or team, and the site) starts
    reading: the start of the last pull of it that ended well, or None (every issue; see the module)."""
    if full:
        return None
    ended = select(PullJob).where(
        PullJob.status == JobStatus.done, PullJob.dry_run.is_(False), PullJob.source == source
    )
    ended = ended.order_by(PullJob.id.desc()).limit(1)
    last, whole = session.scalars(ended).first(), session.scalars(ended.where(PullJob.since.is_(None))).first()
    if last is None or whole is None or whole.started_at is None or whole.started_at < utcnow() - FULL_EVERY:
        return None
    return last.started_at


def read(
    runtime: Runtime, since: datetime | None = None, progress: Callable[[int], None] = lambda _n: None
) -> ParsedImport:
    """The tracker's issues (`since`: those changed there since then), parsed as a file of them would be; `progress`
    hears how many have been read. TrackerError (Refused too) when the tracker cannot be read."""
    with runtime.db.session() as session:
        row = connection(session)
    tracker = client(row)
    records: list[dict[str, Any]] = []
    try:
        for page in tracker.issues(since):
            records += page
            if len(records) > runtime.settings.max_rows:
                raise TooLarge(f"{describe(row)} has more than {runtime.settings.max_rows:,} issues, more than a pull "
                               "takes (REFINERY_MAX_ROWS)")  # fmt: skip
            progress(len(records))
    finally:
        tracker.close()
    parsed = as_import(row, tracker, records)
    if since is None and (missing := _not_read(runtime, row, {item.external_id for item in parsed.items})):
        shown = ", ".join(key.split(":", 1)[1] for key in missing[:10]) + (", ..." if len(missing) > 10 else "")
        parsed.problems.append(
            f"{len(missing)} open item(s) here are not among {describe(row)}'s issues any more (deleted there, moved, "
            f"or hidden from this token): {shown}; they are left as they are"
        )
    return parsed


def _not_read(runtime: Runtime, row: TrackerConnection, read: set[str | None]) -> list[str]:
    """The external ids of this tracker's open items here that a pull of all its issues did not find."""
    with runtime.db.session() as session:
        mine = select(BacklogItem.external_id).where(
            BacklogItem.external_id.startswith(prefix(row), autoescape=True),
            BacklogItem.merged_into_id.is_(None),
            BacklogItem.closed.is_(False),
        )
        return sorted(key for key in session.scalars(mine) if key and key not in read)
