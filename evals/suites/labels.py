"""labels: labels from comparable items (`pipelines.labels`) on 1,584 Google Play reviews of 27 apps with manual topic
labels (Ciurumelea et al., SANER 2017): a review's labels are its topics (class1..class5: UI, ERROR, DEVICE,
BATTERY, ...), "OTHER" being none.

Per app, the reviews are taken in date order: the earlier half plays a team's labelled history and is indexed by the
duplicate detector as the service indexes a project's items; each review of the later half is searched as the
service searches an item (the hybrid score, the 75 best candidates, those with labels kept) and gets the labels its
comparables agree on. A review whose topics are only "OTHER" is a negative: any label suggested for it is a false
alarm. Metrics: precision, recall and F1 of the suggested labels (micro, over every suggested and true label),
reviews given a suggestion, and the share of negatives given one; next to a baseline in the same run (the history's
most frequent label suggested for every review). Dev: every app except Duck Duck GO and BatteryBot, which are held
out. `--calibrate` (dev) sweeps k and the share a label needs.
"""

from __future__ import annotations

import csv
import hashlib
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from evals.suites.ingest import GOLDEN, HELD_OUT
from evals.task import EvalError, EvalOptions, EvalResult, require_data
from pipelines.duplicates import Document, DuplicateDetector, load_calibration
from pipelines.embeddings import get_embedder
from pipelines.labels import MIN_SHARE, POOL, K, LabelledItem, suggest_labels
from pipelines.redact import redact
from pipelines.vectorstore import VectorStore, open_client

SUITE = "labels"
NEEDS_LLM = False
TOPICS = ("class1", "class2", "class3", "class4", "class5")
KS = (5, 10, 15, 20)
SHARES = (0.4, 0.5, 0.55, 0.6, 0.65, 0.7)
MIN_PRECISION = 0.7  # --calibrate: the highest F1 among the settings at least this precise


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%d/%m/%y")
    except ValueError:
        return datetime.min


def load_apps(split: str) -> dict[str, list[dict[str, Any]]]:
    """App -> its reviews in date order, each {"id", "text" (redacted), "labels"}."""
    apps: dict[str, list[dict[str, Any]]] = {}
    with open(GOLDEN, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if not row["reviewText"].strip() or (row["app"] in HELD_OUT) != (split == "test"):
                continue
            topics = {row[c].strip() for c in TOPICS} - {"", "OTHER"}
            apps.setdefault(row["app"], []).append(
                {"id": row["_id"], "text": redact(row["reviewText"]).text, "labels": sorted(topics),
                 "date": _date(row["date"])}
            )  # fmt: skip
    for reviews in apps.values():
        reviews.sort(key=lambda r: r["date"])
    return apps


def neighbours(app: str, reviews: list[dict[str, Any]], store_dir: Path) -> list[list[LabelledItem]]:
    """For each review of the app's later half, the labelled reviews of its earlier half the service would compare it
    with, best first."""
    half = len(reviews) // 2
    history, queries = reviews[:half], reviews[half:]
    embedder = get_embedder()
    name = f"labels-{hashlib.sha1(app.encode()).hexdigest()[:12]}"
    detector = DuplicateDetector(embedder, VectorStore(open_client(store_dir), embedder, name=name), load_calibration())
    detector.add([Document(id=str(n), title="", body=r["text"]) for n, r in enumerate(history)])
    found = detector.search_many([("", r["text"]) for r in queries], k=POOL)
    return [
        [
            LabelledItem(item_id=int(c.id), title=history[int(c.id)]["text"][:80],
                         labels=history[int(c.id)]["labels"], score=min(max(c.score, 0.0), 1.0))
            for c in candidates if history[int(c.id)]["labels"]
        ]
        for candidates in found
    ]  # fmt: skip


def _scores(counts: Counter) -> dict[str, float]:
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
        "items_suggested": counts["suggested"],
        "negatives_suggested": round(counts["negative_suggested"] / max(counts["negatives"], 1), 3),
    }


def _count(counts: Counter, suggested: set[str], truth: set[str]) -> None:
    counts["tp"] += len(suggested & truth)
    counts["fp"] += len(suggested - truth)
    counts["fn"] += len(truth - suggested)
    counts["suggested"] += bool(suggested)
    counts["negatives"] += not truth
    counts["negative_suggested"] += bool(suggested) and not truth


def run(options: EvalOptions) -> EvalResult:
    require_data(GOLDEN)
    if options.calibrate and options.split != "dev":
        raise EvalError("calibrate on the dev split only (--split dev); the held-out split is for reporting")
    started = time.perf_counter()
    grid = [(k, s) for k in KS for s in SHARES] if options.calibrate else [(K, MIN_SHARE)]
    counts = {setting: Counter() for setting in grid}
    baseline, rows = Counter(), []
    apps = load_apps(options.split)
    with tempfile.TemporaryDirectory(prefix="refinery-eval-") as store_dir:
        for done, (app, reviews) in enumerate(sorted(apps.items()), 1):
            half = len(reviews) // 2
            queries = reviews[half:]
            similar = neighbours(app, reviews, Path(store_dir))
            common = Counter(label for r in reviews[:half] for label in r["labels"]).most_common(1)
            app_counts = Counter()
            for review, found in zip(queries, similar, strict=True):
                truth = set(review["labels"])
                for k, share in grid:
                    made = suggest_labels(found, k=k, min_share=share)
                    suggested = {v.label for v in made.labels} if made else set()
                    _count(counts[(k, share)], suggested, truth)
                    if (k, share) == (K, MIN_SHARE):
                        _count(app_counts, suggested, truth)
                _count(baseline, {common[0][0]} if common else set(), truth)
            if (K, MIN_SHARE) in counts:
                rows.append({"app": app, "history": half, "queries": len(queries), **_scores(app_counts)})
            options.log(f"{app}: {half} reviews labelled, {len(queries)} suggested for")
            options.on_sample(done, len(apps))
    chosen = counts.get((K, MIN_SHARE))
    summary: dict[str, Any] = {
        "apps": len(apps),
        "reviews_suggested_for": sum(len(r) - len(r) // 2 for r in apps.values()),
        **({"labels": _scores(chosen)} if chosen else {}),
        "most_frequent_label_baseline": _scores(baseline),
        "k": K,
        "min_share": MIN_SHARE,
        "seconds": round(time.perf_counter() - started, 1),
    }
    notes = []
    if options.calibrate:
        scored = {setting: _scores(c) for setting, c in counts.items()}
        precise = [s for s in grid if scored[s]["precision"] >= MIN_PRECISION]
        ranked = sorted(precise, key=lambda s: -scored[s]["f1"]) + sorted(
            (s for s in grid if s not in precise), key=lambda s: -scored[s]["precision"]
        )
        for k, share in ranked:
            notes.append(f"k={k} min_share={share}: {scored[(k, share)]}")
        if ranked:
            summary["best"] = {"k": ranked[0][0], "min_share": ranked[0][1]}
    meta = options.meta(dataset="app_reviews golden_set", history="each app's earlier half", queries="its later half")
    return EvalResult(suite=SUITE, meta=meta, summary=summary, samples=rows, notes=notes)
