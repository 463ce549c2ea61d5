"""The service's estimate (rule + words, before the team's fine-tuned model joins) by how similar the nearest
estimated item is: does a low similarity mark a less reliable estimate? Dev split by default (train rows as
history, validation rows estimated), every project pooled.

Run: .venv/bin/python -m evals.estimate_by_similarity [dev|test] [OUT.json]
"""

from __future__ import annotations

import json
import sys
from statistics import median

import numpy as np

from evals.suites.estimate import projects

BUCKETS = ((0.0, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 1.01))


def rows(split: str) -> list[dict[str, float | str]]:
    """Per estimated row: its project, the nearest history item's cosine, the estimate's and the median's error."""
    out: list[dict[str, float | str]] = []
    for project in projects(split):
        guess = [e.points for e in project.rule()]
        nearest = (project.query_vectors @ project.history_vectors.T).max(axis=1)
        centre = median(project.points)
        for query, estimate, best in zip(project.queries, guess, nearest, strict=True):
            out.append({"project": project.name, "best": float(best), "error": abs(query["points"] - estimate),
                        "median_error": abs(query["points"] - centre)})  # fmt: skip
        print(project.name, len(project.queries), flush=True)
    return out


def buckets(found: list[dict[str, float | str]]) -> list[dict[str, float | int | str]]:
    table = []
    for low, high in BUCKETS:
        chosen = [r for r in found if low <= float(r["best"]) < high]
        if chosen:
            mae = float(np.mean([r["error"] for r in chosen]))
            base = float(np.mean([r["median_error"] for r in chosen]))
            table.append({"nearest_similarity": f"{low:.1f}-{min(high, 1.0):.1f}", "rows": len(chosen),
                          "share": round(len(chosen) / len(found), 3), "mae": round(mae, 3),
                          "median_baseline_mae": round(base, 3), "ratio": round(mae / base, 3)})  # fmt: skip
    return table


def main() -> None:
    split = sys.argv[1] if len(sys.argv) > 1 else "dev"
    table = buckets(rows(split))
    for line in table:
        print(line)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w", encoding="utf-8") as handle:
            json.dump({"split": split, "buckets": table}, handle, indent=1)


if __name__ == "__main__":
    main()
