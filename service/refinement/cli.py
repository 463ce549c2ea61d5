"""`refinery refine`: a refinement run in this process, with a progress bar; `--check`: the quality check alone."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from service.core.cli import console, errors, fail, follow_job, open_runtime, refusals

CHECK_MOST = 100_000  # the quality check needs no model: a whole backlog at once


def refine(
    item: Annotated[list[int] | None, typer.Option("--item", help="Only these backlog item ids (repeatable).")] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only the quality check, no model and no suggestions: list the findings.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --check: print the findings as JSON.")] = False,
) -> None:
    """Check the quality of backlog items and suggest rewrites, splits, estimates and labels for review."""
    from service.refinement import jobs

    if check:
        _check(item, as_json)
        return
    if as_json:
        raise fail("--json goes with --check (a refinement run prints its counts)")
    runtime = open_runtime(index=True)
    with refusals():
        job = jobs.create_job(runtime, item, None)
    job = follow_job(runtime, job.id, jobs.run_job, jobs.get_job, f"refining {job.total} item(s)")
    table = Table("job", "status", "items", "refined", "failed", "findings", "suggestions")
    table.add_row(
        str(job.id), job.status, str(job.total), str(job.processed), str(job.failed), str(job.findings),
        str(job.suggestions),
    )  # fmt: skip
    console.print(table)
    for error in job.errors[:10]:
        errors.print(f"[yellow]note:[/] {error}")
    console.print("Review them: `refinery review list`, the review desk, or GET /v1/suggestions?status=pending.")
    if job.status != "done":
        raise typer.Exit(code=1)


def _check(item_ids: list[int] | None, as_json: bool) -> None:
    """Every open item's (or the given items') quality findings, as the refinement queue shows them, most first;
    exit 1 when any item has findings, so a script can gate on it."""
    from collections import Counter

    from service.backlog.service import select_items
    from service.refinement.service import findings_many

    runtime = open_runtime()
    with refusals(), runtime.db.session() as session:
        items = select_items(session, item_ids, CHECK_MOST, "check")
    found = sorted(
        ((item, f) for item, f in zip(items, findings_many(runtime, items), strict=True) if f),
        key=lambda pair: (-len(pair[1]), pair[0].id),
    )
    if as_json:
        rows = [{"item_id": i.id, "title": i.title, "findings": [f.model_dump() for f in fs]} for i, fs in found]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        for item, findings in found:
            console.print(f"#{item.id} {item.title}", markup=False, highlight=False, style="bold")
            for f in findings:
                span = f' "{f.span}"' if f.span else ""
                console.print(f"  {f.criterion}{span}: {f.why}; fix: {f.fix}", markup=False, highlight=False)
        counts = Counter(f.criterion for _, fs in found for f in fs)
        said = ", ".join(f"{criterion} {n}" for criterion, n in counts.most_common())
        console.print(f"{len(found)} of {len(items)} items have findings" + (f" ({said})" if said else ""))
    if found:
        raise typer.Exit(code=1)


def readiness(
    criteria: Annotated[
        list[str] | None,
        typer.Option("--criterion", help="A criterion to check (repeat for each; the others are not checked)."),
    ] = None,
    max_points: Annotated[
        int | None, typer.Option("--max-points", help="The most points that fit a sprint (more: split).")
    ] = None,
    default: Annotated[bool, typer.Option("--default", help="Back to every criterion and 8 points.")] = False,
) -> None:
    """Show this project's Definition of Ready (the quality criteria checked, the most points that fit a sprint), or
    change it with the options given."""
    from pydantic import ValidationError

    from pipelines.quality import CRITERIA, Readiness
    from service.refinement import service

    runtime = open_runtime()
    with runtime.db.session() as session:
        ready = service.readiness(session)
    if default or criteria or max_points is not None:
        if default and (criteria or max_points is not None):
            raise fail("--default sets both: give it alone")
        unknown = sorted(set(criteria or []) - set(CRITERIA))
        if unknown:
            raise fail(f"--criterion {', '.join(unknown)} is unknown; choose from: {', '.join(CRITERIA)}")
        wanted = {} if default else ready.model_dump() | {"criteria": criteria or ready.criteria}
        if max_points is not None:
            wanted["max_points"] = max_points
        try:
            ready = service.set_readiness(runtime, Readiness.model_validate(wanted))
        except ValidationError as exc:  # the criteria are checked above: the number is out of bounds
            raise fail(f"--max-points: {exc.errors()[0]['msg']}") from exc
    off = [c for c in CRITERIA if c not in ready.criteria]
    console.print(
        f"Checked: {', '.join(ready.criteria) or 'nothing'}" + (f" (not checked: {', '.join(off)})" if off else "")
    )
    console.print(f"Fits a sprint: at most {ready.max_points} points")
