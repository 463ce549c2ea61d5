"""Prioritization whose arithmetic is transparent: the LLM only estimates inputs (each with a one-sentence
rationale); RICE, WSJF, MoSCoW and value-vs-effort are computed here, and dependencies are respected in the rank.

- RICE = reach x impact x confidence / effort (Intercom's definition; effort in story points here).
- WSJF = cost of delay / job size, cost of delay = business value + time criticality + risk reduction (SAFe;
  each on the modified Fibonacci scale 1, 2, 3, 5, 8, 13, 20).
- MoSCoW: must > should > could > won't, ties broken by WSJF.
- Value vs effort: quadrant from business value and effort (quick win, big bet, fill-in, money pit).
"""

from __future__ import annotations

import heapq
import math
import re
from collections import deque
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pipelines.llm import LLM, StructuredResult
from pipelines.safety import escape_tags, neutralize_instructions
from pipelines.words import WordClassifier, item_words
from prompts import load_prompt

PROMPT_ID = "estimate_priority"
Framework = Literal["rice", "wsjf", "moscow", "value_effort"]
Fib = Literal[1, 2, 3, 5, 8, 13, 20]
Impact = Literal[0.25, 0.5, 1.0, 2.0, 3.0]  # minimal, low, medium, high, massive
Confidence = Literal[0.5, 0.8, 1.0]  # low, medium, high
MoSCoW = Literal["must", "should", "could", "wont"]
FRAMEWORKS: tuple[str, ...] = get_args(Framework)
FIBONACCI: tuple[int, ...] = get_args(Fib)
IMPACT: tuple[float, ...] = get_args(Impact)
CONFIDENCE: tuple[float, ...] = get_args(Confidence)
MOSCOW_ORDER = {value: rank for rank, value in enumerate(get_args(MoSCoW))}
Rationale = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300)]


class PriorityInputs(BaseModel):
    """What the model estimates for one item, each with the reason. No score is asked of it."""

    model_config = ConfigDict(extra="forbid")

    goal: str | None = Field(description="The strategy goal this item serves, quoted from the goals; null if none.")
    goal_rationale: Rationale
    reach: int = Field(ge=0, le=10_000_000, description="People affected per quarter (estimate).")
    reach_rationale: Rationale
    impact: Impact = Field(description="0.25 minimal, 0.5 low, 1 medium, 2 high, 3 massive.")
    impact_rationale: Rationale
    confidence: Confidence = Field(description="How sure the estimates are: 0.5 low, 0.8 medium, 1 high.")
    confidence_rationale: Rationale
    effort: Fib = Field(description="Story points on the Fibonacci scale 1, 2, 3, 5, 8, 13, 20.")
    effort_rationale: Rationale
    business_value: Fib
    business_value_rationale: Rationale
    time_criticality: Fib
    time_criticality_rationale: Rationale
    risk_reduction: Fib
    risk_reduction_rationale: Rationale
    moscow: MoSCoW
    moscow_rationale: Rationale
    depends_on: list[int] = Field(
        default_factory=list, max_length=10, description="Ids of the listed items that must be done first."
    )


class InputEdits(BaseModel):
    """A reviewer's changes to the estimated inputs; the score is recomputed from the result."""

    model_config = ConfigDict(extra="forbid")

    reach: int | None = Field(None, ge=0, le=10_000_000)
    impact: Impact | None = None
    confidence: Confidence | None = None
    effort: Fib | None = None
    business_value: Fib | None = None
    time_criticality: Fib | None = None
    risk_reduction: Fib | None = None
    moscow: MoSCoW | None = None
    depends_on: list[int] | None = None

    def apply(self, inputs: PriorityInputs) -> PriorityInputs:
        return PriorityInputs.model_validate(inputs.model_dump() | self.model_dump(exclude_unset=True))


def rice(reach: float, impact: float, confidence: float, effort: float) -> float:
    if effort <= 0:
        raise ValueError("effort must be positive")
    return reach * impact * confidence / effort


def cost_of_delay(business_value: int, time_criticality: int, risk_reduction: int) -> int:
    return business_value + time_criticality + risk_reduction


def wsjf(business_value: int, time_criticality: int, risk_reduction: int, job_size: int) -> float:
    if job_size <= 0:
        raise ValueError("job size must be positive")
    return cost_of_delay(business_value, time_criticality, risk_reduction) / job_size


def quadrant(business_value: int, effort: int) -> str:
    """Value vs effort: high value is 8 or more, high effort 8 points or more."""
    high_value, high_effort = business_value >= 8, effort >= 8
    if high_value:
        return "big bet" if high_effort else "quick win"
    return "money pit" if high_effort else "fill-in"


QUADRANT_ORDER = {"quick win": 0, "big bet": 1, "fill-in": 2, "money pit": 3}


def score(framework: Framework, inputs: PriorityInputs) -> tuple[float, str]:
    """(sort key, higher first; a human-readable score) for one item under `framework`."""
    w = wsjf(inputs.business_value, inputs.time_criticality, inputs.risk_reduction, inputs.effort)
    if framework == "rice":
        value = rice(inputs.reach, inputs.impact, inputs.confidence, inputs.effort)
        return value, f"RICE {inputs.reach} x {inputs.impact} x {inputs.confidence} / {inputs.effort} = {value:.1f}"
    if framework == "wsjf":
        cod = cost_of_delay(inputs.business_value, inputs.time_criticality, inputs.risk_reduction)
        parts = f"{inputs.business_value} + {inputs.time_criticality} + {inputs.risk_reduction}"
        return w, f"WSJF ({parts}) / {inputs.effort} = {w:.2f} (cost of delay {cod})"
    if framework == "moscow":
        return (3 - MOSCOW_ORDER[inputs.moscow]) * 1000 + w, f"{inputs.moscow.upper()} (WSJF {w:.2f})"
    q = quadrant(inputs.business_value, inputs.effort)
    key = (3 - QUADRANT_ORDER[q]) * 1000 + inputs.business_value / inputs.effort
    return key, f"{q} (value {inputs.business_value}, effort {inputs.effort})"


def rank(scores: dict[int, float], depends_on: dict[int, list[int]]) -> list[int]:
    """Item ids best first, where an item never comes before an item it depends on (among those ranked) and a
    prerequisite rises with the best item waiting for it. A dependency that would close a cycle is ignored,
    keeping the edges of better-scored items first."""
    ids = set(scores)
    edges: dict[int, set[int]] = {i: set() for i in ids}
    for item in sorted(ids, key=lambda i: (-scores[i], i)):
        for dependency in depends_on.get(item, []):
            if dependency in ids and dependency != item and not dependency_path(edges, dependency, item):
                edges[item].add(dependency)
    dependents: dict[int, set[int]] = {i: set() for i in ids}
    for item, dependencies in edges.items():
        for dependency in dependencies:
            dependents[dependency].add(item)
    effective = {i: max(scores[j] for j in {i} | _reachable(dependents, i)) for i in ids}
    waiting = {i: len(d) for i, d in edges.items()}
    ready = [(-effective[i], -scores[i], i) for i in ids if waiting[i] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        *_, item = heapq.heappop(ready)
        order.append(item)
        for dependent in dependents[item]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, (-effective[dependent], -scores[dependent], dependent))
    return order


def _reachable(edges: dict[int, set[int]], start: int) -> set[int]:
    seen: set[int] = set()
    stack = list(edges[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack += edges[node]
    return seen


def dependency_path(edges: dict[int, set[int]], start: int, goal: int) -> list[int]:
    """The shortest chain of dependencies from `start` to `goal` (`edges`: item -> the items it depends on), both
    ends included ([start] when they are one), or [] when `start` does not depend on `goal`, even indirectly."""
    came_from: dict[int, int | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while (previous := came_from[path[-1]]) is not None:
                path.append(previous)
            return path[::-1]
        for following in sorted(edges.get(node, ())):
            if following not in came_from:
                came_from[following] = node
                queue.append(following)
    return []


def plan_sprint(order: list[int], points: dict[int, int], depends_on: dict[int, list[int]], capacity: int) -> list[int]:
    """Greedy by rank: take each item that fits the remaining capacity and whose dependencies are already taken
    (or were not part of the ranking at all)."""
    ranked, taken, used = set(order), [], 0
    for item in order:
        blocked = any(d in ranked and d not in taken for d in depends_on.get(item, []))
        if not blocked and used + points[item] <= capacity:
            taken.append(item)
            used += points[item]
    return taken


def evidence_reach(evidence: dict | None) -> tuple[int, str] | None:
    """Reach from ingestion evidence (distinct customers, else tickets), with the sentence that says so."""
    if not evidence or not evidence.get("ticket_count"):
        return None
    customers, tickets = evidence.get("distinct_customers") or 0, evidence["ticket_count"]
    reach = customers or tickets
    return reach, f"From evidence: {tickets} tickets from {customers or 'unknown'} customers."


def points_effort(points: float | None) -> tuple[int, str] | None:
    """Effort from the team's own story points on the item (the scale's nearest value, 1 to 20), with the sentence
    that says so; None for an item without points."""
    if points is None:
        return None
    effort = min(FIBONACCI, key=lambda value: (abs(value - points), value))
    on_scale = "" if effort == points else f", as {effort} on the 1-20 scale"
    return effort, f"The item's story points: {points:g}{on_scale}."


def item_text(title: str, item_type: str, description: str, evidence: dict | None) -> str:
    lines = [f"Title: {title}", f"Type: {item_type}"]
    if evidence and evidence.get("ticket_count"):
        dates = evidence.get("date_range") or ["?", "?"]
        lines.append(
            f"Evidence: {evidence['ticket_count']} tickets from {evidence.get('distinct_customers', '?')} customers, "
            f"{dates[0][:10]} to {dates[1][:10]}"
        )
    lines.append(f"Description: {description[:1500]}")
    return escape_tags("\n".join(lines), "item")  # the prompt keeps it between <item> and </item>


# An outage in the item's own words makes the model's urgency at least Major (crash, data loss, security, hang, ...).
# Chosen on Hadoop's dev reports (evals/suites/prioritization.py); the opposite rule, trivia words (typo, docs,
# cleanup, ...) making it Trivial, lowered the kappa on the larger dev sample (77 reports: 0.493 -> 0.460) and was
# dropped. TRIVIAL_WORDS stay for the eval's keyword baseline.
URGENT_WORDS = re.compile(
    r"\b(blocker|data ?loss|corrupt\w*|crash\w*|security|cve|vulnerab\w*|deadlock|hang\w*|npe|fail\w*)\b"
)
TRIVIAL_WORDS = re.compile(
    r"\b(typo\w*|javadoc|doc\w*|cleanup|clean up|checkstyle|findbugs|spotbugs|unused|cosmetic|log message)\b"
)
LEVELS = ("Trivial", "Minor", "Major", "Critical", "Blocker")  # Jira's, ordinal 0..4
LEVEL_CRITICALITY = {0: 2, 1: 3, 2: 5, 3: 13, 4: 20}  # a level's time criticality when the words move it


def nearest_level(value: float) -> int:
    """The Jira level 0..4 nearest to a mean of levels (halves round up)."""
    return min(4, max(0, math.floor(value + 0.5)))


def criticality_level(value: int) -> int:
    """Fibonacci time criticality -> Jira level: 1-2 Trivial, 3 Minor, 5-8 Major, 13 Critical, 20 Blocker."""
    return {1: 0, 2: 0, 3: 1, 5: 2, 8: 2, 13: 3, 20: 4}[value]


def keyword_level(text: str) -> int:
    """The words alone: Critical for outage words, Trivial for trivia words, else Major (the eval's baseline)."""
    text = text.lower()
    if URGENT_WORDS.search(text):
        return 3
    if TRIVIAL_WORDS.search(text):
        return 0
    return 2


def bound_by_words(inputs: PriorityInputs, text: str) -> str | None:
    """Raise an outage's urgency to at least Major (the item's words, quoted); a warning saying so, or None."""
    level = criticality_level(inputs.time_criticality)
    if not (found := URGENT_WORDS.search(text.lower())) or level >= 2:
        return None
    before = inputs.time_criticality
    inputs.time_criticality = LEVEL_CRITICALITY[2]
    why = f"the item says {found.group(0)!r}: urgency {LEVELS[2]}, not {LEVELS[level]}"
    note = f"(Adjusted: {why}.)"
    inputs.time_criticality_rationale = f"{inputs.time_criticality_rationale[: 299 - len(note)]} {note}"
    return f"time criticality {before} -> {inputs.time_criticality}: {why}"


# The team's decided priorities, by name, as Jira levels (Jira's old and new names, Linear's, GitHub labels').
LEVEL_NAMES = {
    "blocker": 4, "highest": 4, "urgent": 4, "critical": 3, "high": 3, "major": 2, "medium": 2, "normal": 2,
    "minor": 1, "low": 1, "trivial": 0, "lowest": 0,
}  # fmt: skip
TEAM_MIN_ITEMS = 500  # on dev, a history of 500 neither hurt nor helped the kappa; of 200 it hurt (README)
TEAM_WEIGHT = 0.5  # the team's level and the model's, averaged (chosen on dev, README)
TEAM_STRETCH = 2.0  # levels per unit of the classifier's expected level away from the team's mean (chosen on dev)


def priority_level(priority: str | None) -> int | None:
    """A priority's name (Blocker, Highest, P1 ...) as a Jira level 0..4; None when it is not one."""
    name = (priority or "").strip().lower()
    if found := re.fullmatch(r"p([0-4])", name):
        return 4 - int(found[1])
    return LEVEL_NAMES.get(name)


class TeamPriorities:
    """What the team's own decided priorities say about an item's words (a `WordClassifier` with balanced
    classes). Its expected level is compressed toward the middle, so `level` stretches how far an item stands from
    the team's typical one."""

    def __init__(self, texts: list[str], levels: list[int]) -> None:
        self._words = WordClassifier(texts, levels, balanced=True)
        self.size = self._words.size
        self.mean = float((self._words.probabilities(texts) @ self._words.classes).mean())

    @classmethod
    def fit(cls, texts: list[str], levels: list[int | None]) -> TeamPriorities | None:
        """None unless there are `TEAM_MIN_ITEMS` decided items over at least three levels."""
        known = [(text, level) for text, level in zip(texts, levels, strict=True) if level is not None]
        if len(known) < TEAM_MIN_ITEMS or len({level for _, level in known}) < 3:
            return None
        return cls([text for text, _ in known], [level for _, level in known])

    def level(self, text: str) -> float:
        """The level the team's decisions suggest for `text`, 0 (Trivial) .. 4 (Blocker): Major, moved by
        `TEAM_STRETCH` levels per unit its expected level stands above or below the team's mean."""
        expected = float(self._words.probabilities([text])[0] @ self._words.classes)
        return min(4.0, max(0.0, 2 + TEAM_STRETCH * (expected - self.mean)))


def blend_with_team(inputs: PriorityInputs, team_level: float, weight: float = TEAM_WEIGHT) -> str | None:
    """Move the model's urgency toward the level the team's own priorities suggest for such words (`TeamPriorities.
    level`): the nearest level to `(1 - weight) x model + weight x team`. A warning saying what moved, or None."""
    level = criticality_level(inputs.time_criticality)
    blended = nearest_level((1 - weight) * level + weight * team_level)
    if blended == level:
        return None
    before = inputs.time_criticality
    inputs.time_criticality = LEVEL_CRITICALITY[blended]
    why = f"the team's own priorities for such items suggest {LEVELS[nearest_level(team_level)]}"
    note = f"(Adjusted: {why}, so {LEVELS[blended]}, not {LEVELS[level]}.)"
    inputs.time_criticality_rationale = f"{inputs.time_criticality_rationale[: 299 - len(note)]} {note}"
    return f"time criticality {before} -> {inputs.time_criticality}: {why}"


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def written_key(external_id: str | None) -> str | None:
    """How a text names the tracker issue an item came from: SHOP-12 for `jira:SHOP-12` (or `SHOP-12`), #12 for
    `github:owner/repo#12`; None for an item no tracker has."""
    if not external_id:
        return None
    key = external_id.split(":", 1)[-1]
    return f"#{key.rsplit('#', 1)[1]}" if "#" in key else key


def dependency_evidence(text: str, other_id: int, other_title: str, other_key: str | None = None) -> str | None:
    """The words of an item's `text` that name another item: its tracker key (`other_key`, its external id:
    `written_key`), `#id`, or its whole title (two words or more); None when the text does not name it. A
    dependency is proposed only with such evidence."""
    key = written_key(other_key)
    if key and (found := re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", text, re.IGNORECASE)):
        return found.group(0)
    if found := re.search(rf"#{other_id}\b", text):
        return found.group(0)
    title = _normalise(other_title)
    if len(title.split()) >= 2 and f" {title} " in f" {_normalise(text)} ":
        return other_title.strip()
    return None


def estimate_inputs(
    llm: LLM,
    title: str,
    item_type: str,
    description: str,
    evidence: dict | None = None,
    strategy: str = "",
    others: list[tuple[int, str]] | list[tuple[int, str, str | None]] | None = None,
    team: TeamPriorities | None = None,
    points: float | None = None,
) -> StructuredResult[PriorityInputs]:
    """One LLM call: the framework inputs for one item. Reach is taken from evidence when there is some, effort from
    the item's story `points` when it has them (the team's estimate, not the model's guess). `others`:
    the other items (id, title, optionally key); a dependency on one is kept only when the item's text names it
    (`dependency_evidence`), else dropped with a warning. The urgency is blended with what the `team`'s own
    priorities suggest (if given), then bounded by the item's words."""
    text, removed = neutralize_instructions(item_text(title, item_type, description, evidence))
    result = llm.complete_structured(
        load_prompt(PROMPT_ID),
        PriorityInputs,
        strategy=strategy.strip() or "none given",
        others="\n".join(f"{other[0]}: {other[1]}" for other in (others or [])[:50]) or "none",
        item=text,
    )
    result.warnings += [f"instruction-like text was removed from the item: {cut!r}" for cut in removed]
    known = {other[0]: other for other in others or []}
    if result.value is not None:
        reach = evidence_reach(evidence)
        if reach is not None:
            result.value.reach, result.value.reach_rationale = reach
        if (effort := points_effort(points)) is not None:
            result.value.effort, result.value.effort_rationale = effort
        if team is not None and (moved := blend_with_team(result.value, team.level(item_words(title, description)))):
            result.warnings.append(moved)
        if moved := bound_by_words(result.value, f"{title}\n{description}"):
            result.warnings.append(moved)
        unknown = [d for d in result.value.depends_on if d not in known]
        if unknown:
            result.warnings.append(f"dependencies on items not in the list were dropped: {unknown}")
        text = f"{title}\n{description}"
        named = [d for d in result.value.depends_on if d in known and dependency_evidence(text, *known[d])]
        if unnamed := [d for d in result.value.depends_on if d in known and d not in named]:
            result.warnings.append(f"dependencies the item's text does not name were dropped: {unnamed}")
        result.value.depends_on = named
    return result
