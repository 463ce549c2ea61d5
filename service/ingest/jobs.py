"""Feedback ingestion jobs: a job's stored tickets -> triage -> themes -> suggestions with evidence.

A job (`service.ingest.service.create_job`) runs in stages, each idempotent and committed with the state that says
it is done, so a job killed at any point resumes where it stopped and processes every ticket exactly once:
  triage  in batches (a serialisable unit `{"job_id", "ticket_ids"}`): redact, embed, classify, index
  cluster themes from the job's bugs, feature requests and questions
  themes  per theme: evidence for a matching backlog item, or one LLM call for a new story draft
Each batch and each theme is a piece: a cancelled job stops at the next one (service.core.jobs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from pipelines.duplicates import Candidate, DuplicateDetector
from pipelines.redact import redact
from pipelines.themes import PROMPT_ID as THEME_PROMPT
from pipelines.themes import draft_theme
from pipelines.tickets import parse_tickets
from pipelines.triage import (
    ATTACH_SIMILARITY,
    THEME_DISTANCE,
    THEMED,
    TicketClassifier,
    attach_leftovers,
    cluster_themes,
    representative_quotes,
)
from service import duplicates
from service.core import jobs
from service.core.enums import JobStatus, SuggestionKind, SuggestionStatus
from service.core.errors import Conflict
from service.core.runtime import ContextThreadPool, Runtime
from service.core.suggestions import Proposal, create_suggestion
from service.core.tables import IngestJob, ThemeRow, TicketRow, utcnow
from service.ingest.evidence import propose_evidence, theme_evidence
from service.ingest.service import Stage, get_job, public, store_tickets

log = logging.getLogger(__name__)
BATCH = 64
Progress = Callable[[IngestJob], None]


@dataclass
class IngestRun:
    """One run of a job in this process: the detector and classifier taken once, and the vectors triage made,
    kept for clustering (a resumed job reads those of earlier runs back from the index)."""

    runtime: Runtime
    job_id: int
    detector: DuplicateDetector
    classifier: TicketClassifier
    vectors: dict[int, np.ndarray] = field(default_factory=dict)


def stage_parse(run: IngestRun, job: IngestJob, progress: Progress | None = None) -> None:
    """A job queued before tickets were stored at upload: parse its kept file now."""
    parsed = parse_tickets(Path(job.file_path).read_bytes(), job.filename, job.params.get("mapping"), job.source)
    with run.runtime.db.session() as session:
        store_tickets(session, job.id, parsed)


def triage_batch(run: IngestRun, unit: dict[str, Any]) -> int:
    """One unit of work: redact, embed, classify and index the unprocessed tickets among `unit["ticket_ids"]`."""
    with run.runtime.db.session() as session:
        rows = session.execute(
            select(TicketRow.id, TicketRow.subject, TicketRow.body).where(
                TicketRow.id.in_(unit["ticket_ids"]), TicketRow.processed_at.is_(None)
            )
        ).all()
    if not rows:
        return 0
    redactions = [redact(f"{subject}\n{body}".strip()) for _, subject, body in rows]
    texts = [r.text for r in redactions]
    documents = [
        duplicates.ticket_document(ticket_id, unit["job_id"], subject, text)
        for (ticket_id, subject, _), text in zip(rows, texts, strict=True)
    ]
    vectors = run.detector.add(documents)["full"]
    categories = run.classifier.classify(texts, vectors)
    with run.runtime.db.session() as session:
        done = 0
        for (ticket_id, _, _), redaction, (category, score) in zip(rows, redactions, categories, strict=True):
            claimed = session.execute(
                update(TicketRow)
                .where(TicketRow.id == ticket_id, TicketRow.processed_at.is_(None))
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
    run.vectors.update({row[0]: vector for row, vector in zip(rows, vectors, strict=True)})
    return done


def _unprocessed(runtime: Runtime, job_id: int, limit: int | None = None) -> list[int]:
    """The job's tickets not triaged yet, in id order (the first `limit`)."""
    query = select(TicketRow.id).where(TicketRow.job_id == job_id, TicketRow.processed_at.is_(None))
    with runtime.db.session() as session:
        return list(session.scalars(query.order_by(TicketRow.id).limit(limit)))


def stage_triage(run: IngestRun, job: IngestJob, progress: Progress | None = None) -> None:
    while True:
        jobs.stop_if_cancelled(run.runtime, IngestJob, job.id)
        ids = _unprocessed(run.runtime, job.id, BATCH)
        if not ids:
            break
        triage_batch(run, {"job_id": job.id, "ticket_ids": ids})
        if progress:
            progress(get_job(run.runtime, job.id))
    run.runtime.db.update(IngestJob, job.id, stage=Stage.cluster)


def _vectors(run: IngestRun, ticket_ids: list[int]) -> tuple[list[int], np.ndarray]:
    """The tickets' vectors: this run's, else the index's (tickets triaged before a restart)."""
    missing = [f"ticket:{i}" for i in ticket_ids if i not in run.vectors]
    stored = run.detector.store.vectors("full", missing) if missing else {}
    found = {i: run.vectors.get(i, stored.get(f"ticket:{i}")) for i in ticket_ids}
    ids = [i for i in ticket_ids if found[i] is not None]
    return ids, np.stack([found[i] for i in ids]) if ids else np.zeros((0, 1))


def _clustered(session: Session, job_id: int) -> bool:
    return bool(session.scalar(select(func.count()).select_from(ThemeRow).where(ThemeRow.job_id == job_id)))


def stage_cluster(run: IngestRun, job: IngestJob, progress: Progress | None = None) -> None:
    with run.runtime.db.session() as session:
        if _clustered(session, job.id):  # a second runner got here first
            session.execute(update(IngestJob).where(IngestJob.id == job.id).values(stage=Stage.themes))
            return
        themed = list(
            session.scalars(
                select(TicketRow.id)
                .where(TicketRow.job_id == job.id, TicketRow.category.in_(THEMED))
                .order_by(TicketRow.id)
            )
        )
    ids, vectors = _vectors(run, themed)
    params = job.params
    clusters = attach_leftovers(
        vectors,
        cluster_themes(
            vectors, distance=float(params.get("distance", THEME_DISTANCE)), min_size=int(params.get("min_size", 3))
        ),
        float(params.get("attach", ATTACH_SIMILARITY)),
    )
    placed = {ids[m] for c in clusters for m in c.members}
    left = [i for i in ids if i not in placed]
    matched = match_unthemed(run, left)
    with run.runtime.db.session() as session:
        if _clustered(session, job.id):
            return  # the themes and the stage are committed together, so this run is a duplicate
        for cluster in clusters:
            members = [ids[m] for m in cluster.members]
            theme = ThemeRow(job_id=job.id, ticket_ids=members, cohesion=cluster.cohesion)
            session.add(theme)
            session.flush()
            session.execute(update(TicketRow).where(TicketRow.id.in_(members)).values(theme_id=theme.id))
        to_items = {
            str(propose_evidence(session, proposal, inputs, evidence).id): evidence["ticket_ids"]
            for proposal, inputs, evidence in matched
        }
        # the ETA's clock for the themes stage; the bugs, requests and questions that joined no theme, and those of
        # them proposed as evidence for a backlog item (suggestion id -> ticket ids: not themes, so not counted as done)
        params = {**job.params, "themes_started": utcnow().isoformat(), "unthemed": len(left), "to_items": to_items}
        session.execute(
            update(IngestJob)
            .where(IngestJob.id == job.id)
            .values(
                themes=len(clusters),
                stage=Stage.themes,
                params=params,
                suggestions=IngestJob.suggestions + len(to_items),
            )
        )


def _item_match(candidates: list[Candidate]) -> Candidate | None:
    """The best backlog item the detector does not call distinct, if any."""
    return next((c for c in candidates if c.verdict != "distinct"), None)


def _evidence_payload(match: Candidate) -> dict[str, Any]:
    """An evidence suggestion's payload: the backlog item the tickets read like, and how well they match it."""
    return {
        "backlog_item_id": int(match.metadata["item_id"]),
        "title": match.title,
        "match_score": match.score,
        "verdict": match.verdict,
    }


def match_unthemed(run: IngestRun, ticket_ids: list[int]) -> list[tuple[Proposal, dict[str, Any], dict[str, Any]]]:
    """Tickets in no theme that read like an existing backlog item (the duplicate detector's verdict, as for a
    theme): per item, an evidence proposal with its inputs and evidence (tickets in id order)."""
    if not ticket_ids:
        return []
    with run.runtime.db.session() as session:
        tickets = list(session.scalars(select(TicketRow).where(TicketRow.id.in_(ticket_ids)).order_by(TicketRow.id)))
        session.expunge_all()
    texts = [t.redacted or "" for t in tickets]
    learned = duplicates.calibration(run.runtime)
    found = run.detector.search_many(
        [(t.subject or text[:200], text) for t, text in zip(tickets, texts, strict=True)],
        k=3,
        where=duplicates.in_this_project("backlog_item"),
        indexed_as=[f"ticket:{t.id}" for t in tickets],
        calibration=learned,
    )
    by_item: dict[int, list[tuple[Candidate, TicketRow, str]]] = {}
    for ticket, text, candidates in zip(tickets, texts, found, strict=True):
        if best := _item_match(candidates):
            by_item.setdefault(int(best.metadata["item_id"]), []).append((best, ticket, text))
    made = []
    for rows in by_item.values():
        payload = _evidence_payload(max((c for c, _, _ in rows), key=lambda c: c.score))
        evidence = theme_evidence([t for _, t, _ in rows])
        evidence["quotes"] = representative_quotes([text for *_, text in rows])
        inputs = {"job_id": run.job_id, "unthemed": True, "tickets": [text for *_, text in rows][:6]}
        made.append((duplicates.detector_proposal(run.runtime, learned, payload), inputs, evidence))
    return made


def make_theme_suggestion(run: IngestRun, job: IngestJob, theme: ThemeRow, wait_for_model: bool = False) -> str | None:
    """Exactly once per theme: evidence for a matching backlog item, else one LLM call for a story draft; why,
    when the draft failed. Nothing once the job is cancelled (each theme is a piece). `wait_for_model`: when no
    model answered, raise jobs.TryLater (the queue tries the piece again) instead of keeping a failed draft."""
    runtime = run.runtime
    if jobs.is_cancelled(runtime, IngestJob, job.id):
        return None
    with runtime.db.session() as session:
        if session.get(ThemeRow, theme.id).suggestion_id is not None:
            return None
        by_id = {t.id: t for t in session.scalars(select(TicketRow).where(TicketRow.id.in_(theme.ticket_ids)))}
    tickets = [by_id[i] for i in theme.ticket_ids if i in by_id]
    texts = [t.redacted or "" for t in tickets]
    evidence = theme_evidence(tickets)
    probe = "\n".join(texts[:3])
    learned = duplicates.calibration(runtime)  # the project's, as every other duplicate search uses
    where = duplicates.in_this_project("backlog_item")
    matches = run.detector.search(probe[:200], probe, k=3, where=where, calibration=learned)
    best = _item_match(matches)
    inputs = {"job_id": job.id, "theme_id": theme.id, "tickets": texts[:6]}
    if best is not None:
        payload = _evidence_payload(best)
        evidence["quotes"] = representative_quotes(texts)
        proposal = duplicates.detector_proposal(runtime, learned, payload)
        with runtime.db.session() as session:
            suggestion = propose_evidence(session, proposal, inputs, evidence)
            _finish_theme(session, job.id, theme.id, suggestion.id, llm_calls=0)
        return None
    result = draft_theme(runtime.llm(), texts, len(tickets), job.params.get("product"))
    if result.unreachable and wait_for_model:
        raise jobs.TryLater(f"theme {theme.id}: {result.error}")
    if result.value is not None:
        evidence["quotes"] = result.value.quotes
        result.value = result.value.as_story()
    with runtime.db.session() as session:
        suggestion = create_suggestion(session, SuggestionKind.story_draft, Proposal.of(result), inputs, evidence)
        suggestion_id, failed = suggestion.id, suggestion.status == SuggestionStatus.failed
        _finish_theme(session, job.id, theme.id, suggestion_id, result.record.attempts, failed)
    if failed:
        what = f"theme {theme.id} ({len(tickets)} tickets)"
        return f"{what}: its story draft failed: {result.error} (suggestion {suggestion_id})"
    duplicates.check_new_draft(runtime, suggestion_id)
    return None


def _finish_theme(
    session: Session, job_id: int, theme_id: int, suggestion_id: int, llm_calls: int, failed: bool = False
) -> None:
    claimed = session.execute(
        update(ThemeRow)
        .where(ThemeRow.id == theme_id, ThemeRow.suggestion_id.is_(None))
        .values(suggestion_id=suggestion_id)
    )
    if claimed.rowcount != 1:
        raise Conflict(f"theme {theme_id} already has a suggestion")
    count = IngestJob.failed if failed else IngestJob.suggestions
    session.execute(
        update(IngestJob)
        .where(IngestJob.id == job_id)
        .values({count: count + 1, "llm_calls": IngestJob.llm_calls + llm_calls})
    )


def stage_themes(run: IngestRun, job: IngestJob, progress: Progress | None = None) -> None:
    """One suggestion per theme. Themes are independent: the model server drafts several at once (batched), one
    slot stays free for people drafting meanwhile. A failed draft is counted in `failed` with its reason in
    `errors`; when every theme failed, the job has failed."""
    runtime = run.runtime
    with ContextThreadPool(max_workers=runtime.llm().background_parallelism) as pool:
        for future in as_completed(
            [pool.submit(make_theme_suggestion, run, job, t) for t in _open_themes(runtime, job.id)]
        ):
            if failure := future.result():
                jobs.append_errors(runtime, IngestJob, job.id, [failure])
            if progress:
                progress(get_job(runtime, job.id))
    jobs.stop_if_cancelled(runtime, IngestJob, job.id)
    end_job(runtime, job.id)


def _open_themes(runtime: Runtime, job_id: int) -> list[ThemeRow]:
    """The job's themes that have no suggestion yet."""
    with runtime.db.session() as session:
        query = select(ThemeRow).where(ThemeRow.job_id == job_id, ThemeRow.suggestion_id.is_(None))
        return list(session.scalars(query.order_by(ThemeRow.id)))


def end_job(runtime: Runtime, job_id: int) -> None:
    """Once, when every theme has its suggestion: done, or failed when every theme's draft failed."""
    with runtime.db.session() as session:
        ended = session.execute(
            update(IngestJob).where(IngestJob.id == job_id, IngestJob.stage == Stage.themes).values(stage=Stage.done)
        )
    if not ended.rowcount:
        return  # another worker ended it
    job = get_job(runtime, job_id)
    status = jobs.outcome(job.themes, job.failed)
    if status == JobStatus.failed:
        why = (
            f"every theme's story draft failed ({job.failed} of {job.themes}), so no suggestion came of this job: "
            "the reasons are above and on the failed suggestions (GET /v1/suggestions?status=failed)"
        )
        jobs.append_errors(runtime, IngestJob, job.id, [why])
    jobs.finish(runtime, IngestJob, job.id, status)


STAGES = {
    Stage.parse: stage_parse,
    Stage.triage: stage_triage,
    Stage.cluster: stage_cluster,
    Stage.themes: stage_themes,
}


@contextmanager
def _stopping(runtime: Runtime, job_id: int) -> Iterator[None]:
    """A cancelled job stops quietly; any other failure marks it failed with the stage and the reason, keeping all
    work done."""
    try:
        yield
    except jobs.Cancelled:
        log.info("ingest job %s stopped: it was cancelled", job_id)
    except Exception as exc:
        log.exception("ingest job %s failed", job_id)
        jobs.append_errors(runtime, IngestJob, job_id, [f"{get_job(runtime, job_id).stage}: {exc}"])
        jobs.finish(runtime, IngestJob, job_id, JobStatus.failed)


def run_job(runtime: Runtime, job_id: int, progress: Progress | None = None) -> IngestJob:
    """Run (or resume) a job to the end; a failure marks the job failed with the reason and keeps all work. A job
    cancelled meanwhile stops at the next batch or theme."""
    job = get_job(runtime, job_id)
    if not jobs.resume(runtime, IngestJob, job):
        return get_job(runtime, job_id)
    with _stopping(runtime, job_id):
        found = duplicates.detector(runtime)
        run = IngestRun(runtime, job_id, found, TicketClassifier(found.embedder))
        for stage, work in STAGES.items():
            jobs.stop_if_cancelled(runtime, IngestJob, job_id)
            job = get_job(runtime, job_id)
            if job.stage != stage:
                continue
            work(run, job, progress)
            if progress:
                progress(get_job(runtime, job_id))
    return get_job(runtime, job_id)


# Fan-out (service.worker): several workers share one job, a piece each: a triage batch, or one theme's suggestion.


@cache
def _classifier(detector: DuplicateDetector) -> TicketClassifier:
    return TicketClassifier(detector.embedder)


def _run(runtime: Runtime, job_id: int) -> IngestRun:
    """This process's detector and classifier, taken once, for a piece of the job."""
    found = duplicates.detector(runtime)
    return IngestRun(runtime, job_id, found, _classifier(found))


def plan(runtime: Runtime, job_id: int) -> list[dict[str, Any]]:
    """Advance the job as far as it goes without pieces (parse, cluster, the end) and return the pieces of its
    current stage; none when it has ended. Safe to call again at any time: done work is not redone."""
    job = get_job(runtime, job_id)
    if not jobs.resume(runtime, IngestJob, job):
        return []
    with _stopping(runtime, job_id):
        while True:
            jobs.stop_if_cancelled(runtime, IngestJob, job_id)
            job = get_job(runtime, job_id)
            if job.stage == Stage.triage:
                if pieces := _triage_pieces(runtime, job_id):
                    return pieces
                runtime.db.update(IngestJob, job_id, stage=Stage.cluster)
            elif job.stage == Stage.themes:
                if pieces := [{"theme_id": theme.id} for theme in _open_themes(runtime, job_id)]:
                    return pieces
                end_job(runtime, job_id)
            elif job.stage in (Stage.parse, Stage.cluster):
                STAGES[job.stage](_run(runtime, job_id), job)
            else:
                return []
    return []


def _triage_pieces(runtime: Runtime, job_id: int) -> list[dict[str, Any]]:
    ids = _unprocessed(runtime, job_id)
    return [{"ticket_ids": ids[start : start + BATCH]} for start in range(0, len(ids), BATCH)]


def do_piece(runtime: Runtime, job_id: int, piece: dict[str, Any], last_try: bool) -> bool:
    """One piece, at most once in effect (a piece done before changes nothing); True when its stage may now be
    complete, so the job is planned again. Raises jobs.TryLater while the model does not answer, unless this is
    the last try: then the theme keeps a failed draft saying so."""
    if jobs.is_cancelled(runtime, IngestJob, job_id):
        return False
    run = _run(runtime, job_id)
    if "ticket_ids" in piece:
        triage_batch(run, {"job_id": job_id, "ticket_ids": piece["ticket_ids"]})
        return not _unprocessed(runtime, job_id, limit=1)
    theme = runtime.db.get(ThemeRow, piece["theme_id"])
    if failure := make_theme_suggestion(run, get_job(runtime, job_id), theme, wait_for_model=not last_try):
        jobs.append_errors(runtime, IngestJob, job_id, [failure])
    return not _open_themes(runtime, job_id)


def fail_piece(runtime: Runtime, job_id: int, piece: dict[str, Any], error: str) -> bool:
    """A piece that failed on every try: a theme keeps a failed suggestion with the error (counted in the job's
    `failed`); a triage batch fails the job (triage is local code: its failure is a fault to fix, not data)."""
    if "ticket_ids" in piece:
        jobs.append_errors(runtime, IngestJob, job_id, [f"triage of tickets {piece['ticket_ids'][:3]}...: {error}"])
        jobs.finish(runtime, IngestJob, job_id, JobStatus.failed)
        return False
    inputs = {"job_id": job_id, "theme_id": piece["theme_id"]}
    record = jobs.failed_record(runtime, THEME_PROMPT)
    version = f"{record.prompt_id}@{record.prompt_version}"
    proposal = Proposal(None, record.model, record.provider, version, SuggestionStatus.failed, reason=error)
    with runtime.db.session() as session:
        suggestion = create_suggestion(session, SuggestionKind.story_draft, proposal, inputs)
        try:
            _finish_theme(session, job_id, piece["theme_id"], suggestion.id, llm_calls=0, failed=True)
        except Conflict:
            session.rollback()
            return False
    jobs.append_errors(runtime, IngestJob, job_id, [f"theme {piece['theme_id']}: {error} (suggestion {suggestion.id})"])
    return not _open_themes(runtime, job_id)


JOB = jobs.JobKind("ingest", IngestJob, run_job, public, jobs.FanOut(plan, do_piece, fail_piece))
