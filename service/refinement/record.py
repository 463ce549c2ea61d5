"""How the project's reviewers decided its estimates: the team's own measure of how far to trust them.

Every accepted estimate says "these points" (as suggested, or the points the reviewer settled on instead) and every
rejected one "not these". Counted over decisions that stand (an undone one is pending again), it answers what the
estimate eval answers for other teams' data, on this team's: how often the suggested points were kept, and how far
off they were when the team changed them.
"""

from __future__ import annotations

from statistics import mean

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.estimate import scale_steps
from service.core.enums import SuggestionKind, SuggestionStatus
from service.core.suggestions import acceptances
from service.core.tables import Suggestion


class EstimateRecord(BaseModel):
    """The project's decided estimates: kept as suggested, changed (lower or higher), or rejected."""

    kept: int = Field(description="Accepted with the suggested points.")
    changed: int = Field(description="Accepted with other points the reviewer settled on.")
    lower: int = Field(description="Of those changed, how many the team set lower than suggested.")
    higher: int
    rejected: int
    mean_change: float | None = Field(
        description="The mean difference in points between the suggested and the settled points, over the changed "
        "estimates."
    )
    within_one_step: float | None = Field(
        description="Share of accepted estimates whose settled points are the suggested ones or a neighbour on the "
        "scale (1, 2, 3, 5, 8, 13, 20, 40, 100)."
    )


def estimate_record(session: Session) -> EstimateRecord:
    """How the current project's estimates were decided, counting each suggestion's decision that stands."""
    decided = list(
        session.scalars(
            select(Suggestion).where(
                Suggestion.kind == SuggestionKind.estimate,
                Suggestion.status.in_((SuggestionStatus.accepted, SuggestionStatus.rejected)),
            )
        )
    )
    accepted = {s.id: s for s in decided if s.status == SuggestionStatus.accepted}
    standing = acceptances(session, list(accepted)) if accepted else {}
    settled = {i: int((e.after or {})["story_points"]) for i, e in standing.items()}
    pairs = [(int(accepted[i].payload["points"]), points) for i, points in settled.items()]
    changes = [abs(after - before) for before, after in pairs if after != before]
    return EstimateRecord(
        kept=len(pairs) - len(changes),
        changed=len(changes),
        lower=sum(after < before for before, after in pairs),
        higher=sum(after > before for before, after in pairs),
        rejected=len(decided) - len(accepted),
        mean_change=round(mean(changes), 2) if changes else None,
        within_one_step=round(mean(abs(scale_steps(b, a)) <= 1 for b, a in pairs), 3) if pairs else None,
    )
