"""dependencies: does prioritization invent prerequisites between items that have none?

A hand-made backlog per split (written for this eval; no item of one split is in the other): unrelated items,
where no dependency is known, and a few that name another item by its key or its title, where one is. Each item is
estimated as the service does it, with the rest of the backlog listed as the items it may depend on. Scored: the
share of items with no known dependency for which the model proposed one (`invented_raw`, its own answer) and for
which one survives the evidence rule (`invented`, what a reviewer sees; goal 0), and the share of the known ones
kept (`named_kept`)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from evals.task import EvalOptions, EvalResult
from pipelines.prioritization import estimate_inputs

SUITE = "dependencies"
NEEDS_LLM = True
# (key, type, title, description, key of the item it depends on or None)
BACKLOGS: dict[str, list[tuple[str, str, str, str, str | None]]] = {
    "dev": [
        ("D-1", "feature", "Export invoices as PDF", "Customers want a PDF of each invoice for accounting.", None),
        ("D-2", "bug", "Search ignores accented letters", "Searching 'cafe' does not find 'Café'.", None),
        ("D-3", "feature", "Weekly summary email", "Send each manager a summary of the week's orders.", None),
        ("D-4", "bug", "Session expires during long forms", "Users lose what they typed after 15 minutes.", None),
        ("D-5", "tech_debt", "Move the email sender to the new queue", "The old cron sender drops mails.", None),
        ("D-6", "feature", "Unsubscribe link in the weekly summary",
         "Once D-3 exists, every summary needs a one-click unsubscribe link.", "D-3"),
    ],
    "test": [
        ("T-1", "bug", "Checkout fails with a 500 error, orders are lost",
         "Since Tuesday about 3% of checkouts fail and the order is not saved.", None),
        ("T-2", "feature", "Dark mode", "A dark theme for reading at night.", None),
        ("T-3", "bug", "Fix typo in the footer", "'Privcy policy' should read 'Privacy policy'.", None),
        ("T-4", "feature", "Sign in with Google", "Let users sign in with their Google account.", None),
        ("T-5", "bug", "Push notifications arrive twice", "Every reminder is delivered two times on Android.", None),
        ("T-6", "feature", "Bulk edit of product prices", "Shop owners want to change many prices at once.", None),
        ("T-7", "tech_debt", "Upgrade the image library", "The resize library is three major versions behind.", None),
        ("T-8", "bug", "Map does not show the current location", "The blue dot is missing on iOS 18.", None),
        ("T-9", "feature", "Photo filters on upload", "Needs the new resize pipeline from Upgrade the image library.",
         "T-7"),
        ("T-10", "feature", "Remember the chosen theme per device",
         "After T-2 ships, store each device's theme choice.", "T-2"),
    ],
}  # fmt: skip


def run(options: EvalOptions) -> EvalResult:
    llm = options.require_llm(SUITE)
    backlog = BACKLOGS["dev" if options.split == "dev" else "test"][: options.limit]
    ids = {key: n for n, (key, *_) in enumerate(backlog, 1)}
    rows = []
    for n, (key, item_type, title, description, needs) in enumerate(backlog, 1):
        others = [(ids[k], t, k) for k, _, t, _, _ in backlog if k != key]
        result = estimate_inputs(llm, title, item_type, description, others=others)
        raw: list[Any] = []
        with contextlib.suppress(ValueError, AttributeError):  # no answer, or not an object: nothing proposed
            raw = list(json.loads(result.raw or "{}").get("depends_on") or [])
        rows.append({
            "key": key, "title": title, "known": ids.get(needs) if needs else None, "raw": raw,
            "kept": result.value.depends_on if result.value is not None else None, "error": result.error,
            "warnings": result.warnings, "latency_s": result.record.latency_s,
        })  # fmt: skip
        options.log(f"{n}/{len(backlog)} {key}: model {raw}, kept {rows[-1]['kept']}")
        options.on_sample(n, len(backlog))
    valid = [r for r in rows if r["kept"] is not None]
    unrelated = [r for r in valid if r["known"] is None]
    named = [r for r in valid if r["known"] is not None]
    summary = {
        "items": len(rows),
        "valid": len(valid),
        "no_known_dependency": len(unrelated),
        "invented_raw": round(sum(bool(r["raw"]) for r in unrelated) / max(1, len(unrelated)), 3),
        "invented": round(sum(bool(r["kept"]) for r in unrelated) / max(1, len(unrelated)), 3),
        "named": len(named),
        "named_kept": round(sum(r["known"] in r["kept"] for r in named) / max(1, len(named)), 3),
    }
    return EvalResult(SUITE, options.meta(), summary, rows)
