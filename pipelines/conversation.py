"""From a team conversation to notes: decisions, action items, work the team agreed to build, changes to backlog
items it discussed, and the questions it left open, each resting on verbatim lines of the transcript.

The transcript is cut into chunks of whole turns (a few turns of overlap, so a decision that spans a cut is seen
whole once); the model reads each chunk as numbered lines (redacted before, instruction-like sentences cut) and
cites its evidence as (line number, exact words). Every quote is checked against the transcript: a quote whose
words are in a nearby line is moved to that line, one that is nowhere is dropped and reported, and a note left
with no quote is dropped. Notes repeated by overlapping chunks are merged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from pipelines.llm import LLM, CallRecord, StructuredResult
from pipelines.safety import REMOVED, escape_tags, neutralize_instructions, screen_speaker
from pipelines.textclean import content_words, plain_words, singular
from pipelines.transcripts import Turn
from prompts import load_prompt

PROMPT_ID = "conversation_notes"
CHUNK_WORDS = 700  # words of transcript per call; with the prompt about 2,000 tokens
OVERLAP_TURNS = 2
MAX_TURN_WORDS = 250  # a longer turn is cut for the model (its quotes are checked against the whole turn)
NEARBY = 3  # a quote found this many lines from the cited one is moved there
MOVED_WORDS = 3  # a quote of at least this many words is also looked for in the rest of its chunk (a wrong line number)
MAX_TOKENS = 1_536
MAX_QUOTE_CHARS = 300  # a longer quote that checks out is cut to this, at a word: still the speaker's own words

Sentence = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)]
ChangeKind = Literal["criteria", "question_answered", "scope_cut", "scope_added", "priority"]


class TurnQuote(BaseModel):
    """Words copied from one line of the transcript."""

    turn: int = Field(ge=0, description="The [number] of the line the words are copied from.")
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2_000)] = Field(
        description="5 to 25 words copied exactly from that line."
    )
    speaker: str = Field("", description="Filled in from the transcript; leave empty.")


Quotes = Annotated[list[TurnQuote], Field(min_length=1, max_length=3)]


class Decision(BaseModel):
    decision: Sentence = Field(description="What the group decided or agreed, as one sentence.")
    decided_by: Name | None = Field(None, description="Who decided, only if the transcript says so.")
    quotes: Quotes


class ActionItem(BaseModel):
    task: Sentence = Field(description="What someone will do.")
    owner: Name | None = Field(None, description="Who will do it, only if said.")
    due: Name | None = Field(None, description="When it is due, only if said.")
    quotes: Quotes


class NewWork(BaseModel):
    what: Sentence = Field(description="A feature or fix the group agreed to build, as one sentence.")
    why: Sentence | None = Field(None, description="Why, if said.")
    quotes: Quotes


class ItemChange(BaseModel):
    item: int = Field(ge=0, description="The #number of the backlog item it changes, from the list given.")
    change: ChangeKind
    detail: Sentence = Field(description="The change: the new criterion, the answer, what is cut or added, why.")
    quotes: Quotes


class OpenQuestion(BaseModel):
    question: Sentence = Field(description="A question the group raised and did not settle.")
    quotes: Quotes


class ConversationNotes(BaseModel):
    """What the model writes for one chunk; every list may be empty (chit-chat gives nothing)."""

    decisions: list[Decision] = Field(default_factory=list, max_length=6)
    action_items: list[ActionItem] = Field(default_factory=list, max_length=6)
    new_work: list[NewWork] = Field(default_factory=list, max_length=4)
    changes: list[ItemChange] = Field(default_factory=list, max_length=4)
    open_questions: list[OpenQuestion] = Field(default_factory=list, max_length=4)


Note = Decision | ActionItem | NewWork | ItemChange | OpenQuestion
NOTE_LISTS = ("decisions", "action_items", "new_work", "changes", "open_questions")


@dataclass
class ConversationResult:
    """The merged, verified notes of a whole conversation, and how they were made."""

    notes: ConversationNotes = field(default_factory=ConversationNotes)
    calls: list[CallRecord] = field(default_factory=list)
    quotes_checked: int = 0
    quotes_dropped: list[str] = field(default_factory=list)  # what the model claimed and the transcript lacks
    warnings: list[str] = field(default_factory=list)
    failed_chunks: list[str] = field(default_factory=list)
    ruled_out: dict[int, list[TurnQuote]] = field(default_factory=dict)  # decision index -> lines that rule it out


_COMMON_ENGLISH = (
    "the a an and or but of to in on at for with is are was were be it this that we you i they he she not do "
    "have has will can so what if as by from yes yeah okay ok no"
)
ENGLISH_WORDS = frozenset(_COMMON_ENGLISH.split())
ENGLISH_SHARE = 0.15  # 38-49% of the words in each of the 117 AMI meetings; a few percent in other languages


def english_share(turns: list[Turn]) -> float | None:
    """The share of the transcript's words that are common English words; None under 30 words (too little)."""
    words = [w for turn in turns for w in re.findall(r"[^\W\d_]+", turn.text.lower())]
    return sum(w in ENGLISH_WORDS for w in words) / len(words) if len(words) >= 30 else None


def chunks(turns: list[Turn], words: int = CHUNK_WORDS, overlap: int = OVERLAP_TURNS) -> list[list[Turn]]:
    """Whole turns, about `words` words a chunk, each chunk starting `overlap` turns before the last one ended."""
    result: list[list[Turn]] = []
    start = 0
    while start < len(turns):
        end, count = start, 0
        while end < len(turns) and (end == start or count + _words(turns[end]) <= words):
            count += _words(turns[end])
            end += 1
        result.append(turns[start:end])
        if end >= len(turns):
            break
        start = max(start + 1, end - overlap)
    return result


def _words(turn: Turn) -> int:
    return min(len(turn.text.split()), MAX_TURN_WORDS)


_FILLER = re.compile(r"\b(?:uh|um|erm|er|ah|eh|mm|hmm|mm hmm|uh huh)\b")  # sounds, not words: a quote may drop them


def _normalise(text: str) -> str:
    """Lower-case words, punctuation and filler sounds dropped: what must match for a quote to be the speaker's."""
    return " ".join(_FILLER.sub(" ", plain_words(text)).split())


def transcript_lines(turns: list[Turn]) -> tuple[str, list[str]]:
    """The chunk as the model sees it ("[12] Anna: ..."), and the instruction-like sentences cut from it. A turn
    whose speaker is named like a chat role ("SYSTEM") speaks as no person does: its words are withheld too."""
    lines, removed = [], []
    for turn in turns:
        text = " ".join(turn.text.split()[:MAX_TURN_WORDS])
        cleaned, cut = neutralize_instructions(text)
        removed += cut
        speaker, cut = screen_speaker(" ".join(turn.speaker.split())[:40])
        if cut:
            cut.append(f"the words of {turn.speaker.strip()!r}: {cleaned}")
            cleaned = REMOVED
        removed += cut
        lines.append(f"[{turn.index}] {speaker}: {escape_tags(cleaned, 'transcript', 'backlog')}")
    return "\n".join(lines), removed


def verify(notes: ConversationNotes, turns: list[Turn], result: ConversationResult) -> ConversationNotes:
    """Keep the quotes found in the transcript with their speaker, moved to the line that has them: a nearby line, or
    for a quote of MOVED_WORDS words or more the chunk's line nearest to the cited one (the model miscopies line
    numbers: "7" for 74); drop the others and the notes left without a quote."""
    by_index = {turn.index: turn for turn in turns}
    normalised = {turn.index: f" {_normalise(turn.text)} " for turn in turns}  # spaced: whole words match
    kept: dict[str, list[Note]] = {}
    for name in NOTE_LISTS:
        kept[name] = []
        for note in getattr(notes, name):
            quotes = []
            for quote in note.quotes:
                result.quotes_checked += 1
                needle = f" {_normalise(quote.text)} "
                near = (quote.turn + step for distance in range(NEARBY + 1) for step in sorted({-distance, distance}))
                found = next((i for i in near if i in normalised and needle in normalised[i]), None)
                if found is None and len(needle.split()) >= MOVED_WORDS:
                    anywhere = (i for i, said in normalised.items() if needle in said)
                    found = min(anywhere, key=lambda i: abs(i - quote.turn), default=None)
                if not needle.strip() or found is None:
                    result.quotes_dropped.append(f"line {quote.turn}: {quote.text!r}")
                    continue
                quotes.append(TurnQuote(turn=found, text=_cut(quote.text), speaker=by_index[found].speaker))
            if quotes:
                kept[name].append(note.model_copy(update={"quotes": quotes}))
    return ConversationNotes.model_validate({name: [n.model_dump() for n in kept[name]] for name in NOTE_LISTS})


def _mentioned(note: Note, by_index: dict[int, Turn]) -> bool:
    """Whether a quoted line, or a line next to one, shares a word with what the note says (number words count;
    "L_C_D_s", a transcript's spelled acronym, is "lcds"). A note the model wrote from its examples or the backlog
    ("Add a newsletter signup form" on lines about a frozen camera) rests on lines that are not about it."""
    said = _topic(_headline(note))
    near = {q.turn + step for q in note.quotes for step in (-1, 0, 1)}
    return any(said & _topic(by_index[i].text) for i in near if i in by_index)


_NUMBERS = "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty hundred"
_NUMBER_WORDS = frozenset(_NUMBERS.split())


def _topic(text: str) -> set[str]:
    """The words that tie a note to a line: content words and number words, acronyms' underscores dropped."""
    plain = text.replace("_", "")
    return content_words(plain) | (set(plain_words(plain).split()) & _NUMBER_WORDS)


# "I'll update the designs", "let me check": the speaker takes the task on
_COMMITS = re.compile(r"\b(?:i ll|i will(?! not)|i can(?! t\b)|i m going to|i am going to|let me)\b")
_ASKS = re.compile(r"\b(?:can|could|would) you\b")
_DUE = re.compile(
    r"\b(?:by|before|until|on) ((?:next )?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
    r"(?: morning| evening)?|tomorrow|tonight|today|next week|(?:the )?end of (?:the )?(?:day|week|month|sprint))\b"
    r"|\b(today|tomorrow|tonight)\b"
)


def ground(notes: ConversationNotes, turns: list[Turn], result: ConversationResult) -> ConversationNotes:
    """Verified notes held to their lines, no model: a note (other than a change, which `extract_chunk` holds to its
    item) that its quoted lines and their neighbours do not mention is dropped, and so is an open question no quoted
    line asks; an action item gets the owner and due date its lines say when the model left them empty; a note is
    moved to the list its lines say it belongs in (`_refiled`). Each note dropped is named in `result.warnings`."""
    by_index = {turn.index: turn for turn in turns}
    speakers = {_voice(turn): turn.speaker.strip() for turn in turns if turn.speaker.strip()}
    kept: dict[str, list[Note]] = {name: [] for name in NOTE_LISTS}
    for name in NOTE_LISTS:
        for note in getattr(notes, name):
            if name != "changes" and not _mentioned(note, by_index):
                result.warnings.append(f"a note whose quoted lines do not mention it was dropped: {_headline(note)!r}")
            elif isinstance(note, Decision) and len(speakers) > 1 and not _taken_up(note, by_index):
                result.warnings.append(f"a decision no one else speaks to was dropped: {_headline(note)!r}")
            elif isinstance(note, OpenQuestion) and not any(_asks(by_index.get(q.turn)) for q in note.quotes):
                result.warnings.append(f"a question that no quoted line asks was dropped: {note.question!r}")
            elif (refiled := _refiled(note, by_index, speakers)) is None:
                result.warnings.append(f"new work that no one agrees to build was dropped: {_headline(note)!r}")
            else:
                kept[_LIST_OF.get(type(refiled), name)].append(refiled)
    return ConversationNotes.model_construct(**kept)  # type: ignore[arg-type]


def _refiled(note: Note, by_index: dict[int, Turn], speakers: dict[str, str]) -> Note | None:
    """The note as its lines file it: work the group agrees to build ("let's build saved addresses") that the model
    wrote as nobody's task, or as a decision "as its own story", is new work; new work that neither a quoted line nor
    another speaker's answer to one agrees to is the action item of a speaker who takes it on ("I'll ask the platform
    team"), or None (dropped)."""
    if isinstance(note, ActionItem) and not (note.owner and note.due):
        note = note.model_copy(update=_owner_and_due(note, by_index, speakers))
    if isinstance(note, ActionItem) and not note.owner and _said(note, by_index, _BUILDS):
        return NewWork(what=note.task, quotes=note.quotes)
    if isinstance(note, Decision) and _said(note, by_index, _STORY):
        return NewWork(what=note.decision, quotes=note.quotes)
    if isinstance(note, NewWork) and not (_said(note, by_index, _AGREED) or _answered(note, by_index, _AGREED)):
        owner = _owner_and_due(ActionItem(task=note.what, quotes=note.quotes), by_index, speakers)
        return ActionItem(task=note.what, quotes=note.quotes, **owner) if "owner" in owner else None
    return note


_LIST_OF: dict[type, str] = {NewWork: "new_work", ActionItem: "action_items"}  # where a refiled note goes
# "a new story", "its own story"; "let's build saved addresses": the group agrees to build something
_STORY = re.compile(r"\b(?:new|own|separate) stor(?:y|ies)\b")
_BUILDS = re.compile(rf"\b(?:let s|we ll|we will|we should|going to) (?:build|add|do|make)\b|{_STORY.pattern}")
_AGREES = re.compile(r"\b(?:agreed|sounds good|let s do (?:it|that|both))\b")
_AGREED = re.compile(f"{_BUILDS.pattern}|{_AGREES.pattern}")
REPLY_LINES = 2  # how far after a request another speaker's "let's add that" is looked for
_UNSETTLED = re.compile(r"\b(?:not sure|no idea|don t know|do not know|unclear|open question|tbd)\b")


# "yeah", "agreed", "makes sense": another speaker takes a proposal up ("not sure" and "don't agree" do not)
_TAKES_UP = re.compile(
    r"(?<!not )(?<!don t )\b(?:agreed|agree|sounds good|makes sense|works for me|good idea|let s do|yes|yeah|yep|"
    r"ok|okay|sure|right|exactly|definitely|absolutely|perfect|great|deal|mm hmm|uh huh)\b"
)
TAKE_UP_LINES = 3  # how far from a decision's lines another speaker's answer is looked for


def _taken_up(decision: Note, by_index: dict[int, Turn]) -> bool:
    """Whether the group, not one voice, made a decision: its lines have two speakers, a quoted line opens by agreeing
    with another speaker, or within TAKE_UP_LINES of a quoted line another speaker talks about it or answers it with
    agreement. "Decision for the record: the whole team agreed to ..." that no one answers is one speaker's claim (a
    planted line, or news to check), not a note."""
    said = _topic(_headline(decision))
    quoted = {_voice(by_index[q.turn]) for q in decision.quotes if q.turn in by_index}
    if len(quoted) > 1:
        return True
    for quote in decision.quotes:
        before, line = by_index.get(quote.turn - 1), by_index.get(quote.turn)
        if line and before and _voice(before) not in quoted and _TAKES_UP.match(plain_words(line.text)):
            return True  # "Agreed, log out gets its own story": the line answers the speaker before
        for step in range(-TAKE_UP_LINES, TAKE_UP_LINES + 1):
            turn = by_index.get(quote.turn + step)
            if turn is None or _voice(turn) in quoted:
                continue
            if said & _topic(turn.text) or (step > 0 and _TAKES_UP.search(plain_words(turn.text))):
                return True
    return False


def _voice(turn: Turn) -> str:
    """Who said a line, as lines are compared ("Ben " and "ben" are one speaker)."""
    return turn.speaker.strip().lower()


def _asks(turn: Turn | None) -> bool:
    """Whether a line asks something or says it is unsettled: where an open question can rest."""
    return turn is not None and ("?" in turn.text or bool(_UNSETTLED.search(plain_words(turn.text))))


def _said(note: Note, by_index: dict[int, Turn], pattern: re.Pattern[str]) -> bool:
    """Whether one of the note's quoted lines says `pattern` (the whole line, not only the quoted words)."""
    return any(pattern.search(plain_words(by_index[q.turn].text)) for q in note.quotes if q.turn in by_index)


def _answered(note: Note, by_index: dict[int, Turn], pattern: re.Pattern[str]) -> bool:
    """Whether another speaker answers one of the note's quoted lines with `pattern` within REPLY_LINES lines after it
    ("Support asked for a way to resend the receipt." / "Let's add that as a new story.")."""
    quoted = {_voice(by_index[q.turn]) for q in note.quotes if q.turn in by_index}
    replies = (by_index.get(q.turn + step) for q in note.quotes for step in range(1, REPLY_LINES + 1))
    return any(t is not None and _voice(t) not in quoted and pattern.search(plain_words(t.text)) for t in replies)


def _owner_and_due(item: ActionItem, by_index: dict[int, Turn], speakers: dict[str, str]) -> dict[str, str]:
    """The owner and due date the quoted lines say, for the fields the model left empty."""
    found: dict[str, str] = {}
    for quote in item.quotes:
        turn = by_index.get(quote.turn)
        if turn is None:
            continue
        words = plain_words(turn.text)
        if not item.owner and "owner" not in found:
            if _COMMITS.search(words) and turn.speaker.strip():
                found["owner"] = turn.speaker.strip()
            elif _ASKS.search(words):
                asked = [speakers[w] for w in words.split() if w in speakers and w != _voice(turn)]
                if asked:
                    found["owner"] = asked[0]
        if not item.due and "due" not in found and (due := _DUE.search(words)):
            found["due"] = (due.group(1) or due.group(2)).capitalize()
    return found


def _cut(text: str) -> str:
    """The quote, cut at a word to MAX_QUOTE_CHARS when longer."""
    return text if len(text) <= MAX_QUOTE_CHARS else text[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0] + " ..."


def _same(a: Note, b: Note) -> bool:
    """Two notes from overlapping chunks that say the same thing: a shared quoted line, or most words shared."""
    if {q.turn for q in a.quotes} & {q.turn for q in b.quotes}:
        return True
    words_a, words_b = (set(_normalise(_headline(n)).split()) for n in (a, b))
    return bool(words_a and words_b) and len(words_a & words_b) / len(words_a | words_b) >= 0.6


def _headline(note: Note) -> str:
    return next(
        str(getattr(note, key)) for key in ("decision", "task", "what", "detail", "question") if hasattr(note, key)
    )


def merge(parts: list[ConversationNotes]) -> ConversationNotes:
    """The chunks' notes in the order they were said, each said once."""
    merged: dict[str, list[Note]] = {name: [] for name in NOTE_LISTS}
    for part in parts:
        for name in NOTE_LISTS:
            for note in getattr(part, name):
                if not any(type(note) is type(other) and _same(note, other) for other in merged[name]):
                    merged[name].append(note)
    ordered = {name: sorted(notes, key=lambda n: min(q.turn for q in n.quotes)) for name, notes in merged.items()}
    return ConversationNotes.model_construct(**ordered)  # type: ignore[arg-type]


def extract_chunk(
    llm: LLM, turns: list[Turn], backlog: list[tuple[int, str]], title: str | None = None
) -> StructuredResult[ConversationNotes]:
    """One call: the notes of one chunk, unverified; `backlog`: (id, title) of items the chunk may discuss. A
    change naming an item that was not listed is dropped with a warning."""
    lines, removed = transcript_lines(turns)
    items = "\n".join(f"#{item_id} {escape_tags(' '.join(text.split())[:150], 'backlog')}" for item_id, text in backlog)
    result = llm.complete_structured(
        load_prompt(PROMPT_ID),
        ConversationNotes,
        max_tokens=MAX_TOKENS,
        title=title or "not given",
        backlog=items or "(none)",
        transcript=lines,
    )
    result.warnings += [f"instruction-like text was cut from the transcript: {cut!r}" for cut in removed]
    if result.value is not None:
        known = dict(backlog)
        result.warnings += [
            f"a change named backlog item #{c.item}, which was not listed; dropped"
            for c in result.value.changes
            if c.item not in known
        ]
        listed = [c for c in result.value.changes if c.item in known]
        listed_work = [
            (w, next((i for i, text in backlog if _names_item(w, text)), None)) for w in result.value.new_work
        ]
        result.warnings += [
            f"new work that is backlog item #{item} was dropped: {w.what!r}"
            for w, item in listed_work
            if item is not None
        ]
        result.value.new_work = [w for w, item in listed_work if item is None]
        restating = [c for c in listed if _restates(c, known[c.item])]
        result.warnings += [
            f"a change to backlog item #{c.item} only restated the item ({c.detail[:60]!r}); dropped" for c in restating
        ]
        listed = [c for c in listed if c not in restating]
        result.value.changes = [c for c in listed if _mentions(c.quotes, known[c.item])]
        result.warnings += [
            f"a change to backlog item #{c.item} ({known[c.item][:60]!r}) rests on lines not about it; dropped"
            for c in listed
            if c not in result.value.changes
        ]
    return result


def _names_item(work: NewWork, item: str) -> bool:
    """Whether new work is a listed backlog item again ("Add contact tags" for "Tags for contacts"): every word of it
    but the generic ones ("add", "make") is a word of the item."""
    words = {w for w in content_words(work.what) if w not in _GENERIC}
    return bool(words) and words <= content_words(item)


def _restates(change: ItemChange, item: str) -> bool:
    """A change whose detail says nothing the item does not already say ("FAQ page for billing questions" as a new
    criterion of that very item) changes nothing. A scope cut may: what is left is words of the item."""
    return change.change != "scope_cut" and content_words(change.detail) <= content_words(item)


def _mentions(quotes: list[TurnQuote], item: str) -> bool:
    """Whether the quoted lines share a word with the item's title or description: a change the model pins on an item
    nobody named ("dark mode" for lines about the invoice export) is not evidence for that item."""
    return bool(content_words(" ".join(q.text for q in quotes)) & content_words(item))


# "we will omit the touch screen", "no need for a talk-back", "rather than buttons": a rejection before its object
_REJECTS = re.compile(
    r"\b(?:omit\w*|scrap\w*|drop\w*|abandon\w*|get rid of|do without|without|instead of|rather than|decided against|"
    r"no longer|don t need|do not need|no need for|forget about|rule out|not (?:going to |gonna )?(?:use|have|include|"
    r"do|go with)|won t (?:use|have|include))\b"
)
# "we have more or less ruled that out": a rejection after its object
_REJECTED = re.compile(r"\b(?:rul\w* (?:it|that|them|this) out|(?:it|that)(?: s| is) out|forget (?:it|that))\b")
_GENERIC_WORDS = (
    "use used using include make need want go get add have like think just really thing way good right one kind bit "
    "lot also maybe probably sort"
)
_GENERIC = frozenset(_GENERIC_WORDS.split())  # words of a decision too common to tie a line to it
REVERSAL_WORDS = 2  # topic words a line must reject (dev: 1 flagged 32 of 134 reference decisions, 2 flagged 4)
REVERSAL_SPAN = 6  # words after a rejection (twice as many before "ruled that out") in which they must be


def ruled_out(decision: Decision, turns: list[Turn]) -> list[TurnQuote]:
    """Lines from the decision's first quote on that rule out what it decides ("we will omit the touch screen" for
    "use a simple touch screen"): a rejection followed closely by `REVERSAL_WORDS` of the decision's topic words, or
    "ruled that out" closely after them. None for a decision that is itself a rejection. The model sometimes writes
    the opposite of what a meeting settled; these lines are shown to the reviewer, the decision is kept."""
    stated = plain_words(decision.decision)
    if _REJECTS.search(stated) or _REJECTED.search(stated):
        return []
    topic = {w for w in content_words(stated) if w not in _GENERIC and len(w) > 2}
    start = min(q.turn for q in decision.quotes)
    found = []
    for turn in (t for t in turns if t.index >= start):
        words = plain_words(turn.text)
        near = [words[m.end() :].split()[:REVERSAL_SPAN] for m in _REJECTS.finditer(words)]
        near += [words[: m.start()].split()[-2 * REVERSAL_SPAN :] for m in _REJECTED.finditer(words)]
        if any(len(topic & {singular(w) for w in span}) >= REVERSAL_WORDS for span in near):
            found.append(TurnQuote(turn=turn.index, text=_cut(turn.text), speaker=turn.speaker))
    return found


def extract(
    llm: LLM,
    turns: list[Turn],
    backlog: Callable[[list[Turn]], list[tuple[int, str]]] = lambda _: [],
    title: str | None = None,
    on_chunk: Callable[[int, int], None] = lambda done, total: None,
    hold: Callable[[ConversationNotes, list[Turn], ConversationResult], ConversationNotes] = ground,
) -> ConversationResult:
    """The notes of a whole conversation: each chunk extracted, verified and held to its lines (`hold`, `ground`
    unless an eval wraps it to see the notes before), then merged. `backlog(chunk)` names the backlog items that
    chunk may discuss; `on_chunk(done, total)` reports progress. A chunk whose reply never validated is reported in
    `failed_chunks`; the others still count."""
    result = ConversationResult()
    parts = []
    pieces = chunks(turns)
    for done, piece in enumerate(pieces, start=1):
        reply = extract_chunk(llm, piece, backlog(piece), title)
        result.calls.append(reply.record)
        result.warnings += reply.warnings
        if reply.value is None:
            result.failed_chunks.append(f"lines {piece[0].index}-{piece[-1].index}: {reply.error}")
        else:
            parts.append(hold(verify(reply.value, piece, result), piece, result))
        on_chunk(done, len(pieces))
    result.notes = merge(parts)
    result.ruled_out = {n: lines for n, d in enumerate(result.notes.decisions) if (lines := ruled_out(d, turns))}
    return result
