"""quality: does the rule-based quality check (`pipelines.quality`) find unclear stories, and stay quiet on clear
ones?

1. Injected defects in real stories (Dalpiaz's 22 backlogs; dev: G02-G14, test: G16-G28). Each real story is
   kept untouched as a negative, and copied once per defect with exactly one known defect injected: a vague word
   (unambiguous), a second goal joined by "and" (atomic), no persona or no benefit (well_formed). A finding
   counts only if the original did not show that criterion already (real stories have real defects); recall is
   over the copies whose original did not. Per criterion:
   recall over the copies with that defect, precision over every new finding of that criterion; and the share of
   originals with any finding (an upper bound on false alarms: some are real). The stories are one-liners
   without acceptance criteria, so `testable` and `estimable` are not scored here.
2. Real Jira items written as user stories ("As a ..." titles of the 14 story-point projects; dev: the train and
   validation rows, test: the test rows): the share the rules read as having no persona and goal, each a false
   alarm (every one names a persona), and the share with no benefit (mostly real: QUS counts it). The other titles,
   written as tasks: the share the atomic rule reads as two tasks, with a sample to judge by hand.
3. ReqEval (NLP4RE 2020): is the tagged pronoun ambiguous (NOCUOUS)? F1 of the NOCUOUS class for the
   pronoun rule (`pronoun_is_unclear`), tuned on training, reported on test; with an LLM (default; `--no-llm`
   for the rules alone) also the model's judgement (`judge_pronoun`) alone and combined with the rule.
A naive rule baseline runs on the same samples: a keyword list (no persona = no "As a", no benefit = no
"so that", any " and ", any of five vague words) and, for ReqEval, "every pronoun is ambiguous".
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Callable
from typing import Any

from evals.bug_reports import DATA_DIR
from evals.suites.estimate import load_project, project_files
from evals.task import EvalOptions, EvalResult, require_data
from pipelines.quality import check_item, judge_pronoun, pronoun_is_unclear, story_statement

SUITE = "quality"
NEEDS_LLM = True  # unless --no-llm: the rules alone
STORIES = DATA_DIR / "user_stories" / "dalpiaz_global.txt"
REQEVAL = DATA_DIR / "ambiguity"
SCORED = ("well_formed", "atomic", "unambiguous")
INJECTED_VAGUE = ("quickly", "easily", "in a user-friendly way", "efficiently", "and so on", "as needed")
DEV = {f"G{n:02d}" for n in range(2, 15)}
TEST = {f"G{n:02d}" for n in range(16, 29)}
Checker = Callable[[str], set[tuple[str, str | None]]]


def load_stories(split: str) -> list[tuple[str, str]]:
    """(backlog, story) pairs of the split."""
    wanted = DEV if split == "dev" else TEST
    out = []
    for line in STORIES.read_text(encoding="utf-8").splitlines():
        found = re.match(r"#(G\d+)#\s*(.+)", line.strip())
        if found and found[1] in wanted:
            out.append((found[1], found[2].strip()))
    return out


def inject(story: str, other_goal: str, rng: random.Random) -> list[tuple[str, str]]:
    """(criterion, copy) for each defect this story can take."""
    statement = story_statement(story)
    if statement is None:
        return []
    copies = [("unambiguous", story.replace(statement.goal, f"{statement.goal} {rng.choice(INJECTED_VAGUE)}", 1))]
    second = re.sub(r"^(to|be able to)\s+", "", other_goal)
    if second and second.lower() != statement.goal.lower():
        copies.append(("atomic", story.replace(statement.goal, f"{statement.goal} and {second}", 1)))
    without_persona = re.sub(r"^\s*as\s+(an?|the)\s+[^,]+?,?\s*(?=I\b)", "", story, count=1, flags=re.I)
    if without_persona != story:
        copies.append(("well_formed", without_persona[0].upper() + without_persona[1:]))
    if statement.benefit:  # the benefit's marker ("so that", "so I can", "in order to") goes with it
        marker = r",?\s*(?:so\s+that|in\s+order\s+to|so)\s+" + re.escape(statement.benefit) + ".*$"
        copies.append(("well_formed", re.sub(marker, ".", story, count=1, flags=re.I | re.S)))
    return copies


def rules(story: str) -> set[tuple[str, str | None]]:
    return {(f.criterion, f.span) for f in check_item("", story, "feature", 1) if f.criterion in SCORED}


def naive(story: str) -> set[tuple[str, str | None]]:
    """The baseline: keywords only."""
    found: set[tuple[str, str | None]] = set()
    lower = f" {story.lower()} "
    if " as a" not in lower or "so that" not in lower:
        found.add(("well_formed", None))
    if " and " in lower:
        found.add(("atomic", None))
    for word in ("fast", "easy", "user-friendly", "etc", "simple"):
        if f" {word}" in lower:
            found.add(("unambiguous", word))
    return found


def _criteria(found: set[tuple[str, str | None]]) -> set[str]:
    return {criterion for criterion, _ in found}


def score_injected(samples: list[tuple[str, list[tuple[str, str]]]], checker: Checker) -> dict[str, Any]:
    tp = dict.fromkeys(SCORED, 0)
    fp = dict.fromkeys(SCORED, 0)
    injected = dict.fromkeys(SCORED, 0)
    alarms = 0
    for original, copies in samples:
        before = _criteria(checker(original))
        alarms += bool(before)
        for criterion, copy in copies:
            new = _criteria(checker(copy)) - before
            if criterion not in before:  # a defect the original already showed cannot be found anew
                injected[criterion] += 1
                tp[criterion] += criterion in new
            for other in new - {criterion}:
                fp[other] += 1
    scores: dict[str, Any] = {}
    for c in SCORED:
        scores[f"{c} precision"] = round(tp[c] / (tp[c] + fp[c]), 3) if tp[c] + fp[c] else 0.0
        scores[f"{c} recall"] = round(tp[c] / injected[c], 3) if injected[c] else 0.0
        scores[f"{c} copies"] = injected[c]
    return scores | {"originals flagged": round(alarms / len(samples), 3), "originals": len(samples)}


def jira_stories(split: str) -> list[tuple[str, str]]:
    """(title, description) of the split's Jira items whose title is written as a user story."""
    wanted = ("train", "val") if split == "dev" else ("test",)
    rows = [row for path in project_files() for row in load_project(path) if row["split"] in wanted]
    return [(r["title"], r["description"]) for r in rows if re.match(r"\s*as\s+an?\s", r["title"], re.I)]


def score_jira_stories(stories: list[tuple[str, str]]) -> dict[str, Any]:
    whys = [[f.why for f in check_item(t, d) if f.criterion == "well_formed"] for t, d in stories]
    unread = sum(any(w.startswith("no persona and goal") for w in found) for found in whys)
    no_benefit = sum(any(w.startswith("no benefit") for w in found) for found in whys)
    return {
        "stories": len(stories),
        "read as no persona and goal (false alarm)": round(unread / len(stories), 3) if stories else 0.0,
        "no benefit": round(no_benefit / len(stories), 3) if stories else 0.0,
    }


def score_task_titles(split: str, shown: int = 40) -> dict[str, Any]:
    """Titles written as tasks (no "As a" sentence) that the atomic rule reads as two tasks: the share of every
    title of the split, and a seeded sample of the flagged ones with their spans, for judging by hand (no labels)."""
    wanted = ("train", "val") if split == "dev" else ("test",)
    titles = [r["title"] for path in project_files() for r in load_project(path) if r["split"] in wanted]
    flagged = [
        (title, found[0].span)
        for title in titles
        if story_statement(title) is None
        and (found := [f for f in check_item(title, "", "feature", 1) if f.criterion == "atomic"])
    ]
    sample = random.Random(11).sample(flagged, min(shown, len(flagged)))
    return {
        "titles": len(titles),
        "flagged as two tasks": len(flagged),
        "share flagged": round(len(flagged) / len(titles), 4) if titles else 0.0,
        "sample to judge by hand": [{"title": title, "second task": span} for title, span in sample],
    }


def load_reqeval(split: str) -> list[tuple[str, int, bool]]:
    """(sentence without tags, pronoun offset, ambiguous?)."""
    name = "reqeval_training.tsv" if split == "dev" else "reqeval_test.tsv"
    out = []
    with open(REQEVAL / name, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            sentence, label = row.get("Sentence") or "", (row.get("Detected as") or "").strip().upper()
            tagged = re.search(r"<referential>(.*?)</referential>", sentence)
            if tagged is None or label not in ("NOCUOUS", "INNOCUOUS"):
                continue
            plain = sentence[: tagged.start()] + tagged[1] + sentence[tagged.end() :]
            out.append((plain, tagged.start(), label == "NOCUOUS"))
    return out


def f1(predicted: list[bool], truth: list[bool]) -> dict[str, float]:
    tp = sum(p and t for p, t in zip(predicted, truth, strict=True))
    precision = tp / sum(predicted) if sum(predicted) else 0.0
    recall = tp / sum(truth) if sum(truth) else 0.0
    score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(score, 3)}


def run(options: EvalOptions) -> EvalResult:
    require_data(STORIES, REQEVAL, DATA_DIR / "story_points")
    rng = random.Random(7)
    stories = load_stories(options.split)[: options.limit]
    goals = [s.goal for _, text in stories if (s := story_statement(text))]
    samples = [(text, inject(text, rng.choice(goals), rng)) for _, text in stories]
    samples = [s for s in samples if s[1]]
    options.log(f"{len(samples)} stories, {sum(len(c) for _, c in samples)} copies with one defect each")
    reqeval = load_reqeval(options.split)
    truth = [ambiguous for _, _, ambiguous in reqeval]
    rule_says = [pronoun_is_unclear(s, at) for s, at, _ in reqeval]
    summary: dict[str, Any] = {
        "rules": score_injected(samples, rules),
        "naive_baseline": score_injected(samples, naive),
        "jira_stories": score_jira_stories(jira_stories(options.split)),
        "task_titles": score_task_titles(options.split),
        "reqeval_rule": f1(rule_says, truth),
        "reqeval_all_ambiguous_baseline": f1([True] * len(truth), truth),
        "reqeval_sentences": len(truth),
    }
    if options.llm is not None:  # the model's judgement on every sentence, and as a check on the rule's findings
        model_says = []
        for done, (sentence, at, _) in enumerate(reqeval, 1):
            judged = judge_pronoun(options.llm, sentence, at)
            model_says.append(bool(judged.value and judged.value.ambiguous))
            options.on_sample(done, len(reqeval))
        summary["reqeval_model"] = f1(model_says, truth)
        pairs = list(zip(rule_says, model_says, strict=True))
        summary["reqeval_rule_confirmed_by_model"] = f1([r and m for r, m in pairs], truth)
        summary["reqeval_rule_or_model"] = f1([r or m for r, m in pairs], truth)
    examples = [
        {
            "original": original,
            "copies": [{"criterion": c, "text": t, "found": sorted(_criteria(rules(t)))} for c, t in copies],
        }
        for original, copies in samples[:30]
    ]
    meta = options.meta(
        dataset="dalpiaz user stories + Jira story-point items + ReqEval",
        backlogs=sorted(DEV if options.split == "dev" else TEST),
    )
    return EvalResult(suite=SUITE, meta=meta, summary=summary, samples=examples)
