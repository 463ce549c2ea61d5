"""What ranking the backlog by hand costs (`POST /v1/backlog/rank`): a move renumbers the items whose place changes.

For each size: N backlog items (real user stories, as `bench_refine` reads them), all ranked 1..N, written straight
into a fresh SQLite database. Then, through the app in this process: an edit of one item's labels (`PATCH`, the
baseline: a person's change to one item); the item at the middle moved one place up (two items change places); the
last item moved to the top (every item moves down one); the first item moved to the bottom; then a prioritization's
rerank (`rerank_backlog`, as accepting a priority runs it) with a tenth of the items scored, without and with a
hundred items placed by hand. Medians over REQUESTS calls after a warm-up; ratios against the baseline at the same
size, in the same process.
Run: .venv/bin/python -m bench.bench_rank --items 1000 10000
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from bench import median_time, publish_by_size, served
from bench.bench_refine import item_rows
from service.core.tables import BacklogItem
from service.prioritization.service import rerank_backlog

RESULTS = Path(__file__).parent / "results" / "bench_rank.md"
REQUESTS = 20
BY_HAND = 100


def measure(n: int) -> list[str]:
    scored = {"priority_detail": {"framework": "rice"}}
    rows = item_rows(
        n, lambda k: {"priority_rank": k + 1} | ({"priority_score": float(k % 97)} | scored if k % 10 == 0 else {})
    )
    with served({BacklogItem: rows}) as (app, client):

        def rank(body: dict) -> object:
            return client.post("/v1/backlog/rank", json=body, headers={"X-User": "bench"})

        def rerank(_: int) -> None:
            with app.state.runtime.db.session() as session:
                rerank_backlog(session, "rice")

        def labels(k: int) -> object:
            return client.patch(f"/v1/backlog/{n}", json={"labels": [f"l{k % 2}"]})

        def up(k: int) -> object:  # the middle two swap places, each call
            return rank({"item_ids": [middle + k % 2], "before_id": middle + 1 - k % 2})

        def top(k: int) -> object:  # the last item each time: n, n - 1, ...
            return rank({"item_ids": [n - 1 - k], "to": "top"})

        def bottom(k: int) -> object:  # the first item each time: those just moved to the top, in turn
            return rank({"item_ids": [n - REQUESTS + 1 + k], "to": "bottom"})

        middle = n // 2
        timed = [
            ("edit one item's labels (PATCH)", median_time(labels, REQUESTS)),
            ("move the middle item one place up", median_time(up, REQUESTS)),
            ("move the last item to the top", median_time(top, REQUESTS)),
            ("move the first item to the bottom", median_time(bottom, REQUESTS)),
        ]
        assert client.get("/v1/backlog?order=priority&limit=1").json()[0]["id"] == 1, "the moves went elsewhere"
        with app.state.runtime.db.session() as session:
            session.execute(update(BacklogItem).values(ranked_by=None))
        timed.append(("rerank after an accepted priority, none by hand", median_time(rerank, REQUESTS)))
        with app.state.runtime.db.session() as session:
            hand = range(1, n + 1, n // BY_HAND)
            session.execute(update(BacklogItem).where(BacklogItem.id.in_(hand)).values(ranked_by="bench"))
        timed.append((f"rerank after an accepted priority, {len(hand)} by hand", median_time(rerank, REQUESTS)))
    floor = timed[0][1]
    return [f"| {n} | {name} | {1000 * t:.1f} | {t / floor:.2f} |" for name, t in timed]


def main() -> None:
    publish_by_size(
        "Ranking the backlog by hand",
        f"Median of {REQUESTS} calls each, in-process (SQLite, TestClient); N items all ranked, a tenth scored; ratios "
        "against an edit of one item's labels at the same size, in the same process.",
        ["items", "what", "ms", "ratio"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
