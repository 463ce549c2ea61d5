"""Conversations: store an uploaded transcript (or read a backlog item's comments as one), turn its notes into
suggestions, and accept them.

Each note becomes a suggestion with the verbatim lines it rests on (`quotes: [{speaker, text, turn}]`): a
`decision` or `action_item` (accepting records it in the conversation's decision log), a `story_draft` for work
the team agreed to build (drafted by the drafting pipeline, checked for duplicates like any draft), an
`item_change` for a backlog item the conversation changed (accepting appends the change to the item, its history
keeping the item before and after and the lines it came from), or a `priority` signal (accepting sets the item's
priority). Open questions go in the summary.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.conversation import (
    ENGLISH_SHARE,
    ConversationNotes,
    ConversationResult,
    NewWork,
    Note,
    TurnQuote,
    english_share,
)
from pipelines.drafting import draft_story
from pipelines.redact import redact
from pipelines.transcripts import TranscriptError, Turn, parse_transcript
from service import duplicates
from service.backlog.service import get_item, item_key
from service.core.comments import Thread, list_comments
from service.core.enums import PRIORITY_LEVELS, JobStatus, SuggestionAction, SuggestionKind, SuggestionStatus
from service.core.errors import InvalidInput, NotFound
from service.core.jobs import ensure_capacity
from service.core.runtime import Runtime
from service.core.suggestions import Proposal, claim, create_suggestion, record_event
from service.core.tables import BacklogItem, Conversation, ConversationJob, Suggestion

CHANGE_HEADINGS = {
    "criteria": "Acceptance criterion",
    "question_answered": "Answered",
    "scope_cut": "Scope cut",
    "scope_added": "Scope added",
}


def store(
    runtime: Runtime, data: bytes, format: str | None, title: str | None, filename: str, actor: str | None
) -> ConversationJob:
    """Parse and store the conversation and queue its job; a file that is not a conversation is InvalidInput."""
    try:
        transcript = parse_transcript(data, format, filename)  # type: ignore[arg-type]
    except TranscriptError as exc:
        raise InvalidInput(str(exc)) from exc
    title = (title or filename or "conversation").strip()
    return _queue(runtime, title, transcript.format, filename, transcript.turns, transcript.problems, actor)


def store_thread(runtime: Runtime, item_id: int, actor: str | None) -> ConversationJob:
    """Read a backlog item's comments as a conversation (each comment a turn by its author) and queue its job: what
    the thread decided, assigned or left open, changes to the item (shown to the model first among the items it may
    change) and new work become suggestions like a meeting's. An item without comments is InvalidInput."""
    with runtime.db.session() as session:
        item = get_item(session, item_id, merged=False)
        said = list_comments(session, Thread(item_id=item.id))
        title = f"Comments on {item_key(item) if item.external_id else f'#{item.id}'}: {item.title}"
    if not said:
        raise InvalidInput(f"backlog item {item_id} has no comments to read: comment on it first")
    turns = [Turn(index=n, speaker=c.author or "someone", text=c.text, at=c.at.isoformat()) for n, c in enumerate(said)]
    with runtime.db.session() as session:
        if (read := _read_before(session, item_id, turns)) is not None:
            return read
    return _queue(runtime, title, "json", f"item {item_id} comments", turns, [], actor, item_id)


def _read_before(session: Session, item_id: int, turns: list[Turn]) -> ConversationJob | None:
    """The job of the item's last reading when it read these very comments and did not fail: its suggestions stand,
    so reading them again would only repeat them."""
    last = session.scalars(
        select(Conversation).where(Conversation.item_id == item_id).order_by(Conversation.id.desc()).limit(1)
    ).first()
    if last is None or last.turns != [turn.model_dump() for turn in turns]:
        return None
    job = session.scalars(
        select(ConversationJob).where(ConversationJob.conversation_id == last.id).order_by(ConversationJob.id.desc())
    ).first()
    return job if job is not None and job.status != JobStatus.failed else None


def _queue(
    runtime: Runtime,
    title: str,
    format: str,
    filename: str,
    turns: list[Turn],
    problems: list[str],
    actor: str | None,
    item_id: int | None = None,
) -> ConversationJob:
    """Store the conversation and queue its job (TooManyJobs, 429, at the limit)."""
    share = english_share(turns)
    if share is not None and share < ENGLISH_SHARE:
        problems.append(
            f"the conversation does not look like English ({share:.0%} common English words): the model reads "
            "English best, so expect few or poor notes"
        )
    with runtime.db.session() as session:
        ensure_capacity(session, runtime.settings.max_active_jobs)
        conversation = Conversation(
            title=title[:300],
            format=format,
            filename=filename[:300],
            turns=[turn.model_dump() for turn in turns],
            problems=problems,
            actor=actor,
            item_id=item_id,
        )
        session.add(conversation)
        session.flush()
        job = ConversationJob(conversation_id=conversation.id)
        session.add(job)
        session.flush()
        return job


def get_conversation(runtime: Runtime, conversation_id: int) -> Conversation:
    conversation = runtime.db.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"no conversation with id {conversation_id}")
    return conversation


def redacted_turns(conversation: Conversation) -> list[Turn]:
    """The turns as the model sees them: personal data replaced, like tickets."""
    return [Turn.model_validate(turn | {"text": redact(turn["text"]).text}) for turn in conversation.turns]


def backlog_for(runtime: Runtime, turns: list[Turn], k: int = 6, item_id: int | None = None) -> list[tuple[int, str]]:
    """The backlog items a chunk may discuss: those most like its text (the duplicate detector's search); the item
    whose comments it is (`item_id`) first, whatever the search finds."""
    found: list[tuple[int, str]] = []
    if item_id is not None:
        with runtime.db.session() as session:
            item = session.get(BacklogItem, item_id)
            if item is not None and item.merged_into_id is None:
                found.append((item.id, item.title))
    if not runtime.settings.duplicate_check:
        return found
    text = " ".join(turn.text for turn in turns)
    near = duplicates.search_text(runtime, "", k, title=text[:4000])  # the whole chunk as one line
    found += [(c["item_id"], c["title"]) for c in near if c["kind"] == "backlog_item" and c["item_id"] != item_id]
    return found[:k]


def _quotes(quotes: list[TurnQuote]) -> list[dict[str, Any]]:
    return [{"speaker": q.speaker, "text": q.text, "turn": q.turn} for q in quotes]


def _proposal(result: ConversationResult, payload: dict[str, Any], warnings: list[str] | None = None) -> Proposal:
    record = result.calls[0]
    return Proposal(
        payload=payload,
        model=record.model,
        provider=record.provider,
        prompt_version=f"{record.prompt_id}@{record.prompt_version}",
        warnings=warnings or [],
    )


def _ruled_out(lines: list[TurnQuote]) -> list[str]:
    return [f"line {q.turn} ({q.speaker}) may rule this out: {q.text!r}; check it is not the opposite" for q in lines]


def make_suggestions(runtime: Runtime, conversation_id: int, result: ConversationResult, actor: str | None) -> int:
    """One suggestion per note (a story draft per piece of agreed work); the summary lists them in the order said.
    Safe to run again after a crash: the decisions, action items and changes are made in one transaction together
    with the summary, and a story draft already listed in it is not drafted again. Returns the suggestions made."""
    notes = result.notes
    with runtime.db.session() as session:
        conversation = session.get(Conversation, conversation_id)
        title, summary = conversation.title, dict(conversation.summary or {})
        if not summary.get("suggested"):
            summary = _suggest(session, conversation, result, actor) | {"suggested": True}
            conversation.summary = summary
    source = {"conversation_id": conversation_id}
    for work in notes.new_work:
        if any(entry["text"] == work.what for entry in summary.get("new_work", [])):
            continue
        suggestion_id = _draft_new_work(runtime, work, title, source, actor)
        summary = summary | {
            "new_work": [*summary.get("new_work", []), {"text": work.what, "suggestion_id": suggestion_id}]
        }
        with runtime.db.session() as session:
            session.get(Conversation, conversation_id).summary = summary
    lists = ("decisions", "action_items", "changes", "new_work")
    return sum(1 for name in lists for entry in summary.get(name, []) if entry.get("suggestion_id"))


def _suggest(
    session: Session, conversation: Conversation, result: ConversationResult, actor: str | None
) -> dict[str, Any]:
    """The decisions, action items and changes as suggestions; the summary of all notes, in the order said."""
    notes = result.notes
    summary: dict[str, Any] = {"open_questions": [], "decided_in_order": _order(notes)}
    source = {"conversation_id": conversation.id}
    for kind, name, key in (
        (SuggestionKind.decision, "decisions", "decision"),
        (SuggestionKind.action_item, "action_items", "task"),
    ):
        for n, note in enumerate(getattr(notes, name)):
            payload = note.model_dump(mode="json") | {"quotes": _quotes(note.quotes)} | source
            against = result.ruled_out.get(n, []) if kind == SuggestionKind.decision else []
            evidence = _evidence(note) | ({"ruled_out_by": _quotes(against)} if against else {})
            proposal = _proposal(result, payload, _ruled_out(against))
            suggestion = create_suggestion(session, kind, proposal, source, evidence, actor)
            who = {k: v for k in ("owner", "due") if (v := getattr(note, k, None))}  # an action item's, when said
            summary.setdefault(name, []).append({"text": getattr(note, key), "suggestion_id": suggestion.id} | who)
    for change in notes.changes:
        item = session.get(BacklogItem, change.item)
        if item is None:
            continue
        payload = {"backlog_item_id": item.id, "item_title": item.title, "change": change.change,
                   "detail": change.detail, "quotes": _quotes(change.quotes), **source}  # fmt: skip
        if change.change == "priority":
            kind = SuggestionKind.priority
            payload |= {"proposed_priority": _raised(item.priority), "current_priority": item.priority,
                        "rationale": change.detail, "source": "conversation"}  # fmt: skip
        else:
            kind = SuggestionKind.item_change
        inputs = source | {"backlog_item_id": item.id, "conversation_title": conversation.title}
        suggestion = create_suggestion(session, kind, _proposal(result, payload), inputs, _evidence(change), actor)
        summary.setdefault("changes", []).append(
            {"text": change.detail, "item_id": item.id, "change": change.change, "suggestion_id": suggestion.id}
        )
    for question in notes.open_questions:
        summary["open_questions"].append({"text": question.question, "quotes": _quotes(question.quotes)})
    return summary


def _evidence(note: Note) -> dict[str, Any]:
    return {"quotes": _quotes(note.quotes)}


def _order(notes: ConversationNotes) -> list[dict[str, Any]]:
    """Every note as (list, first line), in the order it was said: the summary view's order."""
    rows = [
        {"list": name, "turn": min(q.turn for q in note.quotes)}
        for name in ("decisions", "action_items", "new_work", "changes", "open_questions")
        for note in getattr(notes, name)
    ]
    return sorted(rows, key=lambda row: row["turn"])


def _raised(priority: str | None) -> str:
    """One level above the item's priority (High when it has none)."""
    if priority not in PRIORITY_LEVELS:
        return "High"
    return PRIORITY_LEVELS[max(PRIORITY_LEVELS.index(priority) - 1, 0)]


def _draft_new_work(runtime: Runtime, work: NewWork, title: str, source: dict[str, Any], actor: str | None) -> int:
    """A story draft for work the team agreed to build, with its quotes as evidence; duplicates listed on it."""
    said = "; ".join(f'{q.speaker}: "{q.text}"' for q in work.quotes)
    text = f"{work.what} {work.why or ''}\nSaid in the meeting: {said}".strip()
    result = draft_story(runtime.llm(), text[:4000], f"Agreed in the conversation {title!r}.")
    with runtime.db.session() as session:
        evidence = {"quotes": _quotes(work.quotes)}
        inputs = source | {"text": text, "context": f"conversation: {title}"}
        suggestion = create_suggestion(
            session, SuggestionKind.story_draft, Proposal.of(result), inputs, evidence, actor
        )
        suggestion_id = suggestion.id
    duplicates.check_new_draft(runtime, suggestion_id, actor)
    return suggestion_id


# --- accepting -----------------------------------------------------------------------------------------------


def accept_note(session: Session, suggestion: Suggestion, edits: None, actor: str | None) -> None:
    """A decision or action item is recorded as accepted (the conversation's decision log); no item changes."""
    claim(session, suggestion, SuggestionStatus.accepted, actor, None)
    record_event(session, suggestion.id, SuggestionAction.accepted, actor, None, suggestion.payload)


def _lines(payload: dict[str, Any]) -> str:
    turns = sorted({q["turn"] for q in payload.get("quotes", [])})
    return ", ".join(str(t) for t in turns)


def accept_item_change(session: Session, suggestion: Suggestion, edits: None, actor: str | None) -> BacklogItem:
    """Append the change to the item's description; history keeps the item before and after and the lines."""
    payload = suggestion.payload or {}
    item = get_item(session, payload["backlog_item_id"], merged=False)
    claim(session, suggestion, SuggestionStatus.accepted, actor, None)
    before = {"description": item.description}
    source = f"(conversation {payload['conversation_id']}, lines {_lines(payload)})"
    if payload["change"] == "criteria":
        line = f"- [ ] {payload['detail']} {source}"
        heading = "**Acceptance criteria**"
        description = item.description or ""
        item.description = f"{description}\n{line}" if heading in description else f"{description}\n\n{heading}\n{line}"
    else:
        item.description = (
            f"{item.description or ''}\n\n**{CHANGE_HEADINGS[payload['change']]}** {source}: {payload['detail']}"
        )
    item.description = item.description.strip()
    suggestion.backlog_item_id = item.id
    after = {
        "description": item.description,
        "conversation_id": payload["conversation_id"],
        "quotes": payload["quotes"],
    }
    record_event(session, suggestion.id, SuggestionAction.accepted, actor, before, after)
    return item


def changed_item(runtime: Runtime, suggestion: Suggestion, item: BacklogItem | None) -> None:
    """An item a conversation changed is indexed again."""
    if suggestion.status == SuggestionStatus.accepted and item is not None:
        duplicates.index(runtime, [duplicates.item_document(item)])
