"""Story points from comparable past stories: the k most similar items that already have points vote, weighted
by similarity, together with the team's own median (a prior that keeps a thin or noisy neighbourhood from
swinging the estimate) and, once the team has estimated enough items, what its points say about the item's words
(`TeamPoints`); the weighted median is snapped to the planning-poker scale.

`k`, `prior_weight` and `words_weight` were chosen on each project's validation rows with its training rows as
history (`python -m evals estimate --split dev --calibrate`) and are reported on the held-out test rows.
"""

from __future__ import annotations

import re
from statistics import median

from pydantic import BaseModel, Field

from pipelines.words import WordClassifier

SCALE: tuple[int, ...] = (1, 2, 3, 5, 8, 13, 20, 40, 100)  # modified Fibonacci, as in planning poker
K = 20
PRIOR_WEIGHT = 4.0  # the team median counts as this many comparables
WORDS_WEIGHT = 2.0  # the team's words count this many times as much as the comparables and the median together
WORDS_MIN_ITEMS = 200  # the smallest history measured (the eval's smallest project has 211 training rows)
# The newest items it learns from: the eval's largest history is 3,733 items (its fit: 1.9 s; all 16,913 of the
# eval's projects pooled: 12 s; README), and the first estimate waits for the fit.
WORDS_MAX_ITEMS = 4_000
# The likely range: the vote between its RANGE_TAIL and 1 - RANGE_TAIL weighted quantiles. Chosen on dev as the
# narrowest range that held the team's points for at least 8 items in 10 (0.83; README: estimate range).
RANGE_TAIL = 0.2


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
    low: int | None = Field(None, description="The likely range's low end, on the scale (None: no range).")
    high: int | None = Field(None, description="Its high end.")


def snap(value: float) -> int:
    """The nearest value on the scale (the lower one on a tie)."""
    return min(SCALE, key=lambda s: (abs(s - value), s))


def scale_steps(low: float, high: float) -> int:
    """How many steps of the scale lie from `low` up to `high`, each snapped to it (0: the same value; negative when
    `high` is the lower)."""
    return SCALE.index(snap(high)) - SCALE.index(snap(low))


def weighted_quantile(values: list[float], weights: list[float], q: float) -> float:
    """The smallest value at which the cumulative weight reaches `q` of the total."""
    pairs = sorted(zip(values, weights, strict=True))
    share = sum(weights) * q
    running = 0.0
    for value, weight in pairs:
        running += weight
        if running >= share:
            return value
    return pairs[-1][0]


def weighted_median(values: list[float], weights: list[float]) -> float:
    return weighted_quantile(values, weights, 0.5)


class TeamPoints:
    """What the team's own estimates say about an item's words: a `WordClassifier` over the points of the items
    it already estimated, snapped to the scale (a team that used 75 different values is fitted in a fraction of
    the time, and on dev the estimates were as good or better on every project; README)."""

    def __init__(self, texts: list[str], points: list[float]) -> None:
        self._words = WordClassifier(texts, [float(snap(p)) for p in points])
        self.size = self._words.size

    @classmethod
    def fit(cls, texts: list[str], points: list[float]) -> TeamPoints | None:
        """None unless `WORDS_MIN_ITEMS` items have points, of at least two values on the scale."""
        if len(texts) < WORDS_MIN_ITEMS or len({snap(p) for p in points}) < 2:
            return None
        return cls(texts, points)

    def distribution(self, text: str) -> dict[float, float]:
        """Points -> how likely the team would give them to `text`."""
        probabilities = self._words.probabilities([text])[0]
        return {float(value): float(p) for value, p in zip(self._words.classes, probabilities, strict=True)}


def estimate_from_comparables(
    comparables: list[Comparable],
    team_median: float | None,
    k: int = K,
    prior_weight: float = PRIOR_WEIGHT,
    words: dict[float, float] | None = None,
    words_weight: float = WORDS_WEIGHT,
    tail: float = RANGE_TAIL,
) -> Estimate | None:
    """The estimate from the `k` most similar comparables, the team median and the team's `words` distribution
    (`TeamPoints.distribution`), with the likely range (the same vote's `tail` and 1 - `tail` quantiles), or None
    when there are no comparables."""
    nearest = sorted(comparables, key=lambda c: -c.score)[:k]
    if not nearest:
        return None
    values = [c.points for c in nearest]
    weights = [max(c.score, 1e-3) for c in nearest]
    if team_median is not None and prior_weight > 0:
        values.append(team_median)
        weights.append(prior_weight * (sum(weights) / len(weights)))
    reasons = [f"the {len(nearest)} most similar estimated items"]
    if team_median is not None:
        reasons.append(f"team median {team_median:g}")
    if words and words_weight > 0:
        total = sum(weights)
        values += list(words)
        weights += [words_weight * total * p for p in words.values()]
        likely = max(words, key=lambda value: words[value])
        reasons.append(f"items worded like this one most often got {likely:g} ({words[likely]:.0%})")
    points = snap(weighted_median(values, weights))
    low, high = (snap(weighted_quantile(values, weights, q)) for q in (tail, 1 - tail))
    top = ", ".join(f"#{c.item_id} ({c.points:g} pts, {c.score:.2f})" for c in nearest[:3])
    likely = f"{low}" if low == high else f"{low}-{high}"
    rationale = f"weighted median of {'; '.join(reasons)}; likely {likely}; closest: {top}"
    return Estimate(points=points, rationale=rationale, comparables=nearest, low=low, high=high)


def team_median(points: list[float]) -> float | None:
    return median(points) if points else None


POINTS_SAID = re.compile(
    r"\b(\d{1,3})\s*(?:story[ -]?points?|points?|pts?|sp)\b|\b(?:story[ -]?)?points?\s*[:=]\s*(\d{1,3})\b",
    re.IGNORECASE,
)


def points_said(text: str) -> list[int]:
    """The story points a comment states ("5 points", "8 pts", "3 SP", "13 story points", "points: 5"), each once, in
    order: what a team said in planning, shown beside the estimate (not joined to it: no eval measures it)."""
    return list(dict.fromkeys(int(before or after) for before, after in POINTS_SAID.findall(text)))
