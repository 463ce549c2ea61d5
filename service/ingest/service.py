"""Feedback ingestion as service operations: an upload kept and parsed into a queued job with its tickets, and the
job's public views (status with an estimate of the time left, themes with their tickets per week).

The upload is parsed once, when the job is created: its tickets are stored with the job (a ticket seen before, by
source + id or by content hash, is not added again). The same bytes uploaded again are refused while an earlier job
of them is queued, running or done (`force` starts another job); a job that was cancelled or failed leaves its
tickets to the next upload of them. `service.ingest.jobs` runs the job.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pipelines.tickets import ParsedTickets, parse_tickets
from pipelines.triage import THEMED
from service.core import jobs
from service.core.enums import FINISHED, JobStatus
from service.core.errors import Conflict, check_rows
from service.core.runtime import Runtime
from service.core.tables import IngestJob, Suggestion, ThemeRow, TicketRow
from service.ingest.schemas import IngestJobPublic, ThemePublic, UnthemedPublic, UnthemedTicket, WeekCount

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
LEFT_OVER = (JobStatus.cancelled, JobStatus.failed)  # jobs whose unfinished tickets the next upload takes over


class Stage(StrEnum):
    parse = "parse"  # only jobs created before tickets were stored at upload
    triage = "triage"
    cluster = "cluster"
    themes = "themes"
    done = "done"


def get_job(runtime: Runtime, job_id: int) -> IngestJob:
    return jobs.get_job(runtime, IngestJob, job_id, "ingest")


def store_upload(runtime: Runtime, data: bytes, filename: str) -> tuple[Path, str]:
    """Keep the uploaded bytes under the data directory (named by content hash) before any work starts."""
    digest = hashlib.sha256(data).hexdigest()
    folder = runtime.settings.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}{Path(filename).suffix.lower()[:10]}"
    if not path.exists():
        path.write_bytes(data)
    return path, digest


def create_job(
    runtime: Runtime,
    data: bytes,
    filename: str,
    mapping: dict[str, str] | None = None,
    product: str | None = None,
    source: str | None = None,
    min_theme_size: int = 3,
    force: bool = False,
) -> IngestJob:
    """Parse the file with this mapping (raises MappingError / UnsupportedFile with what to fix), keep it, and queue
    a job with its tickets stored. The same bytes as an earlier queued, running or done job are a Conflict naming
    it, unless `force`; TooManyJobs when the limit of active jobs is reached."""
    if not data:
        raise ValueError(f"{filename} is empty")
    if min_theme_size < 2:
        raise ValueError(f"min_theme_size is {min_theme_size}; a theme needs at least 2 tickets")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"{filename} has {len(data):,} bytes; the limit is {MAX_UPLOAD_BYTES:,}: split the file")
    parsed = parse_tickets(data, filename, mapping, source)
    check_rows(parsed.total_rows, runtime.settings.max_rows, filename)
    with runtime.db.session() as session:
        earlier = None if force else same_file_job(session, hashlib.sha256(data).hexdigest())
        jobs.ensure_capacity(session, runtime.settings.max_active_jobs)
    if earlier is not None:
        raise Conflict(
            f"this file was already uploaded as ingest job {earlier.id} ({earlier.filename!r}, "
            f"{earlier.created_at:%Y-%m-%d %H:%M} UTC, {earlier.status}; see /v1/ingest/jobs/{earlier.id}): its "
            "tickets would all count as already ingested. Send force=true (`refinery ingest --force`) to start "
            "another job anyway"
        )
    path, digest = store_upload(runtime, data, filename)
    with runtime.db.session() as session:
        job = IngestJob(
            source=source or filename,
            filename=filename,
            file_path=str(path),
            file_sha256=digest,
            params={"mapping": mapping or {}, "product": product, "min_size": min_theme_size},
            stage=Stage.triage,
        )
        session.add(job)
        session.flush()
        store_tickets(session, job.id, parsed)
        session.refresh(job)
        return job


def same_file_job(session: Session, digest: str) -> IngestJob | None:
    """The latest job of the same bytes that is queued, running or done (a cancelled or failed one may be retried)."""
    query = select(IngestJob).where(IngestJob.file_sha256 == digest, IngestJob.status.not_in(LEFT_OVER))
    return session.scalars(query.order_by(IngestJob.id.desc()).limit(1)).first()


def _seen(session: Session, keys: list[str]) -> tuple[set[str], dict[str, tuple[int, bool]]]:
    """Of these ticket keys: those stored for good, and those a cancelled or failed job left unfinished (not yet
    in a theme that has its suggestion), by key: (ticket id, already triaged)."""
    known: set[str] = set()
    left: dict[str, tuple[int, bool]] = {}
    for start in range(0, len(keys), 500):
        rows = session.execute(
            select(TicketRow.key, TicketRow.id, TicketRow.processed_at, IngestJob.status, ThemeRow.suggestion_id)
            .join(IngestJob, TicketRow.job_id == IngestJob.id)
            .outerjoin(ThemeRow, TicketRow.theme_id == ThemeRow.id)
            .where(TicketRow.key.in_(keys[start : start + 500]))
        )
        for key, ticket_id, processed_at, status, suggestion_id in rows:
            if status in LEFT_OVER and suggestion_id is None:
                left[key] = (ticket_id, processed_at is not None)
            else:
                known.add(key)
    return known, left


def store_tickets(session: Session, job_id: int, parsed: ParsedTickets) -> None:
    """Add the tickets not seen before, take over those a cancelled or failed job left unfinished, and add the
    file's counts to the job."""
    known, left = _seen(session, [t.key for t in parsed.tickets])
    added = triaged = 0
    taken: list[int] = []
    for ticket in parsed.tickets:
        if ticket.key in known:
            continue
        known.add(ticket.key)  # the same ticket twice in one file counts once
        added += 1
        if ticket.key in left:
            ticket_id, done = left[ticket.key]
            taken.append(ticket_id)
            triaged += done
            continue
        session.add(
            TicketRow(
                key=ticket.key,
                job_id=job_id,
                source=ticket.source,
                external_id=ticket.external_id,
                subject=ticket.subject,
                body=ticket.body,
                customer=ticket.customer,
                created=ticket.created_at,
            )
        )
    for start in range(0, len(taken), 500):
        chunk = taken[start : start + 500]
        session.execute(update(TicketRow).where(TicketRow.id.in_(chunk)).values(job_id=job_id, theme_id=None))
    session.execute(
        update(IngestJob)
        .where(IngestJob.id == job_id)
        .values(
            total=parsed.total_rows,
            processed=triaged,
            skipped=len(parsed.skipped),
            already_ingested=len(parsed.tickets) - added,
            errors=[f"row {s.row}: {s.reason}" for s in parsed.skipped[:50]],
            stage=Stage.triage,
        )
    )


def to_items(job: IngestJob) -> dict[int, int]:
    """Tickets in no theme proposed as evidence for a backlog item: ticket id -> the evidence suggestion's id."""
    return {t: int(s) for s, ids in (job.params or {}).get("to_items", {}).items() for t in ids}


def themes_done(job: IngestJob) -> int:
    """Themes with their suggestion (drafted, matched or failed); the evidence for tickets in no theme is not one."""
    return job.suggestions + job.failed - len((job.params or {}).get("to_items", {}))


def eta_seconds(job: IngestJob) -> float | None:
    """Remaining time from the rates seen so far in this job (None when there is nothing to go on yet); the rate
    since the stage began counts the themes drafted in parallel, by one process or several workers."""
    if job.status in FINISHED:
        return None
    if job.stage == Stage.themes and (started := job.params.get("themes_started")):
        done = themes_done(job)
        return jobs.eta_seconds(datetime.fromisoformat(started), done, max(0, job.themes - done))
    if job.stage == Stage.triage:
        remaining = max(0, job.total - job.skipped - job.already_ingested - job.processed)
        return jobs.eta_seconds(job.started_at, job.processed, remaining)
    return None


def themes(runtime: Runtime, job_id: int) -> list[ThemePublic]:
    """The job's themes, largest first, each with its tickets per week (by the tickets' own dates)."""
    get_job(runtime, job_id)  # NotFound for a job of no project of the caller's
    with runtime.db.session() as session:
        rows = session.scalars(select(ThemeRow).where(ThemeRow.job_id == job_id)).all()
        dated = session.execute(
            select(TicketRow.theme_id, TicketRow.created).where(
                TicketRow.job_id == job_id, TicketRow.theme_id.is_not(None)
            )
        ).all()
        titles = {
            s.id: (s.payload or {}).get("title")
            for s in session.scalars(
                select(Suggestion).where(Suggestion.id.in_([t.suggestion_id for t in rows if t.suggestion_id]))
            )
        }
    weeks: dict[int, Counter[str]] = {}
    for theme_id, created in dated:
        week = (created - timedelta(days=created.weekday())).date().isoformat() if created else "undated"
        weeks.setdefault(theme_id, Counter())[week] += 1
    found = [
        ThemePublic(
            id=t.id,
            title=titles.get(t.suggestion_id),
            tickets=len(t.ticket_ids),
            cohesion=t.cohesion,
            suggestion_id=t.suggestion_id,
            weeks=[WeekCount(week=w, tickets=n) for w, n in sorted(weeks.get(t.id, Counter()).items())],
        )
        for t in rows
    ]
    return sorted(found, key=lambda theme: (-theme.tickets, theme.id))


def public(job: IngestJob) -> IngestJobPublic:
    """The job's status as clients see it."""
    extra = {
        "eta_s": eta_seconds(job),
        "unthemed": (job.params or {}).get("unthemed", 0),
        "unthemed_to_items": len(to_items(job)),
    }
    return IngestJobPublic.model_validate(job).model_copy(update=extra)


def unthemed(runtime: Runtime, job_id: int, limit: int = 200) -> UnthemedPublic:
    """The job's bugs, feature requests and questions in no theme, each with the evidence suggestion that proposes it
    for a backlog item when one does (made when the job clustered its themes)."""
    job = get_job(runtime, job_id)  # NotFound for a job of no project of the caller's
    proposed = to_items(job)
    query = select(TicketRow).where(
        TicketRow.job_id == job_id, TicketRow.theme_id.is_(None), TicketRow.category.in_(THEMED)
    )
    with runtime.db.session() as session:
        rows = list(session.scalars(query.order_by(TicketRow.id)))
    return UnthemedPublic(
        counts=dict(Counter(t.category for t in rows)),
        to_items=sum(t.id in proposed for t in rows),
        tickets=[
            UnthemedTicket(
                id=t.id,
                external_id=t.external_id,
                category=t.category,
                text=(t.redacted or "")[:300],
                suggestion_id=proposed.get(t.id),
            )
            for t in rows[:limit]
        ],
    )
