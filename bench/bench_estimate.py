"""The story-point estimate through the service: the rule alone against the rule joined by the team's words, and by
the team's fine-tuned points model too.

Seeds a fresh backlog (fake LLM, SQLite, embedded Chroma) with one real Jira project's history (its train and
validation rows, with their points; `../shared/data/story_points/`), adds N of its test rows without points, and
estimates each through `propose_estimate`, as `POST /v1/backlog/{id}/estimate` does, once per variant in the same
process and on the same index:
  rule alone    the 20 most similar items with points and the team median (the words turned off);
  rule + words  the same, joined by the team's word classifier, fitted on the first estimate and kept for the
                others;
  + team model  the same, joined by the team's points model (the service's estimate): the first estimate starts
                its fit in the background, which is waited for (its seconds and the process's memory growth are
                shown apart), then every item is estimated with it.
Prints seconds (the first estimate apart: it fits the classifier), ratios against the rule alone, and the MAE of
each variant on those rows next to the history's median, as a check that the service does what the eval measures.
Run: .venv/bin/python -m bench.bench_estimate [--projects talenddataquality appceleratorstudio] [--queries 40]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean, median

from sqlalchemy import update

import pipelines.estimate
from bench import machine, publish
from evals.suites.estimate import FOLDER, load_project
from service.backlog.schemas import BacklogItemCreate
from service.backlog.service import import_and_index
from service.core import learned
from service.core.enums import SuggestionKind, SuggestionStatus
from service.core.runtime import Runtime
from service.core.settings import Settings
from service.core.tables import Suggestion
from service.refinement import points_model, service

RESULTS = Path(__file__).parent / "results" / "bench_estimate.md"


def estimate_all(
    runtime: Runtime, item_ids: list[int], words: bool, team_model: bool = False
) -> tuple[float, float, list[int], str]:
    """(seconds for the first estimate, for the rest, the points, the method) with the words and the team's model
    on or off; with the model on, the first estimate waits for its fit (the seconds are the fit's)."""
    pipelines.estimate.WORDS_MIN_ITEMS = 200 if words else 10**9
    points_model.MIN_ITEMS = 200 if team_model else 10**9
    learned.forget()
    with runtime.db.session() as session:  # the other variant's estimates, rejected so that new ones are made
        session.execute(
            update(Suggestion)
            .where(Suggestion.kind == SuggestionKind.estimate, Suggestion.status == SuggestionStatus.pending)
            .values(status=SuggestionStatus.rejected, pending_key=None)
        )
    started = time.perf_counter()
    if team_model:
        points_model.team_model(runtime, wait=True)
    made = [service.propose_estimate(runtime, item_ids[0])]
    first = time.perf_counter() - started
    made += [service.propose_estimate(runtime, item_id) for item_id in item_ids[1:]]
    return first, time.perf_counter() - started - first, [s.payload["points"] for s in made], made[-1].payload["method"]


def measure(project: str, n: int) -> list[str]:
    """The table rows for `n` test rows of `project`."""
    rows = load_project(FOLDER / f"{project}.csv")
    history = [r for r in rows if r["split"] in ("train", "val")]
    queries = [r for r in rows if r["split"] == "test"][:n]
    runtime = Runtime(Settings(REFINERY_DATA_DIR=tempfile.mkdtemp(), REFINERY_LLM_PROVIDER="fake"))
    started = time.perf_counter()
    items = [
        BacklogItemCreate(
            title=r["title"][:300], description=r["description"][:50_000], story_points=round(r["points"])
        )
        for r in history + queries
    ]
    for item in items[len(history) :]:
        item.story_points = None
    created = import_and_index(runtime, items).created
    seeded = time.perf_counter() - started
    query_ids = [item.id for item in created[len(history) :]]
    truth = [r["points"] for r in queries]
    baseline = mean(abs(median(r["points"] for r in history) - t) for t in truth)
    estimate_all(runtime, query_ids[:2], words=False)  # load the embedder and the lexical index outside the timings
    results = {
        name: estimate_all(runtime, query_ids, on) for name, on in (("rule alone", False), ("rule + words", True))
    }
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["+ team model"] = estimate_all(runtime, query_ids, True, team_model=True)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    lines = []
    for name, (first, rest, points, method) in results.items():
        error = mean(abs(p - t) for p, t in zip(points, truth, strict=True))
        lines.append(
            f"| {project} ({len(history)} with points, seeded in {seeded:.0f} s) | {name} | {method} | {first:.2f} | "
            f"{1000 * rest / (len(query_ids) - 1):.0f} | {rest / results['rule alone'][1]:.2f} | {error:.3f} | "
            f"{baseline:.3f} |"
        )
    lines.append(f"| {project} | team model's fit: the process's peak memory grew by {grown:.0f} MiB | | | | | | |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", nargs="+", default=["talenddataquality", "appceleratorstudio"])
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    lines = [
        f"# Story-point estimate through the service: the rule alone vs joined by the team's words and model "
        f"({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"{machine()} Per project, its train and "
        f"validation rows seeded with their points, the first {args.queries} test rows estimated; one run each, same "
        "process and index; the ratio is the rest's seconds against the rule alone's. + team model: the first "
        "estimate's seconds are the fit's (2 passes over the items with points, 128 tokens each).",
        "",
        "| project | variant | method | first estimate (s) | the rest, per item (ms) | ratio | MAE | "
        "history median's MAE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for project in args.projects:
        lines += measure(project, args.queries)
    publish(lines, RESULTS)


if __name__ == "__main__":
    main()
