"""`refinery conversation FILE`: read a meeting transcript or chat export in this process, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from service.core.cli import console, errors, follow_job, open_runtime, refusals


def conversation(
    file: Annotated[
        Path | None, typer.Argument(exists=True, dir_okay=False, help="Transcript or Slack export.", show_default=False)
    ] = None,
    format: Annotated[str | None, typer.Option(help="text, vtt, srt, json or slack (default: guessed).")] = None,
    title: Annotated[str | None, typer.Option(help="Default: the file name.")] = None,
    item: Annotated[
        str | None, typer.Option(help="Instead of a file: a backlog item (id or key) whose comments are read.")
    ] = None,
) -> None:
    """Turn a meeting or thread (or an item's comments) into decisions, action items, new stories and backlog changes
    for review."""
    from service.backlog.service import find_item
    from service.conversations import jobs, service

    if (file is None) == (item is None):
        errors.print("give a transcript file or --item (an item whose comments are read), not both")
        raise typer.Exit(code=2)
    runtime = open_runtime(index=True)
    with refusals():
        if item is not None:
            with runtime.db.session() as session:
                item_id = find_item(session, item).id
            job = service.store_thread(runtime, item_id, None)
        else:
            job = service.store(runtime, file.read_bytes(), format, title, file.name, None)
    job = follow_job(runtime, job.id, jobs.run_job, jobs.get_job, "reading the conversation (chunks)")
    summary = service.get_conversation(runtime, job.conversation_id).summary
    table = Table("conversation", "status", "chunks", "suggestions", "quotes checked", "quotes dropped")
    table.add_row(str(job.conversation_id), job.status, f"{job.processed}/{job.total}", str(job.suggestions),
                  str(job.quotes_checked), str(job.quotes_dropped))  # fmt: skip
    console.print(table)
    for name in ("decisions", "action_items", "new_work", "changes", "open_questions"):
        for entry in summary.get(name, []):
            who = ", ".join(f"{k} {entry[k]}" for k in ("owner", "due") if entry.get(k))
            console.print(
                f"[bold]{name.replace('_', ' ')}:[/] {entry['text']}" + (f" ({who})" if who else ""), highlight=False
            )
    for error in job.errors[:10]:
        errors.print(f"[yellow]note:[/] {error}")
    console.print("Review them: `refinery review list`, the review desk, or GET /v1/suggestions?status=pending.")
    if job.status != "done":
        raise typer.Exit(code=1)
