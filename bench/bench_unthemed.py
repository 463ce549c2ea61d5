"""What matching feedback in no theme to the backlog costs the ingest job's cluster stage.

For each backlog size: a fresh service runtime (fake LLM, SQLite, embedded Chroma) is seeded with N real user
stories, then the 1,583 real app reviews of the ingest eval are uploaded as one ingest job and run to the end. The
cluster stage is timed twice in the same process, on two fresh runtimes: without matching (the baseline: themes
only) and with it (every bug, request or question in no theme searched against the backlog items). The table gives
both, the ratio, how many tickets were in no theme and how many were proposed as evidence for an item.
Run: .venv/bin/python -m bench.bench_unthemed [--items 300 1000]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import backlog_sizes, publish, table_head
from bench.bench_refine import stories
from evals.bug_reports import DATA_DIR
from service.backlog.service import import_and_index
from service.core.runtime import Runtime
from service.core.settings import Settings
from service.ingest import jobs, service
from service.ingest.service import Stage

RESULTS = Path(__file__).parent / "results" / "bench_unthemed.md"
REVIEWS = DATA_DIR / "app_reviews" / "golden_set.csv"


def ingest(items: int, match: bool) -> dict[str, Any]:
    """Seed `items` stories, ingest the reviews; the cluster stage's seconds and the job's counts."""
    runtime = Runtime(Settings(REFINERY_DATA_DIR=tempfile.mkdtemp(), REFINERY_LLM_PROVIDER="fake"))
    import_and_index(runtime, stories(items))
    seconds: list[float] = []
    cluster, matcher = jobs.STAGES[Stage.cluster], jobs.match_unthemed

    def timed_cluster(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        cluster(*args, **kwargs)
        seconds.append(time.perf_counter() - started)

    jobs.STAGES[Stage.cluster] = timed_cluster
    jobs.match_unthemed = matcher if match else lambda _run, _ids: []
    try:
        job = service.create_job(runtime, REVIEWS.read_bytes(), REVIEWS.name)
        job = jobs.run_job(runtime, job.id)
    finally:
        jobs.STAGES[Stage.cluster], jobs.match_unthemed = cluster, matcher
    public = service.public(job)
    return {"seconds": sum(seconds), "unthemed": public.unthemed, "to_items": public.unthemed_to_items}


def main() -> None:
    sizes = backlog_sizes()
    lines = table_head(
        "Ingest cluster stage: themes only vs themes and matching the rest to the backlog",
        "1,583 app reviews per job. Times are one run each; the ratio is against `themes only` at the same size, "
        "in the same process.",
        ["backlog items", "variant", "cluster stage (s)", "ratio", "unthemed", "proposed as evidence"],
    )
    ingest(20, match=True)  # load the models outside the timings
    for n in sizes:
        base = ingest(n, match=False)
        for name, found in (("themes only", base), ("themes + matching", ingest(n, match=True))):
            lines.append(
                f"| {n} | {name} | {found['seconds']:.2f} | {found['seconds'] / base['seconds']:.2f} | "
                f"{found['unthemed']} | {found['to_items']} |"
            )
    publish(lines, RESULTS)


if __name__ == "__main__":
    main()
