"""`refinery backlog list` and `show`, `refinery export` and `refinery import`."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from service.core.cli import (
    candidates_table,
    comment_in,
    comment_text,
    console,
    errors,
    fail,
    follow_job,
    open_runtime,
    print_thread,
    refusals,
)

if TYPE_CHECKING:
    from service.backlog.schemas import BacklogFilter
    from service.core.runtime import Runtime

backlog_app = typer.Typer(
    help="The backlog: list and search it, show one item, add and edit items of your own.", no_args_is_help=True
)
Search = Annotated[str | None, typer.Option("--search", "-q", help="Words in title, description or key.")]
ItemTypeOption = Annotated[str | None, typer.Option("--type", help="feature, bug, tech_debt or research.")]
LabelOption = Annotated[str | None, typer.Option("--label", help="Only items with this label.")]
StateOption = Annotated[str, typer.Option("--state", help="open, closed or all.")]
ParentOption = Annotated[str | None, typer.Option("--parent", help="Only the items under this one, by id or key.")]
ViewOption = Annotated[
    str | None, typer.Option("--view", help="A saved view's filters (`refinery view list`); options given win.")
]
MoveUnder = Annotated[str | None, typer.Option("--parent", help="The item it goes under (an epic), by id or key.")]
NoParent = Annotated[bool, typer.Option("--no-parent", help="Under no item.")]


ItemArgument = Annotated[str, typer.Argument(help="The item's id, or its tracker key (SHOP-12; quote a GitHub '#12').")]
Description = Annotated[str | None, typer.Option("--description", "-d", help="The description.")]
DescriptionFile = Annotated[
    Path | None, typer.Option("--file", dir_okay=False, help="Read the description from this file ('-': stdin).")
]
Labels = Annotated[list[str] | None, typer.Option("--label", help="A label (repeat the option for more).")]
Points = Annotated[int | None, typer.Option("--points", help="Story points, where the team has estimated it.")]
As = Annotated[str | None, typer.Option("--as", help="Who does it, for the item's history (default: your login name).")]
OPTIONS = {"q": "--search", "item_type": "--type", "story_points": "--points", "labels": "--label"}


def with_options(model: type[Any], names: dict[str, str] | None = None, **fields: Any) -> Any:
    """`model` made from the options' values; a CLI error naming each option (or argument, in `names`) at fault."""
    from pydantic import ValidationError

    named = OPTIONS | (names or {})
    try:
        return model(**fields)
    except ValidationError as exc:
        said = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else None
            said.append(f"{named.get(field, f'--{field}')}: {error['msg']}" if field else error["msg"])
        raise fail("; ".join(said)) from exc


def backlog_filter(
    runtime: Runtime,
    search: str | None,
    item_type: str | None,
    label: str | None,
    state: str,
    parent: str | None,
    view: str | None = None,
) -> BacklogFilter:
    """The filter the options ask for (`parent`: an item's id or key), over the saved view `view`'s when given (an
    option given wins); a CLI error naming each option at fault."""
    from service.backlog import service
    from service.backlog.schemas import BacklogFilter
    from service.core.enums import ViewTab
    from service.views.service import view_filters

    if view is not None:
        with refusals(), runtime.db.session() as session:
            saved = view_filters(session, view, ViewTab.backlog)
        search, label, parent = search or saved.get("q"), label or saved.get("label"), parent or saved.get("under")
        item_type, state = item_type or saved.get("type"), saved.get("state", state) if state == "all" else state
    under = None
    if parent:
        with refusals(), runtime.db.session() as session:
            under = service.find_item(session, parent).id
    return with_options(BacklogFilter, {"parent_id": "--parent"}, q=search, item_type=item_type, label=label,
                        state=state, parent_id=under)  # fmt: skip


def _moved(session: Any, parent: str | None, no_parent: bool) -> dict[str, int | None]:
    """`parent_id` as --parent (an id or key) or --no-parent ask for it, or nothing when neither is given."""
    from service.backlog import service

    if not parent and not no_parent:
        return {}
    return {"parent_id": service.find_item(session, parent).id if parent else None}


def _description(given: str | None, file: Path | None) -> str | None:
    """The description from `--description` or `--file` (not both); None when neither is given."""
    if given is not None and file is not None:
        raise fail("give the description with --description or --file, not both")
    if file is None:
        return given
    try:
        return sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read the description from {file}: {exc}") from exc


@backlog_app.command("add")
def backlog_add(
    title: Annotated[str, typer.Argument(help="The item's title.")],
    description: Description = None,
    file: DescriptionFile = None,
    item_type: Annotated[str, typer.Option("--type", help="feature, bug, tech_debt or research.")] = "feature",
    labels: Labels = None,
    points: Points = None,
    anyway: Annotated[
        bool, typer.Option("--anyway", help="Add it even where items alike are found, without asking.")
    ] = False,
    added_by: As = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new item as JSON.")] = False,
) -> None:
    """Add an item of your own. The backlog and pending drafts are searched for it first: where some look alike
    they are listed, and it is added only if you say so (or give --anyway)."""
    from service import duplicates
    from service.backlog import service
    from service.backlog.schemas import BacklogItemCreate
    from service.core.schemas import BacklogItemPublic

    text = _description(description, file) or ""
    data = with_options(
        BacklogItemCreate,
        {"title": "TITLE"},
        title=title,
        description=text,
        item_type=item_type,
        labels=labels or [],
        story_points=points,
    )
    runtime = open_runtime(index=True)
    alike = []
    if runtime.settings.duplicate_check:
        with refusals():
            found = duplicates.search_text(runtime, f"{data.title}\n{data.description.strip()}".strip(), 5)
        alike = [c for c in found if c["verdict"] != "distinct"]
    if alike and not anyway:
        console.print(candidates_table(f"Already here, and may be the same as {data.title!r}", alike))
        if not sys.stdin.isatty() or not typer.confirm("Add it anyway?", default=False, err=True):
            raise fail("nothing added: use what is there, or add it with --anyway")
    with refusals():
        imported = service.import_and_index(runtime, [data], added_by=added_by or getpass.getuser())
    (item,) = imported.created
    if as_json:
        print(BacklogItemPublic.model_validate(item).model_dump_json(indent=2))
    else:
        console.print(f"Added #{item.id} {item.title}", markup=False, highlight=False)
        console.print(f"Its quality findings: `refinery refine --check --item {item.id}`", markup=False)


@backlog_app.command("edit")
def backlog_edit(
    item: ItemArgument,
    title: Annotated[str | None, typer.Option("--title", help="The new title.")] = None,
    description: Description = None,
    file: DescriptionFile = None,
    item_type: Annotated[str | None, typer.Option("--type", help="feature, bug, tech_debt or research.")] = None,
    labels: Annotated[
        list[str] | None, typer.Option("--label", help="The item's labels, all of them (repeat the option).")
    ] = None,
    no_labels: Annotated[bool, typer.Option("--no-labels", help="Remove every label.")] = False,
    points: Points = None,
    no_points: Annotated[bool, typer.Option("--no-points", help="Clear the story points.")] = False,
    closed: Annotated[
        bool | None, typer.Option("--close/--reopen", help="Done or cancelled (history, not work), or open again.")
    ] = None,
    depends_on: Annotated[
        list[str] | None,
        typer.Option(
            "--depends-on", help="An item it waits for, by id or key (repeat the option): all of them, replacing."
        ),
    ] = None,
    no_depends_on: Annotated[bool, typer.Option("--no-depends-on", help="It waits for nothing.")] = False,
    parent: MoveUnder = None,
    no_parent: NoParent = False,
    edited_by: As = None,
) -> None:
    """Change an item's fields, as the desk's Edit does: the item's history keeps each change with who made it, and
    suggestions pending on its old text become stale."""
    from service.backlog import service
    from service.backlog.schemas import BacklogItemUpdate
    from service.core.schemas import BacklogItemPublic

    if labels and no_labels or points is not None and no_points or depends_on and no_depends_on or parent and no_parent:
        raise fail(
            "--label and --no-labels, --points and --no-points, --depends-on and --no-depends-on, or --parent and "
            "--no-parent contradict each other: give one"
        )
    given = {"title": title, "description": _description(description, file), "item_type": item_type}
    given |= {"labels": [] if no_labels else labels, "story_points": points, "closed": closed}
    wanted = {name: value for name, value in given.items() if value is not None}
    wanted |= {"story_points": None} if no_points else {}
    if not wanted and not depends_on and not no_depends_on and not parent and not no_parent:
        raise fail(
            "nothing to change: give --title, --description or --file, --type, --label or --no-labels, "
            "--points or --no-points, --close or --reopen, --depends-on or --no-depends-on, --parent or --no-parent"
        )
    runtime = open_runtime(index=True)
    with refusals():
        with runtime.db.session() as session:
            before = BacklogItemPublic.model_validate(service.find_item(session, item))
            if depends_on or no_depends_on:
                wanted["depends_on"] = [service.find_item(session, key).id for key in depends_on or []]
            wanted |= _moved(session, parent, no_parent)
        edit = with_options(BacklogItemUpdate, {"depends_on": "--depends-on", "parent_id": "--parent"}, **wanted)
        edited = service.edit_item(runtime, before.id, edit, edited_by or getpass.getuser())
        after = BacklogItemPublic.model_validate(edited)
    changed = [
        name for name in type(edit).model_fields if name in wanted and getattr(before, name) != getattr(after, name)
    ]
    said = f"{', '.join(changed)} changed" if changed else "nothing changed: it already says that"
    console.print(f"#{after.id} {after.title}: {said}", markup=False, highlight=False)


@backlog_app.command("bulk")
def backlog_bulk(
    items: Annotated[list[str], typer.Argument(help="The items' ids or tracker keys (SHOP-12).")],
    add_labels: Annotated[list[str] | None, typer.Option("--add-label", help="A label each gets (repeat).")] = None,
    remove_labels: Annotated[
        list[str] | None, typer.Option("--remove-label", help="A label taken off each (repeat).")
    ] = None,
    item_type: ItemTypeOption = None,
    closed: Annotated[bool | None, typer.Option("--close/--reopen", help="Done or cancelled, or open again.")] = None,
    parent: MoveUnder = None,
    no_parent: NoParent = False,
    edited_by: As = None,
) -> None:
    """Edit several items alike (Jira's bulk change): labels added or removed, the type, closed or reopened, moved
    under an epic or out of any; each change in its item's history."""
    from service.backlog import service
    from service.backlog.schemas import BacklogBulkEdit

    if parent and no_parent:
        raise fail("--parent and --no-parent contradict each other: give one")
    if not (add_labels or remove_labels or item_type or closed is not None or parent or no_parent):
        raise fail("nothing to change: give --add-label, --remove-label, --type, --close or --reopen, --parent or "
                   "--no-parent")  # fmt: skip
    runtime = open_runtime(index=True)
    with refusals():
        with runtime.db.session() as session:
            ids = [service.find_item(session, given).id for given in items]
            moved = _moved(session, parent, no_parent)
        bulk = with_options(
            BacklogBulkEdit,
            {"item_ids": "ITEMS", "add_labels": "--add-label", "remove_labels": "--remove-label", "closed": "--close",
             "parent_id": "--parent"},
            item_ids=ids, add_labels=add_labels or [], remove_labels=remove_labels or [], item_type=item_type,
            closed=closed, **moved,
        )  # fmt: skip
        edited = service.edit_items(runtime, bulk, edited_by or getpass.getuser())
    named = {"changed": edited.changed, "already so": edited.unchanged}
    said = [f"{len(some)} {what}: {', '.join(f'#{i}' for i in some)}" for what, some in named.items() if some]
    said += [f"#{r.id} not edited: {r.detail}" for r in edited.refused]
    for line in said:
        console.print(line, markup=False, highlight=False)


@backlog_app.command("show")
def backlog_show(
    item: ItemArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print the item as JSON.")] = False,
) -> None:
    """One item: its fields, description, parent and children, evidence, and the suggestions pending on it."""
    from sqlalchemy import select

    from service.backlog import service
    from service.core.comments import Thread, list_comments
    from service.core.enums import ItemAction, SuggestionStatus
    from service.core.schemas import BacklogItemPublic, CommentPublic
    from service.core.summaries import summary
    from service.core.tables import BacklogItem, ItemEvent, Suggestion

    runtime = open_runtime()
    with refusals(), runtime.db.session() as session:
        found = BacklogItemPublic.model_validate(service.find_item(session, item))
        thread = [CommentPublic.model_validate(c) for c in list_comments(session, Thread(item_id=found.id))]
        children = select(BacklogItem).where(BacklogItem.parent_id == found.id).order_by(BacklogItem.id)
        kids = [f"child #{c.id} {c.title}" + (" (closed)" if c.closed else "") for c in session.scalars(children)]
        waits, blocks = service.links(session, found)
        kids += [f"{how} #{i.id} {i.title}" + (" (closed)" if i.closed else "") for how, i in _linked(waits, blocks)]
        added = session.scalars(
            select(ItemEvent).where(ItemEvent.item_id == found.id, ItemEvent.action == ItemAction.added).limit(1)
        ).first()
        pending = session.scalars(select(Suggestion).where(Suggestion.status == SuggestionStatus.pending))
        on_it = [(s.id, s.kind, summary(s)) for s in pending if (s.input or {}).get("backlog_item_id") == found.id]
    if as_json:
        print(found.model_dump_json(indent=2))
        return
    key = service.item_key(found) if found.external_id else None
    heading = f"#{found.id}{f' {key}' if key else ''} {found.title}" + (" (closed)" if found.closed else "")
    points = "no points" if found.story_points is None else f"{found.story_points} points"
    facts = [found.item_type, f"priority {found.priority or '-'}", points, f"labels: {', '.join(found.labels) or '-'}"]
    facts += [f"merged into #{found.merged_into_id}"] if found.merged_into_id else []
    facts += [f"child of #{found.parent_id}"] if found.parent_id else []
    facts += [f"added by {added.actor or 'someone'} on {added.at:%Y-%m-%d}"] if added else []
    evidence = found.evidence or {}
    if evidence.get("ticket_count"):
        facts.append(f"evidence: {evidence['ticket_count']} tickets, {evidence.get('distinct_customers', 0)} customers")
    for line in [heading, " · ".join(facts), *kids, "", found.description or "(no description)"]:
        console.print(line, markup=False, highlight=False, style="bold" if line is heading else None)
    for suggestion_id, kind, said in on_it:
        console.print(f"pending: #{suggestion_id} {kind}: {said} (refinery review show {suggestion_id})", markup=False)
    print_thread(thread)


@backlog_app.command("comment")
def backlog_comment(
    item: ItemArgument,
    text: Annotated[str, typer.Argument(help="The comment ('-': read it from standard input).")],
    author: Annotated[str | None, typer.Option("--as", help="Who comments (default: your login name).")] = None,
    edited: Annotated[
        int | None, typer.Option("--edit", help="Change your comment of this id to TEXT instead.")
    ] = None,
) -> None:
    """Comment on a backlog item (an answer to an open question, what refinement settled); `@name` tells that person.
    It changes nothing on the item."""
    from service.backlog import service
    from service.core.comments import Thread

    said = comment_text(text)
    with refusals(), open_runtime().db.session() as session:
        found = service.find_item(session, item)
        comment_in(session, Thread(item_id=found.id), f"item #{found.id}", said, author, edited)


def _linked(waits: list[Any], blocks: list[Any]) -> list[tuple[str, Any]]:
    return [("waits for", i) for i in waits] + [("blocks", i) for i in blocks]


@backlog_app.command("labels")
def backlog_labels(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The labels the items use, each with how many items carry it, most used first."""
    from service.backlog import service

    runtime = open_runtime()
    with runtime.db.session() as session:
        counted = service.label_counts(session)
    if as_json:
        print(json.dumps([{"label": label, "items": n} for label, n in counted], indent=2))
        return
    table = Table("label", "items", title=f"Labels ({len(counted)})")
    for label, n in counted:
        table.add_row(label, str(n))
    console.print(table)


@backlog_app.command("list")
def backlog_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    search: Search = None,
    item_type: ItemTypeOption = None,
    label: LabelOption = None,
    state: StateOption = "all",
    parent: ParentOption = None,
    by_rank: Annotated[
        bool,
        typer.Option("--by-rank", help="In the backlog's order (ranked first), with each rank ('by hand' marked)."),
    ] = False,
    view: ViewOption = None,
) -> None:
    """List backlog items (filtered by words, type, label, state and the item they are under)."""
    from service.backlog import service
    from service.core.schemas import BacklogItemPublic

    runtime = open_runtime()
    shown = backlog_filter(runtime, search, item_type, label, state, parent, view)
    with runtime.db.session() as session:
        found = service.list_items(session, limit, order="priority" if by_rank else "id", shown=shown)
        items = [BacklogItemPublic.model_validate(i) for i in found]
        total = service.count_items(session, shown=shown)
    if as_json:
        print(json.dumps([i.model_dump(mode="json") for i in items], indent=2))
        return
    noun = "item" if total == 1 else "items"
    shown_of = f"{len(items)} of {total} {noun}" if total > len(items) else f"{total} {noun}"
    headings = ("rank",) * by_rank + ("id", "key", "type", "priority", "points", "title", "labels")
    table = Table(*headings, title=f"Backlog ({shown_of})")
    for item in items:
        key = service.item_key(item) if item.external_id else "-"
        points = "-" if item.story_points is None else str(item.story_points)
        title = f"{item.title} (child of #{item.parent_id})" if item.parent_id else item.title
        title += f" (waits for {', '.join(f'#{i}' for i in item.depends_on)})" if item.depends_on else ""
        title += " (closed)" if item.closed else ""
        row = [str(item.id), key, item.item_type, item.priority or "-", points, title, ", ".join(item.labels)]
        rank = f"{item.priority_rank or '-'}{' by hand' if item.ranked_by else ''}"
        table.add_row(*([rank] if by_rank else []), *row)
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
    parent: ParentOption = None,
    view: ViewOption = None,
) -> None:
    """Export the backlog (by priority rank), or the items the filters ask for, in a format Jira, Linear or GitHub
    imports."""
    from service.backlog import service

    runtime = open_runtime()
    shown = backlog_filter(runtime, search, item_type, label, state, parent, view)
    try:
        content, _, count = service.export_backlog(runtime, format, shown)  # type: ignore[arg-type]
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if output:
        Path(output).write_text(content, encoding="utf-8")
        errors.print(f"{count} items written to {output}")
    else:
        print(content)


def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A Jira, GitHub or Linear export.")],
    format: Annotated[
        str, typer.Option(help="jira_csv, jira_json, github_json, linear_csv or linear_json.")
    ] = "jira_csv",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what it would add and update.")] = False,
) -> None:
    """Import existing issues into the backlog; importing the same issues again adds nothing and takes the
    tracker's changes since the last import (fields changed here too are kept, and listed)."""
    from service.backlog import jobs
    from service.backlog.importers import ImportFormatError, parse_import
    from service.core.tables import ImportJob

    try:
        parsed = parse_import(file.read_bytes(), format)
    except ImportFormatError as exc:
        raise fail(str(exc)) from exc
    runtime = open_runtime()
    with refusals():
        job = jobs.create_job(runtime, ImportJob, f"{file.name} ({format})", parsed, getpass.getuser(), dry_run)
    print_imported(follow_job(runtime, job.id, jobs.JOB.run, jobs.get_job, f"importing {file.name}"))


def print_imported(job: Any) -> None:
    """An import job's outcome (a file's or a pull's): what the parser skipped, fields kept as here, the counts; a
    CLI error saying why when it failed."""
    if job.status != "done":
        raise fail("; ".join(job.errors) or f"the import {job.status}")
    for problem in job.problems[:20]:
        errors.print(f"[yellow]skipped or cut:[/] {escape(problem)}")
    if len(job.problems) > 20:
        errors.print(f"[yellow]and {len(job.problems) - 20} more skipped or cut[/]")
    for update in job.updates:
        said = f"{update['external_id']} (#{update['item_id']})"
        if job.dry_run and update["changed"]:
            console.print(f"would update {said}: {', '.join(update['changed'])}")
        if update["kept"]:
            kept = ", ".join(update["kept"])
            errors.print(f"[yellow]kept as here:[/] {said}: {kept} changed both here and in the tracker")
    if job.dry_run:
        console.print(
            f"would import {job.created}, update {job.updated} from the tracker, leave {job.unchanged} unchanged "
            "(a dry run: nothing was written)"
        )
        return
    console.print(
        f"{job.created} imported, {job.updated} updated from the tracker, {job.unchanged} already in the backlog and "
        "unchanged"
    )
