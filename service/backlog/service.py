"""Backlog reads, imports of existing items (idempotent by external id) and exports."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, cast, func, or_, select
from sqlalchemy.orm import Session

from pipelines.prioritization import dependency_path
from service import duplicates
from service.backlog.exporters import ExportFormat, export, export_item
from service.backlog.schemas import (
    BacklogBulkEdit,
    BacklogFilter,
    BacklogItemCreate,
    BacklogItemUpdate,
    BulkEdited,
    BulkRefused,
    ImportSkipped,
    ImportUpdated,
    TrackerComment,
)
from service.core import outbox
from service.core.comments import item_threads
from service.core.enums import ItemAction, SuggestionStatus, WebhookEvent
from service.core.errors import InvalidInput, NotFound, check_rows
from service.core.runtime import Runtime
from service.core.schemas import BacklogItemPublic
from service.core.tables import BacklogItem, Comment, ItemEvent, Suggestion, utcnow

# The fields an import sets. A re-import merges the tracker's changes to them into the item, three-way against the
# fields as the last import gave them (`BacklogItem.imported`): a field the tracker changed is updated, unless it was
# changed here too (an accepted rewrite, estimate or priority), when this backlog's value is kept and said so.
KEY_RE = re.compile(r"([A-Za-z][A-Za-z0-9_]*-\d+)|#\d+")  # SHOP-12 (Jira, Linear), #12 (GitHub)
SYNCED = ("title", "description", "item_type", "labels", "priority", "story_points", "closed")
REPEATED = "repeats an earlier record of this import with the same external_id"
TOLD_WITHIN = timedelta(days=7)  # a tracker's comment older than this, read for the first time, tells no one
PARENT_MOVED = "parent_moved"  # kept in `BacklogItem.imported` from a person's move here until the tracker has it
INDEXED = frozenset(("title", "description"))  # what the duplicate index reads of an item (`item_document`)


@dataclass
class Imported:
    """What an import created, what it updated from the tracker's changes, what it skipped as already there (and
    unchanged), and what the file's parser skipped or cut."""

    created: list[BacklogItem]
    skipped: list[ImportSkipped]
    problems: list[str] = field(default_factory=list)
    updated: list[ImportUpdated] = field(default_factory=list)


def _has_key(key: str) -> ColumnElement[bool]:
    """The item is the tracker's issue `key` (SHOP-12, #12), not SHOP-120 too: its external id is or ends with it."""
    key = key.lower()
    external = func.lower(BacklogItem.external_id)
    return or_(external == key, external.endswith(key if key.startswith("#") else f":{key}", autoescape=True))


def _filtered(query: Select[Any], include_merged: bool, shown: BacklogFilter) -> Select[Any]:
    """`query` narrowed to the items `shown` asks for (merged ones only with `include_merged`)."""
    if not include_merged:
        query = query.where(BacklogItem.merged_into_id.is_(None))
    for word in (shown.q or "").split():
        text = or_(
            BacklogItem.title.icontains(word, autoescape=True), BacklogItem.description.icontains(word, autoescape=True)
        )
        if KEY_RE.fullmatch(word):
            query = query.where(or_(text, _has_key(word)))
        else:
            query = query.where(or_(text, BacklogItem.external_id.icontains(word, autoescape=True)))
    if shown.item_type:
        query = query.where(BacklogItem.item_type == shown.item_type)
    if shown.label:  # labels are a JSON list, stored as json.dumps writes it in SQLite and PostgreSQL alike
        query = query.where(cast(BacklogItem.labels, Text).contains(json.dumps(shown.label.lower()), autoescape=True))
    if shown.state != "all":
        query = query.where(BacklogItem.closed.is_(shown.state == "closed"))
    if shown.parent_id is not None:
        query = query.where(BacklogItem.parent_id == shown.parent_id)
    return query


def find_item(session: Session, given: str) -> BacklogItem:
    """The item `given` names: its id (12, or #12 where no imported issue has that number) or its tracker key (SHOP-12,
    #12); NotFound, saying what was tried, when none does."""
    given = given.strip()
    if KEY_RE.fullmatch(given):
        found = session.scalars(select(BacklogItem).where(_has_key(given)).limit(2)).all()
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InvalidInput(f"{given} names more than one item (from different trackers): give its id")
        given = given.removeprefix("#")
    if given.isdigit() and len(given) < 10:
        return get_item(session, int(given))
    raise NotFound(f"no backlog item with id or key {given!r} (an id is a number; a key looks like SHOP-12 or #12)")


def list_items(
    session: Session,
    limit: int | None = 100,
    offset: int = 0,
    include_merged: bool = False,
    order: str = "id",
    shown: BacklogFilter | None = None,
) -> list[BacklogItem]:
    """Items in id order, or by accepted priority rank (unranked last); merged items only when asked for; only those
    `shown` asks for; `limit` None: all of them."""
    ordering = (BacklogItem.priority_rank.is_(None), BacklogItem.priority_rank) if order == "priority" else ()
    query = select(BacklogItem).order_by(*ordering, BacklogItem.id).limit(limit).offset(offset)
    return list(session.scalars(_filtered(query, include_merged, shown or BacklogFilter())))


def count_items(session: Session, include_merged: bool = False, shown: BacklogFilter | None = None) -> int:
    """How many items `list_items` would give with no limit."""
    query = _filtered(select(func.count()).select_from(BacklogItem), include_merged, shown or BacklogFilter())
    return session.scalar(query) or 0


def get_item(session: Session, item_id: int, merged: bool = True) -> BacklogItem:
    """One item; NotFound when there is none (or, with `merged=False`, when it was merged into another)."""
    item = session.get(BacklogItem, item_id)
    if item is None or (not merged and item.merged_into_id is not None):
        raise NotFound(f"no backlog item with id {item_id}" + (" (it was merged away)" if item else ""))
    return item


def select_items(session: Session, item_ids: list[int] | None, most: int, purpose: str) -> list[BacklogItem]:
    """The items `item_ids` names (default: the whole backlog's open items), merged ones left out, in id order;
    NotFound for an unknown id, InvalidInput for more than `most` or none. `purpose` is the verb the errors use
    ("prioritize")."""
    query = select(BacklogItem).where(BacklogItem.merged_into_id.is_(None)).order_by(BacklogItem.id)
    query = query.where(BacklogItem.id.in_(item_ids) if item_ids else BacklogItem.closed.is_(False))
    items = list(session.scalars(query.limit(most + 1)))
    if item_ids and len(items) != len(set(item_ids)):
        raise NotFound(f"no backlog items with ids {sorted(set(item_ids) - {i.id for i in items})}")
    if len(items) > most:
        raise InvalidInput(f"{purpose} at most {most} items at a time: pass item_ids")
    if not items:
        raise InvalidInput(f"the backlog has no open items: nothing to {purpose}")
    return items


def import_items(
    session: Session, items: list[BacklogItemCreate], added_by: str | None = None
) -> tuple[list[BacklogItem], list[ImportUpdated], list[ImportSkipped]]:
    """Create the items not here yet; an item already here (same external id) takes the tracker's changes since the
    last import (`_reimport`), or is skipped when there are none; a record repeating an earlier one of the batch is
    skipped. With `added_by` (items sent one by one, not a tracker's file), a new item of no tracker records who
    added it in its history. Returns (created, updated, skipped)."""
    wanted = {i.external_id for i in items if i.external_id}
    existing = {
        row.external_id: row for row in session.scalars(select(BacklogItem).where(BacklogItem.external_id.in_(wanted)))
    }
    created: list[BacklogItem] = []
    updated: list[ImportUpdated] = []
    skipped: list[ImportSkipped] = []
    links: list[tuple[BacklogItem, str | None]] = []
    waits: list[tuple[BacklogItem, list[str]]] = []
    seen: set[str] = set()
    remarks: list[tuple[BacklogItem, list[TrackerComment]]] = []  # the tracker's comments, by item
    whole: list[tuple[BacklogItem, list[TrackerComment]]] = []  # the items whose thread was read whole
    for data in items:
        key = data.external_id
        if key and key in existing:
            item = existing[key]
            outcome = REPEATED if key in seen else _reimport(session, item, tracked(data), links, waits)
            if key not in seen and data.comments:
                remarks.append((item, data.comments))
            if key not in seen and data.comments_whole:
                whole.append((item, data.comments))
            seen.add(key)
            if isinstance(outcome, ImportUpdated):
                updated.append(outcome)
            else:
                skipped.append(ImportSkipped(external_id=key, existing_id=item.id, reason=outcome))
            continue
        item = BacklogItem(
            title=data.title,
            description=data.description,
            item_type=data.item_type,
            labels=[label.lower() for label in data.labels],
            priority=data.priority,
            external_id=data.external_id,
            story_points=data.story_points,
            closed=data.closed,
            imported=tracked(data) if key else None,
        )
        session.add(item)
        session.flush()
        if added_by is not None and not key:
            added = ItemEvent(item_id=item.id, action=ItemAction.added, actor=added_by or None, before={}, after={})
            session.add(added)
            outbox.queue_item(session, WebhookEvent.item_created, item.id, added_by or None)
        created.append(item)
        links.append((item, data.parent))
        waits.append((item, data.depends_on_keys))
        if data.comments:
            remarks.append((item, data.comments))
        if key:
            existing[key] = item
            seen.add(key)
    _link_parents(session, links)
    _link_dependencies(session, waits)
    _take_comments(session, remarks, {item.id for item in created})
    _drop_comments(session, whole)
    return created, updated, skipped


def _take_comments(
    session: Session, remarks: list[tuple[BacklogItem, list[TrackerComment]]], new_items: set[int]
) -> None:
    """Add the tracker's comments to their items' threads, each once (known by the tracker's name for it, as a push
    names a comment it posted, so those come back as nothing new); one read here and changed there since takes the
    new text. A new one on an item that was here before (not `new_items`), written in the last week, tells the item's
    followers (their inbox; not the webhooks: the tracker tells of its own comments)."""
    named = {f"{item.external_id}@{said.id}": (item, said) for item, remarks_of in remarks for said in remarks_of}
    known: dict[str, tuple[int, str | None]] = {}  # by name: the comment's id, and its text when read from there
    names = list(named)
    for start in range(0, len(names), 500):
        query = select(Comment.sent_as, Comment.id, Comment.text, Comment.from_tracker).where(
            Comment.sent_as.in_(names[start : start + 500])
        )  # columns, not rows: a pull reads every comment again, and nearly all are as they were
        known |= {name: (id_, text if ours else None) for name, id_, text, ours in session.execute(query)}
    for name, (item, said) in named.items():
        if name not in known:
            at = said.at or utcnow()
            comment = Comment(project_id=item.project_id, item_id=item.id, author=said.author, text=said.text,
                              at=at, sent_as=name, sent_at=at, from_tracker=True)  # fmt: skip
            session.add(comment)
            if item.id not in new_items and at > utcnow() - TOLD_WITHIN:  # not an old item's history, read at last
                session.flush()
                outbox.queue_tracker_comment(session, comment)
        elif known[name][1] not in (None, said.text) and (comment := session.get(Comment, known[name][0])):
            comment.text, comment.edited_at = said.text, utcnow()
            comment.sent_at = comment.edited_at  # not to be sent back


def _drop_comments(session: Session, whole: list[tuple[BacklogItem, list[TrackerComment]]]) -> None:
    """Delete here the comments read from the tracker before that an item's whole thread there no longer has (deleted
    there). Comments written here are left alone: a push deletes them there, not a pull here."""
    for start in range(0, len(whole), 500):
        batch = {
            item.id: {f"{item.external_id}@{said.id}" for said in said_there}
            for item, said_there in whole[start : start + 500]
        }
        read = select(Comment).where(Comment.item_id.in_(batch), Comment.from_tracker.is_(True))
        for comment in session.scalars(read):
            if comment.sent_as not in batch[comment.item_id]:
                session.delete(comment)


def tracked(data: BacklogItemCreate) -> dict[str, Any]:
    """The synced fields, and the keys of the parent and of the items it waits for, as the tracker gives them."""
    synced = data.model_dump(include=set(SYNCED))
    waits = sorted(set(data.depends_on_keys))
    return {**synced, "labels": _label_set(data.labels), "parent": data.parent, "depends_on_keys": waits}


def label_counts(session: Session) -> list[tuple[str, int]]:
    """The labels the project's items use (merged ones left out), each with how many items carry it, most used first;
    spellings that differ only in case count as one label, shown as most items spell it."""
    spellings: dict[str, Counter[str]] = {}
    for labels in session.scalars(select(BacklogItem.labels).where(BacklogItem.merged_into_id.is_(None))):
        for label in {label.casefold(): label for label in labels or []}.values():
            spellings.setdefault(label.casefold(), Counter())[label] += 1
    counted = [(spelled.most_common(1)[0][0], spelled.total()) for spelled in spellings.values()]
    return sorted(counted, key=lambda pair: (-pair[1], pair[0].casefold()))


def _label_set(labels: list[str]) -> list[str]:
    """Labels as a synced field compares them: lower-case, each once, sorted."""
    return sorted({label.lower() for label in labels})


def _ours(item: BacklogItem) -> dict[str, Any]:
    """The synced fields as the item has them here."""
    return {name: sorted(item.labels or []) if name == "labels" else getattr(item, name) for name in SYNCED}


def changed_since_tracker(item: BacklogItem) -> list[str]:
    """The synced fields changed here since the tracker last had them (by an import, or a push, which keeps the fields
    as they were here then as `here`); none for an item of no tracker, or one imported before the fields were kept
    (then what the tracker has is not known)."""
    if not item.external_id or item.imported is None:
        return []
    here = item.imported.get("here") or item.imported
    ours = _ours(item)
    return [
        name for name in SYNCED if _synced_value(name, ours[name]) != _synced_value(name, here.get(name, ours[name]))
    ]


def _synced_value(name: str, value: Any) -> Any:
    return _label_set(value or []) if name == "labels" else value


def tracker_fields(item: BacklogItem, theirs: dict[str, Any], parent: str | None) -> dict[str, Any]:
    """What `BacklogItem.imported` keeps once the item is sent: the synced fields as the tracker will give them back
    to an import (`theirs`), its parent's key there (`parent`), and the fields as they are here (`here`: what a later
    edit is compared with). Taken before sending, so an edit made meanwhile still counts as a change here."""
    known = item.imported or {}
    return {name: theirs[name] for name in SYNCED} | {
        "parent": parent,
        "depends_on_keys": known.get("depends_on_keys", []),
        "here": _ours(item),
    }


def sent_to_tracker(
    session: Session, item: BacklogItem, external_id: str, fields: dict[str, Any], actor: str | None
) -> None:
    """Record that the tracker now has the item (`fields`, from `tracker_fields`) as the issue `external_id`, so a
    re-import of that tracker's issues finds it unchanged; its history says who sent it."""
    before = {"external_id": item.external_id} if item.external_id != external_id else {}
    item.external_id = external_id
    item.imported = fields
    after = {"external_id": external_id} if before else {"sent": external_id}
    session.add(ItemEvent(item_id=item.id, action=ItemAction.sent, actor=actor, before=before, after=after))


def _changed_here(session: Session, item: BacklogItem) -> bool:
    """Whether a person changed the item here: accepted a suggestion on it, or set its priority by hand."""
    accepted = select(Suggestion.id).where(
        Suggestion.backlog_item_id == item.id, Suggestion.status == SuggestionStatus.accepted
    )
    return item.priority_set_by is not None or session.scalar(accepted.limit(1)) is not None


def edit_item(runtime: Runtime, item_id: int, edit: BacklogItemUpdate, actor: str | None) -> BacklogItem:
    """A person's edit: the fields given change, the item's history keeps them before and after, and a changed
    text is indexed again. A re-import later keeps these fields as they are here (see `_reimport`)."""
    with runtime.db.session() as session:
        item = get_item(session, item_id, merged=False)
        changed = _edit(session, item, edit.model_dump(exclude_unset=True), actor)
    if INDEXED & set(changed):
        duplicates.index(runtime, [duplicates.item_document(item)])
    return item


def _edit(session: Session, item: BacklogItem, wanted: dict[str, Any], actor: str | None) -> dict[str, Any]:
    """Set the `wanted` fields that differ, keeping the change in the item's history; what changed."""
    if "labels" in wanted:
        wanted["labels"] = _label_set(wanted["labels"])
    if "depends_on" in wanted:
        wanted["depends_on"] = check_dependencies(session, item, wanted["depends_on"])
    if wanted.get("parent_id") is not None:
        check_parent(session, item, wanted["parent_id"])
    ours = _ours(item)
    current = ours | {"depends_on": sorted(item.depends_on or []), "parent_id": item.parent_id}
    changed = {name: value for name, value in wanted.items() if current[name] != value}
    if not changed:
        return changed
    if item.external_id and item.imported is None:
        item.imported = ours  # the tracker's values, as best known: this edit must not look like theirs
    if item.external_id and "parent_id" in changed:  # for the tracker: moved here, or back where it has it
        item.parent_id = changed["parent_id"]
        there = _under(session, item, (item.imported or {}).get("parent"))
        item.imported = {k: v for k, v in (item.imported or {}).items() if k != PARENT_MOVED} | (
            {} if there else {PARENT_MOVED: True})  # fmt: skip
    for name, value in changed.items():
        setattr(item, name, value or None if name == "depends_on" else value)
    before = {name: current[name] for name in changed}
    session.add(ItemEvent(item_id=item.id, action=ItemAction.edited, actor=actor, before=before, after=changed))
    outbox.queue_item(session, WebhookEvent.item_updated, item.id, actor, changed)
    return changed


def edit_items(runtime: Runtime, bulk: BacklogBulkEdit, actor: str | None) -> BulkEdited:
    """Several items edited alike in one transaction (labels added or removed, type, closed, parent), each change in
    its item's history as a person's edit; an unknown or merged-away item, or one that cannot go under the parent
    (itself, or one of its own children), is refused, the others still edited. InvalidInput for a parent that is
    unknown or merged away."""
    edited = BulkEdited()
    removed = {label.lower() for label in bulk.remove_labels}
    alike = bulk.model_dump(include={"item_type", "closed"}, exclude_none=True)
    alike |= {"parent_id": bulk.parent_id} if "parent_id" in bulk.model_fields_set else {}
    with runtime.db.session() as session:
        if bulk.parent_id is not None:
            parent = session.get(BacklogItem, bulk.parent_id)
            if parent is None or parent.merged_into_id is not None:
                why = f"was merged into #{parent.merged_into_id}" if parent else "is no backlog item"
                raise InvalidInput(f"parent_id: #{bulk.parent_id} {why}")
        found = {i.id: i for i in session.scalars(select(BacklogItem).where(BacklogItem.id.in_(bulk.item_ids)))}
        for item_id in dict.fromkeys(bulk.item_ids):
            item = found.get(item_id)
            if item is None or item.merged_into_id is not None:
                why = f"merged into #{item.merged_into_id}" if item else "no backlog item with this id"
                edited.refused.append(BulkRefused(id=item_id, detail=why))
                continue
            kept = [label for label in item.labels or [] if label not in removed]
            try:
                changed = _edit(session, item, {**alike, "labels": [*kept, *bulk.add_labels]}, actor)
            except InvalidInput as exc:  # under itself or its own child: nothing of it changed
                edited.refused.append(BulkRefused(id=item_id, detail=str(exc)))
                continue
            (edited.changed if changed else edited.unchanged).append(item_id)
    return edited


def check_dependencies(session: Session, item: BacklogItem, wanted: list[int]) -> list[int]:
    """`wanted` as `item.depends_on` keeps it (each id once, sorted), or InvalidInput saying what to fix: the item
    itself, an item that does not exist or was merged away, or one that already waits for `item` (a cycle)."""
    ids = sorted(set(wanted))
    if item.id in ids:
        raise InvalidInput(f"item #{item.id} cannot depend on itself: remove {item.id} from depends_on")
    found = {row.id: row for row in session.scalars(select(BacklogItem).where(BacklogItem.id.in_(ids)))}
    if unknown := [i for i in ids if i not in found]:
        raise InvalidInput(f"depends_on names no backlog item with id {', '.join(map(str, unknown))}")
    for row in found.values():
        if row.merged_into_id is not None:
            raise InvalidInput(f"item #{row.id} was merged into #{row.merged_into_id}: depend on #{row.merged_into_id}")
    waiting = session.execute(select(BacklogItem.id, BacklogItem.depends_on).where(BacklogItem.depends_on.is_not(None)))
    graph = {row_id: set(depends or []) for row_id, depends in waiting}
    for start in ids:
        if path := dependency_path(graph, start, item.id):
            chain = " waits for ".join(f"#{i}" for i in path)
            raise InvalidInput(f"{chain}: #{item.id} cannot also wait for #{start}, that would be a cycle")
    return ids


def check_parent(session: Session, item: BacklogItem, parent_id: int) -> None:
    """InvalidInput saying what to fix when `item` cannot be put under `parent_id`: itself, an item that does not exist
    or was merged away, or one of its own children or their children (a cycle)."""
    if parent_id == item.id:
        raise InvalidInput(f"item #{item.id} cannot be its own parent: give another parent_id, or null for none")
    parent = session.get(BacklogItem, parent_id)
    if parent is None:
        raise InvalidInput(f"parent_id names no backlog item with id {parent_id}")
    if parent.merged_into_id is not None:
        raise InvalidInput(f"item #{parent_id} was merged into #{parent.merged_into_id}: put it under that one")
    chain, above = [parent_id], parent
    while above is not None and above.parent_id is not None and above.parent_id not in chain:
        if above.parent_id == item.id:
            under = " under ".join(f"#{i}" for i in chain)
            raise InvalidInput(f"{under} under #{item.id}: #{item.id} cannot also be under #{parent_id}, that would be "
                               "a cycle")  # fmt: skip
        chain.append(above.parent_id)
        above = session.get(BacklogItem, above.parent_id)


def links(session: Session, item: BacklogItem | BacklogItemPublic) -> tuple[list[BacklogItem], list[BacklogItem]]:
    """(the items `item` waits for, the items waiting for it), each in id order; merged-away items left out."""
    waits = list(item.depends_on or [])
    blocks = _waiting_for(session)[item.id]
    rows = session.scalars(select(BacklogItem).where(BacklogItem.id.in_([*waits, *blocks])).order_by(BacklogItem.id))
    found = list(rows)
    return [r for r in found if r.id in waits], [r for r in found if r.id in blocks]


def _waiting_for(session: Session) -> defaultdict[int, list[int]]:
    """For each item, the ids of the items (not merged away) that wait for it, in id order."""
    rows = select(BacklogItem.id, BacklogItem.depends_on).where(
        BacklogItem.depends_on.is_not(None), BacklogItem.merged_into_id.is_(None)
    )
    waiting: defaultdict[int, list[int]] = defaultdict(list)
    for item_id, depends_on in session.execute(rows.order_by(BacklogItem.id)):
        for prerequisite in depends_on or []:
            waiting[prerequisite].append(item_id)
    return waiting


def item_history(session: Session, item_id: int) -> list[ItemEvent]:
    """The item's changes outside suggestions, oldest first (NotFound for an unknown item)."""
    get_item(session, item_id)
    return list(session.scalars(select(ItemEvent).where(ItemEvent.item_id == item_id).order_by(ItemEvent.id)))


def _reimport(
    session: Session,
    item: BacklogItem,
    theirs: dict[str, Any],
    links: list[tuple[BacklogItem, str | None]],
    waits: list[tuple[BacklogItem, list[str]]],
) -> ImportUpdated | str:
    """Merge the tracker's changes since the last import into `item`: what was updated and kept, or why nothing was.
    An item imported before the fields were kept (`imported` empty) counts as unchanged here unless `_changed_here`;
    otherwise each field the tracker changed is kept as it is here."""
    if item.merged_into_id is not None:
        return f"merged into backlog item #{item.merged_into_id} here: the tracker's changes to it are not applied"
    base = item.imported
    if base is None and not _changed_here(session, item):
        base = _ours(item)  # no parent: unknown, so not relinked
    ours = _ours(item)
    changed: list[str] = []
    kept: list[str] = []
    for name in SYNCED:
        if theirs[name] == ours[name] or (base is not None and theirs[name] == base[name]):
            continue
        if base is not None and ours[name] == base.get("here", base)[name]:  # unchanged here since the last sync
            setattr(item, name, theirs[name])
            changed.append(name)
        else:
            kept.append(name)
    moved = base is not None and bool(base.get(PARENT_MOVED))  # a person moved it here since: theirs waits
    if moved and _under(session, item, theirs["parent"]):
        moved = False  # moved there alike: nothing left to send
    elif base is not None and theirs["parent"] != base.get("parent", theirs["parent"]):
        if moved:
            kept.append("parent")
        else:
            links.append((item, theirs["parent"]))
            changed.append("parent")
    # an item imported before dependencies were read had none from its tracker, unless it has some here
    their_waits = theirs["depends_on_keys"]
    if base is not None and their_waits != base.get("depends_on_keys", their_waits if item.depends_on else []):
        if dependencies_edited_here(session, item):
            kept.append("depends_on_keys")
        else:
            waits.append((item, theirs["depends_on_keys"]))
            changed.append("depends_on_keys")
    item.imported = theirs | ({PARENT_MOVED: True} if moved else {})
    if base is not None and "here" in base:  # what a push left here: the fields just applied are as they are here now
        now = _ours(item)
        here = base["here"] | {name: now[name] for name in changed if name in SYNCED}
        item.imported = item.imported | {"here": here}
    if changed:
        before, after = ({n: values.get(n) for n in changed} for values in (ours, theirs))
        session.add(ItemEvent(item_id=item.id, action=ItemAction.imported, actor=None, before=before, after=after))
    if not changed and not kept:
        return "already in the backlog, unchanged in the tracker since the last import"
    return ImportUpdated(external_id=item.external_id or "", item_id=item.id, changed=changed, kept=kept)


def _under(session: Session, item: BacklogItem, key: str | None) -> bool:
    """Whether the item is under the issue `key` names (SHOP-1, github:owner/repo#1, as an import names a parent), or
    under none when `key` is None."""
    if key is None or item.parent_id is None:
        return key is None and item.parent_id is None
    parent = session.get(BacklogItem, item.parent_id)
    return parent is not None and items_by_key(session, {key}).get(key) == parent.id


def dependencies_edited_here(session: Session, item: BacklogItem) -> bool:
    """Whether a person changed the item's dependencies here (its history has such an edit)."""
    edits = select(ItemEvent.after).where(ItemEvent.item_id == item.id, ItemEvent.action == ItemAction.edited)
    return any("depends_on" in after for after in session.scalars(edits))


def items_by_key(session: Session, keys: set[str]) -> dict[str, int]:
    """The ids of the items the tracker `keys` name (`SHOP-12` matches `jira:SHOP-12`), for those found."""
    candidates = keys | {f"{source}:{key}" for key in keys for source in ("jira", "github", "linear")}
    rows = session.scalars(select(BacklogItem).where(BacklogItem.external_id.in_(candidates)))
    found = {row.external_id: row.id for row in rows if row.external_id}
    short = {external.split(":", 1)[-1]: row_id for external, row_id in found.items()}
    return {key: found.get(key) or short[key] for key in keys if key in found or key in short}


def _link_parents(session: Session, links: list[tuple[BacklogItem, str | None]]) -> None:
    """Point each new item at its parent, found by key among all items."""
    found = items_by_key(session, {key for _, key in links if key})
    for item, key in links:
        item.parent_id = found.get(key) if key else None  # a parent removed there is removed here


def _link_dependencies(session: Session, waits: list[tuple[BacklogItem, list[str]]]) -> None:
    """Point each item at the items it waits for, found by key among all items (keys not found are left out)."""
    found = items_by_key(session, {key for _, keys in waits for key in keys})
    for item, keys in waits:
        ids = sorted({found[key] for key in keys if key in found} - {item.id})
        if ids or item.depends_on:
            item.depends_on = ids or None


def check_import(runtime: Runtime, rows: int) -> None:
    """Refuse an import before any row is written: more rows than REFINERY_MAX_ROWS (413), or a duplicate index that
    cannot be opened (503)."""
    check_rows(rows, runtime.settings.max_rows, "the import")
    if runtime.settings.duplicate_check:
        duplicates.detector(runtime)


def reindexed(updated: list[ImportUpdated]) -> list[int]:
    """The items a re-import changed the indexed text of (they are embedded again)."""
    return [u.item_id for u in updated if INDEXED & set(u.changed)]


def index_items(runtime: Runtime, item_ids: list[int], progress: Callable[[int], None], batch: int = 256) -> None:
    """Make these items searchable for duplicates, `batch` at a time; `progress` hears how many are done after each
    (256 a batch: each is a write to the index, and smaller batches cost more, bench/bench_import_jobs.py)."""
    for start in range(0, len(item_ids), batch):
        chunk = item_ids[start : start + batch]
        with runtime.db.session() as session:
            rows = list(session.scalars(select(BacklogItem).where(BacklogItem.id.in_(chunk))))
        duplicates.index(runtime, [duplicates.item_document(row) for row in rows])
        progress(start + len(chunk))


def import_and_index(
    runtime: Runtime, items: list[BacklogItemCreate], problems: list[str] | None = None, added_by: str | None = None
) -> Imported:
    """Import items (idempotent by external id) and make the new ones searchable for duplicates, within this call
    (a large import: `service.backlog.jobs`); `added_by` as in `import_items` ("" for someone unnamed)."""
    check_import(runtime, len(items))
    with runtime.db.session() as session:
        created, updated, skipped = import_items(session, items, added_by)
        reread = [session.get(BacklogItem, item_id) for item_id in reindexed(updated)]
    duplicates.index(runtime, [duplicates.item_document(i) for i in [*created, *reread] if i is not None])
    return Imported(created, skipped, problems or [], updated)


def item_key(item: BacklogItem | BacklogItemPublic) -> str:
    """How exports name an item for a link to it: the tracker's own key when imported (SHOP-12), else its id."""
    return item.external_id.split(":", 1)[-1] if item.external_id else str(item.id)


def _threads(session: Session, item_ids: list[int]) -> dict[int, list[tuple[str, str, str]]]:
    """The items' comments, oldest first, as a Markdown export shows them: (author, day, text)."""
    return {
        item_id: [(c.author or "someone", f"{c.at:%Y-%m-%d}", c.text) for c in thread]
        for item_id, thread in item_threads(session, item_ids).items()
    }


def export_backlog(runtime: Runtime, format: ExportFormat, shown: BacklogFilter | None = None) -> tuple[str, str, int]:
    """Every backlog item `shown` asks for (default: all; merged ones left out) by priority rank in `format`, none
    cut off (an export that silently left items out would lose work): (content, media type, items). A child whose
    parent is not exported still names its parent's key."""
    with runtime.db.session() as session:
        rows = list_items(session, None, 0, False, "priority", shown)
        keys = {row.id: item_key(row) for row in rows}
        blocks = _waiting_for(session)
        linked = {i for row in rows for i in [row.parent_id, *(row.depends_on or []), *blocks[row.id]]}
        if missing := linked - set(keys) - {None}:
            others = session.scalars(select(BacklogItem).where(BacklogItem.id.in_(missing)))
            keys |= {other.id: item_key(other) for other in others}
        children: dict[int, list[str]] = {}
        for row in rows:
            if row.parent_id:
                children.setdefault(row.parent_id, []).append(row.title)
        threads = _threads(session, [row.id for row in rows]) if format == "markdown" else {}
        waiting = {row.id: [i for i in blocks[row.id] if i in keys] for row in rows}  # the items each one blocks
        items = [
            export_item(
                row,
                keys.get(row.parent_id) if row.parent_id else None,
                children.get(row.id),
                [keys[i] for i in row.depends_on or [] if i in keys],
                [keys[i] for i in waiting[row.id]],
                threads.get(row.id),
                waiting[row.id],
            )
            for row in rows
        ]
    content, media_type = export(items, format)
    return content, media_type, len(items)
