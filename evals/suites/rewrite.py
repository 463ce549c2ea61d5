"""rewrite: does a rewrite use what the team settled in the item's comments? Items are built from real stories
(Dalpiaz's backlogs; dev G02-G14, test G16-G28) with one known gap: the benefit ("so that ...") or the persona ("As a
...") taken out. The item's thread answers it, as a teammate would answer a rewrite's open question ("We need it so
that <the benefit>.", "This is for the <persona>."). Each item is rewritten twice, as the service asks it, with the
thread and without it (the baseline, in the same run). Per way, over the valid rewrites:
- `answer_kept`: the rewrite's benefit (or persona) holds at least half the content words of the one taken out;
- `asked_again`: an open question still asks for it (why / benefit / purpose; who / persona / role);
- `open_questions`: open questions per rewrite;
- `unsupported`: warnings for a number or name the sources do not give, per rewrite (the thread counts as a source).
`--limit N` items (default 16, half each gap; about 10-20 s a rewrite on the local model).
"""

from __future__ import annotations

import random
import re
from typing import Any

from evals.suites.quality import STORIES, load_stories
from evals.suites.split import covered_by
from evals.task import EvalOptions, EvalResult, means, require_data
from pipelines.drafting import UNSUPPORTED
from pipelines.quality import check_item, story_statement
from pipelines.refine import Discussion, rewrite_item

SUITE = "rewrite"
NEEDS_LLM = True
FIXES = {"well_formed", "atomic", "minimal", "unambiguous", "testable"}  # what the service asks a rewrite to fix
ASKS = {
    "benefit": re.compile(r"\b(why|benefit|purpose|value|reason|so that)\b", re.I),
    "persona": re.compile(r"\b(who|persona|role|which users?|what (kind|type) of users?)\b", re.I),
}
TEAMMATE = "Kim Lee"


def items(split: str, count: int) -> list[dict[str, Any]]:
    """Items with the benefit or the persona taken out, alternately, and the comment that answers it."""
    out: list[dict[str, Any]] = []
    stories = load_stories(split)
    random.Random(7).shuffle(stories)  # every backlog, not the first one's stories only
    for _, story in stories:
        statement = story_statement(story)
        if statement is None or not statement.benefit or len(statement.goal.split()) < 3:
            continue
        gap = ("benefit", "persona")[len(out) % 2]
        if gap == "benefit":
            marker = r",?\s*(?:so\s+that|in\s+order\s+to|so)\s+" + re.escape(statement.benefit) + ".*$"
            text = re.sub(marker, ".", story, count=1, flags=re.I | re.S)
            answer = re.sub(r"^that\s+", "", statement.benefit).rstrip(".")
            comment = f"We need it so that {answer}."
        else:
            text = re.sub(r"^\s*as\s+(an?|the)\s+[^,]+?,?\s*(?=I\b)", "", story, count=1, flags=re.I)
            answer, comment = statement.persona, f"This is for the {statement.persona}."
        if text == story:
            continue
        out.append({"gap": gap, "text": text[0].upper() + text[1:], "answer": answer, "comment": comment})
        if len(out) == count:
            break
    return out


def score(item: dict[str, Any], result: Any) -> dict[str, Any]:
    """One rewrite's scores (None when it failed)."""
    story = result.value
    if story is None:
        return {"error": result.error}
    said = story.benefit if item["gap"] == "benefit" else story.persona
    return {
        "answer_kept": covered_by(item["answer"], said),
        "asked_again": any(ASKS[item["gap"]].search(q) for q in story.open_questions),
        "open_questions": len(story.open_questions),
        "unsupported": sum(UNSUPPORTED in w for w in result.warnings),
        "said": said,
        "questions": story.open_questions,
        "warnings": result.warnings,
    }


def _rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return means(rows, ("answer_kept", "asked_again", "open_questions", "unsupported"))


def run(options: EvalOptions) -> EvalResult:
    require_data(STORIES)
    llm = options.require_llm(SUITE)
    built = items(options.split, options.limit or 16)
    rows: list[dict[str, Any]] = []
    for done, item in enumerate(built, 1):
        findings = [f for f in check_item("", item["text"], "feature", 1) if f.criterion in FIXES]
        title = item["text"][:80]
        row: dict[str, Any] = {"gap": item["gap"], "item": item["text"], "comment": item["comment"]}
        thread: Discussion = [(TEAMMATE, item["comment"])]
        for way, discussion in (("with_thread", thread), ("without", ())):
            result = rewrite_item(llm, title, item["text"], "feature", findings, discussion)
            row[way] = score(item, result) | {"latency_s": result.record.usage()["latency_s"]}
        rows.append(row)
        kept = [row[way].get("answer_kept") for way in ("with_thread", "without")]
        options.log(f"item {done} ({item['gap']}): answer kept with the thread {kept[0]}, without {kept[1]}")
        options.on_sample(done, len(built))
    summary: dict[str, Any] = {"items": len(rows)}
    for way in ("with_thread", "without"):
        summary[way] = _rates([r[way] for r in rows])
        for gap in ASKS:
            summary[f"{way}_{gap}"] = _rates([r[way] for r in rows if r["gap"] == gap])
    return EvalResult(
        suite=SUITE, meta=options.meta(dataset="dalpiaz user stories with a gap the thread answers"), summary=summary,
        samples=rows,
    )  # fmt: skip
