"""duplicates: each bug report with a known duplicate is a query against all other reports of its tracker.

Measured in one run on the same files: a plain BM25 baseline, embeddings alone (exact cosine), and the hybrid
detector as the service runs it (Chroma + TF-IDF, `pipelines.duplicates`). Metrics: recall@1/5/10, MAP (over the
top 100), and precision/recall of the `duplicate` verdict over the top-10 candidates of every report.
`--calibrate` (dev split only) chooses the blend weight and the verdict thresholds and writes them for the
pipeline to use.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi

from evals.bug_reports import DuplicateCorpus, load_corpus
from evals.task import EvalError, EvalOptions, EvalResult
from pipelines.duplicates import (
    CALIBRATION_FILE,
    Candidate,
    Document,
    DuplicateCalibration,
    DuplicateDetector,
    lexical_text,
    load_calibration,
)
from pipelines.embeddings import Embedder, get_embedder
from pipelines.vectorstore import VectorStore, open_client

SUITE = "duplicates"
NEEDS_LLM = False
KS = (1, 5, 10)
WEIGHTS = tuple(round(w, 1) for w in np.arange(0.0, 1.01, 0.1))


def rank_metrics(rankings: dict[str, list[str]], groups: dict[str, set[str]]) -> dict[str, float]:
    """recall@k (a duplicate within the first k) and mean average precision over each query's ranking."""
    hits = {k: 0 for k in KS}
    average_precisions = []
    for query, ranking in rankings.items():
        relevant = groups[query]
        ranks = [i for i, doc in enumerate(ranking) if doc in relevant]
        for k in KS:
            hits[k] += bool(ranks) and ranks[0] < k
        average_precisions.append(sum((j + 1) / (r + 1) for j, r in enumerate(ranks)) / len(relevant))
    n = len(rankings)
    return {**{f"recall@{k}": round(hits[k] / n, 3) for k in KS}, "MAP": round(float(np.mean(average_precisions)), 3)}


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_]+", text.lower())


def bm25_rankings(corpus: DuplicateCorpus, depth: int = 100) -> dict[str, list[str]]:
    """Plain BM25 (Okapi, rank-bm25) on summary + description."""
    ids = [r.id for r in corpus.reports]
    documents = [_tokens(lexical_text(r.title, r.description)) for r in corpus.reports]
    index = BM25Okapi(documents)
    rankings = {}
    for query in corpus.queries:
        scores = index.get_scores(documents[ids.index(query)])
        rankings[query] = [ids[i] for i in np.argsort(-scores)[: depth + 1] if ids[i] != query][:depth]
    return rankings


def embedding_rankings(corpus: DuplicateCorpus, store: VectorStore, depth: int = 100) -> dict[str, list[str]]:
    """Embeddings alone: exact cosine of the title + cleaned body vectors (numpy, no index)."""
    ids = [r.id for r in corpus.reports]
    stored = store.vectors("full", ids)
    matrix = np.stack([stored[i] for i in ids])
    rankings = {}
    for query in corpus.queries:
        scores = matrix @ stored[query]
        rankings[query] = [ids[i] for i in np.argsort(-scores)[: depth + 1] if ids[i] != query][:depth]
    return rankings


def _reblend(candidates: list[Candidate], weight: float) -> list[tuple[float, str]]:
    return sorted(((weight * c.semantic + (1 - weight) * c.lexical, c.id) for c in candidates), key=lambda s: -s[0])


def flag_metrics(
    results: dict[str, list[Candidate]],
    groups: dict[str, set[str]],
    weight: float,
    threshold: float,
    queries: list[str],
    depth: int = 1,
) -> dict[str, float]:
    """Precision and recall of `score >= threshold` over the first `depth` candidates of each query. With depth 1
    this is the merge suggestion (made for the best candidate only). Recall counts every known duplicate pair of
    the queries (for depth 1: every query with a duplicate), found or not."""
    flagged = correct = 0
    for query in queries:
        for score, doc in _reblend(results[query], weight)[:depth]:
            if score >= threshold:
                flagged += 1
                correct += doc in groups.get(query, set())
    wanted = sum(min(depth, len(groups[q])) if depth == 1 else len(groups[q]) for q in queries if groups.get(q))
    return {
        "precision": round(correct / flagged, 3) if flagged else 1.0,
        "recall": round(correct / wanted, 3) if wanted else 0.0,
        "flagged": flagged,
    }


def _f_beta(metrics: dict[str, float], beta: float) -> float:
    p, r = metrics["precision"], metrics["recall"]
    return (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0


def calibrate(
    results: dict[str, list[Candidate]], groups: dict[str, set[str]], name: str, precision_target: float = 0.7
) -> DuplicateCalibration:
    """Blend weight with the best recall@10 (then MAP). Thresholds are set on the reports known to have a
    duplicate (elsewhere the links are incomplete): `duplicate` at the lowest threshold whose best candidate is a
    known duplicate at least `precision_target` of the time; `related` at the F2-best threshold (recall counts
    four times precision) over the top-10 candidates."""
    queries = [q for q in results if groups.get(q)]

    def quality(weight: float) -> tuple[float, float]:
        metrics = rank_metrics({q: [d for _, d in _reblend(results[q], weight)] for q in queries}, groups)
        return metrics["recall@10"], metrics["MAP"]

    weight = max(WEIGHTS, key=quality)
    thresholds = [round(t, 2) for t in np.arange(0.2, 0.96, 0.01)]
    top1 = {t: flag_metrics(results, groups, weight, t, queries) for t in thresholds}
    duplicate = min(
        (t for t in thresholds if top1[t]["precision"] >= precision_target and top1[t]["flagged"] >= 10),
        default=thresholds[-1],
    )
    top10 = {t: flag_metrics(results, groups, weight, t, queries, depth=10) for t in thresholds if t < duplicate}
    related = max(top10, key=lambda t: (_f_beta(top10[t], 2), t))
    return DuplicateCalibration(
        semantic_weight=weight,
        duplicate_threshold=duplicate,
        related_threshold=related,
        measured_on=f"{name} (dev): best candidate of each report with a known duplicate",
        duplicate_precision=top1[duplicate]["precision"],
        duplicate_recall=top1[duplicate]["recall"],
        related_recall=top10[related]["recall"],
    )


def build_detector(
    corpus: DuplicateCorpus, embedder: Embedder, store_dir: Path, calibration: DuplicateCalibration
) -> DuplicateDetector:
    store = VectorStore(open_client(store_dir), embedder, name=f"eval-{corpus.name.lower()}")
    detector = DuplicateDetector(embedder, store, calibration)
    detector.add([Document(id=r.id, title=r.title, body=r.description) for r in corpus.reports], show_progress=True)
    return detector


def run(options: EvalOptions) -> EvalResult:
    """Run the three methods on one split (`limit`: its first reports); with `calibrate` (dev only) store a new
    calibration first."""
    split, write_calibration, log = options.split, options.calibrate, options.log
    if write_calibration and split != "dev":
        raise EvalError("calibrate on the dev split only (--split dev); the held-out split is for reporting")
    try:
        corpus = load_corpus(split)
    except FileNotFoundError as exc:
        raise EvalError(str(exc)) from exc
    if options.limit:
        corpus.reports = corpus.reports[: options.limit]
        kept = {r.id for r in corpus.reports}
        corpus.groups = {q: g & kept for q, g in corpus.groups.items() if q in kept and g & kept}
    log(f"{corpus.name}: {len(corpus.reports)} reports, {len(corpus.queries)} queries with a duplicate")
    embedder = get_embedder()
    timings = {}
    with tempfile.TemporaryDirectory(prefix="refinery-eval-") as store_dir:
        started = time.perf_counter()
        detector = build_detector(corpus, embedder, Path(store_dir), load_calibration())
        timings["index_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        ids = [r.id for r in corpus.reports]
        found = detector.search_many(
            [(r.title, r.description) for r in corpus.reports], k=100, exclude=[{i} for i in ids]
        )
        timings["search_all_s"] = round(time.perf_counter() - started, 1)
        results = dict(zip(ids, found, strict=True))
        calibration = calibrate(results, corpus.groups, corpus.name) if write_calibration else detector.calibration
        if write_calibration:
            CALIBRATION_FILE.write_text(calibration.model_dump_json(indent=2) + "\n")
            log(f"wrote {CALIBRATION_FILE}")
        w = calibration.semantic_weight
        methods = {
            "bm25": rank_metrics(bm25_rankings(corpus), corpus.groups),
            "embeddings": rank_metrics(embedding_rankings(corpus, detector.store), corpus.groups),
            "hybrid": rank_metrics({q: [d for _, d in _reblend(results[q], w)] for q in corpus.queries}, corpus.groups),
        }
    queries, everyone = corpus.queries, list(results)
    duplicate, related = calibration.duplicate_threshold, calibration.related_threshold
    verdicts = {  # the verdict at its threshold, over the best candidate (or the top 10) of which reports
        "duplicate_on_reports_with_a_duplicate": {
            "threshold": duplicate,
            **flag_metrics(results, corpus.groups, w, duplicate, queries),
        },
        "duplicate_on_all_reports": {
            "threshold": duplicate,
            **flag_metrics(results, corpus.groups, w, duplicate, everyone),
        },
        "related_or_duplicate_top10": {
            "threshold": related,
            **flag_metrics(results, corpus.groups, w, related, queries, depth=10),
        },
    }
    meta = options.meta(
        dataset=corpus.name,
        reports=len(corpus.reports),
        queries=len(corpus.queries),
        embedding_model=embedder.model_name,
        calibration=calibration.model_dump(),
        timings=timings,
    )
    return EvalResult(
        suite=SUITE,
        meta=meta,
        summary={**methods, **verdicts},
        notes=[
            f"{len(corpus.queries)} queries, {len(corpus.reports)} reports. duplicate_on_all_reports is a lower bound:"
            f" the trackers' duplicate links are incomplete. Semantic weight {w}; calibrated on "
            f"{calibration.measured_on}. Index {timings['index_s']} s, search {timings['search_all_s']} s."
        ],
    )
