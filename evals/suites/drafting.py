"""drafting: raw inputs -> drafts, scored for schema, Given/When/Then, parts, type, recall, questions."""

from __future__ import annotations

from evals import report
from evals.dataset import load_samples
from evals.scorers import SCORERS
from evals.task import EvalOptions, EvalResult
from pipelines.drafting import draft_story

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
