"""pipelines.transcripts: every format to speaker turns, format guessing, and the errors that say what to fix."""

from __future__ import annotations

import json

import pytest

from pipelines.transcripts import (
    TRANSCRIPT_FORMATS,
    TranscriptError,
    Turn,
    guess_format,
    parse_transcript,
)


def said(turns: list[Turn]) -> list[tuple[str, str]]:
    return [(turn.speaker, turn.text) for turn in turns]


def assert_indexed(turns: list[Turn]) -> None:
    assert [turn.index for turn in turns] == list(range(len(turns)))


# --- text ------------------------------------------------------------------------------------------------------------

TEXT = """Sprint planning, 3 May
(recording started late)

[00:00:05] Project Manager: ok, let's start with the export bug.
Dr. Smith: hi all
  it fails on files over 2 MB,
  every time.

00:01:02.500 Ana-Maria O'Neil: Can we fix it by Friday?
Project Manager: Yes: we ship on Friday.
See https://example.com/bug/12 for the logs
"""


def test_text_speakers_timestamps_and_continuations() -> None:
    transcript = parse_transcript(TEXT.encode(), "text")
    assert transcript.format == "text"
    assert said(transcript.turns) == [
        ("Project Manager", "ok, let's start with the export bug."),
        ("Dr. Smith", "hi all it fails on files over 2 MB, every time."),
        ("Ana-Maria O'Neil", "Can we fix it by Friday?"),
        ("Project Manager", "Yes: we ship on Friday. See https://example.com/bug/12 for the logs"),
    ]
    assert [turn.at for turn in transcript.turns] == ["00:00:05", None, "00:01:02.500", None]
    assert all(turn.thread is None for turn in transcript.turns)
    assert_indexed(transcript.turns)
    assert transcript.problems == ["2 lines before the first speaker skipped"]


def test_text_windows_line_endings_bom_and_unicode_names() -> None:
    data = "\ufeffZoë: first\r\nŁukasz: second\r\n  and more\r\n".encode()
    transcript = parse_transcript(data)
    assert transcript.format == "text"
    assert said(transcript.turns) == [("Zoë", "first"), ("Łukasz", "second and more")]
    assert transcript.problems == []


def test_text_zoom_export_and_timestamp_lines() -> None:
    data = b"[Alice Smith] 10:02:15\nWe ship on Friday.\n\n[Bob] 10:02:30\nAgreed.\n00:05:00\nAlice Smith: Next item.\n"
    turns = parse_transcript(data, "text").turns
    assert said(turns) == [("Alice Smith", "We ship on Friday."), ("Bob", "Agreed."), ("Alice Smith", "Next item.")]
    assert [turn.at for turn in turns] == ["10:02:15", "10:02:30", "00:05:00"]


def test_text_a_colon_inside_words_is_not_a_speaker() -> None:
    data = b"Alice: we meet at\n10:30 tomorrow, see https://x.org\nthe plan is:ship\n"
    assert said(parse_transcript(data, "text").turns) == [
        ("Alice", "we meet at 10:30 tomorrow, see https://x.org the plan is:ship")
    ]


def test_text_speaker_must_start_with_a_letter_and_be_short() -> None:
    long_name = "A" * 41
    data = f"- item: one\n{long_name}: two\n1st: three\nBo: four\n".encode()
    transcript = parse_transcript(data, "text")
    assert said(transcript.turns) == [("Bo", "four")]
    assert transcript.problems == ["3 lines before the first speaker skipped"]


def test_text_speaker_line_without_words_takes_the_next_lines() -> None:
    turns = parse_transcript(b"Alice:\nwe ship on Friday\nBob:\n", "text")
    assert said(turns.turns) == [("Alice", "we ship on Friday")]
    assert turns.problems == ["1 turn without words skipped"]


def test_text_without_any_speaker_is_an_error() -> None:
    with pytest.raises(TranscriptError, match="no speaker found: expected lines like 'Alice: we ship on Friday'"):
        parse_transcript(b"we talked about the export\nand decided to ship\n")


# --- WebVTT ----------------------------------------------------------------------------------------------------------

ZOOM_VTT = """WEBVTT
Kind: captions

NOTE recorded with Zoom
this note has two lines

STYLE
::cue { color: yellow }

1
00:00:01.000 --> 00:00:03.500 align:start
<v Alice Smith>We need the export</v>

2
00:00:03.500 --> 00:00:06.000
<v Alice Smith>to work for <i>large</i> files.</v>

a3f9-4
00:00:06.000 --> 00:00:08.000
<v.loud Bob Jones>Agreed &amp; <c.yellow>done</c> <00:00:07.000>by Friday</v>

00:00:08.000 --> 00:00:09.000
Carol: Who tests it?

00:10.000 --> 00:12.000
<v Alice Smith>Me.</v>
<v Bob Jones>Thanks.</v>
"""


def test_vtt_voice_tags_merging_and_tags_removed() -> None:
    transcript = parse_transcript(ZOOM_VTT.encode(), filename="meeting.vtt")
    assert transcript.format == "vtt"
    assert said(transcript.turns) == [
        ("Alice Smith", "We need the export to work for large files."),
        ("Bob Jones", "Agreed & done by Friday"),
        ("Carol", "Who tests it?"),
        ("Alice Smith", "Me."),
        ("Bob Jones", "Thanks."),
    ]
    assert [turn.at for turn in transcript.turns] == [
        "00:00:01.000",
        "00:00:06.000",
        "00:00:08.000",
        "00:10.000",
        "00:10.000",
    ]
    assert_indexed(transcript.turns)
    assert transcript.problems == []


def test_vtt_cues_without_a_speaker_are_unknown() -> None:
    data = (
        b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nAlice: hello\n\n00:00:02.000 --> 00:00:03.000\n[music]\n"
        b"\n00:00:03.000 --> 00:00:04.000\nsomeone coughs\n\n00:00:04.000 --> 00:00:05.000\nsomeone laughs\n"
    )
    transcript = parse_transcript(data)
    assert said(transcript.turns) == [("Alice", "hello"), ("Unknown", "someone coughs someone laughs")]
    assert transcript.turns[1].at == "00:00:03.000"
    assert transcript.problems == ["2 cues without a speaker attributed to 'Unknown'"]


def test_vtt_without_any_speaker_is_an_error() -> None:
    data = b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhello\n\n00:00:02.000 --> 00:00:03.000\nthere\n"
    with pytest.raises(
        TranscriptError,
        match="no speaker found in the WebVTT cues: expected voice tags like '<v Alice>we ship on Friday</v>' or lines",
    ):
        parse_transcript(data, "vtt")


def test_vtt_without_cues_is_an_error() -> None:
    with pytest.raises(TranscriptError, match="no WebVTT cues found: expected cues like '00:00:01.000 -->"):
        parse_transcript(b"WEBVTT\n\nNOTE nothing here\n", "vtt")


# --- SRT -------------------------------------------------------------------------------------------------------------

SRT = """1
00:00:01,000 --> 00:00:04,000
Alice: The export fails
on big files.

2
00:00:04,000 --> 00:00:06,000
Alice: Every time.

3
00:00:06,000 --> 00:00:08,500
[Bob] <i>I can take it.</i>

4
00:00:08,500 --> 00:00:10,000
CAROL: Let's ship Friday.
Bob: OK.
"""


def test_srt_speakers_and_merging() -> None:
    transcript = parse_transcript(SRT.encode(), filename="call.srt")
    assert transcript.format == "srt"
    assert said(transcript.turns) == [
        ("Alice", "The export fails on big files. Every time."),
        ("Bob", "I can take it."),
        ("CAROL", "Let's ship Friday."),
        ("Bob", "OK."),
    ]
    assert [turn.at for turn in transcript.turns] == ["00:00:01.000", "00:00:06.000", "00:00:08.500", "00:00:08.500"]
    assert_indexed(transcript.turns)


def test_srt_with_a_missing_blank_line_keeps_cue_numbers_out_of_the_text() -> None:
    data = b"1\n00:00:01,000 --> 00:00:02,000\nAlice: one\n2\n00:00:02,000 --> 00:00:03,000\nBob: two\n"
    assert said(parse_transcript(data, "srt").turns) == [("Alice", "one"), ("Bob", "two")]


def test_srt_without_speakers_is_an_error() -> None:
    data = b"1\n00:00:01,000 --> 00:00:02,000\nhello\n"
    with pytest.raises(TranscriptError, match="no speaker found in the SRT cues"):
        parse_transcript(data)


# --- JSON turns ------------------------------------------------------------------------------------------------------

# Turns copied from the AMI meeting ES2002a in the QMSum data set.
AMI = {
    "topic_list": [{"topic": "Kick-off", "relevant_text_span": [["0", "3"]]}],
    "general_query_list": [{"query": "Summarize the whole meeting.", "answer": "..."}],
    "specific_query_list": [],
    "meeting_transcripts": [
        {
            "speaker": "Project Manager",
            "content": "Okay Right {vocalsound} Um well this is the kick-off meeting for our our project . Um "
            "{vocalsound} and um this is just what we're gonna be doing over the next twenty five minutes .",
        },
        {"speaker": "Marketing", "content": "Mm-hmm ."},
        {"speaker": "Project Manager", "content": "{vocalsound}"},
        {
            "speaker": "Project Manager",
            "content": "I'm Laura and I'm the project manager . {vocalsound} Do you want to introduce yourself again ?",
        },
        {
            "speaker": "Industrial Designer",
            "content": "Hi , I'm David and {disfmarker} {gap} I'm supposed to be an industrial designer .",
        },
        {"speaker": "Marketing", "content": "{disfmarker} ."},
    ],
}


def test_json_ami_meeting() -> None:
    transcript = parse_transcript(json.dumps(AMI).encode(), filename="ES2002a.json")
    assert transcript.format == "json"
    assert said(transcript.turns) == [
        (
            "Project Manager",
            "Okay Right Um well this is the kick-off meeting for our our project. Um and um this is just what "
            "we're gonna be doing over the next twenty five minutes.",
        ),
        ("Marketing", "Mm-hmm."),
        ("Project Manager", "I'm Laura and I'm the project manager. Do you want to introduce yourself again?"),
        ("Industrial Designer", "Hi, I'm David and I'm supposed to be an industrial designer."),
    ]
    assert_indexed(transcript.turns)
    assert transcript.problems == ["2 turns skipped: nothing left once marks like {vocalsound} were removed"]


def test_json_list_with_other_keys_and_bad_items() -> None:
    data = [
        {"speaker": "Alice", "content": "we ship on Friday", "start": "00:00:01"},
        {"name": "Bob", "text": "ok {pause} fine"},
        {"user": "Carol", "text": "me too"},
        "not an object",
        {"speaker": "Dan"},
        {"speaker": "", "content": "who said this?"},
    ]
    transcript = parse_transcript(json.dumps(data).encode(), "json")
    assert said(transcript.turns) == [("Alice", "we ship on Friday"), ("Bob", "ok fine"), ("Carol", "me too")]
    assert transcript.turns[0].at == "00:00:01"
    assert transcript.problems == ["3 items without a speaker and content skipped (the first: item 3)"]


def test_json_with_nothing_usable_is_an_error() -> None:
    with pytest.raises(TranscriptError, match='no usable turns in the JSON: expected a list like \\[{"speaker"'):
        parse_transcript(b'[{"who": "Alice", "said": "hi"}, 3]', "json")
    with pytest.raises(TranscriptError, match='an object with a "meeting_transcripts" list'):
        parse_transcript(b'{"title": "standup"}', "json")


def test_invalid_json_says_where() -> None:
    data = b'[\n  {"speaker": "Alice", "content": "hi"},\n  {"speaker": "Bob" "content": "yo"}\n]'
    with pytest.raises(TranscriptError, match="not valid JSON: Expecting ',' delimiter at line 3, column 21"):
        parse_transcript(data, filename="turns.json")
    with pytest.raises(TranscriptError, match="not valid JSON"):
        parse_transcript(b'[{"user": "U1", "ts": "1.0", "type": "message",', "slack")


# --- Slack -----------------------------------------------------------------------------------------------------------


def message(ts: str, user: str, text: str, **extra: object) -> dict[str, object]:
    names = {"U1": ("Alice Smith", "alice"), "U2": ("", "bob"), "U3": ("Carol", "carol")}
    real_name, display_name = names.get(user, ("", ""))
    profile = {"real_name": real_name, "display_name": display_name}
    return {"type": "message", "user": user, "user_profile": profile, "text": text, "ts": ts, **extra}


SLACK = [
    message("1712300000.000300", "U2", "Reply two", thread_ts="1712300000.000100"),
    message("1712300000.000100", "U1", "Should <@U2> take the export bug?", thread_ts="1712300000.000100"),
    message(
        "1712300000.000200", "U3", "Yes &amp; see <https://jira.example.com/B-12|B-12>", thread_ts="1712300000.000100"
    ),
    {
        "type": "message",
        "subtype": "channel_join",
        "user": "U9",
        "text": "<@U9> has joined the channel",
        "ts": "1712299000.000100",
    },
    {"type": "message", "subtype": "bot_message", "bot_id": "B1", "text": "Build passed", "ts": "1712300000.000150"},
    {"type": "message", "bot_id": "B2", "user": "U8", "text": "Reminder: standup", "ts": "1712300100.000100"},
    message("1712300200.000100", "U3", "Lone message for <@U7>: &lt;b&gt; <https://example.com/x>"),
    message("1712299500.000100", "U2", "Good morning"),
]


def test_slack_threads_names_mentions_and_skipped_messages() -> None:
    transcript = parse_transcript(json.dumps(SLACK).encode(), filename="2024-04-05.json")
    assert transcript.format == "slack"
    assert said(transcript.turns) == [
        ("bob", "Good morning"),
        ("Alice Smith", "Should @bob take the export bug?"),
        ("Carol", "Yes & see B-12"),
        ("bob", "Reply two"),
        ("Carol", "Lone message for @U7: <b> https://example.com/x"),
    ]
    assert [turn.thread for turn in transcript.turns] == [
        None,
        "1712300000.000100",
        "1712300000.000100",
        "1712300000.000100",
        None,
    ]
    assert transcript.turns[0].at == "2024-04-05T06:45:00Z"
    assert_indexed(transcript.turns)
    assert transcript.problems == ["2 bot messages skipped", "1 join, leave or other system message skipped"]


def test_slack_speaker_falls_back_to_the_user_id_and_replies_without_their_parent_stay_together() -> None:
    data = [
        {"type": "message", "user": "U5", "text": "first reply", "ts": "20.0", "thread_ts": "10.0"},
        {"type": "message", "user": "U6", "text": "later", "ts": "30.0"},
        {"type": "message", "user": "U6", "text": "second reply", "ts": "40.0", "thread_ts": "10.0"},
        {"type": "message", "user": "U5", "text": "", "ts": "50.0"},
    ]
    transcript = parse_transcript(json.dumps(data).encode(), "slack")
    assert said(transcript.turns) == [("U5", "first reply"), ("U6", "second reply"), ("U6", "later")]
    assert [turn.thread for turn in transcript.turns] == ["10.0", "10.0", None]
    assert transcript.problems == [
        "1 message without text skipped",
        "2 replies whose thread's first message is not in the file kept together",
    ]


def test_slack_with_only_bots_and_joins_is_an_error() -> None:
    data = [item for item in SLACK if "bot_id" in item or item.get("subtype")]
    with pytest.raises(TranscriptError, match="only bot or system messages: nothing a person said"):
        parse_transcript(json.dumps(data).encode(), "slack")


def test_slack_that_is_not_a_list_is_an_error() -> None:
    with pytest.raises(TranscriptError, match="expected a Slack channel export day file: a JSON list of messages"):
        parse_transcript(b'{"messages": []}', "slack")


# --- guessing the format ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("a.vtt", "vtt"),
        ("A.SRT", "srt"),
        ("notes.txt", "text"),
        ("turns.json", "json"),
        ("slack/2024-04-05.json", "slack"),
    ],
)
def test_guess_format_by_extension(filename: str, expected: str) -> None:
    data = json.dumps(SLACK).encode() if expected == "slack" else b"Alice: hi"
    assert guess_format(data, filename) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (ZOOM_VTT.encode(), "vtt"),
        (b"\xef\xbb\xbfWEBVTT\n\n00:01.000 --> 00:02.000\nA: b\n", "vtt"),
        (SRT.encode(), "srt"),
        (b"\n1\r\n00:00:01,000 --> 00:00:02,000\nA: b\n", "srt"),
        (json.dumps(AMI).encode(), "json"),
        (b'[{"speaker": "A", "content": "b"}]', "json"),
        (json.dumps(SLACK).encode(), "slack"),
        (b'[{"speaker": "A" "content": "b"}]', "json"),
        (TEXT.encode(), "text"),
        (b"[00:00:01] Alice: hi", "text"),
        (b"\xff\xfeA\x00", "text"),
    ],
)
def test_guess_format_by_content(data: bytes, expected: str) -> None:
    assert guess_format(data) == expected
    assert guess_format(data, "upload.bin") == expected


# --- errors for every format -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("format", [None, *TRANSCRIPT_FORMATS])
@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n", b"\xef\xbb\xbf\n"])
def test_empty_file(data: bytes, format: str | None) -> None:
    with pytest.raises(TranscriptError, match="^the file is empty: upload a transcript with lines like"):
        parse_transcript(data, format)  # type: ignore[arg-type]


def test_not_utf8() -> None:
    with pytest.raises(TranscriptError, match="not UTF-8 text: byte 10 cannot be read; save it as UTF-8"):
        parse_transcript("Alice: café".encode("latin-1"))
    with pytest.raises(TranscriptError, match=r"\(it looks like UTF-16\).*save it as UTF-8"):
        parse_transcript("Alice: hi".encode("utf-16"))


def test_unknown_format_lists_the_valid_ones() -> None:
    with pytest.raises(TranscriptError, match="unknown format 'docx': use one of text, vtt, srt, json, slack"):
        parse_transcript(b"Alice: hi", "docx")  # type: ignore[arg-type]


def test_format_names_ignore_case() -> None:
    assert parse_transcript(b"Alice: hi", "TEXT").format == "text"  # type: ignore[arg-type]


def test_errors_are_value_errors() -> None:
    assert issubclass(TranscriptError, ValueError)
    assert TRANSCRIPT_FORMATS == ("text", "vtt", "srt", "json", "slack")


def test_srt_blank_line_inside_a_cue_and_text_before_the_first_cue() -> None:
    data = (
        b"Captions by Acme\n\n1\n00:00:01,000 --> 00:00:02,000\nAlice: first part\n\nsecond part\n\n"
        b"2\n00:00:03,000 --> 00:00:04,000\nBob: ok\n"
    )
    transcript = parse_transcript(data, "srt")
    assert said(transcript.turns) == [("Alice", "first part second part"), ("Bob", "ok")]
    assert transcript.problems == ["1 block of text before the first cue skipped"]


def test_slack_channel_links_special_mentions_broadcasts_and_bad_ts() -> None:
    data = [
        message("100.000100", "U1", "<!here> see <#C42|releases> and <mailto:a@b.org>"),
        message("100.000200", "U3", "done <!subteam^S1|@qa>", subtype="thread_broadcast", thread_ts="100.000100"),
        message("NaN", "U3", "when?"),
        {"type": "message", "user": "U3", "text": "no ts"},
        message("100.000300", "U2", "tombstoned", subtype="tombstone"),
    ]
    transcript = parse_transcript(json.dumps(data).encode(), "slack")
    assert said(transcript.turns) == [
        ("Alice Smith", "@here see #releases and a@b.org"),
        ("Carol", "done @qa"),
    ]
    assert [turn.thread for turn in transcript.turns] == ["100.000100", "100.000100"]
    assert transcript.problems == [
        "1 join, leave or other system message skipped",
        "2 items that are not messages with a ts skipped",
    ]
