"""What editing several backlog items alike costs: one `POST /v1/backlog/edit` of K items (a label added) against K
`PATCH /v1/backlog/{id}` of the same change, the way a script or the desk did it before.

For each size: N backlog items (real user stories, as `bench_refine` reads them) written straight into a fresh SQLite
database; then, 5 times each, label K = 50 and K = 500 items (a new label each round, so every call changes them) in
one request, and the same K items one PATCH each. Medians; ratios against the PATCHes of the same items, in the same
process.
Run: .venv/bin/python -m bench.bench_bulk_edit --items 1000 10000
"""

from __future__ import annotations

from pathlib import Path

from bench import median_time, publish_by_size, served
from bench.bench_refine import stories
from service.core.tables import BacklogItem

RESULTS = Path(__file__).parent / "results" / "bench_bulk_edit.md"
ROUNDS = 5


def measure(n: int) -> list[str]:
    real = stories(min(n, 5000))
    rows = [
        {"title": real[k % len(real)].title, "description": real[k % len(real)].description, "project_id": 1,
         "labels": []}
        for k in range(n)
    ]  # fmt: skip
    out = []
    with served({BacklogItem: rows}) as (_, client):
        for k in (50, 500):
            ids = list(range(1, k + 1))

            def one_by_one(r: int, ids: list[int] = ids) -> None:
                for item in ids:
                    client.patch(f"/v1/backlog/{item}", json={"labels": [f"p{r}"]}).raise_for_status()

            def at_once(r: int, ids: list[int] = ids) -> object:
                return client.post("/v1/backlog/edit", json={"item_ids": ids, "add_labels": [f"b{r}"]})

            before, now = median_time(one_by_one, ROUNDS), median_time(at_once, ROUNDS)
            out.append(f"| {n} | {k} | {k} x PATCH /v1/backlog/{{id}} | {1000 * before:.1f} | 1.00 |")
            out.append(f"| {n} | {k} | POST /v1/backlog/edit | {1000 * now:.1f} | {now / before:.2f} |")
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
