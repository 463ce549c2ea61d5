"""drafting: raw inputs -> drafts, scored for schema, Given/When/Then, parts, type, recall, questions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from evals import report
from evals.dataset import Sample, load_samples
from evals.scorers import SCORERS
from evals.task import EvalOptions, EvalResult
from pipelines.drafting import draft_story, judge_invented, without_empty_criteria
from pipelines.llm import LLM
from pipelines.models import StoryDraft
from prompts import load_prompt

SUITE = "drafting"
DATASET = "story_drafting"  # the dataset files keep the suite's first name: story_drafting{,_dev}.jsonl
NEEDS_LLM = True


def run(options: EvalOptions) -> EvalResult:
    """Draft every sample of the split (the first `limit`) with the LLM and score it; one row per sample."""
    llm = options.require_llm(SUITE)
    dataset = DATASET if options.split == "test" else f"{DATASET}_dev"
    samples = load_samples(dataset, options.limit)
    rows = []
    for done, sample in enumerate(samples, 1):
        result = draft_story(llm, sample.input["text"], sample.input.get("context"))
        row = {
            "id": sample.id,
            "category": sample.metadata.get("category"),
            "scores": {name: scorer(sample, result.value) for name, scorer in SCORERS.items()},
            "error": result.error,
            "warnings": result.warnings,
            "usage": result.record.usage(),
            "output": result.value.model_dump() if result.value else result.raw,
        }
        rows.append(judged(llm, sample, result.value, row))
        options.on_sample(done, len(samples))
    return EvalResult(
        suite=SUITE,
        meta=options.meta(dataset=dataset, judge_prompt=judge_prompt()),
        summary={**report.summarize(rows, SCORED), **report.cost(rows)},  # {mean, n} per scorer; then cost
        samples=rows,
    )


JUDGED = "no_invented_facts"  # the one model-judged scorer: no number, name or promise the input does not give
SCORED = [*SCORERS, JUDGED]


def judge_prompt() -> str:
    """The judge's prompt and version, as reports name it."""
    return f"judge_invented@{load_prompt('judge_invented').version}"


def judged(llm: LLM, sample: Sample, draft: StoryDraft | None, row: dict[str, Any]) -> dict[str, Any]:
    """`row` with the judge's verdict: JUDGED is 1.0 when the judge finds no invented fact (None without a draft or
    when the judge's reply failed), and `invented` lists the facts it found (checked to be the story's words)."""
    if draft is None:
        return {**row, "scores": {**row["scores"], JUDGED: None}, "invented": []}
    facts, result = judge_invented(llm, draft, sample.input["text"], sample.input.get("context"))
    score = None if result.value is None else float(not facts)
    invented = [f.model_dump() for f in facts]
    return {**row, "scores": {**row["scores"], JUDGED: score}, "invented": invented, "judge_error": result.error}


def rescore(path: Path, judge: LLM | None = None) -> dict[str, Any]:
    """A stored run's drafts scored again with today's scorers and post-processing (`without_empty_criteria`): the
    drafting model is not re-run; with `judge`, the model-judged scorer too. The report, with `summary_before` kept
    and each draft's dropped criteria listed."""
    stored = json.loads(path.read_text(encoding="utf-8"))
    split = stored.get("dataset", DATASET)
    samples = {s.id: s for s in load_samples(split)}
    for row in stored["samples"]:
        draft = StoryDraft.model_validate(row["output"]) if row["error"] is None and row["output"] else None
        if draft is not None:
            draft, dropped = without_empty_criteria(draft)
            row["output"], row["criteria_dropped"] = draft.model_dump(), [c.model_dump() for c in dropped]
        fresh = {name: scorer(samples[row["id"]], draft) for name, scorer in SCORERS.items()}
        row["scores"] = {**row["scores"], **fresh}  # a judged score stays unless the judge runs again
        if judge is not None:
            row.update(judged(judge, samples[row["id"]], draft, row))
    stored["summary_before"] = stored["summary"]
    scored = SCORED if judge is not None else list(SCORERS)
    stored["summary"] = {**stored["summary"], **report.summarize(stored["samples"], scored)}
    stored["rescored_from"] = path.name
    if judge is not None:
        stored["judge"] = {"model": judge.model, "prompt": judge_prompt()}
    return stored


if __name__ == "__main__":  # python -m evals.suites.drafting REPORT.json OUT.json [--judge]: --judge on the local model
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    judge = None
    if "--judge" in sys.argv[3:]:
        from pipelines.llm import LLMSettings, build_llm

        settings = LLMSettings().model_copy(update={"llm_provider": "local"})
        judge = build_llm(settings.llm_config())
    target.write_text(json.dumps(rescore(source, judge), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
