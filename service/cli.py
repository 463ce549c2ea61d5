"""The `refinery` command line."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.embeddings import EmbeddingsUnavailable
from pipelines.llm import CallEvent, LLMUnavailable
from pipelines.vectorstore import VectorStoreUnavailable
from service import cli_duplicates, cli_ingest, cli_prioritize
from service.cli_common import console, errors, fail, open_runtime
from service.settings import get_settings

app = typer.Typer(help="Refinery: raw ideas in, reviewed user stories out.", no_args_is_help=True)
backlog_app = typer.Typer(help="Read the backlog.", no_args_is_help=True)
app.add_typer(backlog_app, name="backlog")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    warm: Annotated[bool, typer.Option(help="Load the LLM and the duplicate index in the background at start.")] = True,
) -> None:
    """Start the review desk (at /) and the HTTP API (docs at /docs)."""
    import uvicorn

    from service.api import create_app

    api = create_app()
    runtime = api.state.runtime
    if warm:

        def _warm() -> None:
            try:
                runtime.llm()  # starts the model server; it loads while the duplicate index does
            except LLMUnavailable as exc:
                errors.print(f"[bold red]LLM not available:[/] {exc}")
            if runtime.settings.duplicate_check:
                try:
                    count = runtime.duplicates().store.count()
                    errors.print(f"Duplicate index ready: {count} documents ({runtime.settings.embedding_model})")
                except (EmbeddingsUnavailable, VectorStoreUnavailable) as exc:
                    errors.print(f"[bold red]Duplicate detection not available:[/] {exc}")
            try:
                runtime.warm_up()
                errors.print(f"LLM ready: {runtime.settings.llm_provider} / {runtime.llm_model}")
            except LLMUnavailable as exc:
                errors.print(f"[bold red]LLM not available:[/] {exc}")

        threading.Thread(target=_warm, daemon=True, name="llm-warm-up").start()
    errors.print(f"Review desk: http://{host}:{port}/   API docs: http://{host}:{port}/docs")
    uvicorn.run(api, host=host, port=port)


class LiveStory:
    """Prints a story's fields as the model writes them (the listener of a streamed draft)."""

    LABELS = {"item_type": "Type", "title": "Title", "persona": "As a", "goal": "I want", "benefit": "So that"}

    def __call__(self, event: CallEvent, data: dict) -> None:
        if event == CallEvent.queued:
            errors.print(f"[dim]The model is busy: {data['position']} call(s) ahead of this draft ...[/]")
        elif event == CallEvent.waiting:
            errors.print(f"[dim]The model is {data['state']}: {data['reason']} ...[/]")
        elif event == CallEvent.retry:
            errors.print(f"[yellow]The model answers again[/] ({data['reason']})")
        elif event == CallEvent.field:
            name, value = data["field"], data["value"]
            if name.startswith("acceptance_criteria."):
                number = int(name.split(".")[1]) + 1
                c = value if isinstance(value, dict) else {}
                console.print(
                    f" {number}. [cyan]Given[/] {c.get('given', '')}\n    [cyan]When[/] {c.get('when', '')}"
                    f"\n    [cyan]Then[/] {c.get('then', '')}"
                )
            elif isinstance(value, list):
                console.print(f"[bold]{name.replace('_', ' ').capitalize()}:[/] {'; '.join(map(str, value)) or '-'}")
            else:
                console.print(f"[bold]{self.LABELS.get(name, name)}:[/] {value}")


@app.command()
def draft(
    text: Annotated[str, typer.Argument(help="The raw idea, request or bug note.")],
    context: Annotated[str | None, typer.Option(help="Product context.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the suggestion as JSON.")] = False,
) -> None:
    """Draft a user story from a raw idea and store it as a pending suggestion; the fields print as the model
    writes them."""
    from service.drafts import create_draft
    from service.schemas import SuggestionPublic

    runtime = open_runtime()
    try:
        if as_json:
            with console.status(f"Drafting with {runtime.settings.llm_provider} / {runtime.llm_model} ..."):
                suggestion = create_draft(runtime, text, context)
        else:
            errors.print(f"[dim]Drafting with {runtime.settings.llm_provider} / {runtime.llm_model} ...[/]")
            suggestion = create_draft(runtime, text, context, listener=LiveStory())
    except (LLMUnavailable, ValueError) as exc:
        raise fail(str(exc)) from exc
    public = SuggestionPublic.model_validate(suggestion)
    for warning in public.warnings:
        errors.print(f"[yellow]warning:[/] {warning}")
    if as_json:
        print(public.model_dump_json(indent=2))
    elif public.status == "failed":
        errors.print(f"[bold red]The draft failed[/] (suggestion {public.id}, input kept): {public.reason}")
    else:
        usage = public.usage
        console.print(
            f"\n[dim]Stored as suggestion {public.id} ({public.status}); {public.model}, prompt "
            f"{public.prompt_version}, {usage['output_tokens']} tokens out, {usage['latency_s']:.1f} s, "
            f"{usage['attempts']} attempt(s)[/]"
        )
    if public.status == "failed":
        raise typer.Exit(code=1)


@app.command("eval")
def run_eval(
    suite: Annotated[str, typer.Argument(help="Eval suite: story_drafting, duplicates, ingestion, prioritization.")],
    provider: Annotated[str | None, typer.Option(help="LLM provider: local or openai (default: settings).")] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the first N samples (prioritization: reports per level).")
    ] = None,
    split: Annotated[str, typer.Option(help="test (the reported set) or dev (for tuning).")] = "test",
    calibrate: Annotated[
        bool, typer.Option(help="duplicates on dev only: choose the blend weight and thresholds and save them.")
    ] = False,
    use_llm: Annotated[bool, typer.Option("--llm/--no-llm", help="ingestion: also draft every theme.")] = True,
) -> None:
    """Run an eval suite: prints a table and writes a JSON report under evals/reports/."""
    if split not in ("test", "dev"):
        raise fail(f"unknown split {split!r}; use test or dev")
    if suite == "duplicates":
        _eval_duplicates(split, limit, calibrate)
        return
    if suite == "ingestion":
        _eval_ingestion(split, provider, use_llm)
        return
    if suite == "prioritization":
        _eval_prioritization(provider, limit, split)
        return
    from rich.progress import Progress

    from evals import report
    from evals.dataset import load_samples
    from evals.scorers import SCORERS
    from evals.suites import story_drafting

    suites = {"story_drafting": story_drafting}
    if suite not in suites:
        raise fail(f"unknown suite {suite!r}; choose one of: story_drafting, duplicates, ingestion, prioritization")
    dataset = suite if split == "test" else f"{suite}_dev"
    llm = _eval_llm(provider)
    total = len(load_samples(dataset, limit))
    with Progress(console=errors) as progress:
        task = progress.add_task(f"{suite} on {llm.provider} / {llm.model}", total=total)
        rows = suites[suite].run(llm, dataset, limit, on_sample=lambda _id: progress.advance(task))
    summary = report.summarize(rows, list(SCORERS))
    costs = report.cost(rows)
    report.print_table(f"{suite}: {llm.provider} / {llm.model}", summary, costs, console)
    meta = {"provider": llm.provider, "model": llm.model, "split": split, "dataset": dataset, "limit": limit}
    path = report.write_report(dataset, meta, summary, costs, rows)
    console.print(f"report: {path}")


def _eval_llm(provider: str | None):  # noqa: ANN202 - an LLM, imported lazily
    """The LLM an eval runs on: the configured one, or `provider` (local / openai)."""
    from pipelines.llm import build_llm

    if provider not in (None, "local", "openai"):
        raise fail(f"unknown provider {provider!r}; use local or openai (fake has no answers to score)")
    settings = get_settings()
    if provider:
        settings = settings.model_copy(update={"llm_provider": provider})
    try:
        return build_llm(settings.llm_config())
    except LLMUnavailable as exc:
        raise fail(str(exc)) from exc


def _eval_prioritization(provider: str | None, per_level: int | None, split: str) -> None:
    from evals.report import write_json
    from evals.suites import prioritization

    repeats = 10 if split == "test" else 0
    result = prioritization.run(_eval_llm(provider), per_level, repeats, split, log=errors.print)
    table = Table("metric", "value", title="prioritization (Hadoop priorities)")
    for key, value in result["summary"].items():
        table.add_row(key, str(value))
    console.print(table)
    console.print(f"report: {write_json('prioritization' if split == 'test' else 'prioritization-dev', result)}")


def _eval_ingestion(split: str, provider: str | None, use_llm: bool) -> None:

    from evals.report import write_json
    from evals.suites import ingestion

    llm = _eval_llm(provider) if use_llm else None
    result = ingestion.run(split, llm, log=errors.print)
    table = Table("metric", "value", title=f"ingestion ({split})")
    for key, value in result["summary"].items():
        table.add_row(key, str(value))
    console.print(table)
    console.print(f"report: {write_json(f'ingestion-{split}', result)}")


def _eval_duplicates(split: str, limit: int | None, calibrate: bool) -> None:
    from evals.report import write_json
    from evals.suites import duplicates as suite

    if calibrate and split != "dev":
        raise fail("calibrate on the dev split only (--split dev); the held-out split is for reporting")
    try:
        result = suite.run(split, limit, calibrate, log=errors.print)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    suite.print_report(result, console)
    console.print(f"report: {write_json(f'duplicates-{split}', result)}")


@backlog_app.command("list")
def backlog_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """List backlog items."""
    from service import backlog
    from service.schemas import BacklogItemPublic

    runtime = open_runtime()
    with runtime.db.session() as session:
        items = [BacklogItemPublic.model_validate(i) for i in backlog.list_items(session, limit)]
    if as_json:
        print(json.dumps([i.model_dump(mode="json") for i in items], indent=2))
        return
    table = Table("id", "type", "priority", "title", "labels", title=f"Backlog ({len(items)} items)")
    for item in items:
        table.add_row(str(item.id), item.item_type, item.priority or "-", item.title, ", ".join(item.labels))
    console.print(table)


@app.command("export")
def export_backlog(
    format: Annotated[
        str, typer.Option(help="jira_csv, jira_json, linear_json, github_json or markdown.")
    ] = "markdown",
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")] = None,
) -> None:
    """Export the backlog (by priority rank) in a format Jira, Linear or GitHub imports."""
    from service import backlog, exports

    runtime = open_runtime()
    with runtime.db.session() as session:
        items = [exports.export_item(i) for i in backlog.list_items(session, 10_000, 0, False, "priority")]
    try:
        content, _ = exports.export(items, format)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if output:
        Path(output).write_text(content, encoding="utf-8")
        errors.print(f"{len(items)} items written to {output}")
    else:
        print(content)


@app.command("import")
def import_backlog(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A Jira CSV export or GitHub issues JSON.")],
    format: Annotated[str, typer.Option(help="jira_csv or github_json.")] = "jira_csv",
) -> None:
    """Import existing issues into the backlog; importing the same issues again adds nothing."""
    from service import backlog
    from service.imports import ImportFormatError, parse_import

    try:
        parsed = parse_import(file.read_bytes(), format)
    except ImportFormatError as exc:
        raise fail(str(exc)) from exc
    result = backlog.import_and_index(open_runtime(), parsed.items, parsed.problems)
    for problem in result.problems:
        errors.print(f"[yellow]skipped or cut:[/] {problem}")
    console.print(f"{len(result.created)} imported, {len(result.skipped)} already in the backlog (same external id)")


app.command()(cli_duplicates.duplicates)
app.command()(cli_duplicates.reindex)
app.command()(cli_ingest.ingest)
app.command()(cli_prioritize.prioritize)
app.add_typer(cli_prioritize.strategy_app, name="strategy")

if __name__ == "__main__":
    app()
