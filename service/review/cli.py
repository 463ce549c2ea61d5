"""`refinery review`: list, show, accept and reject suggestions from a terminal, as the desk and the API do."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.table import Table

from service.core.cli import console, errors, fail, open_runtime, refusals

review_app = typer.Typer(help="Review suggestions: nothing enters the backlog until a person accepts it.")
Ids = Annotated[list[int], typer.Argument(help="Suggestion ids (see `refinery review list`).")]
As = Annotated[str | None, typer.Option("--as", help="Who decides (default: your login name).")]


def _titled(payload: dict[str, Any], *keys: str) -> str:
    return next((str(payload[key]) for key in keys if payload.get(key)), "")


def _merge(p: dict[str, Any], g: dict[str, Any]) -> str:
    return f'merge "{_titled(p.get("fold_in") or {}, "title")}" into "{_titled(p.get("keep") or {}, "title")}"'


def _split(p: dict[str, Any], g: dict[str, Any]) -> str | None:
    if "children" not in p:
        return None
    return f'split "{g.get("title", "")}" into {len(p["children"])} stories ({p.get("pattern")})'


def _priority(p: dict[str, Any], g: dict[str, Any]) -> str | None:
    if "proposed_priority" not in p:
        return None
    return f'priority of "{_titled(p, "item_title", "title")}": {p["proposed_priority"]}'


# What each kind proposes, from its payload and input; None: the payload lacks it (a failed suggestion's raw output).
PROPOSES: dict[str, Callable[[dict[str, Any], dict[str, Any]], str | None]] = {
    "merge": _merge,
    "split": _split,
    "priority": _priority,
    "sprint_plan": lambda p, g: f"sprint plan: {p.get('points_used')} of {p.get('capacity_points')} points",
    "estimate": lambda p, g: f'{p.get("points", "?")} points for "{g.get("title", "")}"',
    "rewrite": lambda p, g: f'rewrite "{g.get("title", "")}" as "{p["title"]}"' if "title" in p else None,
    "evidence": lambda p, g: f'evidence for "{_titled(p, "title", "backlog_item_title") or g.get("title", "")}"',
    "item_change": lambda p, g: f'change to "{p.get("item_title", "")}": {p.get("detail", "")}',
}


def summary(suggestion: Any) -> str:
    """One line on what a suggestion proposes, whatever its kind."""
    payload, given = suggestion.payload or {}, suggestion.input or {}
    if said := PROPOSES.get(suggestion.kind, lambda p, g: None)(payload, given):
        return said
    named = _titled(payload, "decision", "task", "title", "item_title", "text") or _titled(given, "title")
    return named or " ".join(str(given.get("text") or suggestion.reason or "").split())[:100]


@review_app.command("list")
def review_list(
    status: Annotated[str, typer.Option(help="pending, failed, accepted, rejected or all.")] = "pending",
    kind: Annotated[str | None, typer.Option(help="story_draft, merge, evidence, priority, rewrite, ...")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Suggestions, newest first (pending ones by default)."""
    from service.core import suggestions
    from service.core.enums import SuggestionKind, SuggestionStatus

    statuses, kinds = [*SuggestionStatus, "all"], list(SuggestionKind)
    if status not in statuses:
        raise fail(f"--status {status!r} is unknown; choose one of: {', '.join(statuses)}")
    if kind is not None and kind not in kinds:
        raise fail(f"--kind {kind!r} is unknown; choose one of: {', '.join(kinds)}")
    wanted = None if status == "all" else SuggestionStatus(status)
    of_kind = SuggestionKind(kind) if kind else None
    runtime = open_runtime()
    with runtime.db.session() as session:
        found = suggestions.list_suggestions(session, wanted, of_kind, limit, 0)
        rows = [(str(s.id), s.kind, s.status, summary(s), s.created_at.strftime("%Y-%m-%d %H:%M")) for s in found]
    table = Table("id", "kind", "status", "what", "created", title=f"Suggestions ({len(rows)} shown)")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@review_app.command("show")
def review_show(
    suggestion_id: Annotated[int, typer.Argument(help="The suggestion's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole suggestion as JSON.")] = False,
) -> None:
    """One suggestion: what it proposes, its warnings, what it was made from and by which model and prompt."""
    from service.core import suggestions
    from service.core.schemas import SuggestionPublic

    runtime = open_runtime()
    with refusals(), runtime.db.session() as session:
        shown = SuggestionPublic.model_validate(suggestions.get_suggestion(session, suggestion_id))
    if as_json:
        print(shown.model_dump_json(indent=2))
        return
    console.print(f"[bold]#{shown.id} {shown.kind}[/] ({shown.status}): {summary(shown)}")
    console.print(f"model {shown.model} ({shown.provider}), prompt {shown.prompt_version}")
    for warning in shown.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if shown.reason:
        console.print(f"reason: {shown.reason}")
    console.print_json(json.dumps(shown.payload))
    if shown.evidence:
        console.print(f"evidence: {', '.join(sorted(shown.evidence))} (`--json` shows it)")


def _decided(runtime: Any, verb: str, ids: list[int], decide: Any) -> None:
    """Decide each, say what became of it (and the backlog item an accept made or changed); exit 1 if any was
    refused."""
    from service.core import suggestions
    from service.review import decisions

    decided, refused = decisions.decide_many(ids, decide)
    with runtime.db.session() as session:
        for suggestion_id in decided:
            item = suggestions.get_suggestion(session, suggestion_id).backlog_item_id
            console.print(f"{verb} #{suggestion_id}" + (f": backlog item #{item}" if item else ""))
    for suggestion_id, exc in refused:
        errors.print(f"[bold red]not {verb}:[/] #{suggestion_id}: {exc}")
    if refused:
        raise typer.Exit(code=1)


@review_app.command("accept")
def review_accept(ids: Ids, decided_by: As = None) -> None:
    """Accept suggestions as they are (edit them first in the desk or with the API's `edits`)."""
    from service.review import decisions

    runtime = open_runtime(index=True)
    who = decided_by or getpass.getuser()
    _decided(runtime, "accepted", ids, lambda i: decisions.accept(runtime, i, actor=who))


@review_app.command("reject")
def review_reject(
    ids: Ids,
    reason: Annotated[str, typer.Option(help="Why (kept with each suggestion).")],
    decided_by: As = None,
) -> None:
    """Reject suggestions for one reason."""
    from service.review import decisions

    if not reason.strip():
        raise fail("--reason is empty: say why you reject them")
    runtime = open_runtime(index=True)
    who = decided_by or getpass.getuser()
    _decided(runtime, "rejected", ids, lambda i: decisions.reject(runtime, i, reason.strip(), who))
