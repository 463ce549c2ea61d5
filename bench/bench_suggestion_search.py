"""What searching the suggestions costs (the review queue's Search), against listing the desk's page of them.

For each size: N story-draft suggestions written straight into a fresh SQLite database (real user stories as their
input and payload, repeated past the number there are; every third decided, every tenth assigned to one person),
then `GET /v1/suggestions` through the app in this process (the desk's page: the newest 200), plainly, with each
search, and filtered by assignee (indexed), 50 requests each after a warm-up. Every variant counts its matches for
`X-Total-Count`. Ratios are against the plain page at the same size, in the same process. The search reads every
suggestion's JSON as text (no index), so it grows with the table.
Run: .venv/bin/python -m bench.bench_suggestion_search --items 1000 10000
"""

from __future__ import annotations

from pathlib import Path

from bench import listings_timed, publish_by_size
from bench.bench_refine import stories
from service.core.tables import Suggestion

RESULTS = Path(__file__).parent / "results" / "bench_suggestion_search.md"
VARIANTS = {
    "the page (no search)": "",
    "one word (q=password)": "q=password",
    "two words (q=user account)": "q=user%20account",
    "pending, one word": "status=pending&q=password",
    "assigned to one person (assignee=bo)": "assignee=bo",
    "given to no one (unassigned=true)": "unassigned=true",
}
REQUESTS = 50


def measure(n: int) -> list[str]:
    real = stories(n)
    drafts = [
        {"kind": "story_draft", "status": "pending" if number % 3 else "accepted", "project_id": 1,
         "input": {"text": real[number % len(real)].description},
         "payload": {"title": real[number % len(real)].title, "goal": real[number % len(real)].description},
         "model": "bench", "provider": "fake", "prompt_version": "draft_story@bench", "usage": {}, "warnings": [],
         "assignee": "bo" if number % 10 == 0 else None}
        for number in range(n)
    ]  # fmt: skip
    paths = {name: f"/v1/suggestions?limit=200&{query}" for name, query in VARIANTS.items()}
    return listings_timed(Suggestion, drafts, paths, REQUESTS, n)


def main() -> None:
    publish_by_size(
        "Searching the suggestions against listing the desk's page of them",
        f"Median of {REQUESTS} requests each, in-process (TestClient, SQLite); ratios against the page with no "
        "search at the same size, in the same process.",
        ["suggestions", "GET /v1/suggestions", "ms", "ratio", "matches"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
