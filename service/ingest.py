"""Feedback ingestion jobs: uploaded file -> tickets -> triage -> themes -> suggestions with evidence.

A job runs in stages, each idempotent and committed with the state that says it is done, so a job killed at any
point resumes where it stopped and processes every ticket exactly once:
  parse   store tickets (a ticket seen before, by source + id or by content hash, is not added again)
  triage  in batches (a serialisable unit `{"job_id", "ticket_ids"}`): redact, embed, classify, index
  cluster themes from the job's bugs, feature requests and questions
  themes  per theme: evidence for a matching backlog item, or one LLM call for a new story draft
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, update

from pipelines.redact import redact
from pipelines.themes import draft_theme
from pipelines.tickets import parse_tickets
from pipelines.triage import THEMED, TicketClassifier, cluster_themes, representative_quotes
from service import dedupe, review
from service.runtime import Runtime
from service.tables import IngestJob, ThemeRow, TicketRow, utcnow

log = logging.getLogger(__name__)
BATCH = 64
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
STAGES = ("parse", "triage", "cluster", "themes", "done")
Progress = Callable[[IngestJob], None]


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
) -> IngestJob:
    """Check the file parses with this mapping (raises MappingError / UnsupportedFile with what to fix), store
    it, and queue a job."""
    if not data:
        raise ValueError(f"{filename} is empty")
    if min_theme_size < 2:
        raise ValueError(f"min_theme_size is {min_theme_size}; a theme needs at least 2 tickets")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"{filename} has {len(data):,} bytes; the limit is {MAX_UPLOAD_BYTES:,}: split the file")
    parse_tickets(data, filename, mapping, source)
    path, digest = store_upload(runtime, data, filename)
    with runtime.db.session() as session:
        job = IngestJob(
            source=source or filename,
            filename=filename,
            file_path=str(path),
            file_sha256=digest,
            params={"mapping": mapping or {}, "product": product, "min_size": min_theme_size},
        )
        session.add(job)
        session.flush()
        return job


def get_job(runtime: Runtime, job_id: int) -> IngestJob:
    job = runtime.db.get(IngestJob, job_id)
    if job is None:
        raise review.NotFound(f"no ingest job with id {job_id}")
    return job


def _update(runtime: Runtime, job_id: int, **values: Any) -> None:
    runtime.db.update(IngestJob, job_id, **values)


def stage_parse(runtime: Runtime, job: IngestJob) -> None:
    data = Path(job.file_path).read_bytes()
    parsed = parse_tickets(data, job.filename, job.params.get("mapping") or None, job.source)
    with runtime.db.session() as session:
        keys = [t.key for t in parsed.tickets]
        known = set()
        for start in range(0, len(keys), 500):
            known |= set(session.scalars(select(TicketRow.key).where(TicketRow.key.in_(keys[start : start + 500]))))
        added = 0
        for ticket in parsed.tickets:
            if ticket.key in known:
                continue
            known.add(ticket.key)  # the same ticket twice in one file counts once
            session.add(
                TicketRow(
                    key=ticket.key,
                    job_id=job.id,
                    source=ticket.source,
                    external_id=ticket.external_id,
                    subject=ticket.subject,
                    body=ticket.body,
                    customer=ticket.customer,
                    created=ticket.created_at,
                )
            )
            added += 1
        errors = [f"row {s.row}: {s.reason}" for s in parsed.skipped[:50]]
        session.execute(
            update(IngestJob)
            .where(IngestJob.id == job.id)
            .values(
                total=parsed.total_rows,
                skipped=len(parsed.skipped),
                already_ingested=len(parsed.tickets) - added,
                errors=errors,
                stage="triage",
            )
        )


def triage_batch(runtime: Runtime, classifier: TicketClassifier, unit: dict[str, Any]) -> int:
    """One unit of work: redact, embed, classify and index the unprocessed tickets among `unit["ticket_ids"]`."""
    with runtime.db.session() as session:
        rows = list(
            session.scalars(
                select(TicketRow).where(TicketRow.id.in_(unit["ticket_ids"]), TicketRow.processed_at.is_(None))
            )
        )
    if not rows:
        return 0
    redactions = [redact(f"{r.subject}\n{r.body}".strip()) for r in rows]
    texts = [r.text for r in redactions]
    detector = runtime.duplicates()
    for row, text in zip(rows, texts, strict=True):
        row.redacted = text  # detached copy: only for building the documents
    documents = [dedupe.ticket_document(row) for row in rows]
    categories = classifier.classify(texts, detector.add(documents)["full"])
    with runtime.db.session() as session:
        done = 0
        for row, redaction, (category, score) in zip(rows, redactions, categories, strict=True):
            claimed = session.execute(
                update(TicketRow)
                .where(TicketRow.id == row.id, TicketRow.processed_at.is_(None))
                .values(
                    redacted=redaction.text,
                    redactions=redaction.counts,
                    category=category,
                    category_score=score,
                    processed_at=utcnow(),
                )
            )
            done += claimed.rowcount
        session.execute(
            update(IngestJob).where(IngestJob.id == unit["job_id"]).values(processed=IngestJob.processed + done)
        )
    return done


def stage_triage(runtime: Runtime, job: IngestJob, progress: Progress | None = None) -> None:
    classifier = TicketClassifier(runtime.duplicates().embedder)
    while True:
        with runtime.db.session() as session:
            ids = list(
                session.scalars(
                    select(TicketRow.id)
                    .where(TicketRow.job_id == job.id, TicketRow.processed_at.is_(None))
                    .order_by(TicketRow.id)
                    .limit(BATCH)
                )
            )
        if not ids:
            break
        triage_batch(runtime, classifier, {"job_id": job.id, "ticket_ids": ids})
        if progress:
            progress(get_job(runtime, job.id))
    _update(runtime, job.id, stage="cluster")


def stage_cluster(runtime: Runtime, job: IngestJob) -> None:
    params = job.params
    with runtime.db.session() as session:
        if session.scalar(select(func.count()).select_from(ThemeRow).where(ThemeRow.job_id == job.id)):
            session.execute(update(IngestJob).where(IngestJob.id == job.id).values(stage="themes"))
            return  # already clustered (a second runner got here first)
        rows = list(
            session.execute(
                select(TicketRow.id)
                .where(TicketRow.job_id == job.id, TicketRow.category.in_(THEMED))
                .order_by(TicketRow.id)
            ).scalars()
        )
    stored = runtime.duplicates().store.vectors("full", [f"ticket:{i}" for i in rows])
    ids = [i for i in rows if f"ticket:{i}" in stored]
    vectors = np.stack([stored[f"ticket:{i}"] for i in ids]) if ids else np.zeros((0, 1))
    clusters = cluster_themes(
        vectors, distance=float(params.get("distance", 0.6)), min_size=int(params.get("min_size", 3))
    )
    with runtime.db.session() as session:
        if session.scalar(select(func.count()).select_from(ThemeRow).where(ThemeRow.job_id == job.id)):
            return  # already clustered (a crash between commit and stage update cannot happen: same transaction)
        for cluster in clusters:
            members = [ids[m] for m in cluster.members]
            theme = ThemeRow(job_id=job.id, ticket_ids=members, cohesion=cluster.cohesion)
            session.add(theme)
            session.flush()
            session.execute(update(TicketRow).where(TicketRow.id.in_(members)).values(theme_id=theme.id))
        session.execute(update(IngestJob).where(IngestJob.id == job.id).values(themes=len(clusters), stage="themes"))


def ticket_stats(tickets: list[TicketRow]) -> dict[str, Any]:
    """Ticket ids (in the given order), count, distinct customers and date range: evidence for an item."""
    dates = sorted(t.created for t in tickets if t.created is not None)
    return {
        "ticket_ids": [t.id for t in tickets],
        "ticket_count": len(tickets),
        "distinct_customers": len({t.customer for t in tickets if t.customer}),
        "date_range": [dates[0].isoformat(), dates[-1].isoformat()] if dates else None,
    }


def theme_evidence(tickets: list[TicketRow]) -> dict[str, Any]:
    """The evidence every theme suggestion carries: ticket stats, keys and categories."""
    return {
        **ticket_stats(tickets),
        "ticket_keys": [t.key for t in tickets][:200],
        "categories": {
            c: sum(t.category == c for t in tickets) for c in THEMED if any(t.category == c for t in tickets)
        },
    }


def make_theme_suggestion(runtime: Runtime, job: IngestJob, theme: ThemeRow) -> None:
    """Exactly once per theme: evidence for a matching backlog item, else one LLM call for a story draft."""
    with runtime.db.session() as session:
        if session.get(ThemeRow, theme.id).suggestion_id is not None:
            return
        by_id = {t.id: t for t in session.scalars(select(TicketRow).where(TicketRow.id.in_(theme.ticket_ids)))}
    tickets = [by_id[i] for i in theme.ticket_ids if i in by_id]
    texts = [t.redacted or "" for t in tickets]
    evidence = theme_evidence(tickets)
    detector = runtime.duplicates()
    probe = "\n".join(texts[:3])
    matches = detector.search(probe[:200], probe, k=3, where={"kind": ["backlog_item"]})
    best = next((m for m in matches if m.verdict != "distinct"), None)
    inputs = {"job_id": job.id, "theme_id": theme.id, "tickets": texts[:6]}
    llm_calls = 0
    if best is not None:
        payload = {
            "backlog_item_id": int(best.metadata["item_id"]),
            "title": best.title,
            "match_score": best.score,
            "verdict": best.verdict,
        }
        evidence["quotes"] = representative_quotes(texts)
        with runtime.db.session() as session:
            suggestion = review.propose_evidence(session, payload, inputs, evidence, detector.embedder.model_name)
            suggestion_id = suggestion.id
            _finish_theme(session, job.id, theme.id, suggestion_id, llm_calls)
        return
    result = draft_theme(runtime.llm(), texts, len(tickets), job.params.get("product"))
    llm_calls = result.record.attempts
    if result.value is not None:
        evidence["quotes"] = result.value.quotes
        result.value = result.value.as_story()
    with runtime.db.session() as session:
        suggestion = review.propose(session, "story_draft", result, inputs)
        suggestion.evidence = {**evidence, **(suggestion.evidence or {})}
        suggestion_id = suggestion.id
        _finish_theme(session, job.id, theme.id, suggestion_id, llm_calls)
    dedupe.check_new_draft(runtime, suggestion_id)


def _finish_theme(session: Any, job_id: int, theme_id: int, suggestion_id: int, llm_calls: int) -> None:
    claimed = session.execute(
        update(ThemeRow)
        .where(ThemeRow.id == theme_id, ThemeRow.suggestion_id.is_(None))
        .values(suggestion_id=suggestion_id)
    )
    if claimed.rowcount != 1:
        raise review.Conflict(f"theme {theme_id} already has a suggestion")
    session.execute(
        update(IngestJob)
        .where(IngestJob.id == job_id)
        .values(suggestions=IngestJob.suggestions + 1, llm_calls=IngestJob.llm_calls + llm_calls)
    )


def stage_themes(runtime: Runtime, job: IngestJob, progress: Progress | None = None) -> None:
    """One suggestion per theme. Themes are independent: the model server drafts several at once (batched), one
    slot stays free for people drafting meanwhile. `theme_seconds` keeps the time between finished themes, so the
    ETA counts the parallelism."""
    with runtime.db.session() as session:
        themes = session.scalars(
            select(ThemeRow).where(ThemeRow.job_id == job.id, ThemeRow.suggestion_id.is_(None)).order_by(ThemeRow.id)
        ).all()
    last = time.perf_counter()
    with ThreadPoolExecutor(max_workers=runtime.llm().background_parallelism) as pool:
        for future in as_completed([pool.submit(make_theme_suggestion, runtime, job, theme) for theme in themes]):
            future.result()
            now = time.perf_counter()
            seconds = job.params.get("theme_seconds", []) + [round(now - last, 2)]
            last = now
            job.params = {**job.params, "theme_seconds": seconds[-20:]}
            _update(runtime, job.id, params=job.params)
            if progress:
                progress(get_job(runtime, job.id))
    _update(runtime, job.id, stage="done", status="done", finished_at=utcnow())


def run_job(runtime: Runtime, job_id: int, progress: Progress | None = None) -> IngestJob:
    """Run (or resume) a job to the end; a failure marks the job failed with the reason and keeps all work."""
    job = get_job(runtime, job_id)
    if job.status == "done":
        return job
    _update(runtime, job_id, status="running", started_at=job.started_at or utcnow())
    try:
        for stage in STAGES:
            job = get_job(runtime, job_id)
            if job.stage != stage:
                continue
            if stage == "parse":
                stage_parse(runtime, job)
            elif stage == "triage":
                stage_triage(runtime, job, progress)
            elif stage == "cluster":
                stage_cluster(runtime, job)
            elif stage == "themes":
                stage_themes(runtime, job, progress)
            if progress:
                progress(get_job(runtime, job_id))
    except Exception as exc:
        log.exception("ingest job %s failed", job_id)
        job = get_job(runtime, job_id)
        _update(runtime, job_id, status="failed", errors=[*job.errors, f"{job.stage}: {exc}"])
    return get_job(runtime, job_id)


def eta_seconds(job: IngestJob) -> float | None:
    """Remaining time from the rates seen so far in this job (None when there is nothing to go on yet)."""
    if job.status in ("done", "failed") or job.started_at is None:
        return None
    seconds = job.params.get("theme_seconds", [])
    per_theme = sum(seconds) / len(seconds) if seconds else None
    if job.stage == "themes" and per_theme is not None:
        return round(per_theme * max(0, job.themes - job.suggestions), 1)
    if job.stage == "triage" and job.processed:
        elapsed = (utcnow() - job.started_at).total_seconds()
        remaining = max(0, job.total - job.skipped - job.already_ingested - job.processed)
        return round(elapsed / job.processed * remaining, 1)
    return None
