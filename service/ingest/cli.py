"""`refinery ingest FILE`: run an ingest job in this process with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.core.cli import console, errors, fail, open_runtime


def ingest(
    file: Annotated[Path, typer.Argument(help="CSV, JSON array or JSONL of tickets or reviews.")],
    map: Annotated[
        list[str] | None, typer.Option("--map", help="Column mapping, repeatable: --map body=Description.")
    ] = None,
    product: Annotated[str | None, typer.Option(help="What the product is, for drafting stories.")] = None,
    source: Annotated[str | None, typer.Option(help="Source name (default: the file name).")] = None,
    min_theme_size: Annotated[int, typer.Option(min=2, help="Fewest tickets that make a theme.")] = 3,
    force: Annotated[bool, typer.Option(help="Start a job even when the same file was ingested before.")] = False,
) -> None:
    """Ingest feedback: redact, triage, cluster into themes, and propose evidence or story drafts for review."""
    from pipelines.tickets import MappingError, UnsupportedFile, parse_mapping
    from service.core.errors import DomainError
    from service.ingest import jobs, service

    if not file.is_file():
        raise fail(f"{file} is not a file")
    runtime = open_runtime(index=True)
    try:
        mapping = parse_mapping(map or [])
        job = service.create_job(runtime, file.read_bytes(), file.name, mapping, product, source, min_theme_size, force)
    except (MappingError, UnsupportedFile, ValueError, DomainError) as exc:
        raise fail(str(exc)) from exc
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=errors) as progress:
        triage = progress.add_task(f"job {job.id}: triage (redact, embed, classify)", total=None)
        themes = progress.add_task(f"job {job.id}: themes", total=None, visible=False)

        def show(current) -> None:  # noqa: ANN001 - an IngestJob
            to_triage = max(0, current.total - current.skipped - current.already_ingested)
            progress.update(triage, completed=current.processed, total=to_triage)
            if current.stage in ("themes", "done"):
                progress.update(themes, completed=service.themes_done(current), total=current.themes, visible=True)

        job = jobs.run_job(runtime, job.id, show)
    table = Table(title=f"Ingest job {job.id}: {job.status}", show_header=False)  # one job: a row per count
    counts = (
        ("rows", job.total), ("processed", job.processed), ("skipped (no text)", job.skipped),
        ("already ingested", job.already_ingested), ("themes", job.themes), ("suggestions", job.suggestions),
        ("failed drafts", job.failed), ("LLM calls", job.llm_calls),
    )  # fmt: skip
    for name, count in counts:
        table.add_row(name, str(count))
    console.print(table)
    public = service.public(job)
    if public.unthemed:
        console.print(
            f"{public.unthemed} bugs, requests and questions joined no theme; {public.unthemed_to_items} of them read "
            f"like a backlog item and are proposed as its evidence (list: GET /v1/ingest/jobs/{job.id}/unthemed)."
        )
    for error in job.errors[:10]:
        errors.print(f"[yellow]note:[/] {error}")
    if job.status != "done":
        raise typer.Exit(code=1)
    console.print("Review them: `refinery review list`, the review desk, or GET /v1/suggestions?status=pending.")
