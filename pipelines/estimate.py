"""Story points from comparable past stories: the k most similar items that already have points vote, weighted
by similarity, together with the team's own median (a prior that keeps a thin or noisy neighbourhood from
swinging the estimate); the weighted median is snapped to the planning-poker scale.

`k` and `prior_weight` were chosen on each project's validation rows with its training rows as history
(`python -m evals estimate --split dev`) and are reported on the held-out test rows.
"""

from __future__ import annotations

from statistics import median

from pydantic import BaseModel, Field

SCALE: tuple[int, ...] = (1, 2, 3, 5, 8, 13, 20, 40, 100)  # modified Fibonacci, as in planning poker
K = 20
PRIOR_WEIGHT = 4.0  # the team median counts as this many comparables


class Comparable(BaseModel):
    """A past item with points, and how similar it is to the one being estimated (0..1)."""

    item_id: int
    title: str
    points: float
    score: float = Field(ge=0, le=1)


class Estimate(BaseModel):
    points: int = Field(description="On the planning-poker scale 1, 2, 3, 5, 8, 13, 20, 40, 100.")
    rationale: str
    comparables: list[Comparable]


def snap(value: float) -> int:
    """The nearest value on the scale (the lower one on a tie)."""
    return min(SCALE, key=lambda s: (abs(s - value), s))


def weighted_median(values: list[float], weights: list[float]) -> float:
    """The smallest value at which the cumulative weight reaches half the total."""
    pairs = sorted(zip(values, weights, strict=True))
    half = sum(weights) / 2
    running = 0.0
    for value, weight in pairs:
        running += weight
        if running >= half:
            return value
    return pairs[-1][0]


def estimate_from_comparables(
    comparables: list[Comparable], team_median: float | None, k: int = K, prior_weight: float = PRIOR_WEIGHT
) -> Estimate | None:
    """The estimate from the `k` most similar comparables and the team median, or None when there are none."""
    nearest = sorted(comparables, key=lambda c: -c.score)[:k]
    if not nearest:
        return None
    values = [c.points for c in nearest]
    weights = [max(c.score, 1e-3) for c in nearest]
    if team_median is not None and prior_weight > 0:
        values.append(team_median)
        weights.append(prior_weight * (sum(weights) / len(weights)))
    points = snap(weighted_median(values, weights))
    top = ", ".join(f"#{c.item_id} ({c.points:g} pts, {c.score:.2f})" for c in nearest[:3])
    prior = f"; team median {team_median:g}" if team_median is not None else ""
    rationale = f"weighted median of the {len(nearest)} most similar estimated items{prior}; closest: {top}"
    return Estimate(points=points, rationale=rationale, comparables=nearest)


def team_median(points: list[float]) -> float | None:
    return median(points) if points else None
