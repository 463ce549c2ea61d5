"""Ingest 1,000 and 10,000 tickets on this machine, stage by stage, against one-LLM-call-per-ticket.

Tickets are real texts from shared/data (app reviews, Hadoop and SeaMonkey bug reports, user stories; 6,8xx
distinct texts, repeated with new ids to reach 10,000). The parse, redact, embed, classify and cluster stages are
timed in full. The LLM stage (one `draft_theme` call per theme, local model) is timed on a sample of themes and
multiplied by the number of themes; the naive baseline (one `draft_story` call per ticket) is timed on a sample
of tickets in the same run and multiplied by the number of tickets. Both estimates are labelled as such.
Run: .venv/bin/python -m bench.bench_ingest [--sizes 1000 10000] [--sample 3]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from evals.bug_reports import DATA_DIR, load_corpus
from pipelines.drafting import draft_story
from pipelines.embeddings import get_embedder
from pipelines.llm import LLMConfig, build_llm
from pipelines.redact import redact
from pipelines.themes import draft_theme
from pipelines.tickets import parse_tickets
from pipelines.triage import THEMED, TicketClassifier, cluster_themes

RESULTS = Path(__file__).parent / "results" / "bench_ingest.md"
MODEL_DIR = Path(__file__).resolve().parents[1] / "data"


def real_texts() -> list[str]:
    with open(DATA_DIR / "app_reviews" / "golden_set.csv", newline="", encoding="utf-8") as handle:
        texts = [row["reviewText"] for row in csv.DictReader(handle)]
    for split in ("dev", "test"):
        texts += [f"{r.title}\n{r.description[:400]}" for r in load_corpus(split).reports]
    stories = (DATA_DIR / "user_stories" / "dalpiaz_global.txt").read_text(encoding="utf-8").splitlines()
    texts += [line.split("#", 2)[-1].strip() for line in stories]
    return [t for t in texts if t.strip()]


def tickets_file(texts: list[str], n: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "subject", "description", "created_at", "requester"])
    for i in range(n):
        writer.writerow([f"T{i}", "", texts[i % len(texts)], f"2026-{1 + i % 12:02d}-01", f"c{i % 997}"])
    return out.getvalue().encode()


def timed(fn):  # noqa: ANN001, ANN201
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--sample", type=int, default=3, help="LLM calls timed per estimate")
    args = parser.parse_args()
    texts = real_texts()
    embedder = get_embedder()
    classifier = TicketClassifier(embedder)
    llm = build_llm(LLMConfig(provider="local", data_dir=MODEL_DIR, context_tokens=8192))
    draft_story(llm, "warm-up: load the model and evaluate the prompt prefix before anything is timed")
    rows = []
    for n in args.sizes:
        data = tickets_file(texts, n)
        parsed, parse_s = timed(lambda data=data: parse_tickets(data, "bench.csv"))
        redacted, redact_s = timed(lambda parsed=parsed: [redact(t.text).text for t in parsed.tickets])
        vectors, embed_s = timed(lambda redacted=redacted: embedder.encode(redacted))
        categories, classify_s = timed(
            lambda redacted=redacted, vectors=vectors: classifier.classify(redacted, vectors)
        )
        themed = [i for i, (category, _) in enumerate(categories) if category in THEMED]
        themes, cluster_s = timed(lambda themed=themed, vectors=vectors: cluster_themes(vectors[themed], min_size=3))
        theme_times = []
        for theme in themes[: args.sample]:
            members = [redacted[themed[m]] for m in theme.members]
            _, seconds = timed(lambda members=members: draft_theme(llm, members, len(members)))
            theme_times.append(seconds)
        naive_times = []
        for text in redacted[: args.sample]:
            _, seconds = timed(lambda text=text: draft_story(llm, text[:2000]))
            naive_times.append(seconds)
        llm_s = median(theme_times) * len(themes) if theme_times else 0.0
        naive_s = median(naive_times) * len(parsed.tickets)
        fixed = parse_s + redact_s + embed_s + classify_s + cluster_s
        rows.append(
            f"| {n:,} | {parse_s:.1f} | {redact_s:.1f} | {embed_s:.1f} | {classify_s:.1f} | {cluster_s:.1f} | "
            f"{len(themed):,} | {len(themes)} | {median(theme_times):.0f} | {llm_s / 60:.0f} | "
            f"{(fixed + llm_s) / 60:.0f} | {n / (fixed + llm_s):.2f} | {len(parsed.tickets):,} | "
            f"{median(naive_times):.0f} | {naive_s / 3600:.1f} | {naive_s / (fixed + llm_s):.0f}x |"
        )
    lines = [
        f"# bench_ingest ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores, "
        f"local model {llm.model}, {args.sample} timed LLM calls per estimate)",
        "",
        "Measured in full: parse, redact, embed, classify, cluster. Estimated (median of the timed sample x count):",
        "LLM stage (one call per theme) and the naive baseline (one call per ticket).",
        "",
        "| tickets | parse s | redact s | embed s | classify s | cluster s | themed tickets | themes = LLM calls | "
        "s per theme call | LLM stage min (est.) | total min (est.) | tickets/s (est.) | naive calls | "
        "s per ticket call | naive hours (est.) | naive / ours |",
        "|" + "---|" * 16,
        *rows,
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    RESULTS.write_text(report)


if __name__ == "__main__":
    main()
