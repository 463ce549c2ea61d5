"""split: does a split cover its parent? Parents are built from real stories (Dalpiaz's backlogs; dev G02-G14,
test G16-G28): 3 or 4 stories of one backlog by the same persona become one epic whose requirements are their
goals, one per checklist line. Per split: the share of the parent's requirements covered by some child, judged
two ways (the model's own `coverage` map; and a lexical check: at least half of the requirement's content words
appear in the child it names, or in any child), children per split, and children still too large (the quality
check would split them again: two goals, or not estimable). `--limit N` parents (default 6; about 85 s each on
the local model).
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from statistics import mean
from typing import Any

from evals.suites.quality import STORIES, load_stories
from evals.task import EvalOptions, EvalResult, require_data
from pipelines.models import story_markdown
from pipelines.quality import check_item, story_statement
from pipelines.refine import SplitPlan, split_item

SUITE = "split"
NEEDS_LLM = True
STOP = set(
    [
        "a",
        "an",
        "the",
        "to",
        "of",
        "and",
        "or",
        "for",
        "in",
        "on",
        "with",
        "my",
        "i",
        "be",
        "able",
        "so",
        "that",
        "can",
        "want",
        "as",
        "is",
        "are",
        "it",
        "this",
        "by",
        "from",
    ]
)


def parents(split: str, count: int) -> list[tuple[str, list[str]]]:
    """(epic text, its requirements) built from stories sharing a backlog and persona."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for backlog, text in load_stories(split):
        statement = story_statement(text)
        if statement and len(statement.goal.split()) >= 4:
            groups[(backlog, statement.persona.lower())].append(statement.goal.rstrip("."))
    rng = random.Random(11)
    keys = sorted(k for k, goals in groups.items() if len(goals) >= 3)
    rng.shuffle(keys)
    out = []
    for backlog, persona in keys[:count]:
        goals = groups[(backlog, persona)][: rng.choice((3, 4))]
        text = f"As a {persona}, I want the following, so that my work is supported.\n" + "\n".join(
            f"- {g}" for g in goals
        )
        out.append((text, goals))
    return out


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP and len(w) > 2}


def covered_by(requirement: str, child_text: str) -> bool:
    wanted = words(requirement)
    return bool(wanted) and len(wanted & words(child_text)) / len(wanted) >= 0.5


def child_text(child: Any) -> str:
    return " ".join(
        [
            child.title,
            child.goal,
            child.benefit,
            *(c.given + " " + c.when + " " + c.then for c in child.acceptance_criteria),
        ]
    )


def too_large(child: Any) -> bool:
    """Whether the quality check would ask to split the child again: two goals, or not estimable."""
    story = child.as_story("feature", [])
    found = check_item(story.title, story_markdown(story), "feature")
    return any(f.criterion in ("atomic", "estimable") for f in found)


def score(plan: SplitPlan, requirements: list[str]) -> dict[str, Any]:
    texts = [child_text(c) for c in plan.children]
    claimed = sum(str(i) in plan.coverage for i in range(len(requirements)))
    named = sum(
        str(i) in plan.coverage and covered_by(r, texts[plan.coverage[str(i)]]) for i, r in enumerate(requirements)
    )
    anywhere = sum(any(covered_by(r, t) for t in texts) for r in requirements)
    return {
        "coverage_claimed": claimed / len(requirements),
        "coverage_named_child": named / len(requirements),
        "coverage_any_child": anywhere / len(requirements),
        "children": len(plan.children),
        "children_over_limit": sum(too_large(c) for c in plan.children),
    }


def run(options: EvalOptions) -> EvalResult:
    require_data(STORIES)
    llm = options.require_llm(SUITE)
    built = parents(options.split, options.limit or 6)
    rows = []
    for done, (text, requirements) in enumerate(built, 1):
        title = text.splitlines()[0][:80]
        result = split_item(llm, title, text, "feature")
        row: dict[str, Any] = {"parent": text, "error": result.error, "usage": result.record.usage()}
        if result.value is not None:
            row |= score(result.value, requirements) | {"plan": result.value.model_dump()}
        rows.append(row)
        options.log(f"parent {done}: {row.get('coverage_any_child', 'failed')}")
        options.on_sample(done, len(built))
    ok = [r for r in rows if r["error"] is None]
    keys = ("coverage_claimed", "coverage_named_child", "coverage_any_child", "children", "children_over_limit")
    summary: dict[str, Any] = {"parents": len(rows), "valid_splits": len(ok)}
    summary |= {k: round(mean(r[k] for r in ok), 3) if ok else None for k in keys}
    summary["latency_s_mean"] = round(mean(r["usage"]["latency_s"] for r in rows), 1) if rows else None
    return EvalResult(
        suite=SUITE, meta=options.meta(dataset="dalpiaz user stories as epics"), summary=summary, samples=rows
    )
