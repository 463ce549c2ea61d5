"""What a project's reviewers taught the duplicate verdict: every accepted merge says "the same report", every
rejected one "not the same", and the project's calibration is the dev calibration refitted to those decisions
(`DuplicateCalibration.recalibrated`). An admin can reset it: decisions before the reset no longer count."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.duplicates import Decision, DuplicateCalibration, StandOut
from service.core import scope
from service.core.enums import SuggestionKind, SuggestionStatus
from service.core.runtime import Runtime
from service.core.tables import Suggestion, utcnow

_cache: dict[tuple[int, tuple[Decision, ...]], DuplicateCalibration] = {}
_lock = threading.Lock()


def decisions(session: Session) -> list[Decision]:
    """The current project's decided merges since its last reset, oldest first, as labelled pairs. A merge made
    before the second stage existed has no stand-out in its evidence and teaches nothing."""
    project = scope.this_project(session)
    since = project.duplicates_learned_since if project else None
    query = select(Suggestion).where(
        Suggestion.kind == SuggestionKind.merge,
        Suggestion.status.in_([SuggestionStatus.accepted, SuggestionStatus.rejected]),
    )
    if since is not None:
        query = query.where(Suggestion.decided_at >= since)
    found = []
    for merge in session.scalars(query.order_by(Suggestion.decided_at, Suggestion.id)):
        evidence = ((merge.evidence or {}).get("duplicates") or [{}])[0]
        if isinstance(evidence.get("stand_out"), dict):
            stand_out = StandOut.model_validate(evidence["stand_out"])
            found.append(Decision(stand_out=stand_out, same=merge.status == SuggestionStatus.accepted))
    return found


def _recalibrated(base: DuplicateCalibration, learned: list[Decision]) -> DuplicateCalibration:
    """`base` refitted to `learned`, kept while the same decisions come back (every search asks)."""
    key = (id(base), tuple(learned))
    with _lock:
        if key not in _cache:
            if len(_cache) > 256:
                _cache.clear()
            _cache[key] = base.recalibrated(learned)
        return _cache[key]


def project_calibration(runtime: Runtime, base: DuplicateCalibration) -> DuplicateCalibration:
    """The duplicate calibration of the current project: `base` (the dev calibration) after its reviewers'
    decisions."""
    with runtime.db.session() as session:
        return _recalibrated(base, decisions(session))


def learned(runtime: Runtime, base: DuplicateCalibration) -> dict[str, Any]:
    """What the project's decisions changed, for the desk and `GET /v1/duplicates/learning`."""
    with runtime.db.session() as session:
        project = scope.this_project(session)
        since = project.duplicates_learned_since if project else None
        found = decisions(session)
    calibration = _recalibrated(base, found)
    same = sum(d.same for d in found)
    still = sum(calibration.probability(d.stand_out) >= base.duplicate_probability for d in found)
    return {
        "measured_on": base.measured_on,
        "dev_precision": base.duplicate_precision,
        "dev_recall": base.duplicate_recall,
        "duplicate_probability": base.duplicate_probability,
        "decisions": calibration.decisions,
        "accepted_merges": same,
        "rejected_merges": calibration.decisions - same,
        "decision_slope": calibration.decision_slope,
        "decision_offset": calibration.decision_offset,
        "learned_since": since,
        "decided_still_proposed": still,
        "warning": silenced_warning(len(found), still),
    }


def silenced_warning(decided: int, still: int) -> str | None:
    """Said when the decisions taught the verdict to propose none of the merges decided so far: a team that
    rejects most merges can silence the detector this way (README: the stricter simulated reviewer)."""
    if not decided or still:
        return None
    return (
        f"none of the {decided} merges decided so far would be proposed now: after these decisions the detector "
        "proposes few or no merges. If that is not what the team meant, an admin can reset what was learned."
    )


def reset(runtime: Runtime, base: DuplicateCalibration) -> dict[str, Any]:
    """Forget what the project's decisions taught: only merges decided from now on count."""
    with runtime.db.session() as session:
        project = scope.this_project(session)
        if project is not None:
            project.duplicates_learned_since = utcnow()
    return learned(runtime, base)
