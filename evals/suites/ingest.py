"""ingest: real app reviews (Ciurumelea et al., SANER 2017) -> triage -> themes -> drafted stories.

Per app: the reviews are parsed by the real parser, redacted, embedded, classified, and the bugs, feature
requests and questions clustered into themes (`pipelines.triage`). Theme quality is scored against the manual
topic labels (`class1`): purity, NMI and ARI over the reviews placed in a theme, per app, weighted by size; a
one-theme-per-app baseline is scored in the same run. With an LLM, each theme is drafted once
(`pipelines.themes`), the quotes it returns are checked against the reviews, and the drafts warned of a number or
name the reviews do not give are counted. Dev: every app except the two
held out; test: "Duck Duck GO" and "BatteryBot Battery Indicator", reported separately.
"""

from __future__ import annotations

import csv
import random
import time
from collections import Counter
from typing import Any

from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from evals.bug_reports import DATA_DIR
from evals.task import EvalError, EvalOptions, EvalResult
from pipelines.drafting import UNSUPPORTED
from pipelines.embeddings import get_embedder
from pipelines.redact import redact
from pipelines.themes import draft_theme
from pipelines.tickets import parse_tickets
from pipelines.triage import THEME_DISTANCE, THEMED, TicketClassifier, attach_leftovers, cluster_themes

SUITE = "ingest"
NEEDS_LLM = True  # unless --no-llm: the clustering alone
DISTANCE = THEME_DISTANCE  # where the clustering is cut (cosine distance), as in the service by default
MIN_SIZE = 3  # smaller clusters are not themes
HELD_OUT = ("Duck Duck GO", "BatteryBot Battery Indicator")
GOLDEN = DATA_DIR / "app_reviews" / "golden_set.csv"


def load_apps(split: str) -> dict[str, list[tuple[str, str]]]:
    """App -> [(redacted review text, manual topic label)], parsed from the file as an upload would be."""
    with open(GOLDEN, newline="", encoding="utf-8") as handle:
        meta = {row["_id"]: (row["app"], row["class1"]) for row in csv.DictReader(handle)}
    parsed = parse_tickets(GOLDEN.read_bytes(), GOLDEN.name)
    apps: dict[str, list[tuple[str, str]]] = {}
    for ticket in parsed.tickets:
        app, label = meta[ticket.external_id or ""]
        if (app in HELD_OUT) == (split == "test"):
            apps.setdefault(app, []).append((redact(ticket.text).text, label or "OTHER"))
    return apps


def theme_scores(labels: list[str], assignment: list[int]) -> dict[str, float]:
    groups: dict[int, list[str]] = {}
    for label, theme in zip(labels, assignment, strict=True):
        groups.setdefault(theme, []).append(label)
    majority = sum(Counter(g).most_common(1)[0][1] for g in groups.values())
    return {
        "purity": majority / len(labels),
        "nmi": normalized_mutual_info_score(labels, assignment),
        "ari": adjusted_rand_score(labels, assignment),
    }


def chance_purity(labels: list[str], pool: list[str], assignment: list[int], draws: int = 20) -> float:
    """The purity the same theme sizes get when filled with reviews drawn at random from `pool` (the app's themed
    reviews), averaged over seeded draws: what small themes score by chance alone."""
    rng = random.Random(0)
    return sum(theme_scores(rng.sample(pool, len(labels)), assignment)["purity"] for _ in range(draws)) / draws


def _weighted(rows: list[dict[str, Any]], key: str, metric: str) -> float:
    total = sum(r["clustered"] for r in rows)
    return round(sum(r[key][metric] * r["clustered"] for r in rows) / total, 3) if total else float("nan")


def run(options: EvalOptions) -> EvalResult:
    """Score themes per app; with an LLM (and `use_llm`), draft every theme once and check its quotes. `limit` does
    not apply."""
    split, distance, min_size = options.split, DISTANCE, MIN_SIZE
    llm = options.llm if options.use_llm else None
    if not GOLDEN.is_file():
        raise EvalError(f"{GOLDEN} not found; set REFINERY_SHARED_DATA to shared/data")
    apps = load_apps(split)
    embedder = get_embedder()
    classifier = TicketClassifier(embedder)
    per_app = []
    quotes_kept = quotes_total = llm_calls = failed = tickets_seen = unsupported = 0
    llm_seconds = 0.0
    for done, (app, reviews) in enumerate(apps.items(), 1):
        texts = [text for text, _ in reviews]
        tickets_seen += len(texts)
        vectors = embedder.encode(texts)
        categories = classifier.classify(texts, vectors)
        themed = [i for i, (category, _) in enumerate(categories) if category in THEMED]
        themes = (
            attach_leftovers(vectors[themed], cluster_themes(vectors[themed], distance, min_size)) if themed else []
        )
        members = [(themed[m], t) for t, theme in enumerate(themes) for m in theme.members]
        row: dict[str, Any] = {
            "app": app,
            "reviews": len(texts),
            "themed": len(themed),
            "themes": len(themes),
            "clustered": len(members),
            "attached": sum(t.attached for t in themes),
            "categories": dict(Counter(c for c, _ in categories)),
        }
        if members:
            labels, assignment = [reviews[i][1] for i, _ in members], [t for _, t in members]
            row["themes_scores"] = theme_scores(labels, assignment)
            row["one_theme_baseline"] = theme_scores(labels, [0] * len(labels))
            row["chance"] = {"purity": chance_purity(labels, [reviews[i][1] for i in themed], assignment)}
        if llm is not None:
            for theme in themes:
                theme_texts = [texts[themed[m]] for m in theme.members]
                started = time.perf_counter()
                result = draft_theme(llm, theme_texts, len(theme_texts), app)
                llm_seconds += time.perf_counter() - started
                llm_calls += result.record.attempts
                if result.value is None:
                    failed += 1
                    continue
                dropped = sum("quote not found" in w for w in result.warnings)
                unsupported += any(UNSUPPORTED in w for w in result.warnings)
                quotes_kept += len(result.value.quotes)
                quotes_total += len(result.value.quotes) + dropped
        options.log(f"{app}: {len(texts)} reviews, {len(themed)} themed, {len(themes)} themes")
        per_app.append(row)
        options.on_sample(done, len(apps))
    scored = [r for r in per_app if r["clustered"]]
    summary = {
        "apps": len(per_app),
        "reviews": tickets_seen,
        "themes": sum(r["themes"] for r in per_app),
        "coverage": round(sum(r["clustered"] for r in per_app) / max(1, sum(r["themed"] for r in per_app)), 3),
        "attached": sum(r["attached"] for r in per_app),
        "unthemed": sum(r["themed"] - r["clustered"] for r in per_app),
        **{f"{m}": _weighted(scored, "themes_scores", m) for m in ("purity", "nmi", "ari")},
        **{f"baseline_{m}": _weighted(scored, "one_theme_baseline", m) for m in ("purity", "nmi", "ari")},
        "chance_purity": _weighted(scored, "chance", "purity"),
    }
    if llm is not None:
        summary |= {
            "llm_calls": llm_calls,
            "llm_calls_per_1000_tickets": round(1000 * llm_calls / max(1, tickets_seen), 1),
            "quotes_verified_share": round(quotes_kept / quotes_total, 3) if quotes_total else None,
            "quotes_kept": quotes_kept,
            "failed_drafts": failed,
            "drafts_stating_unsupported_details": unsupported,  # a number or name no ticket shown gives (warned)
            "llm_seconds_per_theme": round(llm_seconds / max(1, summary["themes"]), 1),
        }
    meta = options.meta(dataset=GOLDEN.name, distance=distance, min_size=min_size)
    if llm is None:
        meta |= {"provider": None, "model": None}
    return EvalResult(suite=SUITE, meta=meta, summary=summary, samples=per_app)
