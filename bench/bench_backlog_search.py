"""What searching and filtering the backlog costs, against listing a page of it.

For each backlog size: N items written straight into a fresh SQLite database (real user stories, repeated past
the number there are; every tenth closed, labels from a small set), then `GET /v1/backlog` through the app in this
process (a page of 100 by priority rank, the desk's order) plainly and with each filter, 50 requests each after a
warm-up. Every variant counts its matches for `X-Total-Count`, the plain listing too. Ratios are against the plain
listing at the same size, in the same process.
Run: .venv/bin/python -m bench.bench_backlog_search --items 1000 10000
"""

from __future__ import annotations

from pathlib import Path

from bench import listings_timed, publish_by_size
from bench.bench_refine import stories
from service.core.tables import BacklogItem

RESULTS = Path(__file__).parent / "results" / "bench_backlog_search.md"
LABELS = ("billing", "search", "ux", "auth", "reports")
VARIANTS = {
    "the page (no filter)": "",
    "one word (q=password)": "q=password",
    "two words (q=user account)": "q=user%20account",
    "a key (q=BENCH-77)": "q=BENCH-77",
    "label=billing": "label=billing",
    "state=open": "state=open",
    "q=user, state=open, label=ux": "q=user&state=open&label=ux",
}
REQUESTS = 50


def measure(n: int) -> list[str]:
    real = stories(n)  # as many real stories as there are, repeated to reach n
    items = [
        {"title": real[number % len(real)].title, "description": real[number % len(real)].description,
         "labels": [LABELS[number % len(LABELS)]], "external_id": f"jira:BENCH-{number}",
         "closed": number % 10 == 0, "project_id": 1}
        for number in range(n)
    ]  # fmt: skip
    paths = {name: f"/v1/backlog?order=priority&{query}" for name, query in VARIANTS.items()}
    return listings_timed(BacklogItem, items, paths, REQUESTS, n)


def main() -> None:
    publish_by_size(
        "Searching and filtering the backlog against listing a page of it",
        f"Median of {REQUESTS} requests each, in-process (TestClient, SQLite); ratios against the page with no "
        "filter at the same size, in the same process.",
        ["items", "GET /v1/backlog", "ms", "ratio", "matches"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
