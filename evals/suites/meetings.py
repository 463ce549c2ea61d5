"""meetings: decisions from real product-design meetings (AMI corpus, with QMSum's human-written query/answer
pairs). dev = meetings/train, test = meetings/val. Only meetings with at least one reference decision are run
(`--limit N` of them, in file order).

Reference decisions: the answers to a meeting's specific queries that ask what the group decided or agreed
("What did the group decide ...", "Summarize the decision ..."). Matching: an extracted decision matches a
reference answer when its all-MiniLM-L6-v2 cosine with some sentence of the answer reaches MATCH (a threshold set
by reading train pairs; the report keeps every pair's best score, so a reader can re-judge). Metrics, each for
ours (pipelines.conversation: chunked, quotes checked) and a baseline in the same run (one call with the same
prompt over the transcript cut to one chunk):
- decision recall: reference decisions matched by some extracted decision;
- decision precision: extracted decisions that match a sentence of any of the meeting's reference answers (the
  decision queries' or the others': QMSum's answers summarise most of what a meeting settled);
- quote verification rate: quotes found in the transcript / quotes given;
- LLM calls and minutes per meeting.
"""

from __future__ import annotations

import json
import re
import time
from statistics import mean
from typing import Any

import numpy as np

from evals.bug_reports import DATA_DIR
from evals.task import EvalOptions, EvalResult, require_data
from pipelines.conversation import CHUNK_WORDS, ConversationResult, chunks, extract
from pipelines.embeddings import get_embedder
from pipelines.transcripts import parse_transcript

SUITE = "meetings"
NEEDS_LLM = True
FOLDER = DATA_DIR / "meetings"
DECISION_QUERY = re.compile(r"\b(decid\w*|decision\w*|agree\w*)\b", re.I)
MATCH = 0.55


def load(split: str) -> list[dict[str, Any]]:
    """Meetings of a split that have reference decisions: turns, reference decisions, all reference sentences."""
    meetings = []
    for path in sorted((FOLDER / ("train" if split == "dev" else "val")).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        decisions = [q["answer"] for q in data["specific_query_list"] if DECISION_QUERY.search(q["query"])]
        if not decisions:
            continue
        answers = [q["answer"] for q in data["specific_query_list"] + data["general_query_list"]]
        turns = parse_transcript(path.read_bytes(), "json").turns
        meetings.append({"meeting": path.stem, "turns": turns, "references": decisions, "answers": answers})
    return meetings


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 3]


def best_scores(found: list[str], texts: list[str], embedder: Any) -> np.ndarray:
    """found x texts: the best cosine of each found decision with any sentence of each text."""
    if not found or not texts:
        return np.zeros((len(found), len(texts)))
    parts = [sentences(t) or [t] for t in texts]
    flat = [s for p in parts for s in p]
    found_vectors, sentence_vectors = embedder.encode(found), embedder.encode(flat)
    scores = found_vectors @ sentence_vectors.T
    out, start = np.zeros((len(found), len(texts))), 0
    for j, p in enumerate(parts):
        out[:, j] = scores[:, start : start + len(p)].max(axis=1)
        start += len(p)
    return out


def baseline(llm: Any, turns: list[Any]) -> ConversationResult:
    """The same pipeline over the start of the transcript only (what fits one chunk): one call."""
    return extract(llm, chunks(turns)[0])


def score(result: ConversationResult, meeting: dict[str, Any], embedder: Any, seconds: float) -> dict[str, Any]:
    found = [d.decision for d in result.notes.decisions]
    to_references = best_scores(found, meeting["references"], embedder)
    to_answers = best_scores(found, meeting["answers"], embedder)
    matched = [bool((to_references[:, j] >= MATCH).any()) for j in range(len(meeting["references"]))]
    supported = [bool((to_answers[i] >= MATCH).any()) for i in range(len(found))]
    return {
        "decisions": [
            {
                "decision": d.decision,
                "quotes": [q.model_dump() for q in d.quotes],
                "supported": s,
                "best_reference_score": round(float(to_references[i].max()), 3) if len(meeting["references"]) else None,
                "ruled_out_by": [q.turn for q in result.ruled_out.get(i, [])],
            }
            for i, (d, s) in enumerate(zip(result.notes.decisions, supported, strict=True))
        ],
        "references_matched": matched,
        "recall": sum(matched) / len(matched),
        "precision": sum(supported) / len(found) if found else None,
        "quotes_checked": result.quotes_checked,
        "quotes_dropped": len(result.quotes_dropped),
        "llm_calls": len(result.calls),
        "failed_calls": len(result.failed_chunks),
        "minutes": round(seconds / 60, 2),
    }


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    references = [m for r in rows for m in r["references_matched"]]
    decisions = [d for r in rows for d in r["decisions"]]
    checked = sum(r["quotes_checked"] for r in rows)
    return {
        "decision_recall": round(sum(references) / len(references), 3) if references else None,
        "decision_precision": round(sum(d["supported"] for d in decisions) / len(decisions), 3) if decisions else None,
        "decisions_extracted": len(decisions),
        "decisions_a_later_line_rules_out": sum(bool(d.get("ruled_out_by")) for d in decisions),
        "quote_verification_rate": round(1 - sum(r["quotes_dropped"] for r in rows) / checked, 3) if checked else None,
        "llm_calls_per_meeting": round(mean(r["llm_calls"] for r in rows), 1),
        "minutes_per_meeting": round(mean(r["minutes"] for r in rows), 2),
    }


def run(options: EvalOptions) -> EvalResult:
    require_data(FOLDER / "train")
    llm = options.require_llm(SUITE)
    embedder = get_embedder()
    meetings = load(options.split)[: options.limit or 4]
    rows = []
    for done, meeting in enumerate(meetings, 1):
        row: dict[str, Any] = {"meeting": meeting["meeting"], "references": meeting["references"]}
        for name, method in (
            ("ours", lambda m: extract(llm, m["turns"])),
            ("baseline", lambda m: baseline(llm, m["turns"])),
        ):
            started = time.perf_counter()
            result = method(meeting)
            row[name] = score(result, meeting, embedder, time.perf_counter() - started)
            row[name]["quotes_dropped_text"] = result.quotes_dropped[:10]
        rows.append(row)
        options.log(
            f"{meeting['meeting']}: recall {row['ours']['recall']:.2f} (baseline {row['baseline']['recall']:.2f}), "
            f"{len(row['ours']['decisions'])} decisions, {row['ours']['minutes']} min"
        )
        options.on_sample(done, len(meetings))
    summary = {
        "meetings": len(rows),
        "reference_decisions": sum(len(r["references"]) for r in rows),
        "match_threshold": MATCH,
        "ours": _summary([r["ours"] for r in rows]),
        "baseline": _summary([r["baseline"] for r in rows]),
    }
    meta = options.meta(dataset="AMI meetings with QMSum queries", chunk_words=CHUNK_WORDS)
    return EvalResult(suite=SUITE, meta=meta, summary=summary, samples=rows)
