"""`refinery review`: list, show, accept and reject suggestions from a terminal, as the desk and the API do."""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any

import click
import typer
from rich.markup import escape
from rich.table import Table

from service.core.cli import (
    comment_in,
    comment_text,
    console,
    errors,
    fail,
    open_runtime,
    print_thread,
    refusals,
)
from service.core.summaries import summary

review_app = typer.Typer(help="Review suggestions: nothing enters the backlog until a person accepts it.")
Ids = Annotated[list[int], typer.Argument(help="Suggestion ids (see `refinery review list`).")]
As = Annotated[str | None, typer.Option("--as", help="Who decides (default: your login name).")]


@review_app.command("list")
def review_list(
    status: Annotated[str, typer.Option(help="pending, failed, accepted, rejected or all.")] = "pending",
    kind: Annotated[str | None, typer.Option(help="story_draft, merge, evidence, priority, rewrite, ...")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="Words in what it proposes or was made from.")
    ] = None,
    assignee: Annotated[str | None, typer.Option(help="Given to this person ('me': your login name).")] = None,
    unassigned: Annotated[bool, typer.Option("--unassigned", help="Given to no one.")] = False,
    view: Annotated[
        str | None, typer.Option("--view", help="A saved view's filters (`refinery view list`); options given win.")
    ] = None,
) -> None:
    """Suggestions, newest first (pending ones by default)."""
    from service.core import suggestions
    from service.core.enums import SuggestionKind, SuggestionStatus, ViewTab
    from service.views.service import view_filters

    if view is not None:
        with refusals(), open_runtime().db.session() as session:
            saved = view_filters(session, view, ViewTab.review)
        status = (saved.get("status", "pending") or "all") if status == "pending" else status
        kind, search = kind or saved.get("kind"), search or saved.get("q")
        assignee = assignee or ("me" if saved.get("assigned") == "me" else None)
        unassigned = unassigned or saved.get("assigned") == "none"

    statuses, kinds = [*SuggestionStatus, "all"], list(SuggestionKind)
    if status not in statuses:
        raise fail(f"--status {status!r} is unknown; choose one of: {', '.join(statuses)}")
    if kind is not None and kind not in kinds:
        raise fail(f"--kind {kind!r} is unknown; choose one of: {', '.join(kinds)}")
    wanted = None if status == "all" else SuggestionStatus(status)
    of_kind = SuggestionKind(kind) if kind else None
    runtime = open_runtime()
    with runtime.db.session() as session:
        who = _person(assignee)
        found = suggestions.list_suggestions(
            session, suggestions.Filter(wanted, of_kind, search, who, unassigned), limit
        )
        accepted = suggestions.acceptances(session, [s.id for s in found if s.status == SuggestionStatus.accepted])
        rows = [
            (
                str(s.id),
                s.kind,
                *_as_decided(s.status, summary(s), accepted.get(s.id)),
                s.assignee or "",
                str(s.comment_count or ""),
                s.created_at.strftime("%Y-%m-%d %H:%M"),
            )
            for s in found
        ]
    headings = ("id", "kind", "status", "what", "assignee", "comments", "created")
    shown = [k for k, name in enumerate(headings) if name not in ("assignee", "comments") or any(r[k] for r in rows)]
    table = Table(*(headings[k] for k in shown), title=f"Suggestions ({len(rows)} shown)")  # no empty columns
    for row in rows:
        table.add_row(*(row[k] for k in shown))
    console.print(table)


@review_app.command("insights")
def review_insights(
    days: Annotated[int | None, typer.Option(help="Only suggestions made in the last N days.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """How reviewers answered the suggestions: per kind, per model and prompt version, per reviewer."""
    from service.review import insights

    if days is not None and not 1 <= days <= 3650:
        raise fail(f"--days {days} is out of range: give 1 to 3650 (or leave it out for all)")
    runtime = open_runtime()
    with runtime.db.session() as session:
        seen = insights.insights(session, days)
    if as_json:
        print(seen.model_dump_json(indent=2))
        return
    if not seen.kinds:
        console.print("No suggestions yet" + (f" in the last {days} days." if days else "."), markup=False)
        return
    window = f"the last {days} days" if days else "all time"
    kinds = Table(
        "kind", "made", "pending", "failed", "accepted", "of them edited", "rejected", "undone", "accepted share",
        "median h to decide", "reasons most given", title=f"How reviewers answered ({window})",
    )  # fmt: skip
    for k in seen.kinds:
        reasons = "; ".join(f"{r.reason} ({r.count})" for r in k.rejection_reasons) or "-"
        kinds.add_row(
            k.kind, str(k.made), str(k.pending), str(k.failed), str(k.accepted), str(k.accepted_with_edits),
            str(k.rejected), str(k.undone), _share(k.acceptance_rate), _number(k.median_hours_to_decision),
            escape(reasons),
        )  # fmt: skip
    sources = Table("kind", "provider", "model", "prompt", "made", "failed", "decided", "accepted share")
    for s in seen.sources:
        sources.add_row(
            s.kind, s.provider, escape(s.model), escape(s.prompt_version), str(s.made), str(s.failed),
            str(s.decided), _share(s.acceptance_rate),
        )  # fmt: skip
    reviewers = Table("reviewer", "accepted", "rejected")
    for r in seen.reviewers:
        reviewers.add_row(escape(r.name or "(no name)"), str(r.accepted), str(r.rejected))
    console.print(kinds)
    for k in seen.kinds:
        said = (f"week of {w.week}: {_share(w.acceptance_rate)} of {w.accepted + w.rejected}" for w in k.weeks)
        weeks = " · ".join(said)
        console.print(f"{k.kind} by the week made: {weeks or '-'}", markup=False, highlight=False)
    for table in (sources, reviewers):
        console.print(table)


def activity(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
    actor: Annotated[str | None, typer.Option("--actor", help="Only what this person did ('me': your login).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What people did in the project, newest first: decisions, assignments, comments, edits of backlog items."""
    from service.review.activity import activity as done

    runtime = open_runtime()
    with runtime.db.session() as session:
        lines = done(session, limit, None, _person(actor))
    if as_json:
        print(json.dumps([line.model_dump(mode="json") for line in lines], indent=2))
        return
    if not lines:
        console.print("Nothing done yet" + (f" by {actor}." if actor else "."), markup=False)
        return
    for line in lines:
        about = f"#{line.suggestion_id} {line.kind}" if line.suggestion_id else f"item #{line.item_id}"
        who = line.actor or ("a re-import" if line.action == "imported" else "someone")
        detail = f": {line.detail}" if line.detail else ""
        said = f"{line.at:%Y-%m-%d %H:%M} {who} {line.action} {about} {line.subject}{detail}"
        console.print(said, markup=False, highlight=False)


def _as_decided(status: str, said: str, accepted: Any) -> tuple[str, str]:
    """(status, summary) as the CLI says them: "accepted with edits" for an acceptance with the reviewer's edits (its
    SuggestionEvent), and for an estimate accepted with other points, the points the team settled on."""
    from service.core.enums import SuggestionAction, SuggestionStatus

    if (
        status != SuggestionStatus.accepted
        or accepted is None
        or accepted.action != SuggestionAction.accepted_with_edits
    ):
        return status, said
    wrote = accepted.after or {}
    return f"{status} with edits", said + (f"; settled at {wrote['story_points']}" if "story_points" in wrote else "")


def _person(name: str | None) -> str | None:
    """A name an option gives; "me" is your login name."""
    return getpass.getuser() if name == "me" else name


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@review_app.command("show")
def review_show(
    suggestion_id: Annotated[int, typer.Argument(help="The suggestion's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole suggestion as JSON.")] = False,
) -> None:
    """One suggestion: what it proposes, its warnings, what it was made from and by which model and prompt."""
    from service.core import suggestions
    from service.core.comments import Thread, list_comments
    from service.core.schemas import CommentPublic, SuggestionPublic

    runtime = open_runtime()
    with refusals(), runtime.db.session() as session:
        shown = SuggestionPublic.model_validate(suggestions.get_suggestion(session, suggestion_id))
        thread = [CommentPublic.model_validate(c) for c in list_comments(session, Thread(suggestion_id))]
        accepted = suggestions.acceptances(session, [suggestion_id]).get(suggestion_id)
    if as_json:
        print(shown.model_dump_json(indent=2))
        return
    status, said = _as_decided(shown.status, summary(shown), accepted)
    console.print(f"[bold]#{shown.id} {shown.kind}[/] ({status}): {said}")
    console.print(f"model {shown.model} ({shown.provider}), prompt {shown.prompt_version}")
    if read := len(shown.input.get("comment_ids") or []):  # a rewrite or split made with its item's thread
        console.print(f"made with item #{shown.input['backlog_item_id']}'s {read} comment{'s' * (read != 1)}")
    for warning in shown.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if shown.assignee:
        console.print(f"assigned to {escape(shown.assignee)}")
    if shown.reason:
        console.print(f"reason: {shown.reason}")
    console.print_json(json.dumps(shown.payload))
    if shown.evidence:
        console.print(f"evidence: {', '.join(sorted(shown.evidence))} (`--json` shows it)")
    print_thread(thread)


@review_app.command("comment")
def review_comment(
    suggestion_id: Annotated[int, typer.Argument(help="The suggestion's id.")],
    text: Annotated[str, typer.Argument(help="The comment ('-': read it from standard input).")],
    author: Annotated[str | None, typer.Option("--as", help="Who comments (default: your login name).")] = None,
    edited: Annotated[
        int | None, typer.Option("--edit", help="Change your comment of this id to TEXT instead.")
    ] = None,
) -> None:
    """Comment on a suggestion of any status (a question to the team, why it is held); it decides nothing."""
    from service.core.comments import Thread

    said = comment_text(text)
    with refusals(), open_runtime().db.session() as session:
        comment_in(session, Thread(suggestion_id), f"#{suggestion_id}", said, author, edited)


def _decided(runtime: Any, verb: str, ids: list[int], decide: Any, suffix: str = "") -> None:
    """Decide each, say what became of it (and the backlog item an accept made or changed); exit 1 if any was
    refused."""
    from service.core import suggestions
    from service.review import decisions

    decided, refused = decisions.decide_many(ids, decide)
    with runtime.db.session() as session:
        for suggestion_id in decided:
            item = suggestions.get_suggestion(session, suggestion_id).backlog_item_id
            console.print(f"{verb} #{suggestion_id}{suffix}" + (f": backlog item #{item}" if item else ""))
    for suggestion_id, exc in refused:
        errors.print(f"[bold red]not {verb}:[/] #{suggestion_id}: {exc}")
    if refused:
        raise typer.Exit(code=1)


@review_app.command("accept")
def review_accept(ids: Ids, decided_by: As = None) -> None:
    """Accept suggestions as they are (`refinery review edit` accepts one with your edits)."""
    from service.review import decisions

    runtime = open_runtime(index=True)
    who = decided_by or getpass.getuser()
    _decided(runtime, "accepted", ids, lambda i: decisions.accept(runtime, i, actor=who))


@review_app.command("assign")
def review_assign(
    ids: Ids,
    to: Annotated[str | None, typer.Option("--to", help="Who is to decide them ('me': your login name).")] = None,
    nobody: Annotated[bool, typer.Option("--nobody", help="Give them back: assigned to no one.")] = False,
    assigned_by: As = None,
) -> None:
    """Give undecided suggestions to a person to decide (anyone may still decide them), or to no one."""
    from service.review import decisions

    if (to is None) == (not nobody):
        raise fail("say --to NAME, or --nobody to give them back")
    name = _person(to.strip() if to is not None else None)
    if name is not None and not 1 <= len(name) <= 200:
        raise fail("--to takes a name of 1-200 characters")
    runtime = open_runtime()
    who = assigned_by or getpass.getuser()
    _decided(runtime, "assigned", ids, lambda i: decisions.assign(runtime, i, name, who), f" to {name or 'no one'}")


@review_app.command("undo")
def review_undo(ids: Ids, undone_by: As = None) -> None:
    """Undo decisions: each suggestion is pending again. A rejection always; an accepted draft or split (the items
    it made are deleted), rewrite (the text restored) or estimate (the points restored) while nothing has changed or
    used them since."""
    from service.review import decisions

    runtime = open_runtime(index=True)
    who = undone_by or getpass.getuser()
    _decided(runtime, "undone", ids, lambda i: decisions.undo(runtime, i, actor=who))


def _editable(runtime: Any, suggestion_id: int) -> tuple[str, dict[str, Any]]:
    """Which edits a pending suggestion takes ("edits", "input_edits" or "points") and its current values of them."""
    from pipelines.models import StoryDraftEdits
    from pipelines.prioritization import InputEdits
    from service.core.enums import SuggestionKind
    from service.core.suggestions import ensure_pending, get_suggestion
    from service.review.decisions import HANDLERS

    with refusals(), runtime.db.session() as session:
        suggestion = get_suggestion(session, suggestion_id)
        ensure_pending(suggestion)
        field, payload = HANDLERS[SuggestionKind(suggestion.kind)].edits, suggestion.payload or {}
        if field is None:
            raise fail(f"#{suggestion_id} is a {suggestion.kind}: it has nothing to edit; accept or reject it")
    if field == "edits":
        return field, {k: payload[k] for k in StoryDraftEdits.model_fields if k in payload}
    if field == "points":
        return field, {"points": payload.get("points")}
    inputs = payload.get("inputs") or {}
    return field, {k: inputs[k] for k in InputEdits.model_fields if k in inputs}


def _kept(text: str, suggestion_id: int) -> str:
    """Keep what the reviewer typed in a file, so a refused edit costs no retyping; its path."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", prefix=f"refinery-edit-{suggestion_id}-", suffix=".json", delete=False) as f:
        f.write(text)
    return f.name


@review_app.command("edit")
def review_edit(
    suggestion_id: Annotated[int, typer.Argument(help="The suggestion's id.")],
    from_file: Annotated[
        typer.FileText | None, typer.Option("--file", help="A JSON object of the fields to change, not an editor.")
    ] = None,
    decided_by: As = None,
) -> None:
    """Edit a story (draft or rewrite), a priority's inputs or an estimate's points in your $EDITOR, as JSON, then
    accept it with the edits. Leaving it unchanged accepts nothing."""
    from pydantic import ValidationError

    from pipelines.llm.core import describe_validation_error
    from pipelines.models import StoryDraftEdits
    from pipelines.prioritization import InputEdits
    from service.core.errors import DomainError
    from service.review import decisions
    from service.review.schemas import AcceptRequest

    runtime = open_runtime(index=True)
    field, before = _editable(runtime, suggestion_id)
    shown = json.dumps(before, indent=2, ensure_ascii=False) + "\n"
    text = from_file.read() if from_file else click.edit(shown, extension=".json")
    if text is None or text.strip() == shown.strip():
        console.print(f"Nothing changed: #{suggestion_id} stays pending.")
        raise typer.Exit(code=1)
    try:
        after = json.loads(text)
        if not isinstance(after, dict):
            raise ValueError("the edits must be one object of fields, as shown")
        changed = {k: v for k, v in after.items() if v != before.get(k)}
        if field == "points":
            edits = AcceptRequest.model_validate(changed).points
            if edits is None:
                raise ValueError("points must be a whole number of points, 0-1000")
        else:
            edits = (StoryDraftEdits if field == "edits" else InputEdits).model_validate(changed)
    except (ValueError, ValidationError) as exc:
        said = (
            describe_validation_error(exc) if isinstance(exc, ValidationError)
            else f"not valid JSON: {exc}" if isinstance(exc, json.JSONDecodeError)
            else str(exc)
        )  # fmt: skip
        raise fail(f"{said}; #{suggestion_id} stays pending, your edits are in {_kept(text, suggestion_id)}") from exc
    if not changed:
        console.print(f"Nothing changed: #{suggestion_id} stays pending.")
        raise typer.Exit(code=1)
    who = decided_by or getpass.getuser()
    try:
        item = decisions.accept(runtime, suggestion_id, actor=who, **{field: edits})
    except DomainError as exc:
        raise fail(f"{exc}; #{suggestion_id} stays pending, your edits are in {_kept(text, suggestion_id)}") from exc
    said = f"accepted #{suggestion_id} with your edits ({', '.join(changed)})"
    console.print(said + (f": backlog item #{item.id}" if item is not None else ""))


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
