"""conversations: what a short team conversation becomes, beyond decisions: new work, changes to backlog items,
action items, open questions, and nothing from small talk or ideas nobody took up.

Data: `evals/datasets/conversations{,_dev}.jsonl`, short stand-ups, refinements and threads written for this eval
(dev 6, test 8; the test ones written before any run), each with a small backlog and, by hand, what it settles:
the new work agreed (terms, any of which the note's `what` must contain), ideas floated or dropped (terms that no
new work may contain), changes to items (item and allowed kinds are scored; their terms are for a reader), items
nobody discussed (no change allowed), decisions, action items (owner and terms) and open questions. Each
conversation goes through `pipelines.conversation.extract` as the service runs it, with its whole backlog listed,
and is scored twice on the same replies: after the quote check only (`rate_before_ground`) and after `ground` too
(what is stored). Notes match by words of their own text, never of their quotes (those are the transcript's
words). Precision comes first (issue 14): `floated_drafted`, `untouched_changed` and `quiet_with_notes` should be 0.
"""

from __future__ import annotations

import time
from typing import Any

from evals.dataset import load_samples
from evals.task import EvalOptions, EvalResult
from pipelines.conversation import ConversationNotes, ConversationResult, extract, ground, merge
from pipelines.transcripts import Turn

SUITE = "conversations"
NEEDS_LLM = True


def _has(text: str, terms: list[str]) -> bool:
    return any(term.lower() in text.lower() for term in terms)


def _owns(item: Any, owner: str) -> bool:
    return (item.owner or "").strip().lower() == owner.lower()


def _hits(found: list[bool]) -> tuple[int, int]:
    """(hits, out of) for one expected thing per entry of `found`."""
    return sum(found), len(found)


def score(notes: ConversationNotes, target: dict[str, Any]) -> dict[str, Any]:
    """Counts (hits, out of) per metric for one conversation; pooled over the split by `summarise`."""
    work = [n.what for n in notes.new_work]
    decisions = [n.decision for n in notes.decisions]
    changes = [(c.item, c.change) for c in notes.changes]
    expected_items = {c["item"] for c in target["changes"]}

    def change_found(want: dict[str, Any]) -> bool:
        return any(i == want["item"] and kind in want["kinds"] for i, kind in changes)

    return {
        "new_work_recall": _hits([any(_has(w, t) for w in work) for t in target["new_work"]]),
        "new_work_precision": (sum(any(_has(w, t) for t in target["new_work"]) for w in work), len(work)),
        "floated_drafted": (sum(_has(w, target["floated"]) for w in work), len(work)),
        "change_recall": _hits([change_found(c) for c in target["changes"]]),
        "change_precision": (sum(i in expected_items for i, _ in changes), len(changes)),
        "untouched_changed": (sum(i in target["untouched"] for i, _ in changes), len(target["untouched"])),
        "decision_recall": _hits([any(_has(d, t) for d in decisions) for t in target["decisions"]]),
        "action_item_recall": _hits(
            [
                any(_owns(n, a["owner"]) and _has(n.task, a["terms"]) for n in notes.action_items)
                for a in target["action_items"]
            ]
        ),
        "open_question_recall": _hits(
            [any(_has(q.question, t) for q in notes.open_questions) for t in target["open_questions"]]
        ),
        "quiet_with_notes": (
            int(target["quiet"] and any(getattr(notes, name) for name in type(notes).model_fields)),
            int(target["quiet"]),
        ),
    }


def summarise(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Each metric pooled: hits / out of, with both counts (small sets: read the counts)."""
    out: dict[str, Any] = {}
    for metric in rows[0][key] if rows else []:
        hits, total = (sum(r[key][metric][i] for r in rows) for i in (0, 1))
        out[metric] = {"rate": round(hits / total, 3) if total else None, "hits": hits, "of": total}
    return out


def run(options: EvalOptions) -> EvalResult:
    llm = options.require_llm(SUITE)
    samples = load_samples("conversations_dev" if options.split == "dev" else "conversations", options.limit)
    rows = []
    for done, sample in enumerate(samples, 1):
        turns = [Turn(index=i, speaker=s, text=t) for i, (s, t) in enumerate(sample.input["turns"])]
        backlog = [(item_id, text) for item_id, text in sample.input["backlog"]]
        checked: list[ConversationNotes] = []

        def hold(
            notes: ConversationNotes,
            piece: list[Turn],
            result: ConversationResult,
            seen: list[ConversationNotes] = checked,
        ) -> ConversationNotes:
            seen.append(notes)  # after the quote check, before `ground`
            return ground(notes, piece, result)

        started = time.perf_counter()
        result = extract(llm, turns, lambda _, listed=backlog: listed, sample.input["title"], hold=hold)
        notes = result.notes
        rows.append({
            "id": sample.id,
            "scores": score(notes, sample.target),
            "scores_quotes_checked_only": score(merge(checked), sample.target),
            "notes": notes.model_dump(),
            "quotes_dropped": result.quotes_dropped,
            "warnings": result.warnings,
            "failed_chunks": result.failed_chunks,
            "seconds": round(time.perf_counter() - started, 1),
        })  # fmt: skip
        options.log(f"{done}/{len(samples)} {sample.id}: " + ", ".join(
            f"{k} {v[0]}/{v[1]}" for k, v in rows[-1]["scores"].items() if v[1]
        ))  # fmt: skip
        options.on_sample(done, len(samples))
    before = summarise(rows, "scores_quotes_checked_only")
    summary = {
        "conversations": len(rows),
        **{k: {**v, "rate_before_ground": before[k]["rate"]} for k, v in summarise(rows, "scores").items()},
        "failed": sum(bool(r["failed_chunks"]) for r in rows),
    }
    return EvalResult(SUITE, options.meta(dataset="conversations (hand-made)"), summary, rows)
