"""The refinement queue's cost: every live item's quality findings, whose duplicate search is the expensive part.

Seeds a fresh backlog (fake LLM, SQLite, embedded Chroma) with N real user stories from shared/data, then times,
in one process and on the same index, three ways to find each item's duplicates:
  per item    one `search` per item, its text encoded again (how GET /v1/refine/queue worked before);
  batched     `search_many` over batches of 128, texts encoded in batches;
  stored      batched, with the item's own vectors read from the index instead of encoded (the service now).
Each row checks that the variant finds the same duplicates as the first one. Then the whole queue call.
Run: .venv/bin/python -m bench.bench_refine [--items 300 1000]
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import publish_by_size
from evals.bug_reports import DATA_DIR
from service.backlog.schemas import BacklogItemCreate
from service.backlog.service import import_and_index
from service.core.runtime import Runtime
from service.core.settings import Settings
from service.core.tables import BacklogItem
from service.duplicates import detector, item_document
from service.duplicates.index import SEARCH_BATCH, SEARCHABLE, in_this_project, items_duplicates
from service.refinement import service

RESULTS = Path(__file__).parent / "results" / "bench_refine.md"
STORIES = DATA_DIR / "user_stories" / "dalpiaz_global.txt"


def stories(n: int) -> list[BacklogItemCreate]:
    lines = [line.split("#", 2)[-1].strip() for line in STORIES.read_text(encoding="utf-8").splitlines()]
    return [BacklogItemCreate(title=text[:200], description=text) for text in lines if text][:n]


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
    with runtime.db.session() as session:
        items = list(session.query(BacklogItem).order_by(BacklogItem.id))
    stored(runtime, items[:5])  # load the model and the lexical index outside the timings
    base_seconds, base = timed(lambda: per_item(runtime, items))
    rows = []
    for name, variant in (("per item", None), ("batched", batched), ("stored", stored)):
        seconds, found = (base_seconds, base) if variant is None else timed(lambda v=variant: v(runtime, items))
        same = sum(a == b for a, b in zip(found, base, strict=True))  # type: ignore[call-overload]
        rows.append(f"| {len(items)} | {name} | {seconds:.2f} | {1000 * seconds / len(items):.1f} | "
                    f"{seconds / base_seconds:.3f} | {same}/{len(items)} |")  # fmt: skip
    for name in ("whole queue call", "the same call again, nothing changed"):  # the second reads kept findings
        seconds, queue = timed(lambda: service.queue(runtime, 1000))
        rows.append(f"| {len(items)} | {name} | {seconds:.2f} | {1000 * seconds / len(items):.1f} | "
                    f"{seconds / base_seconds:.3f} | ({len(queue)} rows) |")  # fmt: skip
    return rows


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
