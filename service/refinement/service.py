"""Refining the backlog a team already has: quality findings, and rewrite, split, estimate and labels suggestions.

A suggestion records the item's fingerprint when it is made (title, description and type; an estimate also the
points): accepting it after that changed is refused as stale, and refining an unchanged item again returns the
pending suggestion instead of a second one. So accepting an item's estimate leaves its rewrite and split current,
while accepting its rewrite makes its estimate stale (that was made from the old text).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipelines import labels as labelling
from pipelines.duplicates import BACKGROUND
from pipelines.estimate import (
    WORDS_MAX_ITEMS,
    Comparable,
    TeamPoints,
    estimate_from_comparables,
    points_said,
    team_median,
)
from pipelines.models import StoryDraftEdits, story_markdown
from pipelines.points_model import joined
from pipelines.prioritization import estimate_inputs
from pipelines.quality import MAX_POINTS, Finding, Readiness, check_item, count_criteria
from pipelines.refine import SplitPlan, item_requirements, rewrite_item, split_item
from pipelines.words import item_words
from service import duplicates
from service.backlog.service import get_item
from service.core import scope
from service.core.comments import Thread, item_threads, list_comments
from service.core.enums import SuggestionAction, SuggestionKind, SuggestionStatus
from service.core.errors import Conflict, InvalidInput, NotFound
from service.core.learned import learned
from service.core.runtime import Runtime
from service.core.suggestions import (
    Proposal,
    claim,
    create_suggestion,
    edited_story,
    get_suggestion,
    item_used_since,
    record_event,
    replace_proposal,
    story_item,
)
from service.core.tables import BacklogItem, Comment, Suggestion, SuggestionEvent
from service.refinement import points_model

MAX_DESCRIPTION = 20_000  # more is cut before the model sees it (the quality check reads it all)
COMPARABLES = 20
# Findings a rewrite fixes; a duplicate is merged and a too-large item split instead.
REWRITE_FOR = {"well_formed", "atomic", "minimal", "unambiguous", "testable"}
READS_THREAD = frozenset({SuggestionKind.rewrite, SuggestionKind.split})  # made with the item's comments
# An item with children (split here or in the tracker) is their epic: the persona, criteria and size are its
# children's, so only vague words and duplicates are findings on it, and it is not rewritten, split or estimated
# again by a refinement.
EPIC_CRITERIA = {"unambiguous", "duplicate"}
NOT_FOR_EPICS = frozenset({SuggestionKind.rewrite, SuggestionKind.split})  # one made before its split is stale
# What the estimate eval measured for the model alone (README, "the model, measured"): said on each such estimate.
MODEL_ALONE_WARNING = (
    "no item in this project has story points yet, so these are the model's points alone: on 56 real Jira items "
    "they were off by 5.7 points on average, about twice as far as the project's median; give a few items points "
    "and estimate again to compare with them"
)


ESTIMATE_METHOD = "estimate@4"  # the method's version on its suggestions (4: with the likely range)


def fingerprint(item: BacklogItem, kind: SuggestionKind = SuggestionKind.estimate) -> str:
    """What a refinement suggestion of `kind` was made from; a change to any of it makes the suggestion stale. The
    points count for an estimate only (and for every suggestion stored before 2026-11-27: `_current_item`)."""
    points = item.story_points if kind == SuggestionKind.estimate else "-"
    content = f"{item.title}\n{item.description}\n{points}\n{item.item_type}".encode()
    return hashlib.sha256(content).hexdigest()[:16]


def findings(runtime: Runtime, item: BacklogItem) -> list[Finding]:
    """Rule findings on the item's text, then likely duplicates from the duplicate detector."""
    return findings_many(runtime, [item])[0]


def epics_among(session: Session, item_ids: list[int]) -> set[int]:
    """Those of the items that have children (not merged away): epics, whose stories are their children."""
    query = select(BacklogItem.parent_id).where(
        BacklogItem.parent_id.in_(item_ids), BacklogItem.merged_into_id.is_(None)
    )
    return set(session.scalars(query.distinct()))


def _text_findings(item: BacklogItem, ready: Readiness) -> list[Finding]:
    """The rules' findings on the item (before `ready` leaves out the criteria it does not check)."""
    text = item.description or ""
    return check_item(item.title, text, item.item_type, item.story_points, ready.max_points)  # type: ignore[arg-type]


def readiness(session: Session) -> Readiness:
    """The current project's Definition of Ready: the criteria it checks and the most points that fit a sprint (the
    default where it set none)."""
    project = scope.this_project(session)
    return Readiness.model_validate(project.readiness) if project and project.readiness else Readiness()


def set_readiness(runtime: Runtime, ready: Readiness) -> Readiness:
    """Make `ready` the current project's Definition of Ready: every later check, queue and run follows it."""
    with runtime.db.session() as session:
        project = scope.this_project(session)
        if project is None:
            raise NotFound("no such project")
        project.readiness = ready.model_dump(mode="json")
    return ready


def _duplicate_findings(candidates: list[dict[str, Any]]) -> list[Finding]:
    return [
        Finding(
            criterion="duplicate",
            span=None,
            why=f'reads like backlog item #{candidate["item_id"]} "{candidate["title"]}" '
            f"(score {candidate['score']:.2f})",
            fix=f"merge the two: keep one and fold the other into it (#{candidate['item_id']})",
        )
        for candidate in candidates
        if candidate["verdict"] == "duplicate" and candidate["kind"] == "backlog_item"
    ]


DUPLICATES_SHOWN = 5  # an item's likeliest duplicates that can be findings
JUDGED_WITH = BACKGROUND.stop  # the likeliest duplicates an item's verdicts are judged with (`judge`)


def _candidates(
    runtime: Runtime, items: list[BacklogItem], k: int = DUPLICATES_SHOWN, ready: Readiness | None = None
) -> list[list[dict[str, Any]]]:
    """Each item's `k` likeliest duplicates (none when the service or the project's Definition of Ready does not
    check duplicates)."""
    check = runtime.settings.duplicate_check and (ready is None or "duplicate" in ready.criteria)
    return duplicates.items_duplicates(runtime, items, k) if check and items else [[] for _ in items]


def _as_epic(found: list[Finding], epic: bool) -> list[Finding]:
    return [f for f in found if f.criterion in EPIC_CRITERIA] if epic else found


def findings_many(runtime: Runtime, items: list[BacklogItem]) -> list[list[Finding]]:
    """`findings` for many items, with their duplicate searches batched; an epic's only as `EPIC_CRITERIA` says."""
    with runtime.db.session() as session:
        epics = epics_among(session, [i.id for i in items])
        ready = readiness(session)
    candidates = _candidates(runtime, items, ready=ready)
    return [
        _as_epic(ready.keep(_text_findings(item, ready) + _duplicate_findings(found)), item.id in epics)
        for item, found in zip(items, candidates, strict=True)
    ]


def quality(runtime: Runtime, item_id: int) -> list[Finding]:
    with runtime.db.session() as session:
        item = get_item(session, item_id, merged=False)
    return findings(runtime, item)


def needs_split(item: BacklogItem, found: list[Finding], max_points: int = MAX_POINTS) -> str | None:
    """Why the item is too large for a sprint (more than `max_points`, an epic, several goals, many criteria), or
    None."""
    if item.story_points is not None and item.story_points > max_points:
        return f"{item.story_points} points (more than {max_points})"
    if "epic" in (item.labels or []):
        return "it is an epic"
    if any(f.criterion == "atomic" for f in found):
        return "it has several goals"
    criteria = count_criteria(item.description or "")
    return f"{criteria} acceptance criteria" if criteria > 5 else None


def _made_from(item: BacklogItem, kind: SuggestionKind) -> tuple[str, str]:
    """The fingerprints a current suggestion of `kind` on `item` may carry: today's, and the one every suggestion
    stored before 2026-11-27 has (points included for every kind)."""
    return fingerprint(item, kind), fingerprint(item)


def _inputs(item: BacklogItem, kind: SuggestionKind) -> dict[str, Any]:
    return {"backlog_item_id": item.id, "fingerprint": fingerprint(item, kind), "title": item.title}


def _key(kind: SuggestionKind, item: BacklogItem, made_from: str | None = None) -> str:
    return _keyed(kind, item.id, made_from or fingerprint(item, kind))


def _keyed(kind: str, item_id: int, made_from: str) -> str:
    """The pending key of a suggestion of `kind` on the item, made from the item as `made_from` fingerprints it."""
    return f"{kind}:{item_id}:{made_from}"


def _existing(
    session: Session, kind: SuggestionKind, item: BacklogItem, since: datetime | None = None
) -> Suggestion | None:
    """The suggestion of this kind already made from the item as it is now: a pending one, or one that failed since
    `since` (a refinement job's start, so that a redone piece keeps its failure instead of storing a second). An
    earlier failure gives up its key and is tried again."""
    keys = [_key(kind, item, made_from) for made_from in _made_from(item, kind)]
    found = session.scalar(select(Suggestion).where(Suggestion.pending_key.in_(keys)).limit(1))
    if found is not None and found.status == SuggestionStatus.failed and (since is None or found.created_at < since):
        found.pending_key = None
        session.flush()
        return None
    return found


def _create(
    runtime: Runtime,
    kind: SuggestionKind,
    proposal: Proposal,
    item: BacklogItem,
    evidence: dict[str, Any] | None,
    actor: str | None,
    inputs: dict[str, Any] | None = None,
) -> Suggestion:
    """Store a refinement suggestion (pending or failed, keyed) made from `inputs` (default: the item as it is);
    when the same one was stored meanwhile (two workers ran the same piece), that one."""
    inputs = inputs or _inputs(item, kind)
    try:
        with runtime.db.session() as session:
            return create_suggestion(session, kind, proposal, inputs, evidence, actor, _key(kind, item))
    except IntegrityError:
        with runtime.db.session() as session:
            if existing := _existing(session, kind, item):
                return existing
        raise


def _finding_dicts(found: list[Finding]) -> list[dict[str, Any]]:
    return [f.model_dump() for f in found]


def _digest(thread: list[Comment]) -> str | None:
    """What an item's comments say, as a rewrite or split read them (None without comments)."""
    if not thread:
        return None
    said = json.dumps([[c.id, c.author, c.text] for c in thread], ensure_ascii=False).encode()
    return hashlib.sha256(said).hexdigest()[:16]


def _thread_changed(suggestion: Suggestion, thread: list[Comment]) -> bool:
    """Whether a rewrite or split did not read the item's comments as they are now (a comment written, edited or
    deleted since): asked for again, it is made again with them."""
    return suggestion.kind in READS_THREAD and _read(suggestion) != _digest(thread)


def _read(suggestion: Suggestion) -> str | None:
    """The digest of the comments a rewrite or split read (None: none, or made before they read comments)."""
    return suggestion.input.get("comments_digest")


REFINED = (SuggestionKind.rewrite, SuggestionKind.split, SuggestionKind.estimate, SuggestionKind.labels)


def dismissed(session: Session, item: BacklogItem) -> set[SuggestionKind]:
    """The kinds of refinement suggestion a person rejected for the item as it is now (its text unchanged since, and
    for a rewrite or split its comments too): a refinement run does not make them again; asking on the item does."""
    rejected = session.scalars(
        select(Suggestion).where(
            Suggestion.kind.in_(REFINED),
            Suggestion.status == SuggestionStatus.rejected,
            Suggestion.input["backlog_item_id"].as_integer() == item.id,
        )
    )
    kinds: set[SuggestionKind] = set()
    thread: list[Comment] | None = None
    for suggestion in rejected:
        if suggestion.input.get("fingerprint") not in _made_from(item, suggestion.kind):
            continue
        if suggestion.kind in READS_THREAD:
            thread = list_comments(session, Thread(item_id=item.id)) if thread is None else thread
            if _read(suggestion) != _digest(thread):
                continue
        kinds.add(SuggestionKind(suggestion.kind))
    return kinds


def _thread_inputs(item: BacklogItem, kind: SuggestionKind, thread: list[Comment]) -> dict[str, Any]:
    """What a rewrite or split is made from: the item, and the comments it read with their digest (a comment
    written, edited or deleted changes it)."""
    inputs = _inputs(item, kind)
    if thread:
        inputs |= {"comment_ids": [c.id for c in thread], "comments_digest": _digest(thread)}
    return inputs


def _store(
    runtime: Runtime, kind: SuggestionKind, proposal: Proposal, item: BacklogItem, evidence: dict[str, Any],
    actor: str | None, inputs: dict[str, Any], existing: Suggestion | None,
) -> Suggestion:  # fmt: skip
    """A new suggestion, or `existing` (made before the thread changed) made again in its place."""
    if existing is None:
        return _create(runtime, kind, proposal, item, evidence, actor, inputs)
    with runtime.db.session() as session:
        return replace_proposal(session, get_suggestion(session, existing.id), proposal, inputs, evidence, actor)


def propose_rewrite(
    runtime: Runtime,
    item_id: int,
    actor: str | None = None,
    found: list[Finding] | None = None,
    since: datetime | None = None,
) -> tuple[Suggestion | None, list]:
    """A rewrite of an item the quality check finds unclear, made from its text and its comments: (the suggestion,
    the findings); (None, findings) when nothing a rewrite fixes was found. A pending rewrite of the item as it reads
    now is returned as it is while the item's comments are those it read; after a comment was written, edited or
    deleted, it is made again in its place (what the thread settled goes into the story)."""
    with runtime.db.session() as session:
        item = get_item(session, item_id, merged=False)
        thread = list_comments(session, Thread(item_id=item.id))
        existing = _existing(session, SuggestionKind.rewrite, item, since)
        if existing is not None and (existing.status == SuggestionStatus.failed or _read(existing) == _digest(thread)):
            return existing, existing.evidence.get("findings", [])
        epic = bool(epics_among(session, [item.id]))
    found = findings(runtime, item) if found is None else found
    fixable = [f for f in found if f.criterion in REWRITE_FOR]
    if not fixable or epic:
        return None, found
    description = (item.description or "")[:MAX_DESCRIPTION]
    said = [(c.author, c.text) for c in thread]
    result = rewrite_item(runtime.llm(), item.title, description, item.item_type, fixable, said)
    inputs, evidence = _thread_inputs(item, SuggestionKind.rewrite, thread), {"findings": _finding_dicts(found)}
    return _store(runtime, SuggestionKind.rewrite, Proposal.of(result), item, evidence, actor, inputs, existing), found


def propose_split(
    runtime: Runtime,
    item_id: int,
    actor: str | None = None,
    found: list[Finding] | None = None,
    since: datetime | None = None,
) -> tuple[Suggestion | None, list]:
    """A split of an item too large for a sprint, made from its text and its comments, or (None, findings) when it is
    not. A pending split is made again in its place once the item's comments changed, as a rewrite is."""
    with runtime.db.session() as session:
        item = get_item(session, item_id, merged=False)
        thread = list_comments(session, Thread(item_id=item.id))
        existing = _existing(session, SuggestionKind.split, item, since)
        if existing is not None and (existing.status == SuggestionStatus.failed or _read(existing) == _digest(thread)):
            return existing, existing.evidence.get("findings", [])
        epic = bool(epics_among(session, [item.id]))
        max_points = readiness(session).max_points
    found = findings(runtime, item) if found is None else found
    reason = None if epic else needs_split(item, found, max_points)
    if reason is None:
        return None, found
    description = (item.description or "")[:MAX_DESCRIPTION]
    said = [(c.author, c.text) for c in thread]
    result = split_item(runtime.llm(), item.title, description, item.item_type, said)
    evidence = {
        "findings": _finding_dicts(found),
        "why": reason,
        "requirements": item_requirements(item.title, description),
    }
    inputs = _thread_inputs(item, SuggestionKind.split, thread)
    return _store(runtime, SuggestionKind.split, Proposal.of(result), item, evidence, actor, inputs, existing), found


def comparables(runtime: Runtime, item: BacklogItem) -> tuple[list[Comparable], float | None]:
    """The most similar other items with points, and the median of every item's points (the team's prior)."""
    with runtime.db.session() as session:
        pointed = {
            i.id: i
            for i in session.scalars(
                select(BacklogItem).where(BacklogItem.story_points.is_not(None), BacklogItem.merged_into_id.is_(None))
            )
            if i.id != item.id
        }
    if not pointed:
        return [], None
    found = duplicates.item_duplicates(runtime, item, min(100, 5 * COMPARABLES))
    similar = [
        Comparable(item_id=c["item_id"], title=c["title"], points=pointed[c["item_id"]].story_points, score=c["score"])
        for c in found
        if c["kind"] == "backlog_item" and c["item_id"] in pointed
    ][:COMPARABLES]
    return similar, team_median([float(i.story_points) for i in pointed.values()])


def team_points(runtime: Runtime, item: BacklogItem) -> TeamPoints | None:
    """A classifier of the words of the newest `WORDS_MAX_ITEMS` items with points (the item itself left out), or
    None while fewer than `WORDS_MIN_ITEMS` have points (README: joined to the comparables, it brought the estimate
    below the Median baseline on more projects). An item without points is left out anyway, so a refinement run
    fits it once."""
    excluded = [item.id] if item.story_points is not None else []
    return learned(
        runtime,
        BacklogItem.story_points,
        excluded,
        lambda rows: TeamPoints.fit([item_words(t, d) for t, d, _ in rows], [float(p) for *_, p in rows]),
        WORDS_MAX_ITEMS,
    )


def _join_team_model(
    runtime: Runtime, item: BacklogItem, payload: dict[str, Any], model: str, evidence: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """The rule's estimate joined to the team's fine-tuned model's (`service.refinement.points_model`), once the team
    has one; `evidence` says what the model said, or that it is being fitted."""
    fit, fitting = points_model.team_model(runtime)
    if fitting:
        evidence["team_model_fitting"] = True
    if fit is None:
        return payload, model
    if item.id in fit.items:  # it learned this item's own points: its answer would repeat them
        evidence["team_model_left_out"] = "the team's model learned from this item's own points"
        return payload, model
    said = fit.model.predict([item_words(item.title, item.description or "")])[0]
    points = joined(payload["points"], said)
    evidence["team_model"] = {"items": fit.model.size, "points": round(said, 2), "rule_points": payload["points"]}
    rationale = (
        f"{payload['rationale']}; joined to the team's own model (fine-tuned on {fit.model.size} estimated items: "
        f"{said:.1f}) by their geometric mean"
    )
    low, high = min(payload["low"], points), max(payload["high"], points)  # the range takes in the joined points
    if (low, high) != (payload["low"], payload["high"]):
        rationale += f", so likely {low}-{high}"
    payload = {
        **payload, "points": points, "low": low, "high": high, "rationale": rationale,
        "method": f"{payload['method']}+team-model",
    }  # fmt: skip
    return payload, f"{model}+team-model"


def propose_estimate(
    runtime: Runtime, item_id: int, actor: str | None = None, since: datetime | None = None
) -> Suggestion:
    """Story points with the comparable estimated items as the reason; with none, the model alone (labelled)."""
    with runtime.db.session() as session:
        item = get_item(session, item_id, merged=False)
        if existing := _existing(session, SuggestionKind.estimate, item, since):
            return existing
        said = [{"comment_id": c.id, "author": c.author, "points": points}
                for c in list_comments(session, Thread(item_id=item.id)) for points in points_said(c.text)]  # fmt: skip
    similar, prior = comparables(runtime, item)
    team = team_points(runtime, item) if similar else None
    words = team.distribution(item_words(item.title, item.description or "")) if team else None
    estimate = estimate_from_comparables(similar, prior, words=words)
    evidence: dict[str, Any] | None = None
    if estimate is not None:
        payload = {**estimate.model_dump(mode="json"), "method": "comparables"}
        model = "weighted-median-of-comparables"
        evidence = {}
        if team and words:
            payload["method"], model = "comparables+words", f"{model}+team-words"
            likely = sorted(words.items(), key=lambda pair: -pair[1])[:3]
            evidence["team_words"] = {
                "items": team.size, "likely": [{"points": v, "p": round(p, 3)} for v, p in likely]
            }  # fmt: skip
        payload, model = _join_team_model(runtime, item, payload, model, evidence)
        proposal = Proposal(payload, model=model, provider="refinery", prompt_version=ESTIMATE_METHOD)
    else:
        result = estimate_inputs(
            runtime.llm(), item.title, item.item_type, (item.description or "")[:MAX_DESCRIPTION], None, "", []
        )
        if result.value is not None:
            result.warnings.append(MODEL_ALONE_WARNING)
        proposal = Proposal.of(result)
        if result.value is not None:
            payload = {
                "points": result.value.effort,
                "rationale": f"model alone, no estimated items to compare with: {result.value.effort_rationale}",
                "comparables": [],
                "method": "model",
            }
            proposal = proposal.with_payload(payload)
    if said:  # what the item's comments said, beside the estimate (not joined to it)
        evidence = {**(evidence or {}), "thread_points": said}
    return _create(runtime, SuggestionKind.estimate, proposal, item, evidence or None, actor)


def label_comparables(runtime: Runtime, item: BacklogItem) -> list[labelling.LabelledItem]:
    """The most similar other items with labels, best first (the duplicate detector's hybrid score, as estimates)."""
    found = duplicates.item_duplicates(runtime, item, labelling.POOL)
    with runtime.db.session() as session:
        return duplicates.labelled_candidates(session, found)[: labelling.K]


def propose_labels(
    runtime: Runtime, item_id: int, actor: str | None = None, since: datetime | None = None
) -> tuple[Suggestion | None, str]:
    """A `labels` suggestion: the labels the item lacks that its most similar labelled items agree on, with them as
    the reason; or None and why none stands out."""
    with runtime.db.session() as session:
        item = get_item(session, item_id, merged=False)
        if existing := _existing(session, SuggestionKind.labels, item, since):
            return existing, ""
    similar = label_comparables(runtime, item)
    made = labelling.suggest_labels(similar, item.labels or [])
    if made is None:
        if len(similar) < labelling.MIN_ITEMS:
            return None, (
                f"fewer than {labelling.MIN_ITEMS} labelled items are like it ({len(similar)}): label a few items and "
                "ask again"
            )
        return None, f"its {len(similar)} most similar labelled items agree on no label it lacks"
    payload = {"labels": [v.label for v in made.labels], **labelling.shown(made)}
    proposal = Proposal(payload, model="weighted-vote-of-comparables", provider="refinery", prompt_version="labels@1")
    return _create(runtime, SuggestionKind.labels, proposal, item, None, actor), ""


def _current_item(session: Session, suggestion: Suggestion) -> BacklogItem:
    """The item a refinement suggestion is about, unchanged since it was made (else Conflict: stale)."""
    item = get_item(session, suggestion.input["backlog_item_id"], merged=False)
    if suggestion.input.get("fingerprint") not in _made_from(item, suggestion.kind):
        raise Conflict(
            f"suggestion {suggestion.id} is stale: backlog item {item.id} changed after it was made; "
            "reject it and refine the item again"
        )
    if suggestion.kind in NOT_FOR_EPICS and epics_among(session, [item.id]):
        raise Conflict(
            f"suggestion {suggestion.id} is stale: backlog item {item.id} has children now, which carry its stories "
            "(an epic is not rewritten or split); reject it"
        )
    return item


def _snapshot(item: BacklogItem) -> dict[str, Any]:
    return {"title": item.title, "description": item.description, "item_type": item.item_type, "labels": item.labels}


def accept_rewrite(
    session: Session, suggestion: Suggestion, edits: StoryDraftEdits | None, actor: str | None
) -> BacklogItem:
    """The item takes the rewritten story (with the reviewer's edits); history keeps the item before and after."""
    item = _current_item(session, suggestion)
    final, action = edited_story(suggestion, edits)
    claim(session, suggestion, SuggestionStatus.accepted, actor, None)
    before = {**_snapshot(item), "story": item.story}  # the story too, so that an undo restores the item exactly
    item.title, item.description, item.item_type = final.title, story_markdown(final), final.item_type
    item.labels = sorted({*(item.labels or []), *final.labels})
    item.story = final.model_dump(mode="json")
    suggestion.backlog_item_id = item.id
    record_event(session, suggestion.id, action, actor, before, _snapshot(item))
    return item


def accept_split(session: Session, suggestion: Suggestion, edits: None, actor: str | None) -> BacklogItem:
    """The children become backlog items linked to the item, which stays as their epic."""
    item = _current_item(session, suggestion)
    plan = SplitPlan.model_validate(suggestion.payload)
    claim(session, suggestion, SuggestionStatus.accepted, actor, None)
    before = _snapshot(item)
    labels = [label for label in item.labels or [] if label != "epic"]
    children = [story_item(c.as_story(item.item_type, labels), suggestion, item.id) for c in plan.children]  # type: ignore[arg-type]
    session.add_all(children)
    session.flush()
    item.labels = sorted({*(item.labels or []), "epic"})
    suggestion.backlog_item_id = item.id
    after = {"children": [c.id for c in children], "pattern": plan.pattern}
    record_event(session, suggestion.id, SuggestionAction.accepted, actor, before, after)
    return item


def _accepted(session: Session, suggestion: Suggestion) -> SuggestionEvent:
    """The history event of the suggestion's acceptance (with the item before and after)."""
    accepts = (SuggestionAction.accepted, SuggestionAction.accepted_with_edits)
    return session.scalars(
        select(SuggestionEvent)
        .where(SuggestionEvent.suggestion_id == suggestion.id, SuggestionEvent.action.in_(accepts))
        .order_by(SuggestionEvent.id.desc())
        .limit(1)
    ).one()


def undo_rewrite(session: Session, suggestion: Suggestion) -> None:
    """Undo a rewrite's acceptance: the item takes back its title, description, type, labels and story, if it still
    reads as the rewrite left it (else Conflict: it was edited since)."""
    accepted = _accepted(session, suggestion)
    if "story" not in (accepted.before or {}):
        raise Conflict(
            f"suggestion {suggestion.id} was accepted before rewrites could be undone (its history does not keep the "
            "item's story before): edit the item instead; the history has its text before"
        )
    item = get_item(session, suggestion.backlog_item_id or 0)
    if _snapshot(item) != accepted.after:
        raise Conflict(
            f"backlog item {item.id} changed after this rewrite was accepted: edit it instead; the suggestion's "
            "history has its text before"
        )
    for name, value in accepted.before.items():
        setattr(item, name, value)


def undo_split(session: Session, suggestion: Suggestion) -> None:
    """Undo a split's acceptance: its children are deleted and the item is no longer labelled an epic (unless it
    was before, or has other children), if nothing has changed or used a child since (else Conflict)."""
    accepted = _accepted(session, suggestion)
    item = get_item(session, suggestion.backlog_item_id or 0)
    children = [session.get(BacklogItem, child) for child in accepted.after["children"]]
    for child_id, child in zip(accepted.after["children"], children, strict=True):
        if child is None:
            raise Conflict(f"child {child_id} of this split is gone: edit or close the other children instead")
        if used := item_used_since(session, child, suggestion):
            raise Conflict(
                f"child {child.id} {used} since the split was accepted, so deleting it would lose that: edit or close "
                "the children instead"
            )
    for child in children:
        session.delete(child)
    session.flush()
    others = session.scalar(select(BacklogItem.id).where(BacklogItem.parent_id == item.id).limit(1))
    if "epic" not in (accepted.before.get("labels") or []) and others is None:
        item.labels = [label for label in item.labels or [] if label != "epic"]


def reverted(runtime: Runtime, suggestion: Suggestion, item_id: int | None) -> None:
    """After an undone rewrite or split: the item is indexed as it reads again, a split's children leave the index."""
    if suggestion.kind == SuggestionKind.split:
        with runtime.db.session() as session:
            children = _accepted(session, suggestion).after.get("children", [])
        duplicates.unindex(runtime, [duplicates.item_document_id(child) for child in children])
        return
    with runtime.db.session() as session:
        item = session.get(BacklogItem, item_id or 0)
    if item is not None:
        duplicates.index(runtime, [duplicates.item_document(item)])


def accept_labels(
    session: Session, suggestion: Suggestion, edits: StoryDraftEdits | None, actor: str | None
) -> BacklogItem:
    """The item takes the suggested labels it lacks (or those the reviewer kept: `edits.labels`, nothing else)."""
    item = _current_item(session, suggestion)
    chosen = list(suggestion.payload["labels"])
    action = SuggestionAction.accepted
    if edits is not None:
        if edits.model_fields_set - {"labels"} or edits.labels is None:
            raise InvalidInput("a labels suggestion takes only edits.labels: the labels to add, from those suggested")
        if unknown := [label for label in edits.labels if label not in chosen]:
            raise InvalidInput(f"{unknown} were not suggested; choose among {chosen}, or edit the item instead")
        if not edits.labels:
            raise InvalidInput("keep at least one label, or reject the suggestion")
        if set(edits.labels) != set(chosen):
            chosen, action = list(edits.labels), SuggestionAction.accepted_with_edits
    had = {label.casefold() for label in item.labels or []}
    if not (added := [label for label in chosen if label.casefold() not in had]):
        raise Conflict(f"backlog item {item.id} already has {chosen}: reject the suggestion")
    claim(session, suggestion, SuggestionStatus.accepted, actor, None)
    before = {"labels": list(item.labels or [])}
    item.labels = [*(item.labels or []), *added]
    suggestion.backlog_item_id = item.id
    record_event(session, suggestion.id, action, actor, before, {"labels": item.labels})
    return item


def undo_labels(session: Session, suggestion: Suggestion) -> None:
    """Undo a labels suggestion's acceptance: the item takes back its labels, if they are still as it left them."""
    accepted = _accepted(session, suggestion)
    item = get_item(session, suggestion.backlog_item_id or 0)
    if list(item.labels or []) != accepted.after["labels"]:
        raise Conflict(
            f"backlog item {item.id}'s labels changed since this suggestion added some: edit the item's labels instead"
        )
    item.labels = accepted.before["labels"]


def undo_estimate(session: Session, suggestion: Suggestion) -> None:
    """Undo an estimate's acceptance: the item's points go back to what they were, if they are still the accepted
    ones (else Conflict: a person or another estimate changed them since)."""
    accepted = _accepted(session, suggestion)
    item = get_item(session, suggestion.backlog_item_id or 0)
    if item.story_points != accepted.after["story_points"]:
        raise Conflict(
            f"backlog item {item.id} has {item.story_points} points now, not the {accepted.after['story_points']} "
            "this estimate gave: set its points by editing the item instead"
        )
    item.story_points = accepted.before["story_points"]


def pending_key(suggestion: Suggestion) -> str | None:
    """The key a refinement suggestion holds while pending (so an item refined twice, unchanged, gets one)."""
    made = suggestion.input or {}
    if "backlog_item_id" not in made or "fingerprint" not in made:
        return None
    return _keyed(suggestion.kind, made["backlog_item_id"], made["fingerprint"])


def accept_estimate(session: Session, suggestion: Suggestion, points: int | None, actor: str | None) -> BacklogItem:
    """The item takes the estimate's points, or the `points` the reviewer settled on instead (accepted with edits:
    what the team decided, which the estimates' record compares with what was suggested)."""
    item = _current_item(session, suggestion)
    suggested = int(suggestion.payload["points"])
    settled = suggested if points is None else points
    action = SuggestionAction.accepted if settled == suggested else SuggestionAction.accepted_with_edits
    claim(session, suggestion, SuggestionStatus.accepted, actor, None)
    before = {"story_points": item.story_points}
    item.story_points = settled
    suggestion.backlog_item_id = item.id
    record_event(session, suggestion.id, action, actor, before, {"story_points": item.story_points})
    return item


def item_changed(runtime: Runtime, suggestion: Suggestion, item: BacklogItem | None) -> None:
    """A rewritten item is indexed again; a split's children enter the index."""
    if suggestion.status != SuggestionStatus.accepted or item is None:
        return
    with runtime.db.session() as session:
        made = list(session.scalars(select(BacklogItem).where(BacklogItem.source_suggestion_id == suggestion.id)))
    duplicates.index(runtime, [duplicates.item_document(i) for i in [item, *made]])


def stale(session: Session, suggestion: Suggestion) -> bool:
    """Whether a pending refinement suggestion's item changed (or went) since it was made; for labels, also whether
    the item has every label it suggests by now (accepting it would add nothing)."""
    try:
        item = _current_item(session, suggestion)
    except (Conflict, NotFound):
        return True
    if suggestion.kind == SuggestionKind.labels:
        had = {label.casefold() for label in item.labels or []}
        return all(label.casefold() in had for label in (suggestion.payload or {}).get("labels", []))
    return False


@dataclass
class _Kept:
    """The queue's findings as last computed, and what they were computed from."""

    others: tuple  # the duplicate check, its calibration, the Definition of Ready: a change recomputes everything
    changed: dict[int, Any] = field(default_factory=dict)  # each live item's last change
    drafts: dict[int, str] = field(default_factory=dict)  # a hash of each pending draft (the index holds them too)
    texts: dict[int, str] = field(default_factory=dict)  # a hash of each queued item's indexed text
    found: dict[int, list[Finding]] = field(default_factory=dict)  # each queued item's findings on its own text
    candidates: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # and its JUDGED_WITH likeliest
    epics: set[int] = field(default_factory=set)  # the queued items that have children


_QUEUE_FINDINGS: dict[tuple, _Kept] = {}  # by database and project
_QUEUE_LOCK = threading.Lock()


def _findings_read(runtime: Runtime) -> tuple[dict[int, Any], dict[int, str], tuple]:
    """What every item's findings are computed from, cheaply: each item not merged away with its last change (text,
    type, points, parent, closed); each pending draft (the duplicate index holds them too); whether duplicates are
    checked, the project's duplicate calibration and its Definition of Ready."""
    with runtime.db.session() as session:
        ready = readiness(session)
        live = BacklogItem.merged_into_id.is_(None)
        changed = {i: at for i, at in session.execute(select(BacklogItem.id, BacklogItem.updated_at).where(live))}
        pending = session.execute(
            select(Suggestion.id, Suggestion.payload).where(
                Suggestion.kind == SuggestionKind.story_draft, Suggestion.status == SuggestionStatus.pending
            )
        )
        drafts = {
            i: hashlib.sha256(json.dumps(p, sort_keys=True, default=str).encode()).hexdigest() for i, p in pending
        }
    check = runtime.settings.duplicate_check
    return changed, drafts, (check, repr(duplicates.calibration(runtime)) if check else None, ready)


def _text_hash(item: BacklogItem) -> str:
    return hashlib.sha256(f"{item.title}\n{item.description or ''}".encode()).hexdigest()


def _drafts_candidates(runtime: Runtime, draft_ids: list[int], ready: Readiness) -> list[list[dict[str, Any]]]:
    if not draft_ids or not runtime.settings.duplicate_check or "duplicate" not in ready.criteria:
        return []
    with runtime.db.session() as session:
        drafts = list(session.scalars(select(Suggestion).where(Suggestion.id.in_(draft_ids))))
    return duplicates.drafts_duplicates(runtime, drafts, JUDGED_WITH)


def _queue_findings(runtime: Runtime, items: list[BacklogItem], recheck: bool = False) -> list[list[Finding]]:
    """`findings_many` for the queue's items, kept between loads (the queue is loaded far more often than the backlog
    changes: each decision in the desk reloads it). After a change only what it can touch is checked again: the
    rules on the changed items, and the duplicate search of the items whose text changed, of the items that had one
    of them (or a changed draft) among the candidates their verdicts are judged with, and of those they now find
    there (measured against checking every item in `bench/bench_refine.py`). Another calibration or setting, or
    `recheck`, checks everything again: a borderline verdict that only the backlog's word statistics moved is not
    followed."""
    with _QUEUE_LOCK:  # two loads at once would each update what is kept from their own read
        where = (runtime.db.url, scope.current_project())
        changed, drafts, others = _findings_read(runtime)
        kept = _QUEUE_FINDINGS.get(where)
        if kept is None or kept.others != others or recheck:
            kept = _QUEUE_FINDINGS[where] = _Kept(others)
        moved = [i for i in items if i.id not in kept.found or kept.changed.get(i.id) != changed.get(i.id)]
        redrafted = {d for d in drafts.keys() | kept.drafts.keys() if drafts.get(d) != kept.drafts.get(d)}
        ready = others[-1]
        if moved or redrafted or kept.changed != changed:
            _check_again(runtime, kept, items, moved, changed, drafts, redrafted, ready)
        found, candidates, epics = kept.found, kept.candidates, kept.epics
    return [
        _as_epic(ready.keep(found[i.id] + _duplicate_findings(candidates[i.id][:DUPLICATES_SHOWN])), i.id in epics)
        for i in items
    ]


def _check_again(
    runtime: Runtime,
    kept: _Kept,
    items: list[BacklogItem],
    moved: list[BacklogItem],
    changed: dict[int, Any],
    drafts: dict[int, str],
    redrafted: set[int],
    ready: Readiness,
) -> None:
    """Update `kept` for the queue's `items` after a change: `moved` items (their last change differs), `changed`
    (every live item's last change now), `drafts` (each pending draft now) of which `redrafted` are new, changed or
    gone; the rules as `ready` sets them."""
    by_id = {item.id: item for item in items}
    texts = {item.id: _text_hash(item) for item in items}
    first = [item for item in items if kept.texts.get(item.id) != texts[item.id]]  # new or re-worded
    others = {i for i in changed.keys() - by_id.keys() if kept.changed.get(i) != changed[i]}  # closed ones
    touched = {("backlog_item", i) for i in {*others, *(kept.changed.keys() - changed.keys()), *(i.id for i in first)}}
    touched |= {("suggestion", d) for d in redrafted}
    named = {i for i, found in kept.candidates.items() if any((c["kind"], c["item_id"]) in touched for c in found)}
    searched = dict(zip([i.id for i in first], _candidates(runtime, first, JUDGED_WITH, ready), strict=True))
    redrafts = sorted(redrafted & drafts.keys())
    now_finding = _drafts_candidates(runtime, redrafts, ready) if len(first) < len(items) else []
    named |= {
        c["item_id"] for found in [*searched.values(), *now_finding] for c in found if c["kind"] == "backlog_item"
    }
    again = [by_id[i] for i in sorted(named & by_id.keys() - searched.keys())]
    searched |= dict(zip([i.id for i in again], _candidates(runtime, again, JUDGED_WITH, ready), strict=True))
    kept.candidates = {i: kept.candidates[i] for i in by_id.keys() & kept.candidates.keys()} | searched
    kept.found = {i: kept.found[i] for i in by_id.keys() & kept.found.keys()}
    kept.found |= {i.id: _text_findings(i, ready) for i in moved}
    kept.texts = texts
    kept.changed, kept.drafts = changed, drafts
    with runtime.db.session() as session:
        kept.epics = epics_among(session, list(by_id))


def queue(runtime: Runtime, limit: int = 200, recheck: bool = False) -> list[dict[str, Any]]:
    """The refinement queue: items with findings or pending refinement suggestions, most findings first; each with
    its findings and its pending rewrite, split, estimate and labels suggestions, each with whether it is stale and (a
    rewrite) whether the item's comments changed since it read them. `recheck`:
    every item's findings computed again, not only what changed since the last load."""
    kinds = (SuggestionKind.rewrite, SuggestionKind.split, SuggestionKind.estimate, SuggestionKind.labels)
    with runtime.db.session() as session:
        items = list(
            session.scalars(
                select(BacklogItem)
                .where(BacklogItem.merged_into_id.is_(None), BacklogItem.closed.is_(False))
                .order_by(BacklogItem.id)
            )
        )
        pending: dict[int, list[Suggestion]] = {}
        for suggestion in session.scalars(
            select(Suggestion)
            .where(Suggestion.kind.in_(kinds), Suggestion.status == SuggestionStatus.pending)
            .order_by(Suggestion.id)
        ):
            pending.setdefault(suggestion.input.get("backlog_item_id"), []).append(suggestion)
        threads = item_threads(session, list(pending))
        marked = {
            i: [(s, stale(session, s), _thread_changed(s, threads.get(i, []))) for s in group]
            for i, group in pending.items()
        }
    rows = []
    for item, found in zip(items, _queue_findings(runtime, items, recheck), strict=True):
        if found or item.id in pending:
            rows.append({"item": item, "findings": found, "suggestions": marked.get(item.id, [])})
    rows.sort(key=lambda row: (-len(row["findings"]), row["item"].id))
    return rows[:limit]
