"""Parse backlog exports from Jira (CSV, or REST issues JSON), GitHub (issues JSON) and Linear (CSV or issues JSON)
into `BacklogItemCreate`s, with story points and parent links.

Pure functions: no database, no HTTP. `parse_import(data, format)` reads an uploaded file's bytes and returns the
items plus human-readable problems (records skipped, fields cut). Files written by `exporters` (jira_csv,
github_json, linear_json) parse back too, parents included. A record without an id gets a content-hash external
id, so importing the same file twice is idempotent.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import urlparse

from pydantic import ValidationError

from pipelines import jsontext
from pipelines.models import ItemType
from service.backlog.exporters import STORY_POINTS_FIELD
from service.backlog.schemas import BacklogItemCreate, TrackerComment
from service.backlog.spreadsheet import restore_cell
from service.core.enums import PRIORITY_LEVELS
from service.core.schemas import MAX_COMMENT

ImportFormat = Literal["jira_csv", "jira_json", "github_json", "linear_csv", "linear_json"]
IMPORT_FORMATS: tuple[ImportFormat, ...] = get_args(ImportFormat)

MAX_TITLE, MAX_DESCRIPTION, MAX_LABEL, MAX_PRIORITY = 300, 50_000, 40, 40

# Keys are normalised by `_norm` (lowercase; runs of spaces, "-" and "_" become one space).
JIRA_TYPES: dict[str, ItemType] = {
    "bug": "bug",
    **dict.fromkeys(("story", "new feature", "improvement", "epic"), "feature"),
    **dict.fromkeys(("task", "sub task", "subtask", "technical debt", "tech debt"), "tech_debt"),
    **dict.fromkeys(("spike", "research"), "research"),
}
TYPE_LABELS: dict[str, ItemType] = {  # GitHub and Linear have no issue types; teams use labels
    "bug": "bug",
    **dict.fromkeys(("enhancement", "feature", "improvement"), "feature"),
    **dict.fromkeys(("tech debt", "technical debt", "refactor"), "tech_debt"),
    **dict.fromkeys(("research", "spike"), "research"),
}
# Linear's priorities (0 none, 1 urgent .. 4 low) by number and by the name its CSV export writes.
LINEAR_PRIORITIES: dict[str, str | None] = {
    "0": None, "1": "Highest", "2": "High", "3": "Medium", "4": "Low",
    "no priority": None, "urgent": "Highest", "high": "High", "medium": "Medium", "low": "Low",
}  # fmt: skip

_PRIORITY_LABEL_RE = re.compile(
    r"^(?:priority\s*[:/=-]?\s*)?p([0-4])$|^priority\s*[:/=-]?\s*(highest|high|medium|low|lowest)$"
)
_ISSUE_PATH_RE = re.compile(r"(?:^|/repos)/([^/]+)/([^/]+)/(?:issues|pulls?)/(\d+)/?$")  # html_url or API url
_REPO_PATH_RE = re.compile(r"/repos/([^/]+)/([^/]+)/?$")  # repository_url
_ISSUE_REF_RE = re.compile(r"^\s*[-*]\s+\[[ xX]\]\s+(?:([\w.-]+/[\w.-]+))?#(\d+)\b", re.M)  # "- [ ] #12"
_CHILD_STORIES_RE = re.compile(r"^\*\*Child stories\*\*\s*\n((?:- \[[ xX]\] .+\n?)+)", re.M)  # our exporter
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number"}
# Workflow states, by `_norm`, that mean an issue is finished: Jira's Done category and common resolutions, Linear's
# completed and cancelled states. Such issues are imported as `closed`: history, not work.
CLOSED_STATES = frozenset(
    ("done", "closed", "resolved", "complete", "completed", "cancelled", "canceled", "won't do", "wont do",
     "won't fix", "wont fix", "rejected", "duplicate", "released", "shipped")
)  # fmt: skip


# Jira's links of type Blocks, by `_norm`: on issue X, an inward link to K means "X is blocked by K" (X waits for K),
# an outward one "X blocks K". Jira Cloud's CSV export repeats each column, one linked key per cell.
JIRA_BLOCKED_BY, JIRA_BLOCKS = "inward issue link (blocks)", "outward issue link (blocks)"


class ImportFormatError(ValueError):
    """The file cannot be read as the named format; the message says what to fix."""


@dataclass
class ParsedImport:
    """The items read from a file and what was skipped or trimmed (e.g. "row 7: no Summary; skipped")."""

    items: list[BacklogItemCreate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    blocks: list[tuple[BacklogItemCreate, str, list[str]]] = field(default_factory=list)
    """(item, where, the keys of the items it blocks): links given from the blocker's side, read by `_blocked_by`."""


def parse_import(data: bytes, format: str, points_field: str = STORY_POINTS_FIELD) -> ParsedImport:
    """Items from a `format` export (one of IMPORT_FORMATS); ImportFormatError if the file cannot be read as it.
    `points_field`: the Jira site's story points field, for jira_json."""
    parsers: dict[str, Callable[[str], ParsedImport]] = {
        "jira_csv": _parse_jira_csv,
        "jira_json": lambda text: _parse_jira_json(text, points_field),
        "github_json": _parse_github_json,
        "linear_csv": _parse_linear_csv,
        "linear_json": _parse_linear_json,
    }
    if format not in parsers:
        raise ImportFormatError(f"unknown import format {format!r}; valid formats: {', '.join(IMPORT_FORMATS)}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFormatError(
            f"the file is not UTF-8 text (byte {data[error.start]:#04x} at offset {error.start}); "
            "export or save it as UTF-8 and upload it again"
        ) from error
    result = parsers[format](text)
    _blocked_by(result)
    return result


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


def _add(result: ParsedImport, where: str, source: str, fields: dict[str, Any]) -> BacklogItemCreate | None:
    """Append BacklogItemCreate(**fields), cutting over-long text; no external_id means a content hash."""
    for name, limit in (("title", MAX_TITLE), ("description", MAX_DESCRIPTION), ("priority", MAX_PRIORITY)):
        if fields[name] and len(fields[name]) > limit:
            result.problems.append(f"{where}: {name} cut to {limit} characters (was {len(fields[name])})")
            fields[name] = fields[name][:limit]
    if not fields["external_id"]:
        content = f"{fields['title']}\n{fields['description']}".encode()
        fields["external_id"] = f"{source}:sha1:{hashlib.sha1(content, usedforsecurity=False).hexdigest()[:12]}"
    try:
        item = BacklogItemCreate(**fields)
    except ValidationError as error:
        result.problems.append(f"{where}: {error.errors()[0]['msg']}; skipped")
        return None
    result.items.append(item)
    return item


def _remarks(raw: Any, where: str, problems: list[str], read: Callable[[dict[str, Any]], dict[str, Any]]) -> list[Any]:
    """An issue's comments in its tracker (`raw`: a list of the tracker's comment objects, each read by `read` into
    id, author, text, at), as `comments` takes them; a long one cut, one without an id or text left out, said."""
    kept = []
    for node in raw if isinstance(raw, list) else []:
        fields = read(node) if isinstance(node, dict) else {}
        text = fields.get("text") if isinstance(fields.get("text"), str) else ""
        if len(text) > MAX_COMMENT:
            problems.append(
                f"{where}: comment {fields.get('id')} cut to {MAX_COMMENT:,} characters (was {len(text):,})"
            )
            fields["text"] = text[:MAX_COMMENT]
        try:
            kept.append(TrackerComment.model_validate({**fields, "id": str(fields.get("id") or "")}).model_dump())
        except ValidationError as error:
            problems.append(f"{where}: a comment ({error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}) left out")
    return kept


def _title(value: Any, where: str, name: str, problems: list[str]) -> str:
    """The record's title with its whitespace collapsed; "" (the record is skipped, and said so) when it has none."""
    title = " ".join(value.split()) if isinstance(value, str) else ""
    if not title:
        problems.append(f"{where}: no {name}; skipped")
    return title


def _type_from_labels(labels: list[str]) -> ItemType:
    """The item type a type label names ("bug", "enhancement", "spike"...), removing that label; the last one
    decides (our exporter appends it). No type label: a feature."""
    type_labels = [label for label in labels if _norm(label) in TYPE_LABELS]
    if not type_labels:
        return "feature"
    labels.remove(type_labels[-1])
    return TYPE_LABELS[_norm(type_labels[-1])]


def _adopt(parent: BacklogItemCreate, children: Iterable[BacklogItemCreate | None]) -> None:
    """Link `children` found in the parent's own text (a task list of sub-issues) to it, unless they have a parent."""
    for child in children:
        if child is not None and child is not parent and child.parent is None:
            child.parent = parent.external_id


def _blocked_by(result: ParsedImport) -> None:
    """Turn each "X blocks K" into K waiting for X (`depends_on_keys`), K found in the file by its key; a K not in
    the file is said in `problems` (its own export carries the link from its side)."""
    by_key: dict[str, BacklogItemCreate] = {}
    for item in result.items:
        if item.external_id:
            by_key.setdefault(item.external_id, item)
            by_key.setdefault(item.external_id.split(":", 1)[-1], item)
    for blocker, where, keys in result.blocks:
        for key in keys:
            waiting = by_key.get(key)
            if waiting is None:
                result.problems.append(
                    f"{where}: blocks {key}, which no issue of the file has as its key; that link is left out"
                )
            elif waiting is not blocker and blocker.external_id not in waiting.depends_on_keys:
                waiting.depends_on_keys.append(blocker.external_id or "")


# --- Jira CSV ---------------------------------------------------------------------------------------------------


Cells = Callable[[str], list[str]]  # the non-empty cells of a column, by normalised column name


def _parse_csv(text: str, title: str, tool: str, read_row: Callable[[Cells, str, ParsedImport], None]) -> ParsedImport:
    """Rows of a CSV export with a `title` column, numbered as a spreadsheet shows them, each read by `read_row`.
    A cell's leading quote before `=`, `+`, `-`, `@`, a tab or a CR is the spreadsheet-safety marker our exporter
    (and other OWASP-minded tools) add: it is taken off, so "'=SUM(1)" imports as "=SUM(1)"."""
    rows = csv.reader(io.StringIO(text, newline=""))
    result = ParsedImport()
    try:
        header = next(rows, None)
        if header is None:
            raise ImportFormatError(f"the file is empty; expected a CSV header row with a {title} column")
        columns: dict[str, list[int]] = {}
        for index, name in enumerate(header):
            columns.setdefault(_norm(name), []).append(index)
        if _norm(title) not in columns:
            found = ", ".join(repr(name) for name in header if name.strip()) or "none"
            raise ImportFormatError(
                f"no {title} column (found: {found}); a {tool} CSV export's header row names a {title} column"
            )
        for number, row in enumerate(rows, start=2):
            if any(cell.strip() for cell in row):

                def cells(name: str, row: list[str] = row) -> list[str]:
                    found = (restore_cell(row[i]).strip() for i in columns.get(name, []) if i < len(row))
                    return [cell for cell in found if cell]

                read_row(cells, f"row {number}", result)
    except csv.Error as error:
        raise ImportFormatError(f"unreadable CSV at line {rows.line_num}: {error}") from error
    return result


def _first(cells: Cells, *names: str) -> str:
    """The first non-empty cell among the columns `names`, in that order."""
    return next((cell for name in names for cell in cells(name)), "")


def _parse_jira_csv(text: str) -> ParsedImport:
    """Jira Cloud "Export CSV (all fields)" or our jira_csv export. A Parent or issue link may name the other row's
    Issue id (a number, as both write it when that row is in the file) instead of its key. Rows with a Rank (Jira's
    backlog order, LexoRank strings that sort as text) come in that order, whatever the file's sort, so new items
    take the backlog's order; rows without one follow, in file order."""
    ids: dict[str, str] = {}  # a row's Issue id -> its external id
    ranks: dict[int, str] = {}  # id(item) -> its Rank

    def row(cells: Cells, where: str, result: ParsedImport) -> None:
        if (item := _jira_row(cells, where, result)) is None:
            return
        if item.external_id and (issue_id := _first(cells, "issue id")):
            ids[issue_id] = item.external_id
        if rank := _first(cells, "rank", "custom field (rank)"):
            ranks[id(item)] = rank

    result = _parse_csv(text, "Summary", "Jira", row)
    result.items.sort(key=lambda item: (id(item) not in ranks, ranks.get(id(item), "")))  # stable
    for item in result.items:  # links to a row by its Issue id: to that row's external id
        item.parent = ids.get(item.parent or "", item.parent)
        item.depends_on_keys = [ids.get(key.removeprefix("jira:"), key) for key in item.depends_on_keys]
    result.blocks = [(item, where, [ids.get(key, key) for key in keys]) for item, where, keys in result.blocks]
    return result


def _jira_row(cells: Cells, where: str, result: ParsedImport) -> BacklogItemCreate | None:
    title = _title(_first(cells, "summary"), where, "Summary", result.problems)
    if not title:
        return None
    # Jira Cloud repeats the Labels column (one label each); our exporter writes one space-separated column.
    labels = _labels((label for cell in cells("labels") for label in re.split(r"[\s,]+", cell)), where, result.problems)
    issue_type = _norm(_first(cells, "issue type"))
    item_type = JIRA_TYPES.get(issue_type, "feature")
    if issue_type == "task" and {"research", "spike"} & set(labels):
        item_type = "research"  # our exporter writes research items as Tasks; their label tells them apart
    key = _first(cells, "issue key")
    resolution = _norm(_first(cells, "resolution"))
    closed = _norm(_first(cells, "status category")) == "done" or _norm(_first(cells, "status")) in CLOSED_STATES
    item = _add(result, where, "jira", {
        "title": title, "description": _first(cells, "description"), "item_type": item_type, "labels": labels,
        "priority": _first(cells, "priority") or None, "external_id": key and f"jira:{key}",
        "story_points": _points(_first(cells, "story points", "custom field (story points)"), where, result.problems),
        "parent": _first(cells, "parent key", "parent", "parent id") or None,
        "closed": closed or resolution not in ("", "unresolved"),
        "depends_on_keys": [f"jira:{key}" for key in cells(JIRA_BLOCKED_BY)],
    })  # fmt: skip
    if item is not None and (blocked := cells(JIRA_BLOCKS)):
        result.blocks.append((item, where, blocked))
    return item


def _parse_jira_json(text: str, points_field: str) -> ParsedImport:
    """Jira Cloud REST v3 issues: a search's answer (`{"issues": [...]}`), an array, or one issue (`{key, fields}`);
    also our jira_json export. The description is Atlassian Document Format, read back as Markdown."""
    result = ParsedImport()
    unwrap = lambda data: data["issues"] if isinstance(data, dict) and isinstance(data.get("issues"), list) else data  # noqa: E731
    for index, record in enumerate(_json_records(text, "issues", unwrap), 1):
        _jira_issue(
            record, f"issue {index}" + (f" ({record['key']})" if record.get("key") else ""), result, points_field
        )
    return result


def _jira_issue(record: dict[str, Any], where: str, result: ParsedImport, points_field: str) -> None:
    fields = record.get("fields") if isinstance(record.get("fields"), dict) else {}
    title = _title(fields.get("summary"), where, "summary", result.problems)
    if not title:
        return
    named = lambda name: str((fields.get(name) or {}).get("name") or "") if isinstance(fields.get(name), dict) else ""  # noqa: E731
    labels = _labels((label for label in fields.get("labels") or [] if isinstance(label, str)), where, result.problems)
    issue_type = _norm(named("issuetype"))
    item_type = JIRA_TYPES.get(issue_type, "feature")
    if issue_type == "task" and {"research", "spike"} & set(labels):
        item_type = "research"
    description = fields.get("description")
    status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
    category = status.get("statusCategory") if isinstance(status.get("statusCategory"), dict) else {}
    parent = fields.get("parent") if isinstance(fields.get("parent"), dict) else {}
    links = [link for link in fields.get("issuelinks") or [] if isinstance(link, dict) and _is_blocks(link)]
    key = record.get("key") if isinstance(record.get("key"), str) else None
    points = fields.get(points_field)
    thread = fields.get("comment") if isinstance(fields.get("comment"), dict) else {}
    item = _add(result, where, "jira", {
        "title": title, "item_type": item_type, "labels": labels, "priority": named("priority") or None,
        "description": adf_text(description) if isinstance(description, dict) else str(description or "").strip(),
        "external_id": key and f"jira:{key}",
        "story_points": _points("" if points is None else str(points), where, result.problems),
        "parent": parent.get("key") if isinstance(parent.get("key"), str) else None,
        "closed": category.get("key") == "done" or bool(fields.get("resolution")),
        "depends_on_keys": list(jira_blocked_by(links)),
        "comments": _remarks(thread.get("comments"), where, result.problems, _jira_comment) if key else [],
        "comments_whole": isinstance(thread.get("comments"), list)
        and len(thread["comments"]) >= int(thread.get("total") or 0),
    })  # fmt: skip
    if item is not None and (
        blocked := [link["outwardIssue"]["key"] for link in links if _linked(link, "outwardIssue")]
    ):
        result.blocks.append((item, where, blocked))


def _jira_comment(node: dict[str, Any]) -> dict[str, Any]:
    """A Jira comment: its body ADF (Cloud, REST v3) or text (Data Center), its author's display name."""
    body, author = node.get("body"), node.get("author") if isinstance(node.get("author"), dict) else {}
    text = adf_text(body) if isinstance(body, dict) else str(body or "").strip()
    return {"id": node.get("id"), "author": author.get("displayName"), "text": text, "at": node.get("created")}


def jira_blocked_by(links: Iterable[Any]) -> dict[str, str]:
    """The issues an issue's own links say it is blocked by, as imports name them (`jira:SHOP-3`), each with its
    link's id: the Blocks links that name an `inwardIssue`."""
    return {
        f"jira:{link['inwardIssue']['key']}": str(link.get("id") or "")
        for link in links
        if isinstance(link, dict) and _is_blocks(link) and _linked(link, "inwardIssue")
    }


def _is_blocks(link: dict[str, Any]) -> bool:
    return isinstance(link.get("type"), dict) and _norm(str(link["type"].get("name") or "")) == "blocks"


def _linked(link: dict[str, Any], side: str) -> bool:
    """Whether the link names an issue on `side`: on an issue's own links, `inwardIssue` is the issue it is blocked by
    and `outwardIssue` one it blocks."""
    return isinstance(link.get(side), dict) and isinstance(link[side].get("key"), str)


def adf_text(doc: dict[str, Any]) -> str:
    """An Atlassian Document Format document as Markdown: paragraphs, headings as bold lines (as `exporters` writes
    its sections), task lists as "- [ ]" lines, bullet and numbered lists, code blocks; marks are dropped."""
    text = ""
    for node in doc.get("content") or []:
        if block := _adf_block(node):
            text += ("\n" if text.endswith("**") else "\n\n" if text else "") + block  # a section's lines follow it
    return text.strip()


def _adf_block(node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    kind, content = node.get("type"), node.get("content") or []
    if kind == "heading":
        return f"**{_adf_inline_text(content)}**"
    if kind in ("bulletList", "orderedList", "taskList"):
        lines = []
        for n, entry in enumerate(content, 1):
            if not isinstance(entry, dict):
                continue
            if kind == "taskList":
                done = (entry.get("attrs") or {}).get("state") == "DONE"
                lines.append(f"- [{'x' if done else ' '}] {_adf_inline_text(entry.get('content') or [])}")
            else:
                text = " ".join(_adf_block(child) for child in entry.get("content") or [])
                lines.append(f"{f'{n}.' if kind == 'orderedList' else '-'} {text}")
        return "\n".join(lines)
    if kind == "codeBlock":
        return f"```\n{_adf_inline_text(content)}\n```"
    if kind in ("blockquote", "panel", "expand"):
        return "\n\n".join(block for child in content if (block := _adf_block(child)))
    return _adf_inline_text(content)


def _adf_inline_text(nodes: list[Any]) -> str:
    parts = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        if node.get("type") == "hardBreak":
            parts.append("\n")
        elif node.get("type") == "text":
            parts.append(str(node.get("text") or ""))
        elif node.get("type") in ("mention", "emoji", "status", "date", "inlineCard"):
            attrs = node.get("attrs") or {}
            parts.append(str(attrs.get("text") or attrs.get("shortName") or attrs.get("url") or ""))
        elif node.get("content"):
            parts.append(_adf_block(node))
    return "".join(parts).strip()


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


def _json_records(text: str, what: str, unwrap: Callable[[Any], Any] = lambda data: data) -> list[dict[str, Any]]:
    """The objects of a JSON array (or one object) of `what`, or ImportFormatError saying what is wrong."""
    try:
        data = unwrap(jsontext.loads(text))
    except json.JSONDecodeError as error:
        raise ImportFormatError(f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from error
    records = [data] if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise ImportFormatError(f"expected a JSON array of {what} or one object, got {_json_type(data)}")
    for index, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise ImportFormatError(f"item {index} of the array is {_json_type(record)}; expected an issue object")
    return records


def _parse_github_json(text: str) -> ParsedImport:
    """GitHub REST issues (array or one object) or our github_json export; pull requests are skipped. A parent is
    read from `parent_issue_url` (sub-issues) or from a parent's task list: "- [ ] #12", or the "Child stories"
    titles our exporter writes (only where the issue has no `sub_issues_summary`: GitHub's API gives one with
    sub-issues, which say the parent then)."""
    result, records = ParsedImport(), _json_records(text, "issues")
    added = [_github_issue(record, index, result) for index, record in enumerate(records, 1)]
    by_id = {item.external_id: item for item, _ in added if item}
    by_title = {item.title: item for item, _ in added if item}
    from_api = {github_key(record) for record in records if "sub_issues_summary" in record}  # sub-issues: the parents
    for item, repo in added:
        if item:
            refs = _ISSUE_REF_RE.findall(item.description)
            _adopt(item, (by_id.get(f"github:{other or repo or ''}#{number}") for other, number in refs))
            if item.external_id not in from_api:
                for block in _CHILD_STORIES_RE.findall(item.description):
                    _adopt(item, (by_title.get(line[6:].strip()) for line in block.splitlines()))
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


def github_key(record: dict[str, Any]) -> str | None:
    """An issue as imports name it, `github:owner/repo#12`, or None without its number."""
    repo, number = _github_ref(record)
    return f"github:{repo or ''}#{number}" if number is not None else None


def _github_issue(record: dict[str, Any], index: int, result: ParsedImport) -> tuple[BacklogItemCreate | None, str]:
    repo, number = _github_ref(record)
    where = f"item {index}" + (f" (#{number})" if number is not None else "")
    if record.get("pull_request") or "/pull/" in str(record.get("html_url") or ""):
        result.problems.append(f"{where}: pull request; skipped")
        return None, ""
    title = _title(record.get("title"), where, "title", result.problems)
    if not title:
        return None, ""
    raw_labels = record.get("labels") if isinstance(record.get("labels"), list) else []
    names = (label.get("name") if isinstance(label, dict) else label for label in raw_labels)
    labels = _labels((name for name in names if isinstance(name, str)), where, result.problems)
    item_type = _type_from_labels(labels)
    matches = (_PRIORITY_LABEL_RE.match(label) for label in labels)  # P0 is the first (highest) level
    priority = next((PRIORITY_LEVELS[int(m[1])] if m[1] else m[2].capitalize() for m in matches if m), None)
    body = record.get("body")
    parent_url = record.get("parent_issue_url")
    parent = _ISSUE_PATH_RE.search(urlparse(parent_url).path) if isinstance(parent_url, str) else None
    blockers = record.get("blocked_by") if isinstance(record.get("blocked_by"), list) else []  # added by a pull
    item = _add(result, where, "github", {
        "title": title, "description": body.strip() if isinstance(body, str) else "", "labels": labels,
        "item_type": item_type, "priority": priority, "external_id": github_key(record),
        "parent": parent and f"github:{parent[1]}/{parent[2]}#{parent[3]}",
        "closed": str(record.get("state") or "").lower() == "closed",
        "depends_on_keys": [key for issue in blockers if isinstance(issue, dict) and (key := github_key(issue))],
        "comments": _remarks(record.get("refinery_comments"), where, result.problems, _github_comment)
        if github_key(record) else [],
        "comments_whole": record.get("comments") == 0  # none there, or all a pull read (not only those changed)
        or (isinstance(record.get("refinery_comments"), list) and not record.get("refinery_comments_partial")),
    })  # fmt: skip
    return item, repo or ""


def _github_comment(node: dict[str, Any]) -> dict[str, Any]:
    """A GitHub issue comment (`GET .../issues/{n}/comments`), which a pull adds to its issue as `refinery_comments`."""
    user = node.get("user") if isinstance(node.get("user"), dict) else {}
    return {"id": node.get("id"), "author": user.get("login"), "text": str(node.get("body") or "").strip(),
            "at": node.get("created_at")}  # fmt: skip


# --- Linear (CSV export, GraphQL issues JSON, our linear_json export) -----------------------------------------------


def _parse_linear_csv(text: str) -> ParsedImport:
    """Linear's "Export CSV" (ID, Title, Description, Priority, Estimate, Labels, Parent issue columns)."""
    return _parse_csv(text, "Title", "Linear", _linear_row)


def _linear_row(cells: Cells, where: str, result: ParsedImport) -> None:
    title = _title(_first(cells, "title"), where, "Title", result.problems)
    if not title:
        return
    labels = _labels((label for cell in cells("labels") for label in cell.split(",")), where, result.problems)
    key = _first(cells, "id", "identifier")
    _add(result, where, "linear", {
        "title": title, "description": _first(cells, "description"), "item_type": _type_from_labels(labels),
        "labels": labels, "priority": LINEAR_PRIORITIES.get(_norm(_first(cells, "priority"))),
        "external_id": key and f"linear:{key}",
        "story_points": _points(_first(cells, "estimate", "story points"), where, result.problems),
        "parent": _first(cells, "parent issue", "parent id", "parent") or None,
        "closed": _norm(_first(cells, "status")) in CLOSED_STATES or bool(_first(cells, "completed", "canceled")),
    })  # fmt: skip


def _parse_linear_json(text: str) -> ParsedImport:
    """Linear issues from its GraphQL API (`{"data": {"issues": {"nodes": [...]}}}`, a `nodes` list or an array)
    or our linear_json export: title, description, identifier or id, priority (0-4), estimate, labels (`labelNames`
    or `labels.nodes`), parent (`parentId` or `parent {id identifier}`), state (`state {type name}` or `stateName`)."""
    result = ParsedImport()
    uuids: dict[str, str] = {}  # a record's Linear id -> its external id, to resolve parents given by id
    for index, record in enumerate(_json_records(text, "Linear issues", _graphql_nodes), start=1):
        item = _linear_issue(record, f"item {index}", result)
        if item and isinstance(record.get("id"), str):
            uuids[f"linear:{record['id']}"] = item.external_id or ""
    for item in result.items:
        if item.parent in uuids:
            item.parent = uuids[item.parent]
    return result


def _graphql_nodes(data: Any) -> Any:
    """The issue list inside a GraphQL answer (`{"data": {"issues": {"nodes": [...]}}}`), else `data`."""
    for key, kind in (("data", dict), ("issues", dict), ("nodes", list)):
        if isinstance(data, dict) and isinstance(data.get(key), kind):
            data = data[key]
    return data


def _linear_issue(record: dict[str, Any], where: str, result: ParsedImport) -> BacklogItemCreate | None:
    title = _title(record.get("title"), where, "title", result.problems)
    if not title:
        return None
    raw = record.get("labelNames") or (record.get("labels") or {})
    raw = raw.get("nodes", []) if isinstance(raw, dict) else raw
    names = (label.get("name") if isinstance(label, dict) else label for label in raw if raw)
    labels = _labels((name for name in names if isinstance(name, str)), where, result.problems)
    key = next((record[k] for k in ("identifier", "id") if isinstance(record.get(k), str) and record[k]), None)
    parent = record.get("parent") if isinstance(record.get("parent"), dict) else {}
    parent_key = parent.get("identifier") or parent.get("id") or record.get("parentId")
    estimate = record.get("estimate")
    description = record.get("description")
    state = record.get("state") if isinstance(record.get("state"), dict) else {}
    states = (state.get("type"), state.get("name"), record.get("stateName"))  # stateName: our linear_json export
    closed = any(_norm(str(name or "")) in CLOSED_STATES for name in states)
    item = _add(result, where, "linear", {
        "title": title, "description": description.strip() if isinstance(description, str) else "",
        "item_type": _type_from_labels(labels), "labels": labels,
        "priority": LINEAR_PRIORITIES.get(str(record.get("priority"))), "external_id": key and f"linear:{key}",
        "story_points": _points("" if estimate is None else str(estimate), where, result.problems),
        "parent": f"linear:{parent_key}" if isinstance(parent_key, str) and parent_key else None,
        "closed": closed or bool(record.get("completedAt") or record.get("canceledAt")),
        "depends_on_keys": _linear_blocks(record, "inverseRelations", "issue"),
        "comments": _remarks(_graphql_nodes(record.get("comments")), where, result.problems, _linear_comment)
        if key else [],
        "comments_whole": isinstance(thread := record.get("comments"), dict) and isinstance(thread.get("nodes"), list)
        and not (thread.get("pageInfo") or {}).get("hasNextPage"),
    })  # fmt: skip
    if item is not None and (blocked := _linear_blocks(record, "relations", "relatedIssue")):
        result.blocks.append((item, where, blocked))
    return item


def _linear_comment(node: dict[str, Any]) -> dict[str, Any]:
    """A Linear comment (`comments { nodes { id body createdAt user { name } } }`): its body Markdown."""
    user = node.get("user") if isinstance(node.get("user"), dict) else {}
    return {"id": node.get("id"), "author": user.get("name"), "text": str(node.get("body") or "").strip(),
            "at": node.get("createdAt")}  # fmt: skip


def _linear_blocks(record: dict[str, Any], connection: str, side: str) -> list[str]:
    """The `linear:KEY`s of the `blocks` relations in `connection` (GraphQL `relations` or `inverseRelations`
    nodes), each the issue on `side`: `relations` of X name the issues X blocks (`relatedIssue`), `inverseRelations`
    the issues that block X (`issue`)."""
    nodes = record.get(connection)
    nodes = nodes.get("nodes") if isinstance(nodes, dict) else nodes
    keys = []
    for node in nodes if isinstance(nodes, list) else []:
        other = node.get(side) if isinstance(node, dict) and node.get("type") == "blocks" else None
        key = other and (other.get("identifier") or other.get("id")) if isinstance(other, dict) else None
        if isinstance(key, str) and key:
            keys.append(f"linear:{key}")
    return keys
