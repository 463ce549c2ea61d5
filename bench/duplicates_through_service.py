"""Duplicate search through the running service, as a user gets it, against the duplicates eval (issue 17).

The held-out SeaMonkey reports (1,076) are imported with `POST /v1/backlog/items` (title, description, their id as
external id); each report with a known duplicate is searched with `POST /v1/duplicates/search`, its text as a user
pastes it ("title\\ndescription", cut at the API's limit). Scored two ways: per query (a hit when any known duplicate
is among the 10 best others: the eval's recall@10) and per directed link (each known duplicate found or not). The
search before the fix (the whole text embedded as a title) runs in the same process for comparison.
Writes bench/results/duplicates_through_service.md. Run: .venv/bin/python -m bench.duplicates_through_service
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from evals.bug_reports import load_corpus
from pipelines.drafting import MAX_TEXT_CHARS
from service import duplicates
from service.api import create_app
from service.core.settings import Settings

RESULTS = Path(__file__).parent / "results" / "duplicates_through_service.md"
EVAL_REPORT = Path(__file__).resolve().parents[1] / "evals" / "reports" / "baseline-duplicates-test.json"


def main() -> None:
    os.environ.setdefault("REFINERY_ALLOWED_HOSTS", "testserver")
    corpus = load_corpus("test")
    settings = Settings(REFINERY_DATA_DIR=tempfile.mkdtemp(prefix="dups-"), REFINERY_LLM_PROVIDER="fake")
    with TestClient(create_app(settings)) as api:
        item_of: dict[str, int] = {}
        for start in range(0, len(corpus.reports), 200):
            batch = corpus.reports[start : start + 200]
            body = [{"title": r.title[:300], "description": r.description[:50_000], "external_id": r.id} for r in batch]
            created = api.post("/v1/backlog/items", json=body)
            assert created.status_code == 201, created.text
            item_of |= {item["external_id"]: item["id"] for item in created.json()["created"]}
        report_of = {item: report for report, item in item_of.items()}
        runtime = api.app.state.runtime
        by_id = {r.id: r for r in corpus.reports}
        ways = {"now (API: first line is the title)": [], "before (whole text as a title)": []}
        for query in corpus.queries:
            report = by_id[query]
            text = f"{report.title}\n{report.description}"[:MAX_TEXT_CHARS]
            now = api.post("/v1/duplicates/search", json={"text": text, "k": 11}).json()
            before = duplicates.search_text(runtime, "", 11, title=text)
            for name, found in zip(ways, (now, before), strict=True):
                others = [report_of[c["item_id"]] for c in found if report_of.get(c["item_id"]) != query][:10]
                ways[name].append((query, others))
    rows = ["| search | queries | recall@10 per query | directed links | recall@10 per link |", "|---|---|---|---|---|"]
    for name, results in ways.items():
        hits = sum(bool(corpus.groups[q] & set(top)) for q, top in results)
        links = sum(len(corpus.groups[q]) for q, _ in results)
        found = sum(len(corpus.groups[q] & set(top)) for q, top in results)
        rows.append(f"| {name} | {len(results)} | {hits / len(results):.3f} | {links} | {found / links:.3f} |")
    evaluated = json.loads(EVAL_REPORT.read_text())["methods"]["hybrid"]["recall@10"]
    text = "\n".join([
        f"# duplicates through the service: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, SeaMonkey (held out), "
        f"{len(corpus.reports)} reports imported", "", *rows, "",
        f"The duplicates eval's hybrid recall@10 (per query) on the same reports: {evaluated:.3f}.",
    ])  # fmt: skip
    RESULTS.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
