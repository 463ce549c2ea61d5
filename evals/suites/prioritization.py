"""prioritization: does the suggested urgency agree with the priority Hadoop's own triagers set?

Sample: Hadoop Jira reports (GitBugs, CC BY 4.0), stratified by their real priority (Blocker .. Trivial), the
same number from each level (seeded). The model estimates inputs for each report (`estimate_inputs`, no
strategy, no other items); the suggested urgency is its time criticality (1..20, Fibonacci) and, for the
categorical comparison, that scale cut into the five Jira levels. Scored against the real priority in the same
run as a keyword baseline: Spearman's rank correlation and quadratic-weighted Cohen's kappa. Also: consistency
(a repeat of the same item gives every Fibonacci input within one step) and the share of rationales that name
their evidence (a word of the report's summary).
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path
from typing import Any

from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from evals.bug_reports import BugReport, load_corpus
from evals.task import EvalError, EvalOptions, EvalResult
from pipelines.prioritization import (
    FIBONACCI,
    LEVELS,
    PriorityInputs,
    TeamPriorities,
    blend_with_team,
    bound_by_words,
    criticality_level,
    estimate_inputs,
    keyword_level,
    nearest_level,
)
from pipelines.words import item_words

SUITE = "prioritization"
NEEDS_LLM = True
FIB_INPUTS = ("effort", "business_value", "time_criticality", "risk_reduction")
_WORD = re.compile(r"[a-z][a-z0-9]{3,}")


def names_evidence(inputs: PriorityInputs, summary: str) -> bool:
    words = set(_WORD.findall(summary.lower()))
    rationales = " ".join(
        getattr(inputs, f"{name}_rationale") for name in ("reach", "impact", "time_criticality")
    ).lower()
    return bool(words & set(_WORD.findall(rationales)))


def within_one_step(a: PriorityInputs, b: PriorityInputs) -> bool:
    return all(abs(FIBONACCI.index(getattr(a, n)) - FIBONACCI.index(getattr(b, n))) <= 1 for n in FIB_INPUTS)


def stratified(reports: list[BugReport], per_level: int, seed: int) -> list[BugReport]:
    rng = random.Random(seed)
    sample = []
    for level in LEVELS:
        at_level = [r for r in reports if r.priority == level]
        sample += rng.sample(at_level, min(per_level, len(at_level)))
    return sample


def select(split: str, per_level: int | None) -> list[BugReport]:
    """test: the reported sample (8 per level, seed 7); dev: other Hadoop reports for tuning (4 per level, seed 11),
    never any of the test sample's."""
    reports = load_corpus("dev").reports
    test = stratified(reports, per_level or 8, 7) if split == "test" else stratified(reports, 8, 7)
    if split == "test":
        return test
    held = {r.id for r in test}
    return stratified([r for r in reports if r.id not in held], per_level or 4, 11)


def team_history() -> TeamPriorities | None:
    """The team's decided priorities: every Hadoop report in neither sample (nor the larger dev draws)."""
    reports = load_corpus("dev").reports
    held = {r.id for split, limit in (("test", None), ("dev", None), ("dev", 12)) for r in select(split, limit)}
    history = [r for r in reports if r.id not in held and r.priority in LEVELS]
    return TeamPriorities.fit(
        [item_words(r.title, r.description) for r in history], [LEVELS.index(r.priority) for r in history]
    )


def run(options: EvalOptions) -> EvalResult:
    """Estimate the inputs of every sampled report (`limit`: reports per level) and score the urgency against the
    real priority; on the test split the first 10 valid reports are estimated again for consistency."""
    llm = options.require_llm(SUITE)
    split, per_level = options.split, options.limit
    repeats = 10 if split == "test" else 0
    try:
        sample = select(split, per_level)
    except FileNotFoundError as exc:
        raise EvalError(str(exc)) from exc
    team = team_history()
    rows = []
    for n, report in enumerate(sample, 1):
        result = estimate_inputs(llm, report.title, "bug", report.description, team=team)
        row = {
            "id": report.id,
            "priority": report.priority,
            "truth": LEVELS.index(report.priority),
            "keyword": keyword_level(f"{report.title}\n{report.description}"),
            "error": result.error,
            "attempts": result.record.attempts,
            "latency_s": result.record.latency_s,
        }
        if team is not None:
            row["team_level"] = round(team.level(item_words(report.title, report.description)), 3)
        if result.value is not None:
            row["model_criticality"] = PriorityInputs.model_validate_json((result.raw or "").strip()).time_criticality
            row["warnings"] = result.warnings
            row |= {
                "inputs": result.value.model_dump(mode="json"),
                "predicted": criticality_level(result.value.time_criticality),
                "criticality": result.value.time_criticality,
                "names_evidence": names_evidence(result.value, report.title),
            }
        rows.append(row)
        options.log(f"{n}/{len(sample)} {report.priority}: {row.get('criticality')} ({result.record.latency_s:.0f} s)")
        options.on_sample(n, len(sample))
    summary = _summary(rows)
    scored = [r for r in rows if "predicted" in r]
    consistent = 0
    for row in scored[:repeats]:
        report = next(r for r in sample if r.id == row["id"])
        again = estimate_inputs(llm, report.title, "bug", report.description, team=team)
        consistent += again.value is not None and within_one_step(PriorityInputs(**row["inputs"]), again.value)
    summary["consistency"] = round(consistent / min(repeats, len(scored)), 3) if repeats and scored else None
    summary["repeats"] = min(repeats, len(scored))
    dataset = "hadoop test sample (nothing tuned on it)" if split == "test" else "hadoop dev sample (for tuning)"
    meta = options.meta(dataset=dataset, per_level=per_level or (8 if split == "test" else 4), repeats=repeats)
    return EvalResult(suite=SUITE, meta=meta, summary=summary, samples=rows)


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Agreement with the real priority: the urgency as suggested (model, team blend, word bound), the model's own
    answer, the team classifier alone and the keyword baseline; how many the team and the words moved."""
    scored = [r for r in rows if "predicted" in r]
    truth = [r["truth"] for r in scored]

    def agreement(name: str, ranks: list[float], levels: list[int]) -> dict[str, float]:
        return {
            f"spearman_{name}": round(float(spearmanr(ranks, truth).statistic), 3),
            f"kappa_{name}": round(cohen_kappa_score(truth, levels, weights="quadratic"), 3),
        }

    summary: dict[str, Any] = {
        "reports": len(rows),
        "valid": len(scored),
        **agreement("model", [r["criticality"] for r in scored], [r["predicted"] for r in scored]),
        **agreement("keyword", [r["keyword"] for r in scored], [r["keyword"] for r in scored]),
    }
    if all("model_criticality" in r for r in scored):
        own = [r["model_criticality"] for r in scored]
        summary |= agreement("model_alone", own, [criticality_level(c) for c in own])
    if all("team_level" in r for r in scored):
        team = [r["team_level"] for r in scored]
        summary |= agreement("team_alone", team, [nearest_level(t) for t in team])
    summary["moved_by_team"] = sum(1 for r in scored if any("team's own" in w for w in r.get("warnings", [])))
    summary["moved_by_words"] = sum(1 for r in scored if any("the item says" in w for w in r.get("warnings", [])))
    summary["severe_called_trivial"] = sum(1 for r in scored if r["truth"] >= 3 and r["predicted"] == 0)
    summary["rationale_names_evidence"] = round(
        sum(r.get("names_evidence", False) for r in scored) / max(1, len(scored)), 3
    )
    return summary


def _rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return report.get("samples") or report["rows"]  # reports before 2026-11-26 call them rows


def rescore(path: Path, team: bool = True) -> dict[str, Any]:
    """A stored run's model outputs (`inputs` per report, the model's own time criticality) scored again with today's
    deterministic post-processing: blended with the team's priorities (`blend_with_team`, unless `team` is False),
    then bounded by the report's words (`bound_by_words`). The model is not re-run, so a rule tuned on dev is
    reported once on the test run's own outputs. The report, with `summary_before` kept."""
    report = json.loads(path.read_text(encoding="utf-8"))
    texts = {r.id: (r.title, r.description) for r in load_corpus("dev").reports}
    history = team_history() if team else None
    rows = _rows(report)
    for row in rows:
        if "inputs" not in row:
            continue
        inputs = PriorityInputs.model_validate(row["inputs"])
        inputs.time_criticality = row.setdefault("model_criticality", inputs.time_criticality)
        title, description = texts[row["id"]]
        moved = [w for w in row.get("warnings", []) if not w.startswith("time criticality ")]  # the rules' own
        if history is not None:
            row["team_level"] = round(history.level(item_words(title, description)), 3)
            moved.append(blend_with_team(inputs, row["team_level"]))
        moved.append(bound_by_words(inputs, f"{title}\n{description}"))
        row["warnings"] = [w for w in moved if w]
        row["predicted"], row["criticality"] = criticality_level(inputs.time_criticality), inputs.time_criticality
    report["summary_before"] = report["summary"]
    report["summary"] = {**report["summary"], **_summary(rows), "rescored_from": path.name}
    return report


def comparables_check(report: Path, split: str = "dev") -> dict[str, Any]:
    """Would the team's own priorities of similar items help? The other Hadoop reports (neither sample's) play the
    team's decided priorities; for each report of a stored run, the mean level of its k most similar ones (MiniLM
    cosine, title + description) is blended into the model's level as `model + w * (neighbours - team mean)`.
    Spearman of the neighbours alone, and the quadratic kappa of each blend against the model's own."""
    import numpy as np

    from pipelines.embeddings import get_embedder

    reports = load_corpus("dev").reports
    sample, other = select(split, None), select("test" if split == "dev" else "dev", None)
    rows = {r["id"]: r for r in _rows(json.loads(report.read_text(encoding="utf-8"))) if "predicted" in r}
    scored = [r for r in sample if r.id in rows]
    held = {r.id for r in sample + other}
    history = [r for r in reports if r.id not in held]
    embed = get_embedder().encode
    vectors = embed([f"{r.title}. {r.description[:600]}" for r in history + scored])
    similarity = vectors[len(history) :] @ vectors[: len(history)].T
    levels = np.array([LEVELS.index(r.priority) for r in history])
    truth = [LEVELS.index(r.priority) for r in scored]
    model = np.array([rows[r.id]["predicted"] for r in scored])
    out: dict[str, Any] = {"reports": len(scored), "history": len(history)}
    out["kappa_model"] = round(cohen_kappa_score(truth, model, weights="quadratic"), 3)
    for k in (5, 10, 20, 50):
        near = levels[np.argsort(-similarity, axis=1)[:, :k]].mean(axis=1)
        out[f"k={k}"] = {"spearman_neighbours": round(float(spearmanr(near, truth).statistic), 3)}
        for w in (0.5, 1.0, 2.0):
            blended = np.clip(np.rint(model + w * (near - levels.mean())), 0, 4).astype(int)
            out[f"k={k}"][f"kappa_w={w}"] = round(cohen_kappa_score(truth, blended, weights="quadratic"), 3)
    return out


if __name__ == "__main__":  # python -m evals.suites.prioritization REPORT.json OUT.json [--no-team] | --comparables R
    if sys.argv[1] == "--comparables":
        print(json.dumps(comparables_check(Path(sys.argv[2])), indent=2))
        sys.exit()
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    rescored = rescore(source, team="--no-team" not in sys.argv)
    target.write_text(json.dumps(rescored, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"before": rescored["summary_before"], "after": rescored["summary"]}, indent=2))
