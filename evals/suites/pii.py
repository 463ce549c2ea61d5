"""pii: what `pipelines.redact` removes from ticket text, and what it removes that it should not.

Dataset: evals/datasets/pii.jsonl (`python -m evals.build_pii`, seeded): support-ticket, meeting and review texts
with known spans of personal data and secrets, and texts without any that look alike (versions, order ids, dates,
prices, ticket keys, barcodes); half of each is dev (for tuning), half test (reported). Solver: `redact(text)` with
its default region (US), as ingestion and conversations call it. Scorers, one per metric:
- recall per kind (and per variant: phone region and format, secret format, IBAN country): the share of spans whose
  value no longer occurs in the output. Kinds redact.py does not promise (names, postal addresses, national phone
  numbers of other countries than the default region, passwords in prose) are reported as `not promised` rows and
  left out of the promised recall;
- false-positive rate: the share of texts without personal data in which anything was replaced;
- over-redaction: in texts with personal data, the share of the words outside every span that the output lost.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from statistics import mean
from typing import Any

from evals.dataset import Sample, load_samples
from evals.task import EvalOptions, EvalResult
from pipelines.redact import redact

SUITE = "pii"
NEEDS_LLM = False
DATASET = "pii"
_PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|CARD|IBAN|IP|SECRET)\]")
_WORD = re.compile(r"\w+")


def span_redacted(span: dict[str, Any], output: str) -> bool:
    """The span's value no longer occurs in the output."""
    return span["value"] not in output


def lost_words(sample: Sample, output: str) -> list[str]:
    """Words outside every span of the input that the output no longer has (a multiset difference)."""
    outside = sample.input["text"]
    for span in sample.target["spans"]:
        outside = outside.replace(span["value"], " ", 1)
    kept = Counter(_WORD.findall(_PLACEHOLDER.sub(" ", output)))
    return list((Counter(_WORD.findall(outside)) - kept).elements())


def words_outside(sample: Sample) -> int:
    outside = sample.input["text"]
    for span in sample.target["spans"]:
        outside = outside.replace(span["value"], " ", 1)
    return len(_WORD.findall(outside))


def _recall(spans: list[tuple[dict[str, Any], bool]]) -> dict[str, Any]:
    redacted = sum(done for _, done in spans)
    return {
        "promised": "yes" if spans[0][0]["promised"] else "not promised",
        "spans": len(spans),
        "redacted": redacted,
        "recall": round(redacted / len(spans), 3),
    }


def score(rows: list[dict[str, Any]], samples: list[Sample]) -> dict[str, Any]:
    spans = [(span, done) for row in rows for span, done in zip(row["spans"], row["span_redacted"], strict=True)]
    by_kind: dict[str, list[tuple[dict[str, Any], bool]]] = {}
    by_variant: dict[str, list[tuple[dict[str, Any], bool]]] = {}
    for span, done in spans:
        kind = span["kind"] if span["promised"] or span["kind"] in ("name", "address") else f"{span['kind']} (other)"
        by_kind.setdefault(kind, []).append((span, done))
        by_variant.setdefault(f"{span['kind']}/{span['variant']}", []).append((span, done))
    promised = [done for span, done in spans if span["promised"]]
    with_pii = [(row, s) for row, s in zip(rows, samples, strict=True) if s.target["spans"]]
    without = [row for row, s in zip(rows, samples, strict=True) if not s.target["spans"]]
    lost = sum(len(row["lost_words"]) for row, _ in with_pii)
    outside = sum(words_outside(s) for _, s in with_pii)
    summary: dict[str, Any] = {f"recall {kind}": _recall(group) for kind, group in sorted(by_kind.items())}
    summary |= {f"recall {variant}": _recall(group) for variant, group in sorted(by_variant.items())}
    fp_kinds = Counter(kind for row in without for kind in row["counts"])
    summary |= {
        "texts with PII": len(with_pii),
        "texts without PII": len(without),
        "promised recall": round(mean(promised), 3) if promised else None,
        "false-positive rate": round(sum(bool(r["counts"]) for r in without) / len(without), 3) if without else None,
        "false positives by kind": ", ".join(f"{k} {n}" for k, n in fp_kinds.most_common()) or "none",
        "over-redaction (words lost)": round(lost / outside, 4) if outside else None,
        "texts with words lost": round(sum(bool(r["lost_words"]) for r, _ in with_pii) / len(with_pii), 3)
        if with_pii
        else None,
        "ms per text": round(1000 * mean(r["seconds"] for r in rows), 2) if rows else None,
    }
    return summary


def run(options: EvalOptions) -> EvalResult:
    samples = [s for s in load_samples(DATASET) if s.metadata["split"] == options.split][: options.limit]
    rows = []
    for done, sample in enumerate(samples, 1):
        started = time.perf_counter()
        result = redact(sample.input["text"])
        seconds = time.perf_counter() - started
        spans = sample.target["spans"]
        rows.append(
            {
                "id": sample.id,
                "template": sample.metadata["template"],
                "text": sample.input["text"],
                "redacted": result.text,
                "counts": result.counts,
                "spans": spans,
                "span_redacted": [span_redacted(span, result.text) for span in spans],
                "lost_words": lost_words(sample, result.text),
                "seconds": seconds,
            }
        )
        options.on_sample(done, len(samples))
    summary = score(rows, samples)
    misses = [
        f"missed {span['kind']}/{span['variant']}: {span['value']!r} in {row['id']}"
        for row in rows
        for span, done in zip(row["spans"], row["span_redacted"], strict=True)
        if span["promised"] and not done
    ]
    false_alarms = [f"false positive in {r['id']}: {r['redacted']!r}" for r in rows if not r["spans"] and r["counts"]]
    losses = [f"words lost in {r['id']}: {r['lost_words']}" for r in rows if r["lost_words"]]
    for row in rows:
        row["ms"] = round(row.pop("seconds") * 1000, 2)
    return EvalResult(
        suite=SUITE,
        meta=options.meta(dataset=DATASET, region="US"),
        summary=summary,
        samples=rows,
        notes=misses + false_alarms + losses,
    )
