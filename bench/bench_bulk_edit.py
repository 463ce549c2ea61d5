"""What editing several backlog items alike costs: one `POST /v1/backlog/edit` of K items (a label added) against K
`PATCH /v1/backlog/{id}` of the same change, the way a script or the desk did it before.

For each size: N backlog items (real user stories, as `bench_refine` reads them) written straight into a fresh SQLite
database; then, 5 times each, label K = 50 and K = 500 items (a new label each round, so every call changes them) in
one request, and the same K items one PATCH each. Medians; ratios against the PATCHes of the same items, in the same
process.
Run: .venv/bin/python -m bench.bench_bulk_edit --items 1000 10000
"""

from __future__ import annotations

import itertools
from pathlib import Path

from bench import median_time, publish_by_size, served
from bench.bench_refine import item_rows
from service.core import outbox
from service.core.tables import BacklogItem

RESULTS = Path(__file__).parent / "results" / "bench_bulk_edit.md"
ROUNDS = 5


def measure(n: int) -> list[str]:
    rows = item_rows(n)
    out, rounds = [], itertools.count()  # a new label each bulk call, so every call changes every item
    with served({BacklogItem: rows}) as (_, client):
        for k in (50, 500):
            ids = list(range(1, k + 1))

            def one_by_one(r: int, ids: list[int] = ids) -> None:
                for item in ids:
                    client.patch(f"/v1/backlog/{item}", json={"labels": [f"p{r}"]}).raise_for_status()

            def at_once(_r: int, ids: list[int] = ids) -> object:
                return client.post("/v1/backlog/edit", json={"item_ids": ids, "add_labels": [f"b{next(rounds)}"]})

            before, now = median_time(one_by_one, ROUNDS), median_time(at_once, ROUNDS)
            out.append(f"| {n} | {k} | {k} x PATCH /v1/backlog/{{id}} | {1000 * before:.1f} | 1.00 |")
            out.append(f"| {n} | {k} | POST /v1/backlog/edit | {1000 * now:.1f} | {now / before:.2f} |")
            queue_item = outbox.queue_item
            outbox.queue_item = lambda *_args: None  # type: ignore[assignment]  # as before item events
            try:
                silent = median_time(at_once, ROUNDS)
            finally:
                outbox.queue_item = queue_item  # type: ignore[assignment]
            said = "POST /v1/backlog/edit, no item.updated event queued (as before 2026-11-28's third stop)"
            out.append(f"| {n} | {k} | {said} | {1000 * silent:.1f} | {silent / before:.2f} |")
            if k == 500:  # a webhook that wants item.updated: a delivery row per item edited
                hook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["item.updated"]})
                client.app.state.webhooks.stop()  # written, not sent: the cost of the request alone
                told = median_time(at_once, ROUNDS)
                client.delete(f"/v1/webhooks/{hook.json()['id']}")
                said = "POST /v1/backlog/edit, a webhook subscribed to item.updated (a delivery row per item)"
                out.append(f"| {n} | {k} | {said} | {1000 * told:.1f} | {told / before:.2f} |")
    return out


def main() -> None:
    publish_by_size(
        "Editing several backlog items alike: one bulk request against one PATCH each",
        f"Median of {ROUNDS} rounds, in-process (SQLite, TestClient); ratios against the PATCHes of the same items, in "
        "the same process.",
        ["items", "edited", "how", "ms", "ratio"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
