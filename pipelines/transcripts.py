"""Uploaded conversations -> speaker turns: plain `Speaker: words` text, WebVTT and SRT captions, JSON turns (also
the QMSum/AMI meeting format) and Slack channel export day files.

`parse_transcript` returns the turns in the order they were said (Slack: each thread kept together) and notes on
what it skipped; a file that cannot be read as a conversation raises TranscriptError saying what to fix. Pure: no
HTTP, no database.
"""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any, Literal, cast, get_args

from pydantic import BaseModel

from pipelines import jsontext

TranscriptFormat = Literal["text", "vtt", "srt", "json", "slack"]
TRANSCRIPT_FORMATS: tuple[TranscriptFormat, ...] = get_args(TranscriptFormat)

UNKNOWN_SPEAKER = "Unknown"
EXAMPLE_LINE = "'Alice: we ship on Friday'"
_EXTENSIONS: dict[str, TranscriptFormat] = {".vtt": "vtt", ".srt": "srt", ".txt": "text", ".json": "json"}

# A speaker: a letter, then up to 39 letters, digits, spaces, dots, hyphens or apostrophes ("Dr. Smith", "Speaker 2").
_NAME = r"[^\W\d_][\w .'’-]{0,39}"
_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_SPEAKER_LINE = re.compile(rf"^(?P<speaker>{_NAME}?)\s*:(?:\s+(?P<text>.*))?$")  # the colon ends the name
_BRACKET_SPEAKER = re.compile(rf"^\[(?P<speaker>{_NAME}?)\]\s*(?P<text>.*)$")  # SRT "[Alice] words"
_ZOOM_HEADER = re.compile(rf"^\[(?P<speaker>{_NAME}?)\]\s+(?P<at>{_TIME})$")  # Zoom .txt "[Alice] 10:02:15"
_LEADING_TIME = re.compile(rf"^[\[(]?(?P<at>{_TIME})[\])]?(?:\s+[-–]?\s*|$)")  # "[00:01:02] " or "00:01:02 "
_CUE_TIMING = re.compile(r"^\s*(?P<start>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*\S+")
_SRT_START = re.compile(r"\A\s*\d+[ \t]*\n[ \t]*\d{1,2}:\d{2}:\d{2},\d{1,3}[ \t]*-->")
_BLOCKS = re.compile(r"\n[ \t]*\n")
_VOICE = re.compile(r"<v(?:\.[\w-]+)*(?:\s+([^>]*))?>")  # <v Alice>, <v.loud Alice>
_TAG = re.compile(r"<[^>]*>")  # </v>, <c.red>, <i>, <00:00:01.000>
_MARK = re.compile(r"\{\w+\}")  # {disfmarker}, {vocalsound}, {gap}
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.?!])")
_SPACES = re.compile(r"\s+")
_SLACK_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_JSON_START = re.compile(r"\A\s*(?:\{|\[\s*[{\[\]\"]|\[\s*\Z)")
_JSON_EXAMPLE = '[{"speaker": "Alice", "content": "we ship on Friday"}]'
_TURN_LISTS = ("meeting_transcripts", "turns", "transcript")
_PERSON_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}
_SKIPPED = {  # why a Slack item was skipped: (one, several)
    "bot": ("bot message", "bot messages"),
    "system": ("join, leave or other system message", "join, leave or other system messages"),
    "empty": ("message without text", "messages without text"),
    "invalid": ("item that is not a message with a ts", "items that are not messages with a ts"),
}


class TranscriptError(ValueError):
    """The file cannot be read as a conversation; the message says what to fix."""


class Turn(BaseModel):
    """One speaker's turn: consecutive words of one person."""

    index: int  # 0-based position in the returned list (quotes cite it as "turn")
    speaker: str
    text: str
    thread: str | None = None  # Slack: the thread's parent ts; None otherwise
    at: str | None = None  # the cue/line timestamp if the file has one (e.g. "00:01:02.500"), else None


@dataclass
class Transcript:
    turns: list[Turn]
    format: TranscriptFormat
    problems: list[str]  # human-readable notes: lines/messages skipped and why


def guess_format(data: bytes, filename: str | None = None) -> TranscriptFormat:
    """The format by the file's extension (.vtt, .srt, .json, .txt; a .json Slack export is "slack"), else by its
    content; "text" when nothing else fits."""
    text = data.decode("utf-8-sig", errors="replace")
    return _guess(text.replace("\r\n", "\n").replace("\r", "\n"), filename)


def parse_transcript(data: bytes, format: TranscriptFormat | None = None, filename: str | None = None) -> Transcript:
    """The file's turns (index = position) and notes on what was skipped; `format` None: guessed."""
    name = format.strip().lower() if format is not None else None
    if name is not None and name not in TRANSCRIPT_FORMATS:
        raise TranscriptError(f"unknown format {name!r}: use one of {', '.join(TRANSCRIPT_FORMATS)}")
    text = _decode(data)
    chosen = cast(TranscriptFormat, name) if name else _guess(text, filename)
    turns, problems = _PARSERS[chosen](text)
    for index, turn in enumerate(turns):
        turn.index = index
    return Transcript(turns=turns, format=chosen, problems=problems)


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        hint = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise TranscriptError(
            f"the file is not UTF-8 text{hint}: byte {exc.start} cannot be read; save it as UTF-8 and upload it again"
        ) from exc
    if not text.strip():
        raise TranscriptError(
            f"the file is empty: upload a transcript with lines like {EXAMPLE_LINE}, captions (WebVTT or SRT), "
            "JSON turns or a Slack export"
        )
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _guess(text: str, filename: str | None) -> TranscriptFormat:
    by_extension = _EXTENSIONS.get(PurePath(filename).suffix.lower()) if filename else None
    if by_extension is not None and by_extension != "json":
        return by_extension
    stripped = text.lstrip("\ufeff \t\n")
    if by_extension == "json" or _JSON_START.match(stripped):
        try:
            return "slack" if _is_slack(jsontext.loads(stripped)) else "json"
        except json.JSONDecodeError:
            return "json"  # meant as JSON: the parser reports where it breaks
    if stripped.startswith("WEBVTT"):
        return "vtt"
    if _SRT_START.match(stripped):
        return "srt"
    head = stripped[:4000].split("\n")
    timing = next((m for m in map(_CUE_TIMING.match, head) if m), None)
    if timing:
        return "srt" if "," in timing["start"] else "vtt"
    return "text"


def _is_slack(data: Any) -> bool:
    return isinstance(data, list) and any(isinstance(m, dict) and "ts" in m and "type" in m for m in data)


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _no_speaker(where: str = "", voice_tags: bool = False) -> TranscriptError:
    tags = "voice tags like '<v Alice>we ship on Friday</v>' or " if voice_tags else ""
    return TranscriptError(
        f"no speaker found{where}: expected {tags}lines like {EXAMPLE_LINE} (the speaker's name, a colon, the "
        "words), or choose another format"
    )


# --- text ----------------------------------------------------------------------------------------------------------


def _parse_text(text: str) -> tuple[list[Turn], list[str]]:
    turns: list[Turn] = []
    orphans = 0
    pending_at: str | None = None  # a line holding only a timestamp dates the next turn
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if header := _ZOOM_HEADER.match(line):
            turns.append(Turn(index=0, speaker=header["speaker"].strip(), text="", at=header["at"]))
            continue
        at = None
        if stamp := _LEADING_TIME.match(line):
            rest = line[stamp.end() :].strip()
            if not rest:
                pending_at = stamp["at"]
                continue
            if _SPEAKER_LINE.match(rest):  # else the time is part of the words ("10:30 works for me")
                at, line = stamp["at"], rest
        if found := _SPEAKER_LINE.match(line):
            turns.append(Turn(index=0, speaker=found["speaker"].strip(), text="", at=at or pending_at))
            pending_at = None
            line = (found["text"] or "").strip()
        elif not turns:
            orphans += 1
            continue
        if line:
            turns[-1].text = f"{turns[-1].text} {line}".strip()
    if not turns:
        raise _no_speaker()
    problems = [f"{_plural(orphans, 'line')} before the first speaker skipped"] if orphans else []
    return _drop_empty(turns, problems), problems


def _drop_empty(turns: list[Turn], problems: list[str]) -> list[Turn]:
    kept = [turn for turn in turns if turn.text]
    if len(kept) < len(turns):
        problems.append(f"{_plural(len(turns) - len(kept), 'turn')} without words skipped")
    return kept


# --- WebVTT and SRT --------------------------------------------------------------------------------------------------


def _parse_vtt(text: str) -> tuple[list[Turn], list[str]]:
    return _parse_cues(text, "WebVTT", "'00:00:01.000 --> 00:00:04.000' then '<v Alice>we ship on Friday</v>'")


def _parse_srt(text: str) -> tuple[list[Turn], list[str]]:
    return _parse_cues(text, "SRT", "'1', '00:00:01,000 --> 00:00:04,000', then 'Alice: we ship on Friday'")


def _parse_cues(text: str, kind: str, example: str) -> tuple[list[Turn], list[str]]:
    """Captions: one segment per voice tag or `Speaker:` line; consecutive segments of one speaker are one turn."""
    turns: list[Turn] = []
    problems: list[str] = []
    cues = _cues(text, problems)
    if not cues:
        raise TranscriptError(f"no {kind} cues found: expected cues like {example}")
    unknown = 0
    named = False
    for start, lines in cues:
        for speaker, words in _segments(lines):
            if not words:
                continue
            named = named or speaker is not None
            if speaker is None:
                unknown += 1
                speaker = UNKNOWN_SPEAKER
            if turns and turns[-1].speaker == speaker:
                turns[-1].text = f"{turns[-1].text} {words}"
            else:
                turns.append(Turn(index=0, speaker=speaker, text=words, at=start))
    if not named:
        raise _no_speaker(f" in the {kind} cues", voice_tags=kind == "WebVTT")
    if unknown:
        problems.append(f"{_plural(unknown, 'cue')} without a speaker attributed to {UNKNOWN_SPEAKER!r}")
    return turns, problems


def _cues(text: str, problems: list[str]) -> list[tuple[str, list[str]]]:
    """(start time, text lines) of each cue; header, NOTE, STYLE and REGION blocks and cue identifiers skipped."""
    cues: list[tuple[str, list[str]]] = []
    stray = 0
    for number, block in enumerate(_BLOCKS.split(text.strip())):
        lines = [line.strip() for line in block.strip().split("\n")]
        first = lines[0].split(maxsplit=1)[0] if lines[0] else ""
        if (number == 0 and first.startswith("WEBVTT")) or first in ("NOTE", "STYLE", "REGION"):
            continue
        timings = [(i, found["start"]) for i, line in enumerate(lines) if (found := _CUE_TIMING.match(line))]
        if not timings:  # a blank line inside a cue's text: the words still belong to it
            if cues:
                cues[-1][1].extend(lines)
            else:
                stray += 1
            continue
        ends = [i for i, _ in timings[1:]] + [len(lines) + 1]
        for (i, start), end in zip(timings, ends, strict=True):
            body = lines[i + 1 : end - 1]  # a cue number right before the next timing line is not text
            if end <= len(lines) and not lines[end - 1].isdigit():
                body.append(lines[end - 1])
            cues.append((start.replace(",", "."), body))
    if stray:
        problems.append(f"{_plural(stray, 'block')} of text before the first cue skipped")
    return cues


def _segments(lines: list[str]) -> list[tuple[str | None, str]]:
    """(speaker or None, words) in a cue: voice tags first, else `Speaker: words` or `[Speaker] words` lines."""
    parts = _VOICE.split("\n".join(lines))
    segments: list[tuple[str | None, str]] = []
    for line in parts[0].split("\n"):
        line = _clean_cue(line)
        found = _SPEAKER_LINE.match(line) or _BRACKET_SPEAKER.match(line)
        if found:
            segments.append((found["speaker"].strip(), _clean_cue(found["text"] or "")))
        elif line and segments:
            segments[-1] = (segments[-1][0], f"{segments[-1][1]} {line}".strip())
        elif line:
            segments.append((None, line))
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        segments.append(((name or "").strip() or None, _clean_cue(body)))
    return segments


def _clean_cue(text: str) -> str:
    return _SPACES.sub(" ", html.unescape(_TAG.sub("", text))).strip()


# --- JSON turns ------------------------------------------------------------------------------------------------------


def _load_json(text: str) -> Any:
    try:
        return jsontext.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptError(
            f"the file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}; fix it there, "
            "or upload it as another format"
        ) from exc


def _parse_json(text: str) -> tuple[list[Turn], list[str]]:
    data = _load_json(text)
    items = data
    if isinstance(data, dict):
        items = next((data[key] for key in _TURN_LISTS if isinstance(data.get(key), list)), None)
    if not isinstance(items, list):
        raise TranscriptError(
            f'expected JSON turns: a list like {_JSON_EXAMPLE}, or an object with a "meeting_transcripts" list'
        )
    turns: list[Turn] = []
    unusable: list[int] = []
    empty = 0
    for number, item in enumerate(items):
        speaker, words = _field(item, "speaker", "name", "user"), _field(item, "content", "text")
        if speaker is None or words is None:
            unusable.append(number)
            continue
        words = _clean_marks(words)
        if not any(c.isalnum() for c in words):
            empty += 1
            continue
        turns.append(Turn(index=0, speaker=speaker, text=words, at=_field(item, "start", "timestamp", "time")))
    problems = []
    if unusable:
        problems.append(
            f"{_plural(len(unusable), 'item')} without a speaker and content skipped (the first: item {unusable[0]})"
        )
    if empty:
        problems.append(f"{_plural(empty, 'turn')} skipped: nothing left once marks like {{vocalsound}} were removed")
    if not turns:
        raise TranscriptError(f"no usable turns in the JSON: expected a list like {_JSON_EXAMPLE}")
    return turns, problems


def _field(item: Any, *keys: str) -> str | None:
    """The first of `keys` that holds a non-empty string or a number, as a string."""
    if not isinstance(item, dict):
        return None
    for key in keys:
        value = item.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _clean_marks(text: str) -> str:
    """Transcription marks ({vocalsound}, {disfmarker}, ...) removed, spaces collapsed, no space before , . ? !"""
    text = _SPACES.sub(" ", _MARK.sub(" ", text))
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text).strip().lstrip(",; ")


# --- Slack -----------------------------------------------------------------------------------------------------------


@dataclass
class _Message:
    ts: str
    key: Decimal
    thread_ts: str | None
    speaker: str
    text: str


def _parse_slack(text: str) -> tuple[list[Turn], list[str]]:
    data = _load_json(text)
    if not isinstance(data, list):
        raise TranscriptError(
            "expected a Slack channel export day file: a JSON list of messages like "
            '{"type": "message", "user": "U123", "text": "we ship on Friday", "ts": "1712345678.000100"}'
        )
    names = _slack_names(data)
    counts: dict[str, int] = dict.fromkeys(_SKIPPED, 0)
    messages: list[_Message] = []
    for item in data:
        reason = _slack_skip(item)
        if reason:
            counts[reason] += 1
            continue
        words = _slack_text(str(item.get("text") or ""), names)
        if not words:
            counts["empty"] += 1
            continue
        user = str(item.get("user") or item.get("username") or UNKNOWN_SPEAKER)
        thread_ts = str(item["thread_ts"]) if item.get("thread_ts") else None
        speaker = names.get(user, user)
        messages.append(
            _Message(ts=item["ts"], key=_slack_key(item["ts"]), thread_ts=thread_ts, speaker=speaker, text=words)
        )
    problems = [f"{_plural(n, *_SKIPPED[reason])} skipped" for reason, n in counts.items() if n]
    if not messages:
        if counts["bot"] or counts["system"]:
            raise TranscriptError("the Slack export has only bot or system messages: nothing a person said")
        raise TranscriptError("the Slack export has no messages with text: upload a channel's day file")
    return _slack_threads(messages, problems), problems


def _slack_skip(item: Any) -> str | None:
    """Why a Slack export item is not something a person said, or None."""
    if not isinstance(item, dict) or not isinstance(item.get("ts"), str):
        return "invalid"
    if not _slack_key(item["ts"]):
        return "invalid"
    if item.get("bot_id") or item.get("subtype") == "bot_message":
        return "bot"
    if item.get("type") != "message" or item.get("subtype") not in _PERSON_SUBTYPES:
        return "system"
    return None


def _slack_names(data: list[Any]) -> dict[str, str]:
    """user id -> the name the file gives them (real name, else display name)."""
    names: dict[str, str] = {}
    for item in data:
        if isinstance(item, dict) and item.get("user") and isinstance(item.get("user_profile"), dict):
            profile = item["user_profile"]
            name = profile.get("real_name") or profile.get("display_name")
            if isinstance(name, str) and name.strip():
                names.setdefault(str(item["user"]), name.strip())
    return names


def _slack_text(text: str, names: dict[str, str]) -> str:
    """Mentions as @name, links as their label (else the url), &amp; &lt; &gt; unescaped."""

    def replace(match: re.Match[str]) -> str:
        target, label = match[1], match[2]
        if target.startswith("@"):
            return f"@{names.get(target[1:]) or label or target[1:]}"
        if target.startswith("#"):
            return f"#{label or target[1:]}"
        if target.startswith("!"):
            return label or f"@{target[1:].split('^')[0]}"
        return label or target.removeprefix("mailto:")

    text = _SLACK_LINK.sub(replace, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def _slack_threads(messages: list[_Message], problems: list[str]) -> list[Turn]:
    """Top-level messages by time, each followed by its replies by time; replies whose parent is not in the file are
    kept together where the parent would be."""
    tops = [m for m in messages if m.thread_ts in (None, m.ts)]
    replies: dict[str, list[_Message]] = defaultdict(list)
    for message in messages:
        if message.thread_ts and message.thread_ts != message.ts:
            replies[message.thread_ts].append(message)
    top_ts = {m.ts for m in tops}
    orphans = [ts for ts in replies if ts not in top_ts]
    if orphans:
        count = sum(len(replies[ts]) for ts in orphans)
        problems.append(
            f"{_plural(count, 'reply', 'replies')} whose thread's first message is not in the file kept together"
        )
    groups: list[tuple[Decimal, str, _Message | None]] = [(m.key, m.ts, m) for m in tops]
    groups += [(_slack_key(ts), ts, None) for ts in orphans]
    turns: list[Turn] = []
    for _, ts, parent in sorted(groups, key=lambda group: (group[0], group[1])):
        thread = ts if replies.get(ts) else None
        for message in ([parent] if parent else []) + sorted(replies.get(ts, []), key=lambda m: m.key):
            turns.append(
                Turn(index=0, speaker=message.speaker, text=message.text, thread=thread, at=_slack_at(message))
            )
    return turns


def _slack_key(ts: str) -> Decimal:
    """A ts as a number to sort by; 0 when it is not a Unix time ("1712345678.000100")."""
    try:
        key = Decimal(ts)
    except InvalidOperation:
        return Decimal(0)
    return key if key.is_finite() and 0 < key < 10**11 else Decimal(0)


def _slack_at(message: _Message) -> str:
    return datetime.fromtimestamp(float(message.key), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_PARSERS: dict[str, Callable[[str], tuple[list[Turn], list[str]]]] = {
    "text": _parse_text,
    "vtt": _parse_vtt,
    "srt": _parse_srt,
    "json": _parse_json,
    "slack": _parse_slack,
}
