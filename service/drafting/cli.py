"""`refinery draft`: a story drafted from a raw idea, its fields printed as the model writes them."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.llm import CallEvent, LLMUnavailable
from service.core.cli import console, errors, fail, open_runtime


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


def draft(
    text: Annotated[str, typer.Argument(help="The raw idea, request or bug note.")],
    context: Annotated[str | None, typer.Option(help="Product context.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the suggestion as JSON.")] = False,
) -> None:
    """Draft a user story from a raw idea and store it as a pending suggestion; the fields print as the model
    writes them."""
    from service.core.schemas import SuggestionPublic
    from service.drafting.service import create_draft

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
        console.print(f"[dim]Into the backlog: refinery review accept {public.id} (or edit it in the review desk)[/]")
    if public.status == "failed":
        raise typer.Exit(code=1)
