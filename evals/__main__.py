"""`python -m evals SUITE [options]` (installed as `refinery-eval`): run one eval suite, print its tables and write
its JSON report under evals/reports/. The LLM is configured by the same environment variables as the service
(REFINERY_LLM_PROVIDER, REFINERY_LLM_MODEL, OPENAI_API_KEY, ...), without importing the service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress

from evals import report
from evals.suites import (
    conversations,
    dependencies,
    drafting,
    duplicates,
    estimate,
    ingest,
    injection,
    labels,
    learning,
    meetings,
    pii,
    prioritization,
    quality,
    rewrite,
    split,
    split_thread,
)
from evals.task import SPLITS, EvalError, EvalOptions
from pipelines.llm import LLM, LLMSettings, LLMUnavailable, build_llm

SUITES = {
    "drafting": drafting,
    "duplicates": duplicates,
    "ingest": ingest,
    "prioritization": prioritization,
    "dependencies": dependencies,
    "estimate": estimate,
    "labels": labels,
    "quality": quality,
    "split": split,
    "split_thread": split_thread,
    "rewrite": rewrite,
    "meetings": meetings,
    "conversations": conversations,
    "injection": injection,
    "pii": pii,
    "learning": learning,
}
ALIASES = {"story_drafting": "drafting", "ingestion": "ingest"}  # the suites' first names
PROVIDERS = ("local", "openai")

console = Console()
errors = Console(stderr=True)
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def fail(message: str) -> typer.Exit:
    """Print the one-line error; the caller raises the exit (code 2)."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def eval_llm(provider: str | None) -> LLM:
    """The LLM from the environment (as the service configures it), or on `provider` instead."""
    try:
        settings = LLMSettings()
    except ValidationError as exc:
        raise fail(f"LLM settings in the environment: {exc.errors()[0]['msg']} ({exc.errors()[0]['loc']})") from exc
    if provider:
        settings = settings.model_copy(update={"llm_provider": provider})
    if settings.llm_provider not in PROVIDERS:
        raise fail(f"provider {settings.llm_provider!r} has no answers to score; use --provider local or openai")
    try:
        return build_llm(settings.llm_config())
    except LLMUnavailable as exc:
        raise fail(str(exc)) from exc


@app.command()
def run(
    suite: Annotated[str, typer.Argument(help=f"Eval suite: {', '.join(SUITES)}.", show_default=False)],
    split: Annotated[str, typer.Option(help="test (the reported set) or dev (for tuning).")] = "test",
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Only the first N samples (duplicates: reports; prioritization: reports per level)."),
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="LLM provider: local or openai (default: REFINERY_LLM_PROVIDER).")
    ] = None,
    calibrate: Annotated[
        bool,
        typer.Option(
            help="On dev. duplicates: choose the blend weight and thresholds and save them; "
            "estimate: sweep k and the prior weight, and compare learned regressors."
        ),
    ] = False,
    use_llm: Annotated[bool, typer.Option("--llm/--no-llm", help="ingest: also draft every theme.")] = True,
    reports: Annotated[Path, typer.Option(help="Write the JSON report into this folder.")] = report.REPORTS_DIR,
) -> None:
    """Run an eval suite: prints its tables and writes a JSON report."""
    name = ALIASES.get(suite, suite)
    if name not in SUITES:
        raise fail(f"unknown suite {suite!r}; choose one of: {', '.join(SUITES)}")
    if split not in SPLITS:
        raise fail(f"unknown split {split!r}; use {' or '.join(SPLITS)}")
    if provider is not None and provider not in PROVIDERS:
        raise fail(f"unknown provider {provider!r}; use local or openai (fake has no answers to score)")
    module = SUITES[name]
    llm = eval_llm(provider) if module.NEEDS_LLM and use_llm else None
    with Progress(console=errors, transient=True, disable=not errors.is_terminal) as progress:
        task = progress.add_task(f"{name} ({split})", total=None)
        options = EvalOptions(
            split=split,  # type: ignore[arg-type]  # checked above
            limit=limit,
            llm=llm,
            calibrate=calibrate,
            use_llm=use_llm,
            log=progress.console.print,
            on_sample=lambda done, total: progress.update(task, completed=done, total=total),
        )
        try:
            result = module.run(options)
        except EvalError as exc:
            raise fail(str(exc)) from exc
    report.show(result, console)
    console.print(f"report: {report.write(result, reports)}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
