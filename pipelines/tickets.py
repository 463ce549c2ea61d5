"""Parse uploaded support-ticket and review exports (CSV/TSV, JSON, JSONL) into typed tickets.

Pure functions: bytes and a file name in, ``ParsedTickets`` out. Columns are detected by common names (Zendesk,
Freshdesk, Jira, app-store reviews) and can be overridden with a field -> column mapping. Rows without usable text
are reported as ``SkippedRow`` rather than failing the whole file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import BaseModel

from pipelines import jsontext

FIELDS: tuple[str, ...] = ("id", "subject", "body", "created", "customer")
SUPPORTED_FORMATS = ".csv, .tsv, .json (an array of objects), .jsonl / .ndjson (one object per line)"

# Matched case-insensitively, ignoring spaces, underscores and dashes; earlier aliases win.
ALIASES: dict[str, tuple[str, ...]] = {
    "id": (
        "id",
        "ticket id",
        "ticket_id",
        "_id",
        "issue id",
        "number",
        "review id",
        "reviewId",
        "conversation id",
        "key",
    ),
    "subject": ("subject", "title", "summary"),
    "body": (
        "body",
        "description",
        "text",
        "message",
        "content",
        "comment",
        "review",
        "reviewText",
        "review text",
        "details",
        "question",
    ),
    "created": (
        "created",
        "created_at",
        "created time",
        "date",
        "timestamp",
        "submitted_at",
        "at",
        "created date",
        "time",
    ),
    "customer": (
        "customer",
        "customer id",
        "requester",
        "requester_id",
        "requester email",
        "email",
        "author",
        "user",
        "user name",
        "userName",
        "contact",
        "contact id",
        "reporter",
    ),
}

# Cell values that mean "nothing here" although they contain letters.
_PLACEHOLDERS = frozenset({"n/a", "na", "null", "none", "nil", "nan", "undefined", "(none)", "(empty)", "(blank)"})
_JSON_ARRAY_KEYS = ("tickets", "results", "data", "items", "reviews")
_CSV_DELIMITERS = ",;\t|"
_MAX_LISTED_COLUMNS = 60
_CSV_FIELD_LIMIT = 64 * 1024 * 1024  # long descriptions exceed csv's default 128 KiB field limit

_DATE_FORMATS = (
    "%d/%m/%y",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%d %H:%M:%S %Z",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%d/%m/%y %H:%M",
    "%d/%b/%y %I:%M %p",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
    "%d-%m-%Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y %I:%M %p",
    "%B %d, %Y %I:%M %p",
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_MIN_EPOCH_SECONDS = 1e8  # 1973: smaller numbers are counts or durations, not timestamps
_MILLIS_THRESHOLD = 1e11  # above this (year 5138 in seconds) a number is epoch milliseconds


class MappingError(ValueError):
    """The field -> column mapping is malformed, or a needed column is missing; the message says what to fix."""


class UnsupportedFile(ValueError):
    """The upload is empty, has no data rows, or is in none of the supported formats."""


class Ticket(BaseModel):
    """One support ticket or review, normalised from a row of an export."""

    source: str
    external_id: str | None
    subject: str = ""
    body: str
    created_at: datetime | None
    customer: str | None
    row: int
    content_hash: str

    @property
    def key(self) -> str:
        """Identity for idempotent imports: the source and external id, else the content hash."""
        return f"{self.source}:{self.external_id}" if self.external_id else f"hash:{self.content_hash}"

    @property
    def text(self) -> str:
        """Subject and body joined for analysis."""
        return f"{self.subject}\n{self.body}" if self.subject else self.body


class SkippedRow(BaseModel):
    """A data row that produced no ticket, and why."""

    row: int
    reason: str


class ParsedTickets(BaseModel):
    """The tickets of one upload, the rows skipped, and the columns used for each field."""

    tickets: list[Ticket]
    skipped: list[SkippedRow]
    columns: dict[str, str]
    total_rows: int


@dataclass
class _Table:
    """Rows read from a file before column mapping: each row is a record, or the reason it could not be read."""

    columns: list[str]
    rows: list[dict[str, Any] | str]


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """``["body=Description", "id=Ticket ID"]`` -> ``{"body": "Description", "id": "Ticket ID"}``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        field, column = field.strip().lower(), column.strip()
        if not sep or not field:
            raise MappingError(f"bad mapping {pair!r}: expected FIELD=COLUMN, e.g. body=Description; {_fields_hint()}")
        if field not in FIELDS:
            raise MappingError(f"unknown field {field!r} in {pair!r}; {_fields_hint()}")
        if not column:
            raise MappingError(f"no column given in {pair!r}: expected {field}=COLUMN")
        if field in mapping:
            raise MappingError(f"field {field!r} is mapped twice ({mapping[field]!r} and {column!r})")
        mapping[field] = column
    return mapping


def parse_tickets(
    data: bytes, filename: str, mapping: dict[str, str] | None = None, source: str | None = None
) -> ParsedTickets:
    """Parse an export into tickets; raises ``UnsupportedFile`` or ``MappingError`` with a message for the user."""
    mapping = dict(mapping or {})
    unknown = [field for field in mapping if field not in FIELDS]
    if unknown:
        raise MappingError(f"unknown field {unknown[0]!r} in the mapping; {_fields_hint()}")
    name = _basename(filename)
    source = source or name
    table = _read_table(data, name)
    if not table.rows:
        raise UnsupportedFile(f"{name} has no rows")
    columns = _resolve_columns(table.columns, mapping)

    tickets: list[Ticket] = []
    skipped: list[SkippedRow] = []
    for number, record in enumerate(table.rows, start=1):
        if isinstance(record, str):
            skipped.append(SkippedRow(row=number, reason=record))
            continue
        ticket = _ticket(record, columns, source, number)
        if ticket is None:
            skipped.append(SkippedRow(row=number, reason="no usable text"))
        else:
            tickets.append(ticket)
    return ParsedTickets(tickets=tickets, skipped=skipped, columns=columns, total_rows=len(table.rows))


def parse_date(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from an ISO 8601 string, a common date format or epoch seconds/milliseconds."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    text = str(value).strip()
    if not text:
        return None
    if _NUMBER.fullmatch(text):
        if len(text) == 8:  # 20240105
            parsed = _strptime(text, "%Y%m%d")
            if parsed is not None:
                return parsed
        return _from_epoch(float(text))
    try:
        return _as_utc(datetime.fromisoformat(text))
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        parsed = _strptime(text, fmt)
        if parsed is not None:
            return parsed
    try:
        return _as_utc(parsedate_to_datetime(text))  # RFC 2822: "Fri, 05 Jan 2024 10:00:00 +0000"
    except (TypeError, ValueError, IndexError):
        return None


def content_hash(subject: str, body: str) -> str:
    """sha256 hex of the lowercased, whitespace-collapsed subject and body."""
    normalised = f"{_normalise_text(subject)}\n{_normalise_text(body)}"
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


# --- reading files -------------------------------------------------------------------------------------------------


def _read_table(data: bytes, name: str) -> _Table:
    """The rows of the file, by extension; an unknown extension tries JSON, then JSONL, then CSV."""
    text = _decode(data, name)
    if not text.strip():
        raise UnsupportedFile(f"{name} has no rows")
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in ("csv", "tsv"):
        return _read_csv(text, name, default_delimiter="\t" if extension == "tsv" else ",")
    if extension == "json":
        if _is_jsonl_saved_as_json(text):
            return _read_jsonl(text, name)
        return _read_json(text, name)
    if extension in ("jsonl", "ndjson"):
        return _read_jsonl(text, name)

    for reader in (_read_json, _read_jsonl_strict):
        try:
            return reader(text, name)
        except UnsupportedFile:
            pass
    try:
        table = _read_csv(text, name, default_delimiter=",")
    except UnsupportedFile:
        table = None
    if table is not None and len(table.columns) >= 2 and table.rows:
        return table
    raise UnsupportedFile(f"could not read {name}: supported formats are {SUPPORTED_FORMATS}")


def _decode(data: bytes, name: str) -> str:
    """Text of the upload: UTF-16 with a BOM, UTF-8 (BOM optional), else cp1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise UnsupportedFile(f"{name} is not valid UTF-16 text: {error}") from error
    if b"\x00" in data:
        raise UnsupportedFile(f"{name} looks like a binary file, not text; supported formats are {SUPPORTED_FORMATS}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _read_csv(text: str, name: str, default_delimiter: str) -> _Table:
    """CSV/TSV rows keyed by header; the delimiter is sniffed (or taken from an Excel ``sep=`` line)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    first_line, _, rest = text.partition("\n")
    if re.fullmatch(r"sep=.", first_line.strip()):
        delimiter, text = first_line.strip()[-1], rest
    else:
        delimiter = _sniff_delimiter(text, default_delimiter)
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            raise UnsupportedFile(f"{name} has no rows")
        columns = _unique_columns(header)
        rows: list[dict[str, Any] | str] = []
        for cells in reader:
            if not cells:  # a blank line
                continue
            rows.append(dict(zip(columns, cells, strict=False)))
    except csv.Error as error:
        raise UnsupportedFile(f"{name} is not valid CSV (near line {reader.line_num}): {error}") from error
    return _Table(columns=columns, rows=rows)


def _sniff_delimiter(text: str, default: str) -> str:
    """The delimiter csv.Sniffer finds, checked against the header line; ``default`` when it cannot tell."""
    header_line = text.split("\n", 1)[0]
    try:
        delimiter = csv.Sniffer().sniff(text[:65536], delimiters=_CSV_DELIMITERS).delimiter
    except csv.Error:
        delimiter = default
    if delimiter not in header_line:  # the sniffer was misled by the text in the cells
        counts = {candidate: header_line.count(candidate) for candidate in _CSV_DELIMITERS}
        best = max(counts, key=lambda candidate: counts[candidate])
        delimiter = best if counts[best] else default
    return delimiter


def _unique_columns(header: list[str]) -> list[str]:
    """Header names stripped, blank ones named by position, repeats suffixed " (2)", " (3)"..."""
    columns: list[str] = []
    seen: set[str] = set()
    for position, raw in enumerate(header, start=1):
        name = raw.strip().lstrip("\ufeff").strip() or f"column {position}"
        candidate, count = name, 1
        while candidate in seen:
            count += 1
            candidate = f"{name} ({count})"
        seen.add(candidate)
        columns.append(candidate)
    return columns


def _read_json(text: str, name: str) -> _Table:
    """A JSON array of objects, or an object holding one (under "tickets", "results", ... or the first such key)."""
    try:
        document = jsontext.loads(text)
    except json.JSONDecodeError as error:
        raise UnsupportedFile(f"{name} is not valid JSON: {error}") from error
    items = _json_array(document)
    if items is None:
        raise UnsupportedFile(f'{name} holds no array of objects; expected [{{...}}, ...] or {{"tickets": [...]}}')
    rows: list[dict[str, Any] | str] = [
        _flatten(item) if isinstance(item, dict) else "not a JSON object" for item in items
    ]
    return _Table(columns=_columns_of(rows), rows=rows)


def _json_array(document: Any) -> list[Any] | None:
    """The list of ticket objects in a parsed JSON document, or None."""
    if isinstance(document, list):
        return document if not document or any(isinstance(item, dict) for item in document) else None
    if not isinstance(document, dict):
        return None
    lowered = {str(key).lower(): value for key, value in document.items()}
    for key in _JSON_ARRAY_KEYS:
        value = lowered.get(key)
        if isinstance(value, list) and (not value or any(isinstance(item, dict) for item in value)):
            return value
    for value in document.values():
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            return value
    return None


def _read_jsonl(text: str, name: str) -> _Table:
    """One JSON object per line; blank lines are ignored and a malformed line becomes a skipped row."""
    rows: list[dict[str, Any] | str] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = jsontext.loads(line)
        except json.JSONDecodeError as error:
            rows.append(f"invalid JSON on line {line_number}: {error.msg}")
            continue
        rows.append(_flatten(item) if isinstance(item, dict) else f"line {line_number} is not a JSON object")
    if rows and not any(isinstance(row, dict) for row in rows):
        raise UnsupportedFile(f"no line of {name} is a JSON object; expected one object per line")
    return _Table(columns=_columns_of(rows), rows=rows)


def _read_jsonl_strict(text: str, name: str) -> _Table:
    """JSONL for files of unknown type: only when the first non-blank line is a JSON object."""
    if not _looks_like_jsonl(text):
        raise UnsupportedFile(f"{name} is not JSON Lines")
    return _read_jsonl(text, name)


def _is_jsonl_saved_as_json(text: str) -> bool:
    """True for a JSON Lines export named .json: the whole text is not JSON, but its first line is an object."""
    try:
        jsontext.loads(text)
    except json.JSONDecodeError:
        return _looks_like_jsonl(text)
    return False


def _looks_like_jsonl(text: str) -> bool:
    """True when the first non-blank line is a JSON object."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        return isinstance(jsontext.loads(first), dict)
    except json.JSONDecodeError:
        return False


def _flatten(item: dict[str, Any]) -> dict[str, Any]:
    """One level of nesting flattened with dots: ``{"requester": {"email": e}}`` -> ``{"requester.email": e}``."""
    flat: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, dict):
            for inner_key, inner_value in value.items():
                flat.setdefault(f"{key}.{inner_key}", inner_value)
        else:
            flat[str(key)] = value
    return flat


def _columns_of(rows: list[dict[str, Any] | str]) -> list[str]:
    """Every key of the rows, in first-seen order."""
    columns: dict[str, None] = {}
    for row in rows:
        if isinstance(row, dict):
            columns.update(dict.fromkeys(row))
    return list(columns)


# --- columns and rows ----------------------------------------------------------------------------------------------


def _resolve_columns(columns: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """field -> column: the mapping first, then detection by name; a body column (or a subject) is required."""
    resolved: dict[str, str] = {}
    for field in FIELDS:
        if field in mapping:
            column = _find_column(columns, mapping[field])
            if column is None:
                raise MappingError(
                    f"column {mapping[field]!r} (for {field}) is not in the file; columns: {_list_columns(columns)}"
                )
            resolved[field] = column
    taken = set(resolved.values())
    for field in FIELDS:
        if field not in resolved:
            column = _detect(columns, field, taken)
            if column is not None:
                resolved[field] = column
                taken.add(column)
    if "body" not in resolved:
        if "subject" not in resolved:
            raise MappingError(
                "no text column found: none of the columns is named like a body or description; "
                'pass the column with e.g. --map body=COLUMN (CLI) or {"body": "COLUMN"} (API); '
                f"columns: {_list_columns(columns)}"
            )
        resolved["body"] = resolved.pop("subject")
    return {field: resolved[field] for field in FIELDS if field in resolved}


def _find_column(columns: list[str], wanted: str) -> str | None:
    """The column named ``wanted``: exactly, else the only case-insensitive match."""
    if wanted in columns:
        return wanted
    matches = [column for column in columns if column.lower() == wanted.strip().lower()]
    return matches[0] if len(matches) == 1 else None


def _detect(columns: list[str], field: str, taken: set[str]) -> str | None:
    """The first free column named like one of the field's aliases; nested keys ("requester.email") match on their
    last segment when no top-level column does (not for the id: a nested "user.id" is not the ticket's id)."""
    free = [column for column in columns if column not in taken]
    for alias in _NORMALISED_ALIASES[field]:
        for column in free:
            if _normalise_name(column) == alias:
                return column
    if field == "id":
        return None
    for alias in _NORMALISED_ALIASES[field]:
        for column in free:
            if "." in column and _normalise_name(column.rsplit(".", 1)[1]) == alias:
                return column
    return None


def _ticket(record: dict[str, Any], columns: dict[str, str], source: str, row: int) -> Ticket | None:
    """The row as a Ticket, or None when neither subject nor body has usable text."""

    def cell(field: str) -> Any:
        return record.get(columns[field]) if field in columns else None

    subject, body = _clean_text(cell("subject")), _clean_text(cell("body"))
    if not body:
        subject, body = "", subject
    if not body:
        return None
    return Ticket(
        source=source,
        external_id=_clean_optional(cell("id")),
        subject=subject,
        body=body,
        created_at=parse_date(cell("created")),
        customer=_clean_optional(cell("customer")),
        row=row,
        content_hash=content_hash(subject, body),
    )


def _to_str(value: Any) -> str:
    """A cell as text: None -> "", whole floats without ".0", objects and arrays as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _clean_text(value: Any) -> str:
    """Stripped text with newlines normalised; "" when it has no letters or digits or is a placeholder like N/A."""
    text = _to_str(value).replace("\r\n", "\n").replace("\r", "\n").strip()
    return text if _usable(text) else ""


def _clean_optional(value: Any) -> str | None:
    """Stripped text, or None when empty or a placeholder."""
    text = _to_str(value).strip()
    return text if _usable(text) else None


def _usable(text: str) -> bool:
    return any(char.isalnum() for char in text) and text.lower() not in _PLACEHOLDERS


def _normalise_text(text: str) -> str:
    return " ".join(text.lower().split())


def _normalise_name(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


_NORMALISED_ALIASES: dict[str, tuple[str, ...]] = {
    field: tuple(dict.fromkeys(_normalise_name(alias) for alias in aliases)) for field, aliases in ALIASES.items()
}


def _list_columns(columns: list[str]) -> str:
    if not columns:
        return "(none)"
    listed = ", ".join(columns[:_MAX_LISTED_COLUMNS])
    extra = len(columns) - _MAX_LISTED_COLUMNS
    return f"{listed}, ... ({extra} more)" if extra > 0 else listed


def _fields_hint() -> str:
    return f"fields: {', '.join(FIELDS)}"


def _basename(filename: str) -> str:
    return filename.replace("\\", "/").rsplit("/", 1)[-1] or filename


# --- dates ---------------------------------------------------------------------------------------------------------


def _from_epoch(seconds: float) -> datetime | None:
    if seconds >= _MILLIS_THRESHOLD:
        seconds /= 1000
    if seconds < _MIN_EPOCH_SECONDS:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _strptime(text: str, fmt: str) -> datetime | None:
    try:
        return _as_utc(datetime.strptime(text, fmt))
    except ValueError:
        return None


def _as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to it."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
