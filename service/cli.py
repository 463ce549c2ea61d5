"""The `refinery` command line: `serve`, and each feature's commands."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Annotated

import typer

from pipelines.embeddings import EmbeddingsUnavailable
from pipelines.llm import LLMUnavailable
from pipelines.vectorstore import VectorStoreUnavailable
from service.backlog import cli as backlog
from service.conversations import cli as conversations
from service.core.cli import errors
from service.drafting import cli as drafting
from service.duplicates import cli as duplicates
from service.ingest import cli as ingest
from service.prioritization import cli as prioritization
from service.refinement import cli as refinement

app = typer.Typer(help="Refinery: raw ideas in, reviewed user stories out.", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    warm: Annotated[bool, typer.Option(help="Load the LLM and the duplicate index in the background at start.")] = True,
) -> None:
    """Start the review desk (at /) and the HTTP API (docs at /docs)."""
    import uvicorn

    from service import duplicates as feature
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
                    count = feature.detector(runtime).store.count()
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


@app.command(
    "eval",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def run_eval(context: typer.Context) -> None:
    """Run an eval suite: the same as `python -m evals ...` (the eval harness is its own entry point)."""
    raise typer.Exit(subprocess.call([sys.executable, "-m", "evals", *context.args]))


app.command()(drafting.draft)
app.add_typer(backlog.backlog_app, name="backlog")
app.command("export")(backlog.export)
app.command("import")(backlog.import_)
app.command()(duplicates.duplicates)
app.command()(duplicates.reindex)
app.command()(ingest.ingest)
app.command()(prioritization.prioritize)
app.add_typer(prioritization.strategy_app, name="strategy")
app.command()(refinement.refine)
app.command()(conversations.conversation)

if __name__ == "__main__":
    app()
