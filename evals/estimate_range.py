"""The estimate's likely range: how often it holds the team's points, and how wide it is, for each tail on dev
(train rows as history, validation rows estimated) or the chosen one on test (train + validation as history).

The range is the estimate's own vote (comparables, team median, team words) cut at the `tail` and 1 - `tail`
weighted quantiles, before the team's fine-tuned model joins. Next to it, in the same run, the range a team gets
without Refinery: its own history's points at the same quantiles (one range for every item). The tail is chosen on
dev by a rule fixed before the sweep: the largest tail (the narrowest range) that holds the team's points for at
least 8 items in 10, pooled over every project.

Run: .venv/bin/python -m evals.estimate_range [dev|test] [OUT.json]
"""

from __future__ import annotations

import json
import sys
from statistics import mean

import numpy as np

from evals.suites.estimate import projects
from pipelines.estimate import RANGE_TAIL, scale_steps, snap

TAILS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
TARGET = 0.8


def measure(split: str, tails: tuple[float, ...]) -> list[dict[str, object]]:
    """Per project and tail: items, the share held and mean width (steps) of the estimate's range and of the
    history's own range."""
    out: list[dict[str, object]] = []
    for project in projects(split):
        truth = [i["points"] for i in project.queries]
        for tail in tails:
            made = project.rule(tail)
            low, high = (snap(float(np.quantile(project.points, q, method="inverted_cdf"))) for q in (tail, 1 - tail))
            out.append({
                "project": project.name, "tail": tail, "items": len(truth),
                "held": float(np.mean([e.low <= t <= e.high for e, t in zip(made, truth, strict=True)])),
                "steps": float(np.mean([scale_steps(e.low, e.high) for e in made])),
                "single": float(np.mean([e.low == e.high for e in made])),
                "history_held": float(np.mean([low <= t <= high for t in truth])),
                "history_steps": float(scale_steps(low, high)),
            })  # fmt: skip
        print(project.name, len(truth), flush=True)
    return out


def pooled(rows: list[dict[str, object]], tail: float) -> dict[str, float]:
    """One tail's figures over every project, weighted by items."""
    chosen = [r for r in rows if r["tail"] == tail]
    total = sum(int(r["items"]) for r in chosen)

    def avg(name: str) -> float:
        return round(sum(float(r[name]) * int(r["items"]) for r in chosen) / total, 3)

    return {
        "tail": tail, "items": total, "held": avg("held"), "steps": avg("steps"), "single": avg("single"),
        "history_held": avg("history_held"), "history_steps": avg("history_steps"),
        "projects_held_at_least_target": sum(float(r["held"]) >= TARGET for r in chosen),
        "mean_project_held": round(mean(float(r["held"]) for r in chosen), 3),
    }  # fmt: skip


def main() -> None:
    split = sys.argv[1] if len(sys.argv) > 1 else "dev"
    tails = TAILS if split == "dev" else (RANGE_TAIL,)
    rows = measure(split, tails)
    table = [pooled(rows, tail) for tail in tails]
    for line in table:
        print(line)
    chosen = max((t for t in table if t["held"] >= TARGET), key=lambda t: t["tail"], default=None)
    if split == "dev":
        print("chosen:", chosen)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w", encoding="utf-8") as handle:
            said = {"split": split, "target": TARGET, "pooled": table, "projects": rows}
            json.dump(said | ({"chosen": chosen} if split == "dev" else {}), handle, indent=1)


if __name__ == "__main__":
    main()
