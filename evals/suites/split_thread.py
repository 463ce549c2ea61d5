"""split_thread: does a split cover what the team settled in the item's comments? Parents are the `split` suite's
epics of four goals (real stories of one backlog and persona; dev G02-G14, test G16-G28) with the last goal taken out
of the checklist and said in the item's thread instead, as refinement settles scope ("Agreed in refinement: it must
also let me <goal>."). Each parent is split twice, as the service asks it, with the thread and without it (the
baseline, same run). Per way, over the valid splits:
- `thread_goal_covered`: some child holds at least half of the goal's content words that the item's own text lacks
  (what the thread adds: "Excel" of "get a data package into Excel", not "data package", which the item has);
- `coverage_any_child`: the share of the checklist's three requirements that some child holds (does the thread cost
  the item's own?);
- `children`, `children_over_limit` as in `split`;
- `from_comments`: warnings that a child takes a number or name from the comments, per split.
`--limit N` parents (default 6; two splits each, 10-40 s a split on the local model on 2 cores, 2026-11-29).
"""

from __future__ import annotations

from typing import Any

from evals.suites.quality import STORIES
from evals.suites.split import child_text, covered_by, parents, score, words
from evals.task import EvalOptions, EvalResult, means, require_data
from pipelines.refine import Discussion, split_item

SUITE = "split_thread"
NEEDS_LLM = True
TEAMMATE = "Kim Lee"


def items(split: str, count: int) -> list[dict[str, Any]]:
    """Parents of four goals, the last one moved to a comment."""
    out = []
    for text, goals in parents(split, 60):
        if len(goals) != 4:
            continue
        lines = text.splitlines()
        goal = goals[-1]
        said = goal.removeprefix("be able to ").strip()
        comment = f"Agreed in refinement: it must also let me {said[:1].lower()}{said[1:]}."
        out.append({"text": "\n".join(lines[:-1]), "requirements": goals[:-1], "goal": goal, "comment": comment})
        if len(out) == count:
            break
    return out


def added(goal: str, item: str) -> str:
    """The goal's content words the item's text lacks (the goal itself when it has none)."""
    new = words(goal) - words(item)
    return " ".join(sorted(new)) or goal


def _scores(item: dict[str, Any], result: Any) -> dict[str, Any]:
    plan = result.value
    if plan is None:
        return {"error": result.error}
    texts = [child_text(c) for c in plan.children]
    return score(plan, item["requirements"]) | {
        "thread_goal_covered": any(covered_by(added(item["goal"], item["text"]), t) for t in texts),
        "from_comments": sum("from the item's comments" in w for w in result.warnings),
        "titles": [c.title for c in plan.children],
        "children_text": texts,
        "warnings": result.warnings,
    }


def _rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return means(
        rows, ("thread_goal_covered", "coverage_any_child", "children", "children_over_limit", "from_comments")
    )


def run(options: EvalOptions) -> EvalResult:
    require_data(STORIES)
    llm = options.require_llm(SUITE)
    built = items(options.split, options.limit or 6)
    rows: list[dict[str, Any]] = []
    for done, item in enumerate(built, 1):
        title = item["text"].splitlines()[0][:80]
        row: dict[str, Any] = {"parent": item["text"], "comment": item["comment"]}
        thread: Discussion = [(TEAMMATE, item["comment"])]
        for way, discussion in (("with_thread", thread), ("without", ())):
            result = split_item(llm, title, item["text"], "feature", discussion)
            row[way] = _scores(item, result) | {"latency_s": result.record.usage()["latency_s"]}
        rows.append(row)
        covered = [row[way].get("thread_goal_covered") for way in ("with_thread", "without")]
        options.log(f"parent {done}: the thread's goal covered with the thread {covered[0]}, without {covered[1]}")
        options.on_sample(done, len(built))
    summary: dict[str, Any] = {"parents": len(rows)}
    summary |= {way: _rates([r[way] for r in rows]) for way in ("with_thread", "without")}
    return EvalResult(
        suite=SUITE, meta=options.meta(dataset="dalpiaz user stories as epics, a goal said in the thread"),
        summary=summary, samples=rows,
    )  # fmt: skip
