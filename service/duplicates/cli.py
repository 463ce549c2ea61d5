"""`refinery duplicates` and `refinery reindex`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from service.core.cli import candidates_table, console, errors, fail, open_runtime, refusals

SCANNED = ("duplicate", "related")  # a scan always finds both, to say how many related pairs it left out


def duplicates(
    text: Annotated[str | None, typer.Argument(help="Text to find duplicates of (an idea, a ticket, a title).")] = None,
    scan: Annotated[bool, typer.Option("--scan", help="Report every pair of backlog items judged duplicates.")] = False,
    related: Annotated[
        bool, typer.Option("--related", help="With --scan: also the pairs that look alike below the duplicate bar.")
    ] = False,
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="How many candidates to show.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find likely duplicates of a text among backlog items and pending drafts, or scan the backlog for pairs."""
    from pipelines.duplicates import SMALL_INDEX
    from service import duplicates as feature
    from service.duplicates.index import candidate_public

    if bool(text) == scan:
        raise fail('give either a text (refinery duplicates "export fails on large files") or --scan')
    runtime = open_runtime()
    with refusals():
        if text:
            found = feature.search_text(runtime, text, k)
            if as_json:
                print(json.dumps(found, indent=2))
            else:
                console.print(candidates_table(f"Likely duplicates of: {text[:80]}", found))
            return
        with console.status("Scanning the backlog for duplicate pairs ..."):
            learned = feature.calibration(runtime)
            pairs = feature.detector(runtime).scan(
                feature.in_this_project("backlog_item"), calibration=learned, verdicts=frozenset(SCANNED)
            )
    rows = [
        {"keep": candidate_public(a), "duplicate": candidate_public(b), "score": b.score, "verdict": b.verdict}
        for a, b in pairs
        if related or b.verdict == "duplicate"
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    judged = sum(row["verdict"] == "duplicate" for row in rows)
    table = Table(
        "score", "verdict", "item", "title", "duplicate of", "title",
        title=f"Duplicate pairs in the backlog: {judged}" + (f", related: {len(rows) - judged}" if related else ""),
    )  # fmt: skip
    for row in rows:
        keep, dup = row["keep"], row["duplicate"]
        table.add_row(
            f"{row['score']:.3f}", row["verdict"], str(keep["item_id"]), keep["title"], str(dup["item_id"]),
            dup["title"],
        )  # fmt: skip
    console.print(table)
    alike = len(pairs) - len(rows)
    if alike:
        console.print(f"{alike} more pair(s) look alike below the duplicate bar: --related lists them.")
    console.print(
        f"[dim]duplicate at probability >= {learned.duplicate_probability} (precision {learned.duplicate_precision}, "
        f"recall {learned.duplicate_recall} on {learned.measured_on}); recalibrated by {learned.decisions} "
        f"merge decisions of this project; in a backlog of under {SMALL_INDEX} items, at score >= "
        f"{learned.small_index_threshold}[/]"
    )


def reindex() -> None:
    """Rebuild the vector store from the database (the source of truth)."""
    from service import duplicates as feature

    runtime = open_runtime()
    with refusals(), Progress(console=errors) as progress:
        task = progress.add_task("Indexing backlog items and pending drafts", total=None)
        count = feature.reindex(runtime, lambda done, total: progress.update(task, completed=done, total=total))
    where = (
        f"Chroma server {runtime.settings.chroma_host}:{runtime.settings.chroma_port}"
        if runtime.settings.chroma_host
        else str(runtime.settings.chroma_dir)
    )
    console.print(f"Indexed {count} documents into {where}")
