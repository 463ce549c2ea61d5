"""The project's tracker connection, and sending one backlog item to it.

An item of no tracker is created there and takes the issue's key as its external id (`jira:SHOP-12`,
`github:owner/repo#12`, as imports name them), so exporting or importing that tracker's file later finds it; an
item already there (sent before, or imported from it) is updated with the fields changed here since the tracker last
had them, and left alone when there are none. What the tracker has is kept as `BacklogItem.imported`, the field a
re-import compares against.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from service.backlog.exporters import (
    STORY_POINTS_FIELD,
    ExportItem,
    export_item,
    to_github_json,
    to_jira_json,
    to_linear_json,
)
from service.backlog.importers import ParsedImport, parse_import
from service.backlog.service import (
    PARENT_MOVED,
    changed_since_tracker,
    select_items,
    sent_to_tracker,
    tracked,
    tracker_fields,
)
from service.core import scope
from service.core.comments import PERHAPS, posted_text
from service.core.enums import DEFAULT_PROJECT, JiraEdition, TrackerKind
from service.core.errors import InvalidInput, NotFound
from service.core.runtime import Runtime
from service.core.tables import (
    BacklogItem,
    Comment,
    CommentRemoval,
    PullJob,
    TrackerConnection,
    sent_where,
    utcnow,
)
from service.trackers.github import GitHub
from service.trackers.http import Gone, Refused, Sent, Tracker, TrackerError, Unsure
from service.trackers.jira import Jira
from service.trackers.linear import Linear
from service.trackers.schemas import DEFAULT_URL, MAX_PUSH, HookSetup, TrackerPublic, TrackerSet

NOT_CONNECTED = "this project has no tracker: an admin connects one (PUT /v1/tracker, `refinery tracker set`)"


class Outcome(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"
    skipped = "skipped"
    failed = "failed"


PLANNED = (Outcome.created, Outcome.updated, Outcome.unchanged, Outcome.skipped)  # what a push decides before sending


@dataclass
class Pushed:
    """What became of one item: the outcome, its key in the tracker, and what to tell the person."""

    outcome: Outcome
    key: str | None = None
    notes: list[str] = field(default_factory=list)


def get_connection(session: Session) -> TrackerConnection | None:
    return session.scalars(select(TrackerConnection)).first()


def connection(session: Session) -> TrackerConnection:
    """The project's tracker; NotFound saying how to connect one."""
    found = get_connection(session)
    if found is None:
        raise NotFound(NOT_CONNECTED)
    return found


def set_connection(session: Session, wanted: TrackerSet, actor: str | None) -> TrackerConnection:
    """Connect the project to a tracker, or change its connection; the kept token stays unless a new one is given
    (a new tracker kind or site needs one)."""
    found = get_connection(session)
    url = str(wanted.url).rstrip("/") if wanted.url else DEFAULT_URL[wanted.kind]
    if wanted.token is None and (found is None or found.kind != wanted.kind or found.url != url):
        raise InvalidInput("token: give the tracker's token (one is kept only for the same tracker and site)")
    row = found or TrackerConnection()
    row.kind, row.url, row.target, row.user = wanted.kind, url, wanted.target, wanted.user
    row.story_points_field, row.updated_by = wanted.story_points_field, actor
    row.pull_every_minutes = wanted.pull_every_minutes
    row.edition = wanted.edition if wanted.edition != JiraEdition.cloud else None
    row.token = wanted.token or row.token
    row.hook_secret = row.hook_secret or new_hook_secret()
    session.add(row)
    session.flush()
    return row


def new_hook_secret() -> str:
    """A secret for the tracker to sign its webhooks with (service.trackers.hooks)."""
    return secrets.token_hex(32)


HOOK_EVENTS = {
    TrackerKind.jira: "Jira: Settings > System > WebHooks > Create a WebHook; events: Issue created and updated, "
    "Comment created, updated and deleted (JQL: project = {target}); paste the secret into Secret.",
    TrackerKind.github: "GitHub: the repository's Settings > Webhooks > Add webhook; content type application/json; "
    "the secret; events: Issues and Issue comments.",
    TrackerKind.linear: "Linear: Settings > API > Webhooks > New webhook; the team {target}; data change events: "
    "Issues and Comments; Linear shows its own signing secret: set it here with refinery tracker hook --secret.",
}


def hook_setup(session: Session, row: TrackerConnection, base_url: str) -> HookSetup:
    """Where and how the tracker sends its webhooks, to this server at `base_url` (admins only: the secret is in
    it)."""
    project = scope.this_project(session)
    url = f"{base_url.rstrip('/')}/v1/tracker/hook?project={project.key if project else DEFAULT_PROJECT}"
    return HookSetup(
        url=url, secret=row.hook_secret or "", events=HOOK_EVENTS[TrackerKind(row.kind)].format(target=row.target),
        received_at=row.hook_received_at, last=row.hook_last,
    )  # fmt: skip


def last_pull(session: Session) -> str | None:
    """The last pull that ended (not a dry run), in a line: "2026-11-28 14:05 UTC by schedule (the issues changed since
    13:50): done, 2 imported, 1 updated"."""
    ended = select(PullJob).where(PullJob.finished_at.is_not(None), PullJob.dry_run.is_(False))
    ended = ended.order_by(PullJob.id.desc()).limit(1)
    job = session.scalars(ended).first()
    if job is None or job.finished_at is None:
        return None
    what = f"{job.created} imported, {job.updated} updated" if job.status == "done" else "; ".join(job.errors[-1:])
    read = f"the issues changed since {job.since:%H:%M}" if job.since else "every issue"
    return f"{job.finished_at:%Y-%m-%d %H:%M} UTC by {job.actor or 'someone'} ({read}): {job.status}, {what}"


def public(row: TrackerConnection, session: Session | None = None) -> TrackerPublic:
    """The connection as people see it, with its last pull when `session` is given: never the token."""
    browse = None
    if row.kind == TrackerKind.jira:
        browse = f"{row.url}/browse/{{key}}"
    elif row.kind == TrackerKind.github:
        web = row.url.replace("//api.github.com", "//github.com").removesuffix("/api/v3")
        browse = f"{web}/{row.target}/issues/{{key}}"
    edition = row.edition or (JiraEdition.cloud if row.kind == TrackerKind.jira else None)
    return TrackerPublic(
        kind=row.kind, url=row.url, target=row.target, user=row.user, story_points_field=row.story_points_field,
        edition=edition, pull_every_minutes=row.pull_every_minutes, last_pull=last_pull(session) if session else None,
        browse_url=browse, updated_by=row.updated_by, updated_at=row.updated_at,
    )  # fmt: skip


def client(row: TrackerConnection) -> Tracker:
    if row.kind == TrackerKind.jira:
        return Jira(row.url, row.target, row.user, row.token, row.story_points_field, data_center(row))
    if row.kind == TrackerKind.linear:
        return Linear(row.url, row.target, row.token)
    return GitHub(row.url, row.target, row.token)


def data_center(row: TrackerConnection) -> bool:
    """Whether the connection is to Jira Data Center (REST v2, wiki markup), not Jira Cloud."""
    return row.kind == TrackerKind.jira and row.edition == JiraEdition.data_center


def describe(row: TrackerConnection) -> str:
    """'Jira project SHOP at https://acme.atlassian.net', 'GitHub acme/shop', 'Linear team ENG'."""
    if row.kind == TrackerKind.jira:
        return f"Jira{' Data Center' * data_center(row)} project {row.target} at {row.url}"
    name = "GitHub" if row.kind == TrackerKind.github else "Linear team"
    return f"{name} {row.target}" + ("" if row.url == DEFAULT_URL[TrackerKind(row.kind)] else f" at {row.url}")


def prefix(row: TrackerConnection) -> str:
    """How an item's external id names an issue of this tracker: `jira:SHOP-`, `github:owner/repo#`, `linear:ENG-`."""
    return f"github:{row.target}#" if row.kind == TrackerKind.github else f"{row.kind}:{row.target}-"


def key_here(row: TrackerConnection, external_id: str | None) -> str | None:
    """The issue key an item has in this tracker (SHOP-12, owner/repo#12), or None when it is not one of its."""
    start = prefix(row)
    if not external_id or not external_id.lower().startswith(start.lower()):
        return None
    number = external_id[len(start) :]
    return external_id.split(":", 1)[1] if number.isdigit() else None


def items_to_push(session: Session, row: TrackerConnection, item_ids: list[int] | None) -> list[BacklogItem]:
    """The items asked for (default: every open item, and every item already in this tracker, so closing one here
    closes it there), parents before their children."""
    if item_ids:
        items = select_items(session, item_ids, MAX_PUSH, "send")
    else:
        start = prefix(row)
        query = select(BacklogItem).where(
            BacklogItem.merged_into_id.is_(None),
            or_(BacklogItem.closed.is_(False), BacklogItem.external_id.startswith(start, autoescape=True)),
        )
        items = list(session.scalars(query.order_by(BacklogItem.id).limit(MAX_PUSH + 1)))
        if len(items) > MAX_PUSH:
            raise InvalidInput(f"send at most {MAX_PUSH} items at a time: pass item_ids")
        if not items:
            raise InvalidInput("the backlog has no open items: nothing to send")
    return _parents_first(items)


def _parents_first(items: list[BacklogItem]) -> list[BacklogItem]:
    ids = {item.id: item for item in items}

    def depth(item: BacklogItem) -> int:
        seen = {item.id}
        while item.parent_id in ids and item.parent_id not in seen:
            item = ids[item.parent_id]
            seen.add(item.id)
        return len(seen)

    return sorted(items, key=lambda item: (depth(item), item.id))


def _export(session: Session, row: TrackerConnection, item: BacklogItem) -> ExportItem:
    """The item as the tracker is sent it, with its parent's key there (None when the parent is not in it). Jira is
    told whether it has children (it is then an Epic, the only issue type a story can be under), GitHub and Linear
    not: a file export lists an epic's children in its body, but these trackers link a child to its parent
    themselves (a GitHub sub-issue), and a list in the body would go stale when a child moves."""
    parent = session.get(BacklogItem, item.parent_id) if item.parent_id else None
    parent_key = key_here(row, parent.external_id) if parent else None  # GitHub: made a sub-issue of it
    children: list[str] = []
    if row.kind == TrackerKind.jira:
        titles = select(BacklogItem.title).where(BacklogItem.parent_id == item.id, BacklogItem.merged_into_id.is_(None))
        children = list(session.scalars(titles.order_by(BacklogItem.id)))
    return export_item(item, parent_key, children)


def as_tracker(row: TrackerConnection, item: ExportItem) -> dict[str, Any]:
    """The synced fields as the tracker will hold the item and give them back to an import: the item put through that
    tracker's exporter and read back by its importer (GitHub keeps no priority or points; Jira's description comes
    back from ADF), so a re-import of an issue nobody touched finds nothing changed."""
    if row.kind == TrackerKind.jira:
        records, fmt = [{"key": f"{row.target}-1", **to_jira_json([item], wiki=data_center(row))[0]}], "jira_json"
    elif row.kind == TrackerKind.github:
        records, fmt = [{"number": 1, **to_github_json([item])[0]}], "github_json"
    else:
        records, fmt = to_linear_json([item]), "linear_json"
    return tracked(parse_import(json.dumps(records).encode(), fmt).items[0])


def _as_imported(row: TrackerConnection, key: str | None) -> str | None:
    """A parent's key as that tracker's import names it (SHOP-1, linear:ENG-1, github:owner/repo#1)."""
    if key is None:
        return None
    return key if row.kind == TrackerKind.jira else f"{row.kind}:{key}"


@dataclass
class Planned:
    """What a push would do with one item: its outcome (created, updated, unchanged or skipped), its key there, the
    fields it would send (an update), and why it would skip it."""

    item_id: int
    title: str
    outcome: Outcome
    key: str | None = None
    changed: list[str] = field(default_factory=list)
    reason: str | None = None


def plan(session: Session, row: TrackerConnection, item: BacklogItem, coming: Collection[int] = ()) -> Planned:
    """What a push would do with `item`, asking the tracker nothing: an item already there is updated when a field,
    what it waits for or its parent changed here since the tracker last had them (`coming`: the items the push
    creates before it)."""
    key = key_here(row, item.external_id)
    if key is None and item.external_id:
        source = item.external_id.split(":", 1)[0]
        said = f"came from {source} ({item.external_id}): not sent to {describe(row)}"
        return Planned(item.id, item.title, Outcome.skipped, reason=said)
    if key is None and item.closed:
        return Planned(item.id, item.title, Outcome.skipped, reason="closed and never sent: not created")
    if key is None:
        return Planned(item.id, item.title, Outcome.created)
    changed = changed_since_tracker(item) + (["depends_on"] if any(blocked_by(session, row, item)) else [])
    changed += ["parent"] if moved(session, row, item, coming) else []
    return Planned(item.id, item.title, Outcome.updated if changed else Outcome.unchanged, key, changed)


def moved(session: Session, row: TrackerConnection, item: BacklogItem, coming: Collection[int] = ()) -> bool:
    """Whether a person moved the item under another parent here (or under none) since the tracker last had its
    parent, and the tracker can take the move: a parent not in this tracker waits for a push that creates it
    (`coming`)."""
    known = item.imported or {}
    if not known.get(PARENT_MOVED):
        return False
    parent = session.get(BacklogItem, item.parent_id) if item.parent_id else None
    key = _as_imported(row, key_here(row, parent.external_id)) if parent else None
    if parent is not None and key is None:
        return parent.id in coming
    return key != known.get("parent")


def plan_each(session: Session, row: TrackerConnection, items: list[BacklogItem]) -> list[Planned]:
    """`plan` of each item (parents first), knowing which the push creates before it."""
    coming: set[int] = set()
    planned = []
    for item in items:
        planned.append(plan(session, row, item, coming))
        coming |= {item.id} if planned[-1].outcome == Outcome.created else set()
    return planned


def blocked_by(session: Session, row: TrackerConnection, item: BacklogItem) -> tuple[list[str], list[str]]:
    """The issues the item's issue is to be marked blocked by, and no longer (named as the items' external ids, which
    are also how the tracker's import names them): its prerequisites here that are in this tracker, against the links
    the tracker was last known to have (`imported`). A link to an issue that is not in the backlog is left alone."""
    known = set((item.imported or {}).get("depends_on_keys") or [])
    waits = set(item.depends_on or [])
    if not known and not waits:
        return [], []
    named = or_(BacklogItem.id.in_(waits), BacklogItem.external_id.in_(known))
    ids = dict(session.execute(select(BacklogItem.id, BacklogItem.external_id).where(named)).all())
    wanted = {ids[i] for i in waits if key_here(row, ids.get(i))}
    gone = {external for i, external in ids.items() if external in known and i not in waits}
    return sorted(wanted - known), sorted(gone)


def preview(session: Session, item_ids: list[int] | None) -> list[Planned]:
    """What a push of these items (default: as a push takes them) would do, item by item, parents first."""
    row = connection(session)
    return plan_each(session, row, items_to_push(session, row, item_ids))


def _not_taken(row: TrackerConnection, item: ExportItem, dropped: list[str], known: dict[str, Any] | None) -> dict:
    """What the tracker holds for the fields it did not take: as it had them before (an update, `known`), or nothing
    (a create; an issue type it lacks made a Task, read back as its importer reads a Task)."""
    if known is not None:
        return {name: known.get(name) for name in dropped}
    as_task = item.model_copy(update={"item_type": "tech_debt"})  # exported as a Task
    empty: dict[str, Any] = {"labels": []}
    if "item_type" in dropped:
        empty["item_type"] = as_tracker(row, as_task)["item_type"]
    return {name: empty.get(name) for name in dropped}


CREATING = "creating"  # in `BacklogItem.imported` of an item in no tracker: a create sent ({at, title}), unanswered
NOT_SENT = (Outcome.skipped, Outcome.unchanged)  # what a push decides without calling the tracker


def as_pushed(planned: Planned) -> Pushed:
    """An item a push does not send (skipped or unchanged), as its outcome, with why it was skipped."""
    said = [f"#{planned.item_id} {planned.title[:60]} {planned.reason}"] if planned.reason else []
    return Pushed(planned.outcome, planned.key, said)


def plan_all(runtime: Runtime, row: TrackerConnection, item_ids: list[int]) -> dict[int, Planned]:
    """What a push would do with each of these items (those still here), decided in one session: a push sends only
    those it would create or update, each decided again as it is sent."""
    with runtime.db.session() as session:
        found = {item.id: item for item in session.scalars(select(BacklogItem).where(BacklogItem.id.in_(item_ids)))}
        items = [found[i] for i in item_ids if i in found and found[i].merged_into_id is None]
        return {planned.item_id: planned for planned in plan_each(session, row, items)}


def counted(planned: list[Planned]) -> dict[str, int]:
    """How many items a push would create, update, leave unchanged and skip."""
    return {outcome.value: sum(p.outcome == outcome for p in planned) for outcome in PLANNED}


def push_item(runtime: Runtime, tracker: Tracker, row: TrackerConnection, item_id: int, actor: str | None) -> Pushed:
    """Send one item (see the module's docstring and `plan`), after finding the issue an earlier push's create made if
    its answer was not stored (`made_earlier`). `Refused` (bad credentials) is raised for the job to stop; any other
    failure is this item's."""
    found = made_earlier(runtime, tracker, row, item_id, actor)
    if found is not None and found.outcome == Outcome.failed:
        return found
    pushed = _send(runtime, tracker, row, item_id, actor)
    if found is None or pushed.outcome == Outcome.failed:
        return pushed
    return Pushed(Outcome.created, found.key, found.notes + pushed.notes)


def made_earlier(
    runtime: Runtime, tracker: Tracker, row: TrackerConnection, item_id: int, actor: str | None
) -> Pushed | None:
    """When an earlier push sent a create of the item and its answer was never stored (lost on the way, or the process
    ended first; `CREATING`): the issue it made, found in the tracker by its title among those made since, recorded as
    the item's as the tracker has it (so `_send` then updates what differs); None when there is none (the item is
    created); a failure when several could be it, or the tracker cannot be asked."""
    with runtime.db.session() as session:
        item = session.get(BacklogItem, item_id)
        if item is None or item.external_id is not None or not (item.imported or {}).get(CREATING):
            return None
        creating, name = dict(item.imported[CREATING]), f"#{item.id} {item.title[:60]}"
    try:
        keys = tracker.made_since(creating["title"], datetime.fromisoformat(creating["at"]))
        issue = tracker.issue(keys[0]) if len(keys) == 1 else None
    except Refused:
        raise
    except TrackerError as exc:
        said = f"{name}: could not look in {tracker.name} for the issue an earlier push may have made ({exc}): not sent"
        return Pushed(Outcome.failed, notes=[said])
    if len(keys) > 1:
        said = (f"{name}: an earlier push may have made it, and {', '.join(keys)} are all titled so and new: delete "
                f"the extra ones in {tracker.name}, then push again")  # fmt: skip
        return Pushed(Outcome.failed, notes=[said])
    if issue is None:
        return None
    parsed = as_import(row, tracker, [issue]).items[0]
    with runtime.db.session() as session:
        item = session.get(BacklogItem, item_id)
        if item is not None:
            sent_to_tracker(session, item, f"{row.kind}:{keys[0]}", tracked(parsed), actor)
    said = f"{name} ({keys[0]}): made by an earlier push whose answer was lost; found in {tracker.name}, not made again"
    return Pushed(Outcome.created, keys[0], [said])


def _creating(runtime: Runtime, item_id: int, title: str | None) -> None:
    """Keep on the item that a create with `title` is being sent now (None: none is), until its key is stored."""
    with runtime.db.session() as session:
        item = session.get(BacklogItem, item_id)
        if item is not None and item.external_id is None:
            item.imported = {CREATING: {"at": datetime.now(UTC).isoformat(), "title": title}} if title else None


def _send(runtime: Runtime, tracker: Tracker, row: TrackerConnection, item_id: int, actor: str | None) -> Pushed:
    """Create the item in the tracker, or update what changed here since; `Refused` raised."""
    with runtime.db.session() as session:
        item = session.get(BacklogItem, item_id)
        if item is None or item.merged_into_id is not None:
            return Pushed(Outcome.skipped, notes=[f"#{item_id} was deleted or merged away meanwhile: not sent"])
        planned = plan(session, row, item)
        name = f"#{item.id} {item.title[:60]}"
        if planned.outcome in NOT_SENT:
            return as_pushed(planned)
        export = _export(session, row, item)
        known = dict(item.imported or {})
        moving = "parent" in planned.changed  # an update sends a parent only when a person moved the item here
        parent = _as_imported(row, export.parent) if planned.key is None or moving else known.get("parent")
        fields = tracker_fields(item, as_tracker(row, export), parent)
    key, changed = planned.key, [name for name in planned.changed if name != "depends_on"]  # links: `link_item`
    if key is None:
        _creating(runtime, item_id, export.title)
    try:
        sent = (tracker.update(key, export, changed) if changed else Sent(key)) if key else tracker.create(export)
    except Refused:
        if key is None:
            _creating(runtime, item_id, None)
        raise
    except TrackerError as exc:
        if key is None and not isinstance(exc, Unsure):
            _creating(runtime, item_id, None)  # the tracker said no: nothing to look for
        return Pushed(Outcome.failed, key, [f"{name}: {exc}"])
    with runtime.db.session() as session:
        item = session.get(BacklogItem, item_id)
        if item is not None:
            fields |= _not_taken(row, export, sent.dropped, known if key else None)
            if known.get(PARENT_MOVED) and not moving:
                fields[PARENT_MOVED] = True  # not sent yet: a later push sends it (a refused one is not sent again)
            sent_to_tracker(session, item, f"{row.kind}:{sent.key}", fields, actor)
    notes = [f"{name} ({sent.key}): {warning}" for warning in sent.warnings]
    return Pushed(Outcome.updated if key else Outcome.created, sent.key, notes)


def send_order(runtime: Runtime, tracker: Tracker, row: TrackerConnection) -> list[str]:
    """Put the project's ranked items that are issues of this tracker in the backlog's order there, unless they are in
    the order a push last sent; what came of it, said."""
    with runtime.db.session() as session:
        ranked = session.execute(
            select(BacklogItem.external_id)
            .where(BacklogItem.merged_into_id.is_(None), BacklogItem.priority_rank.is_not(None))
            .order_by(BacklogItem.priority_rank, BacklogItem.id)
        )
        keys = [key for (external_id,) in ranked if (key := key_here(row, external_id))]
        if len(keys) < 2:
            return [f"order: {len(keys)} ranked issue(s) in {tracker.name}: no order to set"]
        if keys == (session.get(TrackerConnection, row.id).order_sent or []):
            return [f"order: the {len(keys)} ranked issues are in the order last sent"]
    said = tracker.rank(keys)
    if said:
        return said  # sent again by the next push that asks for the order
    runtime.db.update(TrackerConnection, row.id, order_sent=keys)
    return [f"order: {len(keys)} ranked issues put in the backlog's order in {tracker.name}"]


def with_links(runtime: Runtime, item_ids: list[int]) -> list[int]:
    """Those of the items that wait for others here, or whose issue was last known to be blocked by others: the only
    ones whose links a push may have to change."""
    with runtime.db.session() as session:
        rows = session.execute(
            select(BacklogItem.id, BacklogItem.depends_on, BacklogItem.imported).where(BacklogItem.id.in_(item_ids))
        )
        found = {i for i, waits, known in rows if waits or (known or {}).get("depends_on_keys")}
    return [i for i in item_ids if i in found]


def link_item(runtime: Runtime, tracker: Tracker, row: TrackerConnection, item_id: int) -> list[str]:
    """Mark the item's issue as blocked by the issues of its prerequisites there, and no longer by those it stopped
    waiting for here (see `blocked_by`), after reading what the tracker has (so nothing is linked twice). What was
    done is recorded as the tracker's; what failed is said (it is tried again by the next push). `Refused` is
    raised."""
    with runtime.db.session() as session:
        item = session.get(BacklogItem, item_id)
        key = key_here(row, item.external_id) if item is not None and item.merged_into_id is None else None
        if item is None or key is None:
            return []
        add, remove = blocked_by(session, row, item)
        name = f"#{item.id} {item.title[:60]} ({key})"
    if not add and not remove:
        return []
    linked, unlinked, said = set(), set(), []
    try:
        there = tracker.blockers(key)
        for blocker in add:
            if blocker not in there:
                tracker.block(key, blocker)
            linked.add(blocker)
        for blocker in remove:
            if blocker in there:
                tracker.unblock(key, there[blocker])
            unlinked.add(blocker)
    except Refused:
        raise
    except Unsure:
        said.append(f"{name}: {tracker.name} did not answer whether it made a link; the next push looks first")
    except TrackerError as exc:
        said.append(f"{name}: what it waits for was not all sent ({exc}); the next push tries again")
    with runtime.db.session() as session:
        item = session.get(BacklogItem, item_id)
        if item is not None and (linked or unlinked):
            known = set((item.imported or {}).get("depends_on_keys") or [])
            item.imported = {**(item.imported or {}), "depends_on_keys": sorted((known | linked) - unlinked)}
    return said


UNSENT = or_(  # new here, perhaps posted, or edited since it was sent
    Comment.sent_as.is_(None), Comment.sent_as.endswith(f"@{PERHAPS}"), Comment.edited_at > Comment.sent_at
)


def with_comments(runtime: Runtime, row: TrackerConnection, item_ids: list[int]) -> list[int]:
    """Those of the items that are issues of this tracker and have comments here no push has posted yet, edited since
    a push posted them, or deleted here since."""
    mine = (
        BacklogItem.id.in_(item_ids),
        BacklogItem.merged_into_id.is_(None),
        BacklogItem.external_id.startswith(prefix(row), autoescape=True),
    )
    with runtime.db.session() as session:
        waiting = select(BacklogItem.id).join(Comment, Comment.item_id == BacklogItem.id).where(*mine, UNSENT)
        removed = select(BacklogItem.id).join(CommentRemoval, CommentRemoval.item_id == BacklogItem.id).where(*mine)
        found = set(session.scalars(waiting)) | set(session.scalars(removed))
    return [i for i in item_ids if i in found]


def send_comments(runtime: Runtime, tracker: Tracker, row: TrackerConnection, item_id: int) -> tuple[int, list[str]]:
    """Delete on the item's issue the comments deleted here, post those not yet posted, oldest first, and update there
    those edited here since; each recorded as sent as soon as the tracker takes it; how many were, and what failed,
    said (the rest wait for the next push; an edited comment deleted there stays as it is). `Refused` is raised."""
    started = utcnow()  # an edit made while this sends is sent by the next push
    with runtime.db.session() as session:
        item = session.get(BacklogItem, item_id)
        key = key_here(row, item.external_id) if item is not None else None
        if item is None or key is None:
            return 0, []
        waiting = select(Comment).where(Comment.item_id == item_id, UNSENT).order_by(Comment.id)
        todo = [(c.id, c.sent_as, posted_text(c.author, c.text), _edited_since(c)) for c in session.scalars(waiting)]
        placed = select(Comment.sent_as).where(Comment.item_id == item_id, Comment.sent_as.is_not(None))
        known = {sent_where(sent_as)[2] for sent_as in session.scalars(placed)}  # the issue's comments known here
        removed = select(CommentRemoval).where(CommentRemoval.item_id == item_id).order_by(CommentRemoval.id)
        removals = [(r.id, r.sent_as, r.text) for r in session.scalars(removed)]
        name = f"#{item.id} {item.title[:60]} ({key})"
    sent, said = _remove_comments(runtime, tracker, row, removals, known, name)
    if said:
        return sent, said
    there_now: dict[str, str] | None = None  # the issue's comments by id, read once a post perhaps made needs them
    for comment_id, sent_as, text, edited in todo:
        posting = sent_as is None or sent_as.endswith(f"@{PERHAPS}")
        editing = not posting  # posted, and edited here since
        try:
            if sent_as is not None and posting:  # its answer was lost: looked for on the issue before posting again
                there_now = _comments_there(tracker, row, key) if there_now is None else there_now
                found = _perhaps_posted(there_now, known, text, by_author=edited)
                sent_as = None if found is None else f"{row.kind}:{key}@{found}"
                posting = found is None
                editing = not posting and not _same(there_now.pop(found), text)  # edited here after that post
            if sent_as is None:
                sent_as = f"{row.kind}:{key}@{tracker.comment(key, text)}"
            elif editing:
                _, there, posted = sent_where(sent_as)
                tracker.edit_comment(there, posted, text)
        except Refused:
            raise
        except Unsure as exc:  # perhaps posted: the next push looks for it on the issue first
            _record(runtime, comment_id, f"{row.kind}:{key}@{PERHAPS}", started)
            return sent, [*said, f"{name}: comment {comment_id} may not have been posted ({exc})"]
        except Gone as exc:
            if posting:
                return sent, [*said, f"{name}: comment {comment_id} was not posted ({exc}); the next push tries again"]
            said.append(f"{name}: comment {comment_id} is not on the issue any more ({exc}); its edit stays here")
        except TrackerError as exc:
            did = "posted" if posting else "updated"
            return sent, [*said, f"{name}: comment {comment_id} was not {did} ({exc}); the next push tries again"]
        else:
            sent += 1
        _record(runtime, comment_id, sent_as, started)
    return sent, said


def _remove_comments(
    runtime: Runtime,
    tracker: Tracker,
    row: TrackerConnection,
    removals: list[tuple[int, str, str | None]],
    known: set[str],
    name: str,
) -> tuple[int, list[str]]:
    """Delete on the issue the comments deleted here (each as it was posted, "jira:SHOP-3@10001", and its text);
    one whose post's answer was lost is looked for there first (not there: nothing to delete); one gone there already
    is done too; how many were deleted, and what failed (tried by the next push)."""
    done = 0
    there_now: dict[str, str] | None = None
    for removal_id, sent_as, text in removals:
        try:
            _, there, posted = sent_where(sent_as)
            if posted == PERHAPS:
                there_now = _comments_there(tracker, row, there) if there_now is None else there_now
                posted = _perhaps_posted(there_now, known, text or "")
                there_now.pop(posted or "", None)
            if posted is not None:
                tracker.delete_comment(there, posted)
                done += 1
        except Refused:
            raise
        except Gone:
            pass
        except TrackerError as exc:
            return done, [f"{name}: a comment deleted here was not deleted there ({exc}); the next push tries again"]
        with runtime.db.session() as session:
            session.execute(delete(CommentRemoval).where(CommentRemoval.id == removal_id))
    return done, []


def _record(runtime: Runtime, comment_id: int, sent_as: str, at: datetime) -> None:
    """The comment is on its issue as `sent_as` ("jira:SHOP-3@10001"; "...@?": perhaps), as it read at `at`."""
    with runtime.db.session() as session:
        comment = session.get(Comment, comment_id)
        if comment is not None:
            comment.sent_as, comment.sent_at = sent_as, at


def _comments_there(tracker: Tracker, row: TrackerConnection, key: str) -> dict[str, str]:
    """The comments on the issue `key` as a pull reads them: their text by the tracker's id."""
    issue = tracker.issue(key)
    items = as_import(row, tracker, [issue]).items if issue is not None else []
    return {said.id: said.text for item in items for said in item.comments}


def _edited_since(comment: Comment) -> bool:
    """Whether the comment was edited here after a push last sent it (or perhaps did)."""
    return comment.edited_at is not None and comment.sent_at is not None and comment.edited_at > comment.sent_at


def _perhaps_posted(there: dict[str, str], known: set[str], text: str, by_author: bool = False) -> str | None:
    """The id of the issue's comment that a post whose answer was lost made, or None (it was not made): one with the
    same text (`posted_text`); else, `by_author` (the comment was edited here since), the first one no comment here is
    known by whose first line, who wrote it, is the same."""
    same = next((i for i, body in there.items() if _same(body, text)), None)
    if same is not None or not by_author:
        return same
    header = text.split("\n", 1)[0]
    return next((i for i, body in there.items() if i not in known and body.split("\n", 1)[0] == header), None)


def _same(there: str, here: str) -> bool:
    """Whether the tracker's text of a comment is the one posted (whitespace as the tracker may have changed it)."""
    return " ".join(there.split()) == " ".join(here.split())


def as_import(row: TrackerConnection, tracker: Tracker, records: list[dict[str, Any]]) -> ParsedImport:
    """Issues as the tracker's API gives them, read as a file of them would be (the site's points field too)."""
    return parse_import(
        json.dumps(records).encode(), tracker.import_format, row.story_points_field or STORY_POINTS_FIELD
    )
