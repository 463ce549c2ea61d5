"""`refinery backlog list` and `show`, `refinery export` and `refinery import`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from service.core.cli import console, errors, fail, open_runtime

if TYPE_CHECKING:
    from service.backlog.schemas import BacklogFilter

backlog_app = typer.Typer(help="Read the backlog: list and search it, show one item.", no_args_is_help=True)
Search = Annotated[str | None, typer.Option("--search", "-q", help="Words in title, description or key.")]
ItemTypeOption = Annotated[str | None, typer.Option("--type", help="feature, bug, tech_debt or research.")]
LabelOption = Annotated[str | None, typer.Option("--label", help="Only items with this label.")]
StateOption = Annotated[str, typer.Option("--state", help="open, closed or all.")]


def backlog_filter(search: str | None, item_type: str | None, label: str | None, state: str) -> BacklogFilter:
    """The filter the options ask for; a CLI error naming each option at fault."""
    from pydantic import ValidationError

    from service.backlog.schemas import BacklogFilter

    try:
        return BacklogFilter(q=search, item_type=item_type, label=label, state=state)
    except ValidationError as exc:
        options = {"q": "--search", "item_type": "--type"}
        said = (f"{options.get(str(e['loc'][0]), '--' + str(e['loc'][0]))}: {e['msg']}" for e in exc.errors())
        raise fail("; ".join(said)) from exc


@backlog_app.command("show")
def backlog_show(
    item: Annotated[str, typer.Argument(help="The item's id, or its tracker key (SHOP-12; quote a GitHub '#12').")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the item as JSON.")] = False,
) -> None:
    """One item: its fields, description, parent and children, evidence, and the suggestions pending on it."""
    from sqlalchemy import select

    from service.backlog import service
    from service.core.cli import refusals
    from service.core.enums import SuggestionStatus
    from service.core.schemas import BacklogItemPublic
    from service.core.summaries import summary
    from service.core.tables import BacklogItem, Suggestion

    runtime = open_runtime()
    with refusals(), runtime.db.session() as session:
        found = BacklogItemPublic.model_validate(service.find_item(session, item))
        children = select(BacklogItem).where(BacklogItem.parent_id == found.id).order_by(BacklogItem.id)
        kids = [f"child #{c.id} {c.title}" + (" (closed)" if c.closed else "") for c in session.scalars(children)]
        pending = session.scalars(select(Suggestion).where(Suggestion.status == SuggestionStatus.pending))
        on_it = [(s.id, s.kind, summary(s)) for s in pending if (s.input or {}).get("backlog_item_id") == found.id]
    if as_json:
        print(found.model_dump_json(indent=2))
        return
    key = found.external_id.split(":", 1)[-1] if found.external_id else None
    heading = f"#{found.id}{f' {key}' if key else ''} {found.title}" + (" (closed)" if found.closed else "")
    points = "no points" if found.story_points is None else f"{found.story_points} points"
    facts = [found.item_type, f"priority {found.priority or '-'}", points, f"labels: {', '.join(found.labels) or '-'}"]
    facts += [f"merged into #{found.merged_into_id}"] if found.merged_into_id else []
    facts += [f"child of #{found.parent_id}"] if found.parent_id else []
    evidence = found.evidence or {}
    if evidence.get("ticket_count"):
        facts.append(f"evidence: {evidence['ticket_count']} tickets, {evidence.get('distinct_customers', 0)} customers")
    for line in [heading, " · ".join(facts), *kids, "", found.description or "(no description)"]:
        console.print(line, markup=False, highlight=False, style="bold" if line is heading else None)
    for suggestion_id, kind, said in on_it:
        console.print(f"pending: #{suggestion_id} {kind}: {said} (refinery review show {suggestion_id})", markup=False)


@backlog_app.command("list")
def backlog_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    search: Search = None,
    item_type: ItemTypeOption = None,
    label: LabelOption = None,
    state: StateOption = "all",
) -> None:
    """List backlog items (filtered by words, type, label and state)."""
    from service.backlog import service
    from service.core.schemas import BacklogItemPublic

    shown = backlog_filter(search, item_type, label, state)
    runtime = open_runtime()
    with runtime.db.session() as session:
        items = [BacklogItemPublic.model_validate(i) for i in service.list_items(session, limit, shown=shown)]
        total = service.count_items(session, shown=shown)
    if as_json:
        print(json.dumps([i.model_dump(mode="json") for i in items], indent=2))
        return
    noun = "item" if total == 1 else "items"
    shown_of = f"{len(items)} of {total} {noun}" if total > len(items) else f"{total} {noun}"
    table = Table("id", "key", "type", "priority", "points", "title", "labels", title=f"Backlog ({shown_of})")
    for item in items:
        key = item.external_id.split(":", 1)[-1] if item.external_id else "-"
        points = "-" if item.story_points is None else str(item.story_points)
        title = f"{item.title} (child of #{item.parent_id})" if item.parent_id else item.title
        title += " (closed)" if item.closed else ""
        table.add_row(str(item.id), key, item.item_type, item.priority or "-", points, title, ", ".join(item.labels))
    console.print(table)


def export(
    format: Annotated[
        str, typer.Option(help="jira_csv, jira_json, linear_json, github_json or markdown.")
    ] = "markdown",
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")] = None,
    search: Search = None,
    item_type: ItemTypeOption = None,
    label: LabelOption = None,
    state: StateOption = "all",
) -> None:
    """Export the backlog (by priority rank), or the items the filters ask for, in a format Jira, Linear or GitHub
    imports."""
    from service.backlog import service

    shown = backlog_filter(search, item_type, label, state)
    try:
        content, _, count = service.export_backlog(open_runtime(), format, shown)  # type: ignore[arg-type]
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if output:
        Path(output).write_text(content, encoding="utf-8")
        errors.print(f"{count} items written to {output}")
    else:
        print(content)


def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A Jira, GitHub or Linear export.")],
    format: Annotated[str, typer.Option(help="jira_csv, github_json, linear_csv or linear_json.")] = "jira_csv",
) -> None:
    """Import existing issues into the backlog; importing the same issues again adds nothing and takes the
    tracker's changes since the last import (fields changed here too are kept, and listed)."""
    from service.backlog import service
    from service.backlog.importers import ImportFormatError, parse_import

    try:
        parsed = parse_import(file.read_bytes(), format)
    except ImportFormatError as exc:
        raise fail(str(exc)) from exc
    imported = service.import_and_index(open_runtime(), parsed.items, parsed.problems)
    for problem in imported.problems:
        errors.print(f"[yellow]skipped or cut:[/] {problem}")
    for update in imported.updated:
        if update.kept:
            errors.print(
                f"[yellow]kept as here:[/] {update.external_id} (#{update.item_id}): {', '.join(update.kept)} "
                "changed both here and in the tracker"
            )
    console.print(
        f"{len(imported.created)} imported, {len(imported.updated)} updated from the tracker, "
        f"{len(imported.skipped)} already in the backlog and unchanged"
    )
