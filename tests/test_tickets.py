"""Parsing uploaded ticket and review exports (pipelines.tickets)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.tickets import (
    MappingError,
    Ticket,
    UnsupportedFile,
    content_hash,
    parse_date,
    parse_mapping,
    parse_tickets,
)

GOLDEN_SET = Path("/work/shared/data/app_reviews/golden_set.csv")

ZENDESK_CSV = b"""id,subject,description,created_at,requester_id,status
101,Login fails,"I cannot log in since the update.
It says 'invalid token'.",2024-01-05T10:00:00Z,9001,open
102,Export to PDF,Please add a PDF export for invoices.,2024-01-06 09:30:00,9002,new
103,N/A,  -  ,2024-01-07T00:00:00+02:00,9003,closed
"""

FRESHDESK_CSV = (
    b'"Ticket ID","Subject","Description","Created time","Contact ID","Priority"\r\n'
    b'"7","Refund request","I was charged twice; please refund.","2024-02-01 08:15:00","c-42","High"\r\n'
    b'"8","","The app crashes when I open settings.","01/02/2024","c-43","Low"\r\n'
)


def test_zendesk_csv_detects_columns_and_parses_rows() -> None:
    parsed = parse_tickets(ZENDESK_CSV, "zendesk-export.csv")

    assert parsed.columns == {
        "id": "id",
        "subject": "subject",
        "body": "description",
        "created": "created_at",
        "customer": "requester_id",
    }
    assert parsed.total_rows == 3
    assert [t.external_id for t in parsed.tickets] == ["101", "102"]
    assert parsed.skipped[0].row == 3 and parsed.skipped[0].reason == "no usable text"
    first, second = parsed.tickets
    assert first.source == "zendesk-export.csv"
    assert first.subject == "Login fails"
    assert first.body == "I cannot log in since the update.\nIt says 'invalid token'."
    assert first.created_at == datetime(2024, 1, 5, 10, 0, tzinfo=UTC)
    assert first.customer == "9001"
    assert first.row == 1
    assert first.text == "Login fails\nI cannot log in since the update.\nIt says 'invalid token'."
    assert second.created_at == datetime(2024, 1, 6, 9, 30, tzinfo=UTC)
    assert second.row == 2


def test_freshdesk_csv_with_quoted_headers_and_empty_subject() -> None:
    parsed = parse_tickets(FRESHDESK_CSV, "freshdesk.CSV")

    assert parsed.columns == {
        "id": "Ticket ID",
        "subject": "Subject",
        "body": "Description",
        "created": "Created time",
        "customer": "Contact ID",
    }
    refund, crash = parsed.tickets
    assert refund.external_id == "7" and refund.customer == "c-42"
    assert refund.body == "I was charged twice; please refund."  # the ";" in the text did not become the delimiter
    assert refund.created_at == datetime(2024, 2, 1, 8, 15, tzinfo=UTC)
    assert crash.subject == "" and crash.text == "The app crashes when I open settings."
    assert crash.created_at == datetime(2024, 2, 1, tzinfo=UTC)  # day first: 1 February


def test_tsv_and_semicolon_delimiters_are_sniffed() -> None:
    tsv = b"Ticket ID\tTitle\tMessage\n1\tSlow search\tSearch takes 10 seconds, sometimes more\n"
    semicolon = b"key;summary;details\nABC-1;Dark mode;Please add a dark mode, thanks\n"

    tsv_ticket = parse_tickets(tsv, "export.tsv").tickets[0]
    semicolon_ticket = parse_tickets(semicolon, "export.csv").tickets[0]

    assert (tsv_ticket.external_id, tsv_ticket.subject) == ("1", "Slow search")
    assert tsv_ticket.body == "Search takes 10 seconds, sometimes more"
    assert (semicolon_ticket.external_id, semicolon_ticket.body) == ("ABC-1", "Please add a dark mode, thanks")


def test_app_store_json_array() -> None:
    reviews = [
        {
            "reviewId": "gp:AOqp1",
            "userName": "Ana",
            "content": "Great app but it drains the battery",
            "score": 3,
            "at": "2024-03-01T12:00:00",
            "replyContent": "Thanks for the feedback",
        },
        {"reviewId": "gp:AOqp2", "userName": "Ben", "content": 12345, "score": 1, "at": 1709294400000},
    ]
    parsed = parse_tickets(json.dumps(reviews).encode(), "reviews.json", source="play-store")

    assert parsed.columns == {"id": "reviewId", "body": "content", "created": "at", "customer": "userName"}
    first, second = parsed.tickets
    assert first.source == "play-store" and first.key == "play-store:gp:AOqp1"
    assert first.customer == "Ana"
    assert first.created_at == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert second.body == "12345"  # numbers become text
    assert second.created_at == datetime(2024, 3, 1, 12, tzinfo=UTC)  # epoch milliseconds


def test_jsonl_with_malformed_line_and_empty_text() -> None:
    lines = [
        json.dumps({"id": 1, "title": "Crash on start", "body": "App crashes on launch"}),
        "",
        "{not json",
        json.dumps({"id": 2, "title": "null", "body": "   "}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": 3, "title": "Add CSV import", "body": "None"}),
    ]
    parsed = parse_tickets("\n".join(lines).encode(), "tickets.jsonl")

    assert parsed.total_rows == 5  # the blank line is not a row
    assert [(t.row, t.external_id) for t in parsed.tickets] == [(1, "1"), (5, "3")]
    subject_only = parsed.tickets[1]
    assert (subject_only.subject, subject_only.body) == ("", "Add CSV import")
    reasons = {skip.row: skip.reason for skip in parsed.skipped}
    assert reasons[2].startswith("invalid JSON on line 3")
    assert reasons[3] == "no usable text"
    assert "not a JSON object" in reasons[4]
    assert len(parsed.tickets) + len(parsed.skipped) == parsed.total_rows


def test_nested_zendesk_json_with_requester_email_mapped() -> None:
    document = {
        "tickets": [
            {
                "id": 35436,
                "subject": "Help, my printer is on fire!",
                "description": "The fire is very colorful.",
                "created_at": "2009-07-20T22:55:29Z",
                "requester": {"id": 20978392, "email": "jane@example.com"},
                "via": {"channel": "web"},
            }
        ],
        "next_page": None,
        "count": 1,
    }
    data = json.dumps(document).encode()

    mapped = parse_tickets(data, "zendesk.json", mapping={"customer": "requester.email"})
    detected = parse_tickets(data, "zendesk.json")

    ticket = mapped.tickets[0]
    assert mapped.columns["customer"] == "requester.email"
    assert ticket.customer == "jane@example.com"
    assert ticket.external_id == "35436"  # the top-level id, not requester.id
    assert ticket.created_at == datetime(2009, 7, 20, 22, 55, 29, tzinfo=UTC)
    assert detected.columns["customer"] == "requester.email"  # matched on the last segment "email"
    assert detected.columns["id"] == "id"


def test_json_object_holding_array_under_other_key() -> None:
    document = {"meta": {"page": 1}, "entries": [{"text": "Please support SSO"}, {"text": "SSO would be great"}]}

    parsed = parse_tickets(json.dumps(document).encode(), "export.json")

    assert [t.body for t in parsed.tickets] == ["Please support SSO", "SSO would be great"]


def test_mapping_overrides_detection() -> None:
    data = b"id,subject,description,notes,reporter\n1,Subj,Detected body,Mapped body,alice\n"

    parsed = parse_tickets(data, "x.csv", mapping=parse_mapping(["body=notes", "customer=Reporter"]))

    assert parsed.columns["body"] == "notes"
    assert parsed.columns["customer"] == "reporter"  # case-insensitive match of the mapped column
    assert parsed.tickets[0].body == "Mapped body"
    assert parsed.tickets[0].customer == "alice"


def test_mapped_column_missing_lists_columns() -> None:
    with pytest.raises(MappingError) as error:
        parse_tickets(b"a,b,c\n1,2,3\n", "x.csv", mapping={"body": "Descr"})

    assert str(error.value) == "column 'Descr' (for body) is not in the file; columns: a, b, c"


def test_no_body_column_tells_how_to_map() -> None:
    with pytest.raises(MappingError) as error:
        parse_tickets(b"ref,rating,stars\n1,5,4\n", "x.csv")

    message = str(error.value)
    assert "--map body=COLUMN" in message and '{"body": "COLUMN"}' in message
    assert message.endswith("columns: ref, rating, stars")


def test_subject_alone_is_used_as_body() -> None:
    parsed = parse_tickets(b"number,title\nINC1,Printer offline on floor 3\n", "servicenow.csv")

    assert parsed.columns == {"id": "number", "body": "title"}
    assert parsed.tickets[0].body == "Printer offline on floor 3"
    assert parsed.tickets[0].subject == ""


@pytest.mark.parametrize(
    ("pairs", "fragment"),
    [
        (["body"], "expected FIELD=COLUMN"),
        (["title=Summary"], "unknown field 'title'"),
        (["body="], "no column given"),
        (["body=A", "body=B"], "mapped twice"),
    ],
)
def test_parse_mapping_errors(pairs: list[str], fragment: str) -> None:
    with pytest.raises(MappingError, match=fragment):
        parse_mapping(pairs)


def test_parse_mapping_keeps_column_names_with_spaces_and_equals() -> None:
    assert parse_mapping([" Body = Description ", "id=Ticket ID", "subject=a=b"]) == {
        "body": "Description",
        "id": "Ticket ID",
        "subject": "a=b",
    }


def test_unknown_mapping_field_in_parse_tickets() -> None:
    with pytest.raises(MappingError, match="unknown field 'text'"):
        parse_tickets(b"body\nhello\n", "x.csv", mapping={"text": "body"})


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"", "empty.csv"),
        (b"\xef\xbb\xbf  \n", "bom-only.csv"),
        (b"id,subject,description\n", "header-only.csv"),
        (b"[]", "empty.json"),
        (b'{"tickets": []}', "empty-zendesk.json"),
        (b"\n\n", "blank.jsonl"),
    ],
)
def test_empty_files_have_no_rows(data: bytes, filename: str) -> None:
    with pytest.raises(UnsupportedFile, match="has no rows"):
        parse_tickets(data, filename)


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00binary", "tickets.xlsx"),
        (b"just some notes\nwith no structure\n", "notes.txt"),
    ],
)
def test_unsupported_files_list_formats(data: bytes, filename: str) -> None:
    with pytest.raises(UnsupportedFile) as error:
        parse_tickets(data, filename)

    assert ".csv" in str(error.value) and ".jsonl" in str(error.value)


def test_unknown_extension_tries_json_jsonl_then_csv() -> None:
    as_json = parse_tickets(b'[{"text": "from json"}]', "export.txt")
    as_jsonl = parse_tickets(b'{"text": "line one"}\n{"text": "line two"}\n', "export")
    as_csv = parse_tickets(b"id,message\n1,from csv\n", "export.dat")

    assert [t.body for t in as_json.tickets] == ["from json"]
    assert [t.body for t in as_jsonl.tickets] == ["line one", "line two"]
    assert [(t.external_id, t.body) for t in as_csv.tickets] == [("1", "from csv")]


def test_invalid_json_file_is_unsupported() -> None:
    with pytest.raises(UnsupportedFile, match="not valid JSON"):
        parse_tickets(b'[{"text": "unterminated"', "broken.json")


def test_jsonl_saved_as_json_is_read_as_lines() -> None:
    parsed = parse_tickets(b'{"body": "one"}\n{"body": "two"}\n', "export.json")

    assert [t.body for t in parsed.tickets] == ["one", "two"]


def test_cp1252_csv_falls_back_from_utf8() -> None:
    data = "id,subject,body\n1,Caf\u00e9 menu,The \u201cprice\u201d shows \u20ac instead of \u00a3\n".encode("cp1252")

    ticket = parse_tickets(data, "legacy.csv").tickets[0]

    assert ticket.subject == "Caf\u00e9 menu"
    assert ticket.body == "The \u201cprice\u201d shows \u20ac instead of \u00a3"


def test_utf8_bom_is_stripped_from_first_header() -> None:
    data = "id,body\n1,Stra\u00dfe fehlt\n".encode("utf-8-sig")

    parsed = parse_tickets(data, "bom.csv")

    assert parsed.columns == {"id": "id", "body": "body"}
    assert parsed.tickets[0].body == "Stra\u00dfe fehlt"


def test_content_hash_ignores_case_and_whitespace() -> None:
    data = b'subject,body\nLogin Fails,"Cannot  log in\n after update"\nlogin fails ,cannot log in after UPDATE\n'

    first, second = parse_tickets(data, "a.csv").tickets

    assert first.content_hash == second.content_hash
    assert first.content_hash == content_hash("login fails", "cannot log in after update")
    assert first.content_hash != content_hash("login fails", "cannot log in before update")
    assert len(first.content_hash) == 64
    assert first.body == "Cannot  log in\n after update"  # the ticket keeps the original text


def test_key_uses_external_id_else_hash() -> None:
    data = b"id,body\n42,Has an id\n,No id here\n"

    with_id, without_id = parse_tickets(data, "a.csv", source="helpdesk").tickets

    assert with_id.key == "helpdesk:42"
    assert without_id.external_id is None
    assert without_id.key == f"hash:{without_id.content_hash}"


def test_ticket_text_and_key_properties() -> None:
    ticket = Ticket(source="s", external_id=None, body="b", created_at=None, customer=None, row=1, content_hash="abc")

    assert ticket.subject == "" and ticket.text == "b" and ticket.key == "hash:abc"
    assert ticket.model_copy(update={"subject": "t"}).text == "t\nb"


def test_source_defaults_to_basename_of_filename() -> None:
    parsed = parse_tickets(b"body\nhello\n", "/tmp/uploads/zendesk-export.csv")

    assert parsed.tickets[0].source == "zendesk-export.csv"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-05T10:00:00Z", datetime(2024, 1, 5, 10, tzinfo=UTC)),
        ("2024-01-05T12:00:00+02:00", datetime(2024, 1, 5, 10, tzinfo=UTC)),
        ("2024-01-05 10:00:00", datetime(2024, 1, 5, 10, tzinfo=UTC)),
        ("2024-01-05 10:00:00 +0100", datetime(2024, 1, 5, 9, tzinfo=UTC)),
        ("05/01/24", datetime(2024, 1, 5, tzinfo=UTC)),
        ("05/01/2024", datetime(2024, 1, 5, tzinfo=UTC)),
        ("01/31/2024", datetime(2024, 1, 31, tzinfo=UTC)),
        ("Fri, 05 Jan 2024 10:00:00 +0000", datetime(2024, 1, 5, 10, tzinfo=UTC)),
        (1704448800, datetime(2024, 1, 5, 10, tzinfo=UTC)),
        ("1704448800000", datetime(2024, 1, 5, 10, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
        (3, None),
    ],
)
def test_parse_date(value: object, expected: datetime | None) -> None:
    assert parse_date(value) == expected


def test_unparseable_date_is_none_not_an_error() -> None:
    parsed = parse_tickets(b"body,date\nSomething broke,last tuesday\n", "a.csv")

    assert parsed.tickets[0].created_at is None


@pytest.mark.skipif(not GOLDEN_SET.exists(), reason="shared app-review data not present")
def test_golden_set_app_reviews() -> None:
    parsed = parse_tickets(GOLDEN_SET.read_bytes(), GOLDEN_SET.name)

    assert parsed.columns == {"id": "_id", "body": "reviewText", "created": "date", "customer": "author"}
    assert parsed.total_rows == 1584
    assert len(parsed.tickets) + len(parsed.skipped) == parsed.total_rows
    assert len(parsed.tickets) > 1500
    assert all(skip.reason == "no usable text" for skip in parsed.skipped)
    first = parsed.tickets[0]
    assert first.external_id == "578945a6819cb706b00a7328"
    assert first.customer == "Larry H"
    assert first.created_at == datetime(2016, 1, 15, tzinfo=UTC)  # "15/01/16", day first
    assert first.body.startswith("Fundamental flaw")
    assert len({t.key for t in parsed.tickets}) == len(parsed.tickets)


def test_a_ticket_in_no_theme_joins_the_nearest_theme_only_when_close_enough():
    import numpy as np

    from pipelines.triage import ThemeCluster, attach_leftovers

    def unit(*values: float) -> np.ndarray:
        vector = np.array(values, dtype=float)
        return vector / np.linalg.norm(vector)

    vectors = np.stack([unit(1, 0, 0), unit(1, 0.1, 0), unit(0, 1, 0), unit(0.1, 1, 0), unit(1, 0.3, 0), unit(0, 0, 1)])
    themes = [ThemeCluster([0, 1], 0.99), ThemeCluster([2, 3], 0.99)]
    joined = attach_leftovers(vectors, themes, similarity=0.45)
    assert joined[0].members == [0, 1, 4] and joined[0].attached == 1  # close to the first theme: joins it, last
    assert joined[1].members == [2, 3] and joined[1].attached == 0
    assert all(5 not in t.members for t in joined)  # like neither: stays unthemed
    assert attach_leftovers(vectors, [], 0.45) == []
