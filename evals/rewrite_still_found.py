"""How often a rewrite still fails a quality criterion it was asked to fix (`pipelines.refine.still_found`), at
first and after asking once more, told what it still fails (a variant measured, not adopted): real
Jira items with a vague word (the story-point projects' validation rows on dev, test rows on test), seeded, each
rewritten once by the model as the service asks it; per criterion, the items that had it and the rewrites that
still have it.

Run: .venv/bin/python -m evals.rewrite_still_found [dev|test] [N] [OUT.json]   (the local model by default)
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter

from evals.__main__ import eval_llm
from evals.suites.estimate import load_project, project_files
from pipelines.quality import check_item
from pipelines.refine import _item_text, _rewrite, still_found

ROWS = {"dev": "val", "test": "test"}


def sample(split: str, n: int) -> list[dict]:
    """`n` seeded items of the split with a vague-word finding, a few from each project."""
    items = [row for path in project_files() for row in load_project(path) if row["split"] == ROWS[split]]
    vague = [i for i in items if any(f.criterion == "unambiguous" for f in check_item(i["title"], i["description"]))]
    return random.Random(5).sample(vague, n)


def main(split: str = "dev", n: int = 12, out: str | None = None) -> None:
    """Each item rewritten as the service does (`first`), then, where that still fails, asked once more with what it
    still fails added to the problems (`rechecked`: the one of the two that fails less)."""
    llm = eval_llm(None)
    had: Counter[str] = Counter()
    kept: dict[str, Counter[str]] = {"first": Counter(), "rechecked": Counter()}
    rows, failed, extra_seconds, started = [], 0, 0.0, time.perf_counter()
    for item in sample(split, n):
        findings = check_item(item["title"], item["description"])
        text, _ = _item_text(item["title"], item["description"])
        problems = "; ".join(f"{f.criterion}: {f.why}" + (f" ({f.span!r})" if f.span else "") for f in findings)
        first = _rewrite(llm, "feature", problems, text)
        if first.value is None:
            failed += 1
            continue
        left = still_found(first.value, findings)
        best, best_left = first.value, left
        if left:
            again = _rewrite(llm, "feature", f"{problems}; a first rewrite was rejected: " + "; ".join(left), text)
            extra_seconds += again.record.latency_s
            if again.value is not None and len(still_found(again.value, findings)) < len(left):
                best, best_left = again.value, still_found(again.value, findings)
        had.update({f.criterion for f in findings})
        for name, warned in (("first", left), ("rechecked", best_left)):
            kept[name].update({w.split("'")[1] for w in warned})
        rows.append({"title": item["title"], "first": left, "rechecked": best_left, "rewrite": best.title})
        print(f"{item['title'][:60]!r}: first {len(left)}, rechecked {len(best_left)}", flush=True)
    summary = {
        "items": n,
        "rewrites": len(rows),
        "failed": failed,
        "still failing, first answer": sum(bool(r["first"]) for r in rows),
        "still failing, after one recheck": sum(bool(r["rechecked"]) for r in rows),
        "per criterion (items / first / rechecked)": {c: [had[c], kept["first"][c], kept["rechecked"][c]] for c in had},
        "recheck seconds": round(extra_seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary, indent=2))
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump({"split": split, "model": llm.model, "summary": summary, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "dev", int(sys.argv[2]) if len(sys.argv) > 2 else 12, *sys.argv[3:4])
