"""story_drafting: raw inputs -> drafts, scored for schema, Given/When/Then, parts, type, recall, questions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evals.dataset import load_samples
from evals.scorers import SCORERS
from pipelines.drafting import draft_story
from pipelines.llm import LLM

SUITE = "story_drafting"


def run(
    llm: LLM, dataset: str = SUITE, limit: int | None = None, on_sample: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Draft every sample of `dataset` with `llm` and score it; one row per sample."""
    rows = []
    for sample in load_samples(dataset, limit):
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
        if on_sample:
            on_sample(sample.id)
    return rows
