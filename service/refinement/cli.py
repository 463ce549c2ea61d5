"""`refinery refine`: a refinement run in this process, with a progress bar."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.core.cli import console, errors, fail, open_runtime


def refine(
    item: Annotated[list[int] | None, typer.Option("--item", help="Only these backlog item ids (repeatable).")] = None,
) -> None:
    """Check the quality of backlog items and suggest rewrites, splits and estimates for review."""
    import threading

    from service.core.errors import DomainError
    from service.refinement import jobs

    runtime = open_runtime()
    try:
        job = jobs.create_job(runtime, item, None)
    except DomainError as exc:
        raise fail(str(exc)) from exc
    worker = threading.Thread(target=jobs.run_job, args=(runtime, job.id), daemon=True)
    worker.start()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=errors) as progress:
        task = progress.add_task(f"refining {job.total} item(s)", total=job.total)
        while worker.is_alive():
            worker.join(0.5)
            progress.update(task, completed=jobs.get_job(runtime, job.id).processed)
    job = jobs.get_job(runtime, job.id)
    table = Table("job", "status", "items", "refined", "failed", "findings", "suggestions")
    table.add_row(
        str(job.id), job.status, str(job.total), str(job.processed), str(job.failed), str(job.findings),
        str(job.suggestions),
    )  # fmt: skip
    console.print(table)
    for error in job.errors[:10]:
        errors.print(f"[yellow]note:[/] {error}")
    console.print("Review them: GET /v1/suggestions?status=pending (or the review desk).")
    if job.status != "done":
        raise typer.Exit(code=1)
