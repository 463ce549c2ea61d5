"""`refinery refine`: a refinement run in this process, with a progress bar."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from service.core.cli import console, errors, follow_job, open_runtime, refusals


def refine(
    item: Annotated[list[int] | None, typer.Option("--item", help="Only these backlog item ids (repeatable).")] = None,
) -> None:
    """Check the quality of backlog items and suggest rewrites, splits and estimates for review."""
    from service.refinement import jobs

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
