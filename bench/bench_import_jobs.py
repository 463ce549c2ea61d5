"""What running an import as a background job costs, against the same import within a request.

For each size: N real user stories with tracker keys, imported into a fresh service runtime (fake LLM, SQLite,
embedded Chroma) three times over, each into its own fresh runtime so every run writes every row and embeds every
item: within the request (`import_and_index`: one transaction, one call to embed all), as an import job (the parsed
records stored in the job's row, the rows written with the job's counts in one transaction, the text embedded 256
items a batch with the progress written after each), and within the request again (the spread between the two
is the noise). Ratios are against the first.
Run: .venv/bin/python -m bench.bench_import_jobs [--items 300 1000]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench import publish_by_size
from bench.bench_refine import stories
from bench.bench_reimport import keyed
from service.backlog import jobs
from service.backlog.importers import ParsedImport
from service.backlog.service import import_and_index
from service.core.runtime import Runtime
from service.core.settings import Settings
from service.core.tables import ImportJob

RESULTS = Path(__file__).parent / "results" / "bench_import_jobs.md"


def fresh() -> Runtime:
    runtime = Runtime(Settings(REFINERY_DATA_DIR=tempfile.mkdtemp(), REFINERY_LLM_PROVIDER="fake"))
    import_and_index(runtime, stories(5))  # load the embedding model outside the timings (keyless: never matched)
    return runtime


def in_request(n: int) -> float:
    runtime, items = fresh(), keyed(n)
    started = time.perf_counter()
    assert len(import_and_index(runtime, items).created) == n
    return time.perf_counter() - started


def as_job(n: int) -> float:
    runtime, items = fresh(), keyed(n)
    started = time.perf_counter()
    job = jobs.create_job(runtime, ImportJob, "bench", ParsedImport(items=items), None)
    jobs.run_job(runtime, job.id)
    took = time.perf_counter() - started
    done = jobs.get_job(runtime, job.id)
    assert (done.status, done.created, done.processed) == ("done", n, n), done.errors
    return took


def measure(n: int) -> list[str]:
    first = in_request(n)
    rows = [f"| {n} | within the request (`POST /v1/backlog/import`) | {first:.2f} | {1000 * first / n:.1f} | 1.000 |"]
    for name, run in (("as a job (`POST /v1/backlog/import/jobs`), progress per 256 items", as_job),
                      ("within the request again", in_request)):  # fmt: skip
        seconds = run(n)
        rows.append(f"| {n} | {name} | {seconds:.2f} | {1000 * seconds / n:.1f} | {seconds / first:.3f} |")
    return rows


def main() -> None:
    publish_by_size(
        "An import as a background job against the same import within its request",
        "One run each, every run into a fresh runtime (all rows written, all items embedded); ratios against the "
        "first, in the same process.",
        ["items", "import", "seconds", "per item (ms)", "ratio"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
