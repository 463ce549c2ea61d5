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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rank_bm25 import BM25Okapi
from sklearn.linear_model import LogisticRegression

from evals.bug_reports import BugReport, DuplicateCorpus, load_corpus
from evals.task import EvalError, EvalOptions, EvalResult
from pipelines.duplicates import (
    BACKGROUND,
    CALIBRATION_FILE,
    Candidate,
    Decision,
    Document,
    DuplicateCalibration,
    DuplicateDetector,
    judge,
    lexical_text,
    load_calibration,
)
from pipelines.embeddings import Embedder, get_embedder
from pipelines.vectorstore import VectorStore, open_client

SUITE = "duplicates"
NEEDS_LLM = False
KS = (1, 5, 10)
WEIGHTS = tuple(round(w, 1) for w in np.arange(0.0, 1.01, 0.1))
FLAGGED = ("duplicate", "related")
DECISIONS = (0, 20, 50, 100)
SHOWN = 3  # candidates a simulated reviewer decides on per report


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


def verdicts(candidates: list[Candidate], calibration: DuplicateCalibration) -> list[Candidate]:
    """A query's candidates rescored, ranked and judged under `calibration` (its weight and both stages), as the
    detector does; `candidates` must be the query's whole list (the second stage reads ranks 6-20)."""
    w = calibration.semantic_weight
    rescored = sorted(
        (replace(c, score=round(w * c.semantic + (1 - w) * c.lexical, 4)) for c in candidates),
        key=lambda c: (-c.score, c.id),
    )
    return judge(rescored, calibration)


def flag_metrics(
    results: dict[str, list[Candidate]],
    groups: dict[str, set[str]],
    calibration: DuplicateCalibration,
    queries: list[str],
    depth: int = 1,
    flag: tuple[str, ...] = ("duplicate",),
) -> dict[str, float]:
    """Precision and recall of the verdicts in `flag` over the first `depth` candidates of each query. With depth 1
    and `duplicate` this is the merge suggestion (made for the best candidate only). Recall counts every known
    duplicate pair of the queries (for depth 1: every query with a duplicate), found or not."""
    flagged = correct = 0
    for query in queries:
        for candidate in verdicts(results[query], calibration)[:depth]:
            if candidate.verdict in flag:
                flagged += 1
                correct += candidate.id in groups.get(query, set())
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
    results: dict[str, list[Candidate]], groups: dict[str, set[str]], name: str, precision_target: float = 0.75
) -> DuplicateCalibration:
    """Fit on the reports known to have a duplicate (elsewhere the links are incomplete): the blend weight with
    the best recall@10 (then MAP); `related` at the F2-best score threshold (recall counts four times precision)
    over the top-10 candidates; the second stage as a logistic regression of "a candidate among the first `SHOWN`
    is a known duplicate" on how far it stands out and whether it is the best; and `duplicate` at the lowest
    probability whose best candidates are known duplicates at least `precision_target` of the time (0.75: a margin
    over the 0.7 wanted on other trackers)."""
    queries = [q for q in results if groups.get(q)]

    def quality(weight: float) -> tuple[float, float]:
        metrics = rank_metrics({q: [d for _, d in _reblend(results[q], weight)] for q in queries}, groups)
        return metrics["recall@10"], metrics["MAP"]

    weight = max(WEIGHTS, key=quality)
    base = DuplicateCalibration(semantic_weight=weight, related_threshold=0.0)
    ranked = {q: verdicts(results[q], base) for q in queries}
    thresholds = [round(t, 2) for t in np.arange(0.2, 0.96, 0.01)]
    top10 = {
        t: flag_metrics(results, groups, base.model_copy(update={"related_threshold": t}), queries, 10, FLAGGED)
        for t in thresholds
    }
    related = float(max(top10, key=lambda t: (_f_beta(top10[t], 2), t)))
    backgrounds = [np.array([c.score for c in ranked[q][BACKGROUND]]) for q in queries]
    shown = [c for q in queries for c in ranked[q][:SHOWN]]
    features = np.array([[c.stand_out.z, c.stand_out.gap, c.stand_out.rank > 0] for c in shown])
    labels = np.array([c.id in groups[q] for q in queries for c in ranked[q][:SHOWN]])
    model = LogisticRegression(max_iter=1000).fit(features, labels)
    fitted = base.model_copy(
        update={
            "related_threshold": related,
            "z_weight": round(float(model.coef_[0][0]), 4),
            "gap_weight": round(float(model.coef_[0][1]), 4),
            "later_weight": round(float(model.coef_[0][2]), 4),
            "intercept": round(float(model.intercept_[0]), 4),
            "reference_mean": round(float(np.median([b.mean() for b in backgrounds])), 4),
            "reference_sd": round(float(np.median([b.std() for b in backgrounds])), 4),
        }
    )
    cuts = [round(t, 2) for t in np.arange(0.3, 0.96, 0.01)]
    top1 = {
        t: flag_metrics(results, groups, fitted.model_copy(update={"duplicate_probability": t}), queries) for t in cuts
    }
    cut = float(
        min((t for t in cuts if top1[t]["precision"] >= precision_target and top1[t]["flagged"] >= 10), default=0.95)
    )
    return fitted.model_copy(
        update={
            "duplicate_probability": cut,
            "measured_on": f"{name} (dev): best candidate of each report with a known duplicate",
            "duplicate_precision": top1[cut]["precision"],
            "duplicate_recall": top1[cut]["recall"],
            "related_recall": top10[related]["recall"],
        }
    )


def score_only(
    results: dict[str, list[Candidate]],
    groups: dict[str, set[str]],
    queries: list[str],
    everyone: list[str],
    calibration: DuplicateCalibration,
) -> dict[str, Any]:
    """The old one-stage verdict in the same run, for comparison: `duplicate` when the best candidate's score
    reaches the score threshold calibrated on the dev split before the second stage existed (still used where a
    query has too few candidates to measure how far one stands out: `small_index_threshold`)."""
    old = calibration.small_index_threshold

    best = {q: _reblend(candidates, calibration.semantic_weight)[0] for q, candidates in results.items()}

    def metrics(among: list[str]) -> dict[str, float]:
        flagged = [q for q in among if best[q][0] >= old]
        correct = sum(best[q][1] in groups.get(q, set()) for q in flagged)
        wanted = sum(1 for q in among if groups.get(q))
        return {"precision": round(correct / len(flagged), 3) if flagged else 1.0,
                "recall": round(correct / wanted, 3) if wanted else 0.0, "flagged": len(flagged)}  # fmt: skip

    return {"threshold": old, "reports_with_a_duplicate": metrics(queries),
            "all_reports": metrics(everyone)}  # fmt: skip


def _created(text: str) -> datetime:
    """A report's creation time: Jira's "30/Sep/21 17:20" or Bugzilla's ISO 8601."""
    try:
        return datetime.strptime(text.strip(), "%d/%b/%y %H:%M").replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromisoformat(text.strip())


def reviewer_curve(
    corpus: DuplicateCorpus, results: dict[str, list[Candidate]], calibration: DuplicateCalibration
) -> dict[str, Any]:
    """How the `duplicate` verdict moves as reviewers decide. The tracker is split by creation time: in the first
    half a simulated reviewer goes through the reports known to have a duplicate, in report order, and decides on
    each of their first `SHOWN` candidates that is shown (verdict duplicate: a merge to accept or reject; related:
    listed, to mark a duplicate or not), saying "same" exactly for a known duplicate link. Only those reports: on
    the others the links are incomplete, so "not the same" would often be wrong. A second, stricter reviewer also
    rejects every merge proposed on the other reports (`with_every_proposed_merge`). The verdict is then measured on
    the second half's reports with a known duplicate after the first 0, 20, 50, 100 and all decisions."""
    order = sorted(corpus.reports, key=lambda r: _created(r.created))
    first_half = order[: len(order) // 2]
    half = {r.id for r in first_half}
    reported = [q for q in corpus.queries if q not in half]
    linked_only = _decisions(corpus, first_half, results, calibration, every_merge=False)
    every_merge = _decisions(corpus, first_half, results, calibration, every_merge=True)
    return {
        "reviewer_half_reports": len(half),
        "reported_queries": len(reported),
        "decisions_available": len(linked_only),
        **_curve(corpus, results, calibration, linked_only, reported),
        "with_every_proposed_merge": {
            "decisions_available": len(every_merge),
            **_curve(corpus, results, calibration, every_merge, reported),
        },
    }


def _decisions(
    corpus: DuplicateCorpus,
    reports: list[BugReport],
    results: dict[str, list[Candidate]],
    calibration: DuplicateCalibration,
    every_merge: bool,
) -> list[Decision]:
    """The simulated reviewer's decisions, report by report: the shown candidates of reports with a known duplicate;
    with `every_merge`, also every merge proposed on the other reports, rejected ("not the same": the tracker links
    none, though some unlinked pairs are real duplicates, so this reviewer is stricter than a real one)."""
    decided = []
    for report in reports:
        same = corpus.groups.get(report.id, set())
        for candidate in verdicts(results[report.id], calibration)[:SHOWN]:
            if (same and candidate.verdict != "distinct") or (every_merge and candidate.verdict == "duplicate"):
                decided.append(Decision(stand_out=candidate.stand_out, same=candidate.id in same))
    return decided


def _curve(
    corpus: DuplicateCorpus,
    results: dict[str, list[Candidate]],
    calibration: DuplicateCalibration,
    decided: list[Decision],
    reported: list[str],
) -> dict[str, Any]:
    curve = {}
    for n in sorted({min(n, len(decided)) for n in (*DECISIONS, len(decided))}):
        learned = calibration.recalibrated(decided[:n])
        curve[f"after_{n}_decisions"] = {
            **flag_metrics(results, corpus.groups, learned, reported),
            "same_in_decisions": sum(d.same for d in decided[:n]),
            "slope": learned.decision_slope,
            "offset": learned.decision_offset,
        }
    return curve


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
    verdict_metrics = {  # the verdicts over the best candidate (or the top 10) of which reports
        "duplicate_on_reports_with_a_duplicate": {
            "probability": calibration.duplicate_probability,
            **flag_metrics(results, corpus.groups, calibration, queries),
        },
        "duplicate_on_all_reports": {
            "probability": calibration.duplicate_probability,
            **flag_metrics(results, corpus.groups, calibration, everyone),
        },
        "related_or_duplicate_top10": {
            "threshold": calibration.related_threshold,
            **flag_metrics(results, corpus.groups, calibration, queries, depth=10, flag=FLAGGED),
        },
        "score_threshold_only": score_only(results, corpus.groups, queries, everyone, calibration),
        "reviewer_decisions": reviewer_curve(corpus, results, calibration),
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
        summary={**methods, **verdict_metrics},
        notes=[
            f"{len(corpus.queries)} queries, {len(corpus.reports)} reports. duplicate_on_all_reports is a lower bound:"
            f" the trackers' duplicate links are incomplete. Semantic weight {w}; calibrated on "
            f"{calibration.measured_on}. Index {timings['index_s']} s, search {timings['search_all_s']} s."
        ],
    )
