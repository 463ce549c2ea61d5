"""drafting: raw inputs -> drafts, scored for schema, Given/When/Then, parts, type, recall, questions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from evals import report
from evals.dataset import load_samples
from evals.scorers import SCORERS
from evals.task import EvalOptions, EvalResult
from pipelines.drafting import draft_story, without_empty_criteria
from pipelines.models import StoryDraft

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
        rows.append(
            {
                "id": sample.id,
                "category": sample.metadata.get("category"),
                "scores": {name: scorer(sample, result.value) for name, scorer in SCORERS.items()},
                "error": result.error,
                "warnings": result.warnings,
                "usage": result.record.usage(),
                "output": result.value.model_dump() if result.value else result.raw,
            }
        )
        options.on_sample(done, len(samples))
    return EvalResult(
        suite=SUITE,
        meta=options.meta(dataset=dataset),
        summary={**report.summarize(rows, list(SCORERS)), **report.cost(rows)},  # {mean, n} per scorer; then cost
        samples=rows,
    )


def rescore(path: Path) -> dict[str, Any]:
    """A stored run's drafts scored again with today's scorers and post-processing (`without_empty_criteria`): the
    model is not re-run. The report, with `summary_before` kept and each draft's dropped criteria listed."""
    stored = json.loads(path.read_text(encoding="utf-8"))
    split = stored.get("dataset", DATASET)
    samples = {s.id: s for s in load_samples(split)}
    for row in stored["samples"]:
        draft = StoryDraft.model_validate(row["output"]) if row["error"] is None and row["output"] else None
        if draft is not None:
            draft, dropped = without_empty_criteria(draft)
            row["output"], row["criteria_dropped"] = draft.model_dump(), [c.model_dump() for c in dropped]
        row["scores"] = {name: scorer(samples[row["id"]], draft) for name, scorer in SCORERS.items()}
    stored["summary_before"] = stored["summary"]
    stored["summary"] = {**stored["summary"], **report.summarize(stored["samples"], list(SCORERS))}
    stored["rescored_from"] = path.name
    return stored


if __name__ == "__main__":  # python -m evals.suites.drafting REPORT.json OUT.json
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    target.write_text(json.dumps(rescore(source), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
