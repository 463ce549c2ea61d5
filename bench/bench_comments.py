"""What counting comments costs the review queue's page and the backlog's, and what reading a thread costs.

For each size: N story-draft suggestions (real user stories, as `bench_suggestion_search` writes them), N backlog items
of the same stories, and 3 comments on every suggestion and every item, written straight into a fresh SQLite database;
then, 50 times each after a warm-up:
- the query behind the desk's review page (the newest 200 suggestions) with every suggestion's `comment_count`
  deferred (the query as it was before comments; the baseline) and as the service runs it (counted by a subquery per
  row), the page through the app in this process (`GET /v1/suggestions?limit=200`, which also counts the matches) and
  one suggestion's thread (`GET /v1/suggestions/{id}/comments`);
- the same for the backlog: its first 500 items without and with their `comment_count` (its own baseline),
  `GET /v1/backlog?limit=500` and one item's thread (`GET /v1/backlog/{id}/comments`).
Medians; ratios against the baseline at the same size, in the same process.
Run: .venv/bin/python -m bench.bench_comments --items 1000 10000
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import defer

from bench import median_time, publish_by_size, served
from bench.bench_refine import item_rows, stories
from service.core.tables import BacklogItem, Comment, Suggestion

RESULTS = Path(__file__).parent / "results" / "bench_comments.md"
REQUESTS = 50
PER_SUGGESTION = 3
PAGE = 200
BACKLOG_PAGE = 500


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
    on_items = [
        {"item_id": number + 1, "author": "ana", "text": f"comment {k} on item #{number + 1}", "project_id": 1}
        for number in range(n)
        for k in range(PER_SUGGESTION)
    ]
    page = select(Suggestion).order_by(Suggestion.id.desc()).limit(PAGE)
    backlog = select(BacklogItem).order_by(BacklogItem.id).limit(BACKLOG_PAGE)

    def listed(query: object) -> Callable[[int], object]:
        def call(_: int = 0) -> object:
            with app.state.runtime.db.session() as session:
                return [
                    (s.id, s.comment_count if "comment_count" in s.__dict__ else None) for s in session.scalars(query)
                ]

        return call

    rows = {Suggestion: drafts, BacklogItem: item_rows(n), Comment: said + on_items}
    with served(rows) as (app, client):
        assert listed(page)()[0][1] == PER_SUGGESTION and listed(backlog)()[0][1] == PER_SUGGESTION
        timed = []
        for table, query, path, thread in (
            (Suggestion, page, f"/v1/suggestions?limit={PAGE}", f"/v1/suggestions/{n}/comments"),
            (BacklogItem, backlog, f"/v1/backlog?limit={BACKLOG_PAGE}", f"/v1/backlog/{n}/comments"),
        ):
            floor = median_time(listed(query.options(defer(table.comment_count))), REQUESTS)
            timed += [
                (f"{table.__tablename__}: the page's query, comments not counted (before)", floor, floor),
                ("the page's query, comments counted (now)", median_time(listed(query), REQUESTS), floor),
                (f"GET {path}", median_time(lambda _, p=path: client.get(p), REQUESTS), floor),
                (f"GET {thread}", median_time(lambda _, p=thread: client.get(p), REQUESTS), floor),
            ]
    comments = 2 * n * PER_SUGGESTION
    return [f"| {n} | {comments} | {name} | {1000 * t:.2f} | {t / floor:.2f} |" for name, t, floor in timed]


def main() -> None:
    publish_by_size(
        "Counting comments on the review queue's page and the backlog's, and reading a thread",
        f"Median of {REQUESTS} calls each, in-process (SQLite, TestClient); N suggestions and N backlog items, 3 "
        "comments on each; ratios against the page's query without the count at the same size, in the same process.",
        ["suggestions (and items)", "comments", "what", "ms", "ratio"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
