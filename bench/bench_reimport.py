"""What re-importing a tracker's export costs, against the first import of the same file.

For each backlog size: a fresh service runtime (fake LLM, SQLite, embedded Chroma) imports N real user stories
with tracker keys (the first import: rows written and every item embedded for the duplicate search); then, in the
same process and on the same index, the same N again, unchanged (each item merged field by field, nothing to
write), and the N again with a tenth of them retitled in the tracker (those updated, their history kept, and
indexed again). Ratios are against the first import.
Run: .venv/bin/python -m bench.bench_reimport [--items 300 1000]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench import publish_by_size
from bench.bench_refine import stories
from service.backlog.schemas import BacklogItemCreate
from service.backlog.service import Imported, import_and_index
from service.core.runtime import Runtime
from service.core.settings import Settings

RESULTS = Path(__file__).parent / "results" / "bench_reimport.md"


def keyed(n: int, retitled_every: int = 0) -> list[BacklogItemCreate]:
    """`n` stories with tracker keys; every `retitled_every`-th one's title changed (0: none)."""
    items = []
    for number, story in enumerate(stories(n)):
        title = f"{story.title[:180]} (v2)" if retitled_every and number % retitled_every == 0 else story.title
        items.append(story.model_copy(update={"title": title, "external_id": f"jira:BENCH-{number}"}))
    return items


def timed(runtime: Runtime, items: list[BacklogItemCreate]) -> tuple[float, Imported]:
    started = time.perf_counter()
    imported = import_and_index(runtime, items)
    return time.perf_counter() - started, imported


def measure(n: int) -> list[str]:
    runtime = Runtime(Settings(REFINERY_DATA_DIR=tempfile.mkdtemp(), REFINERY_LLM_PROVIDER="fake"))
    import_and_index(runtime, stories(5))  # load the embedding model outside the timings (keyless: never matched)
    first_seconds, first = timed(runtime, keyed(n))
    rows = []
    for name, items in (("first import", None), ("same file again", keyed(n)), ("a tenth retitled", keyed(n, 10))):
        seconds, result = (first_seconds, first) if items is None else timed(runtime, items)
        rows.append(
            f"| {n} | {name} | {seconds:.2f} | {1000 * seconds / n:.1f} | {seconds / first_seconds:.3f} | "
            f"{len(result.created)} / {len(result.updated)} / {len(result.skipped)} |"
        )
    return rows


def main() -> None:
    publish_by_size(
        "Re-importing a tracker's export against the first import",
        "One run each; ratios are against the first import at the same size, in the same process.",
        ["items", "import", "seconds", "per item (ms)", "ratio", "created / updated / unchanged"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
