"""A labels suggestion through the service, against the duplicate search it rides on.

Seeds a fresh backlog (fake LLM, SQLite, embedded Chroma) with N real app reviews (`../shared/data/app_reviews/`, the
labels eval's data) as items, four in five with their manual topics as labels, and asks for each of 20 unlabelled
ones, in the same process and on the same index: the duplicate search alone (`item_duplicates` at the 75 candidates
the labels read; the baseline), then `propose_labels` as `POST /v1/backlog/{id}/labels` does (the search, the
candidates' labels read, the vote, the suggestion stored). Prints the median milliseconds of each and their ratio.
Run: .venv/bin/python -m bench.bench_labels [--items 300 1000]
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from statistics import median

from bench import publish_by_size
from evals.suites.labels import load_apps
from service import duplicates
from service.backlog.schemas import BacklogItemCreate
from service.backlog.service import get_item, import_and_index
from service.core.runtime import Runtime
from service.core.settings import Settings
from service.refinement import service

RESULTS = Path(__file__).parent / "results" / "bench_labels.md"
QUERIES = 20


def _item(review: dict, labelled: bool) -> BacklogItemCreate:
    title = review["text"][:120].rsplit(" ", 1)[0] if len(review["text"]) > 120 else review["text"]
    return BacklogItemCreate(title=title, description=review["text"], labels=review["labels"] if labelled else [])


def measure(n: int) -> list[str]:
    reviews = [r for split in ("dev", "test") for app in load_apps(split).values() for r in app]
    reviews = random.Random(0).sample(reviews, min(n, len(reviews)))
    runtime = Runtime(Settings(REFINERY_DATA_DIR=tempfile.mkdtemp(), REFINERY_LLM_PROVIDER="fake"))
    created = import_and_index(runtime, [_item(r, k % 5 != 0) for k, r in enumerate(reviews)]).created
    queries = [item.id for k, item in enumerate(created) if k % 5 == 0][:QUERIES]
    service.propose_labels(runtime, queries[0])  # the embedder and the lexical index loaded outside the timings
    searched, labelled, made = [], [], 0
    for item_id in queries[1:]:
        with runtime.db.session() as session:
            item = get_item(session, item_id)
        started = time.perf_counter()
        duplicates.item_duplicates(runtime, item, 75)
        searched.append(time.perf_counter() - started)
        started = time.perf_counter()
        suggestion, _ = service.propose_labels(runtime, item_id)
        labelled.append(time.perf_counter() - started)
        made += suggestion is not None
    search_ms, labels_ms = 1000 * median(searched), 1000 * median(labelled)
    return [
        f"| {len(created)} | {len(queries) - 1} | {made} | {search_ms:.0f} | {labels_ms:.0f} | "
        f"{labels_ms / search_ms:.2f} |"
    ]


def main() -> None:
    publish_by_size(
        "A labels suggestion through the service, against the duplicate search it rides on",
        "Items are real app reviews, four in five labelled with their manual topics; medians over 19 unlabelled "
        "items, one run, same process and index.",
        ["backlog items", "items asked", "suggestions made", "search alone (ms)", "labels suggestion (ms)", "ratio"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
