"""What dependencies between items cost: a person's edit of what an item waits for (the cycle check reads every
item's dependencies) and the Jira CSV export (which names, on each prerequisite, the items waiting for it).

For each size: N backlog items (real user stories, as `bench_refine` reads them) written straight into a fresh SQLite
database; then the export (`GET /v1/backlog/export?format=jira_csv`) and an edit of the last item's labels (`PATCH`,
the baseline: an edit that checks nothing) with no dependency anywhere; then every odd item from the third on is made
to wait for the item before it, and every other one of those also for the one before that (N/2 items with
dependencies), and the export and an edit
of the last item's `depends_on` (toggled between two values, so every call changes it) are timed again. Medians over
REQUESTS calls after a warm-up (EXPORTS for the export); ratios against the baseline of the same kind at the same size,
in the same process.
Run: .venv/bin/python -m bench.bench_dependencies --items 1000 10000
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from bench import median_time, publish_by_size, served
from bench.bench_refine import item_rows
from service.core.tables import BacklogItem

RESULTS = Path(__file__).parent / "results" / "bench_dependencies.md"
REQUESTS = 30
EXPORTS = 5


def measure(n: int) -> list[str]:
    rows = item_rows(n, lambda k: {"external_id": f"jira:BENCH-{k + 1}"})
    last = n

    def export(_: int) -> object:
        return client.get("/v1/backlog/export?format=jira_csv")

    def labels(k: int) -> object:
        return client.patch(f"/v1/backlog/{last}", json={"labels": [f"l{k % 2}"]})

    def waits(k: int) -> object:
        return client.patch(f"/v1/backlog/{last}", json={"depends_on": [1 + k % 2]})

    with served({BacklogItem: rows}) as (app, client):
        before = [
            ("export, no dependencies", median_time(export, EXPORTS)),
            ("edit labels", median_time(labels, REQUESTS)),
        ]
        with app.state.runtime.db.session() as session:
            for item in range(3, n, 2):  # item k waits for k - 1 and, every other time, k - 2
                depends_on = [item - 1, item - 2] if item % 4 == 1 else [item - 1]
                session.execute(update(BacklogItem).where(BacklogItem.id == item).values(depends_on=depends_on))
        waiting = len(range(3, n, 2))
        exported = export(0).text
        assert exported.count("BENCH-") >= waiting, "the export names the items waiting for each prerequisite"
        after = [
            ("export, with dependencies", median_time(export, EXPORTS)),
            ("edit depends_on", median_time(waits, REQUESTS)),
        ]
    out = []
    for (base_name, base), (name, value) in zip(before, after, strict=True):
        out.append(f"| {n} | 0 | {base_name} | {1000 * base:.2f} | 1.00 |")
        out.append(f"| {n} | {waiting} | {name} | {1000 * value:.2f} | {value / base:.2f} |")
    return out


def main() -> None:
    publish_by_size(
        "Dependencies: the Jira CSV export and an edit of what an item waits for",
        f"Median of {EXPORTS} exports and {REQUESTS} edits each, in-process (SQLite, TestClient); ratios against the "
        "same export with no dependency, and against an edit of the labels, at the same size in the same process.",
        ["items", "items with dependencies", "what", "ms", "ratio"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
