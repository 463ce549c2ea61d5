"""learning: do drafts take on a team's style once its accepted edits are examples in the prompt?

A simulated team edits every draft the same way before accepting it: the title starts with the story's area, its
first label ("Search: Filter results by price"), a common convention in Jira and Linear backlogs. On the
story_drafting dev split the first `EDITED` ideas are drafted, edited that way and accepted (they play the team's
history); the remaining ideas are drafted without and with the latest `TEAM_EXAMPLES` accepted edits as examples,
each way `draft_prompt` can show them (`replace`, the service's, drops as many built-in examples and says to write
like the team), and each draft is scored for the team's style and for what the drafting eval checks anyway
(schema, Given/When/Then, must-mention, type), so a style gain that costs content shows.
"""

from __future__ import annotations

import re
from typing import Any

from evals import report
from evals.dataset import Sample, load_samples
from evals.scorers import SCORERS
from evals.task import EvalError, EvalOptions, EvalResult
from pipelines.drafting import TEAM_EXAMPLES, draft_story, team_example
from pipelines.models import StoryDraft

SUITE = "learning"
NEEDS_LLM = True
EDITED = 10  # accepted edited drafts in the team's history
KEPT = ("schema_valid", "gwt_complete", "must_mention", "type_match")
AREA = re.compile(r"^([A-Za-z][A-Za-z0-9 &/-]{0,30}): \S")


def team_edit(draft: StoryDraft) -> StoryDraft:
    """The team's edit: "<Area>: <title>", the area being the story's first label."""
    if not draft.labels or AREA.match(draft.title):
        return draft
    return draft.model_copy(update={"title": f"{draft.labels[0].capitalize()}: {draft.title}"[:200]})


def area_prefix(sample: Sample, draft: StoryDraft | None) -> float | None:
    """The title starts with "<Area>: " as the team writes it."""
    return None if draft is None else float(bool(AREA.match(draft.title)))


def area_is_label(sample: Sample, draft: StoryDraft | None) -> float | None:
    """...and the area is one of the story's labels, as in the team's edits (not any word before a colon)."""
    if draft is None:
        return None
    found = AREA.match(draft.title)
    return float(bool(found) and found.group(1).strip().lower() in {label.lower() for label in draft.labels})


STYLE = {"area_prefix": area_prefix, "area_is_label": area_is_label}
MODES = ("append", "note", "replace")  # how the team's examples join the built-in ones (`draft_prompt`)


def run(options: EvalOptions) -> EvalResult:
    """Dev split only: it compares ways of drafting the same ideas; nothing here is held out."""
    if options.split != "dev":
        raise EvalError("the learning suite runs on the dev split (--split dev): it plays a team's history from it")
    llm = options.require_llm(SUITE)
    samples = load_samples("story_drafting_dev", options.limit)
    if len(samples) <= EDITED:
        raise EvalError(f"the learning suite needs more than {EDITED} samples (--limit)")
    history, ideas = samples[:EDITED], samples[EDITED:]
    total = len(history) + (1 + len(MODES)) * len(ideas)
    edited: list[Any] = []
    for done, sample in enumerate(history, 1):
        result = draft_story(llm, sample.input["text"], sample.input.get("context"))
        if result.value is not None:
            story = team_edit(result.value).model_dump(mode="json")
            edited.append(team_example(sample.input["text"], sample.input.get("context"), story))
        options.on_sample(done, total)
    examples = edited[-TEAM_EXAMPLES:]
    rows = []
    conditions = [("without_examples", None, "replace"), *((mode, examples, mode) for mode in MODES)]
    for condition, shown, mode in conditions:
        for sample in ideas:
            result = draft_story(
                llm, sample.input["text"], sample.input.get("context"), examples=shown, example_mode=mode
            )
            scorers = {**STYLE, **{name: SCORERS[name] for name in KEPT}}
            rows.append(
                {
                    "id": sample.id,
                    "condition": condition,
                    "scores": {name: scorer(sample, result.value) for name, scorer in scorers.items()},
                    "error": result.error,
                    "usage": result.record.usage(),
                    "output": result.value.model_dump() if result.value else result.raw,
                }
            )
            options.on_sample(len(history) + len(rows), total)
    names = [*STYLE, *KEPT]
    summary = {
        condition: {
            **report.summarize([r for r in rows if r["condition"] == condition], names),
            **report.cost([r for r in rows if r["condition"] == condition]),
        }
        for condition in dict.fromkeys(r["condition"] for r in rows)
    }
    return EvalResult(
        suite=SUITE,
        meta=options.meta(
            dataset="story_drafting_dev", history=len(history), edited_examples=len(edited), in_prompt=len(examples)
        ),
        summary=summary,
        samples=rows,
        notes=[
            f"{len(edited)} of {len(history)} history drafts edited and accepted; the latest {len(examples)} are "
            f"examples in the prompt; {len(ideas)} ideas drafted without them and with them in each mode."
        ],
    )
