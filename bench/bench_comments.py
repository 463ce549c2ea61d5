"""What counting each suggestion's comments costs the review queue's page, and what reading a thread costs.

For each size: N story-draft suggestions (real user stories, as `bench_suggestion_search` writes them) and 3 comments
on every suggestion, written straight into a fresh SQLite database; then, 50 times each after a warm-up, the query
behind the desk's page (the newest 200 suggestions) with every suggestion's `comment_count` deferred (the query as it
was before comments; the baseline) and as the service runs it (counted by a subquery per row), then the page through
the app in this process (`GET /v1/suggestions?limit=200`, which also counts the matches) and one suggestion's thread
(`GET /v1/suggestions/{id}/comments`). Medians; ratios against the baseline at the same size, in the same process.
Run: .venv/bin/python -m bench.bench_comments --items 1000 10000
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import defer

from bench import median_time, publish_by_size, served
from bench.bench_refine import stories
from service.core.tables import Comment, Suggestion

RESULTS = Path(__file__).parent / "results" / "bench_comments.md"
REQUESTS = 50
PER_SUGGESTION = 3
PAGE = 200


def measure(n: int) -> list[str]:
    real = stories(n)
    drafts = [
        {"kind": "story_draft", "status": "pending", "project_id": 1,
         "input": {"text": real[number % len(real)].description},
         "payload": {"title": real[number % len(real)].title, "goal": real[number % len(real)].description},
         "model": "bench", "provider": "fake", "prompt_version": "draft_story@bench", "usage": {}, "warnings": []}
        for number in range(n)
    ]  # fmt: skip
    said = [
        {"suggestion_id": number + 1, "author": "ana", "text": f"comment {k} on #{number + 1}", "project_id": 1}
        for number in range(n)
        for k in range(PER_SUGGESTION)
    ]
    page = select(Suggestion).order_by(Suggestion.id.desc()).limit(PAGE)

    def listed(query: object) -> Callable[[int], object]:
        def call(_: int = 0) -> object:
            with app.state.runtime.db.session() as session:
                return [
                    (s.id, s.comment_count if "comment_count" in s.__dict__ else None) for s in session.scalars(query)
                ]

        return call

    with served({Suggestion: drafts, Comment: said}) as (app, client):
        assert listed(page)()[0][1] == PER_SUGGESTION
        before, now = page.options(defer(Suggestion.comment_count)), page
        page_path, thread_path = f"/v1/suggestions?limit={PAGE}", f"/v1/suggestions/{n}/comments"
        rows = [
            ("the page's query, comments not counted (before)", median_time(listed(before), REQUESTS)),
            ("the page's query, comments counted (now)", median_time(listed(now), REQUESTS)),
            (f"GET {page_path}", median_time(lambda _: client.get(page_path), REQUESTS)),
            (f"GET {thread_path}", median_time(lambda _: client.get(thread_path), REQUESTS)),
        ]
    floor = rows[0][1]
    return [f"| {n} | {n * PER_SUGGESTION} | {name} | {1000 * t:.2f} | {t / floor:.2f} |" for name, t in rows]


def main() -> None:
    publish_by_size(
        "Counting comments on the review queue's page, and reading a thread",
        f"Median of {REQUESTS} calls each, in-process (SQLite, TestClient); ratios against the page's query without "
        "the count at the same size, in the same process.",
        ["suggestions", "comments", "what", "ms", "ratio"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
