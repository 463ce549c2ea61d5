"""Parse backlog exports from Jira (CSV) and GitHub (issues JSON) into `BacklogItemCreate`s.

Pure functions: no database, no HTTP. `parse_import(data, format)` reads an uploaded file's bytes and returns the
items plus human-readable problems (records skipped, fields cut). Files written by `exporters` (jira_csv,
github_json) parse back too. A record without an id gets a content-hash external id, so importing the same file
twice is idempotent.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import urlparse

from pydantic import ValidationError

from pipelines.models import ItemType
from service.backlog.schemas import BacklogItemCreate

ImportFormat = Literal["jira_csv", "github_json"]
IMPORT_FORMATS: tuple[ImportFormat, ...] = get_args(ImportFormat)

MAX_TITLE, MAX_DESCRIPTION, MAX_LABEL, MAX_PRIORITY = 300, 50_000, 40, 40

# Keys are normalised by `_norm` (lowercase; runs of spaces, "-" and "_" become one space).
JIRA_TYPES: dict[str, ItemType] = {
    "bug": "bug",
    **dict.fromkeys(("story", "new feature", "improvement", "epic"), "feature"),
    **dict.fromkeys(("task", "sub task", "subtask", "technical debt", "tech debt"), "tech_debt"),
    **dict.fromkeys(("spike", "research"), "research"),
}
GITHUB_TYPE_LABELS: dict[str, ItemType] = {
    "bug": "bug",
    **dict.fromkeys(("enhancement", "feature"), "feature"),
    **dict.fromkeys(("tech debt", "technical debt", "refactor"), "tech_debt"),
    **dict.fromkeys(("research", "spike"), "research"),
}
PRIORITY_NAMES = ("Highest", "High", "Medium", "Low", "Lowest")  # P0 .. P4

_PRIORITY_LABEL_RE = re.compile(
    r"^(?:priority\s*[:/=-]?\s*)?p([0-4])$|^priority\s*[:/=-]?\s*(highest|high|medium|low|lowest)$"
)
_ISSUE_PATH_RE = re.compile(r"(?:^|/repos)/([^/]+)/([^/]+)/(?:issues|pulls?)/(\d+)/?$")  # html_url or API url
_REPO_PATH_RE = re.compile(r"/repos/([^/]+)/([^/]+)/?$")  # repository_url
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number"}


class ImportFormatError(ValueError):
    """The file cannot be read as the named format; the message says what to fix."""


@dataclass
class ParsedImport:
    """The items read from a file and what was skipped or trimmed (e.g. "row 7: no Summary; skipped")."""

    items: list[BacklogItemCreate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse_import(data: bytes, format: str) -> ParsedImport:
    """Items from a `format` export (one of IMPORT_FORMATS); ImportFormatError if the file cannot be read as it."""
    parsers = {"jira_csv": _parse_jira_csv, "github_json": _parse_github_json}
    if format not in parsers:
        raise ImportFormatError(f"unknown import format {format!r}; valid formats: {', '.join(IMPORT_FORMATS)}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFormatError(
            f"the file is not UTF-8 text (byte {data[error.start]:#04x} at offset {error.start}); "
            "export or save it as UTF-8 and upload it again"
        ) from error
    return parsers[format](text)


def _norm(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text.strip().lower())


def _labels(raw: Iterable[str], where: str, problems: list[str]) -> list[str]:
    """Labels lowercased, stripped and deduplicated in order; too-long ones dropped with a problem."""
    result: list[str] = []
    for label in (raw_label.strip().lower() for raw_label in raw):
        if len(label) > MAX_LABEL:
            problems.append(f"{where}: label {label[:MAX_LABEL]!r}... longer than {MAX_LABEL} characters dropped")
        elif label and label not in result:
            result.append(label)
    return result


def _add(result: ParsedImport, where: str, source: str, fields: dict[str, Any]) -> None:
    """Append BacklogItemCreate(**fields), cutting over-long text; no external_id means a content hash."""
    for name, limit in (("title", MAX_TITLE), ("description", MAX_DESCRIPTION), ("priority", MAX_PRIORITY)):
        if fields[name] and len(fields[name]) > limit:
            result.problems.append(f"{where}: {name} cut to {limit} characters (was {len(fields[name])})")
            fields[name] = fields[name][:limit]
    if not fields["external_id"]:
        content = f"{fields['title']}\n{fields['description']}".encode()
        fields["external_id"] = f"{source}:sha1:{hashlib.sha1(content, usedforsecurity=False).hexdigest()[:12]}"
    try:
        result.items.append(BacklogItemCreate(**fields))
    except ValidationError as error:
        result.problems.append(f"{where}: {error.errors()[0]['msg']}; skipped")


# --- Jira CSV ---------------------------------------------------------------------------------------------------


def _parse_jira_csv(text: str) -> ParsedImport:
    """Jira Cloud "Export CSV (all fields)" or our jira_csv export; rows are numbered as a spreadsheet shows them."""
    rows = csv.reader(io.StringIO(text, newline=""))
    result = ParsedImport()
    try:
        header = next(rows, None)
        if header is None:
            raise ImportFormatError("the file is empty; expected a CSV header row with a Summary column")
        columns: dict[str, list[int]] = {}
        for index, name in enumerate(header):
            columns.setdefault(_norm(name), []).append(index)
        if "summary" not in columns:
            found = ", ".join(repr(name) for name in header if name.strip()) or "none"
            raise ImportFormatError(f"no Summary column (found: {found}); the header row must name a Summary column")
        for number, row in enumerate(rows, start=2):
            if any(cell.strip() for cell in row):
                _jira_row(row, columns, f"row {number}", result)
    except csv.Error as error:
        raise ImportFormatError(f"unreadable CSV at line {rows.line_num}: {error}") from error
    return result


def _jira_row(row: list[str], columns: dict[str, list[int]], where: str, result: ParsedImport) -> None:
    def cells(name: str) -> list[str]:
        return [row[i].strip() for i in columns.get(name, []) if i < len(row) and row[i].strip()]

    def first(name: str) -> str:
        return next(iter(cells(name)), "")

    title = " ".join(first("summary").split())
    if not title:
        result.problems.append(f"{where}: no Summary; skipped")
        return
    # Jira Cloud repeats the Labels column (one label each); our exporter writes one space-separated column.
    labels = _labels((label for cell in cells("labels") for label in re.split(r"[\s,]+", cell)), where, result.problems)
    issue_type = _norm(first("issue type"))
    item_type = JIRA_TYPES.get(issue_type, "feature")
    if issue_type == "task" and {"research", "spike"} & set(labels):
        item_type = "research"  # our exporter writes research items as Tasks; their label tells them apart
    key = first("issue key")
    fields = {"title": title, "description": first("description"), "type": item_type, "labels": labels}
    points = _points(first("story points") or first("custom field (story points)"), where, result.problems)
    parent = first("parent key") or first("parent") or None
    extra = {"priority": first("priority") or None, "external_id": key and f"jira:{key}", "story_points": points}
    extra["parent"] = parent
    _add(result, where, "jira", fields | extra)


def _points(cell: str, where: str, problems: list[str]) -> int | None:
    """Story points from a cell ("5", "5.0", "0.5" rounds up to 1); a cell that is not a number is reported."""
    if not cell:
        return None
    try:
        value = float(cell.replace(",", "."))
    except ValueError:
        problems.append(f"{where}: story points {cell!r} is not a number; left empty")
        return None
    if not 0 <= value <= 1000:
        problems.append(f"{where}: story points {cell!r} is out of range 0-1000; left empty")
        return None
    return max(1, round(value)) if value > 0 else 0


# --- GitHub issues JSON -----------------------------------------------------------------------------------------


def _parse_github_json(text: str) -> ParsedImport:
    """GitHub REST issues (array or one object) or our github_json export; pull requests are skipped."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportFormatError(f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from error
    records = [data] if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise ImportFormatError(f"expected a JSON array of issues or one issue object, got {_json_type(data)}")
    result = ParsedImport()
    for index, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise ImportFormatError(f"item {index} of the array is {_json_type(record)}; expected an issue object")
        _github_issue(record, index, result)
    return result


def _json_type(value: Any) -> str:
    return "null" if value is None else "true/false" if isinstance(value, bool) else _JSON_TYPES[type(value)]


def _github_ref(record: dict[str, Any]) -> tuple[str | None, int | None]:
    """("owner/repo", number) from the issue's html_url, url or repository_url, and its number field."""
    number = record.get("number")
    number = number if isinstance(number, int) and not isinstance(number, bool) else None
    for key, pattern in (("html_url", _ISSUE_PATH_RE), ("url", _ISSUE_PATH_RE), ("repository_url", _REPO_PATH_RE)):
        value = record.get(key)
        match = pattern.search(urlparse(value).path) if isinstance(value, str) else None
        if match:
            if number is None and pattern is _ISSUE_PATH_RE:
                number = int(match[3])
            return f"{match[1]}/{match[2]}", number
    return None, number


def _github_issue(record: dict[str, Any], index: int, result: ParsedImport) -> None:
    repo, number = _github_ref(record)
    where = f"item {index}" + (f" (#{number})" if number is not None else "")
    if record.get("pull_request") or "/pull/" in str(record.get("html_url") or ""):
        result.problems.append(f"{where}: pull request; skipped")
        return
    title = record.get("title")
    title = " ".join(title.split()) if isinstance(title, str) else ""
    if not title:
        result.problems.append(f"{where}: no title; skipped")
        return
    raw_labels = record.get("labels") if isinstance(record.get("labels"), list) else []
    names = (label.get("name") if isinstance(label, dict) else label for label in raw_labels)
    labels = _labels((name for name in names if isinstance(name, str)), where, result.problems)
    # The last type label decides (our exporter appends it) and is dropped: the item type carries it.
    type_labels = [label for label in labels if _norm(label) in GITHUB_TYPE_LABELS]
    item_type = GITHUB_TYPE_LABELS[_norm(type_labels[-1])] if type_labels else "feature"
    if type_labels:
        labels.remove(type_labels[-1])
    matches = (_PRIORITY_LABEL_RE.match(label) for label in labels)
    priority = next((PRIORITY_NAMES[int(m[1])] if m[1] else m[2].capitalize() for m in matches if m), None)
    body = record.get("body")
    fields = {"title": title, "description": body.strip() if isinstance(body, str) else "", "labels": labels}
    external_id = f"github:{repo or ''}#{number}" if number is not None else None
    _add(result, where, "github", fields | {"type": item_type, "priority": priority, "external_id": external_id})
