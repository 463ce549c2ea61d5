"""How reviewers answered the suggestions: per kind, how many were accepted as they were, accepted after edits,
rejected (and the reasons most given), undone, failed or still pending, and how long a decision took; per model and
prompt version, how often what it made was accepted; per reviewer, what each decided. Read from the suggestions and
their history, so it needs nothing recorded beyond what a decision already records."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.core.enums import SuggestionAction, SuggestionStatus
from service.core.tables import Suggestion, SuggestionEvent, utcnow
from service.review.schemas import (
    InsightsPublic,
    KindInsight,
    ReasonCount,
    ReviewerInsight,
    SourceInsight,
    WeekInsight,
)

REASONS_SHOWN = 5
WEEKS_SHOWN = 12
_NUMBER = re.compile(r"(?<!\w)#?\d+(?!\w)")  # 12, #12; not the 3 of Q3
ACCEPTING = (SuggestionAction.accepted, SuggestionAction.accepted_with_edits)


def reason_key(reason: str) -> str:
    """A rejection reason as reasons are counted: one line, lower case, numbers as "#" ("merged into backlog item #
    (merge #)"), so the same reason given for different items counts once."""
    return _NUMBER.sub("#", " ".join(reason.lower().split()))[:200]


def insights(session: Session, days: int | None = None) -> InsightsPublic:
    """The current project's suggestions made in the last `days` days (all when None), as reviewers left them."""
    since = utcnow() - timedelta(days=days) if days else None
    made = select(Suggestion).where(Suggestion.created_at >= since) if since else select(Suggestion)
    made_ids = made.with_only_columns(Suggestion.id)
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    for kind, status, count in session.execute(
        made.with_only_columns(Suggestion.kind, Suggestion.status, func.count()).group_by(
            Suggestion.kind, Suggestion.status
        )
    ):
        statuses[kind][status] += count
    edited = _accepted_with_edits(session, made_ids)
    undone = Counter(
        dict(
            session.execute(
                select(Suggestion.kind, func.count())
                .join(SuggestionEvent, SuggestionEvent.suggestion_id == Suggestion.id)
                .where(SuggestionEvent.action == SuggestionAction.reopened, Suggestion.id.in_(made_ids))
                .group_by(Suggestion.kind)
            ).all()
        )
    )
    waits: dict[str, list[float]] = defaultdict(list)
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    weekly: dict[str, dict[date, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    decided = made.with_only_columns(
        Suggestion.kind, Suggestion.status, Suggestion.created_at, Suggestion.decided_at, Suggestion.reason
    ).where(Suggestion.status.in_((SuggestionStatus.accepted, SuggestionStatus.rejected)))
    for kind, status, created_at, decided_at, reason in session.execute(decided):
        if decided_at is not None:
            waits[kind].append((decided_at - created_at).total_seconds() / 3600)
        if status == SuggestionStatus.rejected and reason:
            reasons[kind][reason_key(reason)] += 1
        weekly[kind][created_at.date() - timedelta(days=created_at.weekday())][status] += 1
    kinds = [
        _kind(kind, statuses[kind], edited[kind], undone[kind], waits[kind], reasons[kind], _weeks(weekly[kind]))
        for kind in sorted(statuses)
    ]
    return InsightsPublic(
        since=since, days=days, kinds=kinds, sources=_sources(session, made), reviewers=_reviewers(session, made)
    )


def _accepted_with_edits(session: Session, made_ids: Any) -> Counter[str]:
    """Per kind, the accepted suggestions whose latest acceptance came with a reviewer's edits."""
    latest = (
        select(SuggestionEvent.suggestion_id, func.max(SuggestionEvent.id).label("event_id"))
        .where(SuggestionEvent.action.in_(ACCEPTING), SuggestionEvent.suggestion_id.in_(made_ids))
        .group_by(SuggestionEvent.suggestion_id)
        .subquery()
    )
    query = (
        select(Suggestion.kind, func.count())
        .join(latest, latest.c.suggestion_id == Suggestion.id)
        .join(SuggestionEvent, SuggestionEvent.id == latest.c.event_id)
        .where(
            Suggestion.status == SuggestionStatus.accepted,
            SuggestionEvent.action == SuggestionAction.accepted_with_edits,
        )
        .group_by(Suggestion.kind)
    )
    return Counter(dict(session.execute(query).all()))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _weeks(weekly: dict[date, Counter[str]]) -> list[WeekInsight]:
    """The latest WEEKS_SHOWN weeks in which suggestions that were later decided were made, oldest first."""
    weeks = []
    for monday in sorted(weekly)[-WEEKS_SHOWN:]:
        yes, no = weekly[monday][SuggestionStatus.accepted], weekly[monday][SuggestionStatus.rejected]
        weeks.append(WeekInsight(week=monday, accepted=yes, rejected=no, acceptance_rate=_rate(yes, yes + no)))
    return weeks


def _kind(
    kind: str,
    status: Counter[str],
    edited: int,
    undone: int,
    waits: list[float],
    reasons: Counter[str],
    weeks: list[WeekInsight],
) -> KindInsight:
    accepted, rejected = status[SuggestionStatus.accepted], status[SuggestionStatus.rejected]
    return KindInsight(
        kind=kind,
        made=sum(status.values()),
        pending=status[SuggestionStatus.pending],
        failed=status[SuggestionStatus.failed],
        accepted=accepted,
        accepted_with_edits=edited,
        rejected=rejected,
        undone=undone,
        acceptance_rate=_rate(accepted, accepted + rejected),
        edited_share=_rate(edited, accepted),
        median_hours_to_decision=round(statistics.median(waits), 2) if waits else None,
        rejection_reasons=[
            ReasonCount(reason=r, count=n) for r, n in sorted(reasons.items(), key=lambda rn: (-rn[1], rn[0]))
        ][:REASONS_SHOWN],
        weeks=weeks,
    )


def _sources(session: Session, made: Any) -> list[SourceInsight]:
    """Per kind, model and prompt version: the decided suggestions it made and the share accepted, most made first."""
    rows = session.execute(
        made.with_only_columns(
            Suggestion.kind,
            Suggestion.provider,
            Suggestion.model,
            Suggestion.prompt_version,
            Suggestion.status,
            func.count(),
        ).group_by(Suggestion.kind, Suggestion.provider, Suggestion.model, Suggestion.prompt_version, Suggestion.status)
    )
    counts: dict[tuple[str, str, str, str], Counter[str]] = defaultdict(Counter)
    for kind, provider, model, prompt_version, status, count in rows:
        counts[(kind, provider, model, prompt_version)][status] += count
    sources = []
    for (kind, provider, model, prompt_version), status in counts.items():
        accepted, rejected = status[SuggestionStatus.accepted], status[SuggestionStatus.rejected]
        sources.append(
            SourceInsight(
                kind=kind,
                provider=provider,
                model=model,
                prompt_version=prompt_version,
                made=sum(status.values()),
                failed=status[SuggestionStatus.failed],
                decided=accepted + rejected,
                acceptance_rate=_rate(accepted, accepted + rejected),
            )
        )
    return sorted(sources, key=lambda s: (s.kind, -s.made, s.model, s.prompt_version))


def _reviewers(session: Session, made: Any) -> list[ReviewerInsight]:
    """Who decided what, most decisions first (a decision by no name counts under None)."""
    rows = session.execute(
        made.with_only_columns(Suggestion.decided_by, Suggestion.status, func.count())
        .where(Suggestion.status.in_((SuggestionStatus.accepted, SuggestionStatus.rejected)))
        .group_by(Suggestion.decided_by, Suggestion.status)
    )
    counts: dict[str | None, Counter[str]] = defaultdict(Counter)
    for name, status, count in rows:
        counts[name][status] += count
    people = [
        ReviewerInsight(name=name, accepted=c[SuggestionStatus.accepted], rejected=c[SuggestionStatus.rejected])
        for name, c in counts.items()
    ]
    return sorted(people, key=lambda p: (-(p.accepted + p.rejected), p.name or ""))
