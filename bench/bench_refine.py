"""The refinement queue's cost: every live item's quality findings, whose duplicate search is the expensive part.

Seeds a fresh backlog (fake LLM, SQLite, embedded Chroma) with N real user stories from shared/data, then times,
in one process and on the same index, three ways to find each item's duplicates:
  per item    one `search` per item, its text encoded again (how GET /v1/refine/queue worked before);
  batched     `search_many` over batches of 128, texts encoded in batches;
  stored      batched, with the item's own vectors read from the index instead of encoded (the service now).
Each row checks that the variant finds the same duplicates as the first one. Then the whole queue call, again with
nothing changed, and after 1 item, then 10 were re-worded and after a new draft (the queue keeps its findings and
searches again only what the change can touch), each checked against every item's findings computed afresh. Last,
the queue with a pending rewrite on every item, then with 3 comments on every item as well (the queue reads the
threads to mark the rewrites that did not read them; the median of 5 calls).
Run: .venv/bin/python -m bench.bench_refine [--items 300 1000]
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import median_time, publish_by_size
from evals.bug_reports import DATA_DIR
from pipelines.quality import Finding
from service import duplicates
from service.backlog.schemas import BacklogItemCreate, BacklogItemUpdate
from service.backlog.service import edit_item, import_and_index
from service.core.enums import SuggestionKind
from service.core.runtime import Runtime
from service.core.settings import Settings
from service.core.suggestions import Proposal, create_suggestion
from service.core.tables import BacklogItem, Comment
from service.duplicates import detector, item_document
from service.duplicates.index import SEARCH_BATCH, SEARCHABLE, in_this_project, items_duplicates
from service.refinement import service

RESULTS = Path(__file__).parent / "results" / "bench_refine.md"
STORIES = DATA_DIR / "user_stories" / "dalpiaz_global.txt"


def stories(n: int) -> list[BacklogItemCreate]:
    lines = [line.split("#", 2)[-1].strip() for line in STORIES.read_text(encoding="utf-8").splitlines()]
    return [BacklogItemCreate(title=text[:200], description=text) for text in lines if text][:n]


def item_rows(n: int, extra: Callable[[int], dict[str, Any]] = lambda _k: {}) -> list[dict[str, Any]]:
    """N backlog item rows to write straight in (the default project, no labels) of real user stories, repeated to
    reach n; `extra(k)` adds or replaces fields of the k-th."""
    real = stories(n)
    return [
        {"title": real[k % len(real)].title, "description": real[k % len(real)].description, "project_id": 1,
         "labels": []} | extra(k)
        for k in range(n)
    ]  # fmt: skip


def per_item(runtime: Runtime, items: list[BacklogItem]) -> list[set[int]]:
    found = []
    for item in items:
        document = item_document(item)
        hits = detector(runtime).search(document.title, document.body, 5, in_this_project(*SEARCHABLE), {document.id})
        found.append({int(c.metadata["item_id"]) for c in hits if c.verdict == "duplicate"})
    return found


def batched(runtime: Runtime, items: list[BacklogItem]) -> list[set[int]]:
    found = []
    for start in range(0, len(items), SEARCH_BATCH):
        documents = [item_document(item) for item in items[start : start + SEARCH_BATCH]]
        queries = [(d.title, d.body) for d in documents]
        hits = detector(runtime).search_many(queries, 5, in_this_project(*SEARCHABLE), [{d.id} for d in documents])
        found += [{int(c.metadata["item_id"]) for c in row if c.verdict == "duplicate"} for row in hits]
    return found


def stored(runtime: Runtime, items: list[BacklogItem]) -> list[set[int]]:
    rows = items_duplicates(runtime, items, 5)
    return [{c["item_id"] for c in row if c["verdict"] == "duplicate"} for row in rows]


def timed(run: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def measure(n: int) -> list[str]:
    """The table rows for a backlog of `n` stories."""
    runtime = Runtime(Settings(REFINERY_DATA_DIR=tempfile.mkdtemp(), REFINERY_LLM_PROVIDER="fake"))
    import_and_index(runtime, stories(n))
    items = fresh_items(runtime)
    stored(runtime, items[:5])  # load the model and the lexical index outside the timings
    base_seconds, base = timed(lambda: per_item(runtime, items))
    rows = []
    for name, variant in (("per item", None), ("batched", batched), ("stored", stored)):
        seconds, found = (base_seconds, base) if variant is None else timed(lambda v=variant: v(runtime, items))
        same = sum(a == b for a, b in zip(found, base, strict=True))  # type: ignore[call-overload]
        rows.append(f"| {len(items)} | {name} | {seconds:.2f} | {1000 * seconds / len(items):.1f} | "
                    f"{seconds / base_seconds:.3f} | {same}/{len(items)} |")  # fmt: skip
    for name in ("whole queue call", "the same call again, nothing changed"):  # the second reads kept findings
        seconds, queue = timed(lambda: service.queue(runtime, len(items)))
        rows.append(f"| {len(items)} | {name} | {seconds:.2f} | {1000 * seconds / len(items):.1f} | "
                    f"{seconds / base_seconds:.3f} | ({len(queue)} rows) |")  # fmt: skip
    changes = [("1 item re-worded", lambda: reword(runtime, items[7:8])),
               ("10 items re-worded", lambda: reword(runtime, items[18 : 18 + 110 : 11])),
               ("a new draft worded like an item", lambda: draft_like(runtime, items[40]))]  # fmt: skip
    for name, change in changes:
        change()
        seconds, queue = timed(lambda: service.queue(runtime, len(items)))
        found = {row["item"].id: row["findings"] for row in queue}
        now = fresh_items(runtime)
        pairs = [
            (found.get(item.id, []), right)
            for item, right in zip(now, service.findings_many(runtime, now), strict=True)
        ]
        agreed = [(kept, right) for kept, right in pairs if named(kept) == named(right)]
        same, moved = len(agreed), [abs(a - b) for k, r in agreed for a, b in zip(scores(k), scores(r), strict=True)]
        rows.append(f"| {len(items)} | queue after {name} | {seconds:.2f} | {1000 * seconds / len(items):.1f} | "
                    f"{seconds / base_seconds:.3f} | {same}/{len(items)} the same findings as all checked afresh "
                    f"(scores within {max(moved, default=0):.2f}) |")  # fmt: skip
    for name, change in (("every item with a pending rewrite", lambda: pend(runtime, items)),
                         ("and 3 comments on every item", lambda: discuss(runtime, items, 3))):  # fmt: skip
        change()
        seconds = median_time(lambda _: service.queue(runtime, len(items)), 5)  # one call alone varies 5x here
        marked = sum(changed for row in service.queue(runtime, len(items)) for _, _, changed in row["suggestions"])
        rows.append(f"| {len(items)} | queue, {name} | {seconds:.2f} | {1000 * seconds / len(items):.1f} | "
                    f"{seconds / base_seconds:.3f} | {marked} rewrites marked thread_changed |")  # fmt: skip
    return rows


def pend(runtime: Runtime, items: list[BacklogItem]) -> None:
    """A pending rewrite of every item, as a refinement run leaves them."""
    story = {"item_type": "feature", "title": "Rewritten", "persona": "user", "goal": "to do it", "benefit": "it helps",
             "labels": [], "assumptions": [], "open_questions": [],
             "acceptance_criteria": [{"given": "a", "when": "b", "then": f"c {n}"} for n in (1, 2)]}  # fmt: skip
    with runtime.db.session() as session:
        for item in fresh_items(runtime):
            made_from = {"backlog_item_id": item.id, "fingerprint": service.fingerprint(item, SuggestionKind.rewrite)}
            create_suggestion(session, SuggestionKind.rewrite, Proposal(story, "fake", "fake", "bench"), made_from)


def discuss(runtime: Runtime, items: list[BacklogItem], each: int) -> None:
    """`each` comments on every item's thread."""
    with runtime.db.session() as session:
        session.add_all(
            Comment(item_id=item.id, author="bench", text=f"Answer {n}: finance needs it by the month end.")
            for item in items
            for n in range(each)
        )


def reword(runtime: Runtime, items: list[BacklogItem]) -> None:
    """Each item copies the wording of the item after it, as a person's edit or an accepted rewrite would."""
    with runtime.db.session() as session:
        following = {i.id: session.get(BacklogItem, i.id + 1) for i in items}
        texts = {i: f"{after.description} (reworded)" for i, after in following.items()}
    for item_id, text in texts.items():
        edit_item(runtime, item_id, BacklogItemUpdate(description=text), "bench")


def draft_like(runtime: Runtime, item: BacklogItem) -> None:
    """A pending story draft worded like the item, indexed as a drafted idea is."""
    criteria = [{"given": "a user", "when": "they ask", "then": f"it is done {n}"} for n in (1, 2)]
    story = {"item_type": "feature", "title": item.title[:100], "persona": "user", "goal": item.description,
             "benefit": "it helps", "labels": [], "assumptions": [], "open_questions": [],
             "acceptance_criteria": criteria}  # fmt: skip
    with runtime.db.session() as session:
        made = create_suggestion(
            session, SuggestionKind.story_draft, Proposal(story, "fake", "fake", "bench"), {"text": item.description}
        )
        draft_id = made.id
    duplicates.check_new_draft(runtime, draft_id)


def named(found: list[Finding]) -> list[tuple[str, str | None, str]]:
    """What a finding says, less the duplicate's score (the lexical statistics of the whole backlog move it)."""
    return [(f.criterion, f.span, f.fix) for f in found]


def scores(found: list[Finding]) -> list[float]:
    return [float(m) for f in found for m in re.findall(r"\(score (\d+\.\d+)\)", f.why)]


def fresh_items(runtime: Runtime) -> list[BacklogItem]:
    with runtime.db.session() as session:
        return list(session.query(BacklogItem).order_by(BacklogItem.id))


def main() -> None:
    publish_by_size(
        "Refinement queue: duplicate search per item vs batched vs stored vectors",
        "Times are one run each; ratios are against `per item` at the same size, in the same process.",
        ["items", "variant", "seconds", "per item (ms)", "ratio", "same duplicates as per item"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
