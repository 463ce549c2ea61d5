"""Export accepted backlog items to the formats teams import into Jira, Linear and GitHub.

Pure functions: no database, no HTTP. Each exporter takes a list of `ExportItem` and returns either a
string (CSV, Markdown) or JSON-ready dicts; `export()` picks one by name and returns (content, media_type).

Acceptance criteria come from `ExportItem.story` when present, otherwise they are parsed from the
description's checklist lines as written by `pipelines.models.story_markdown`
("- [ ] Given ..., when ..., then ...").

The text exports (Jira CSV, Markdown) are safe to open in a spreadsheet: no cell or line starts as a formula
(`service.backlog.spreadsheet`). The JSON exports are data for an API (Jira, Linear, GitHub), not opened by
spreadsheets, so their strings are left exactly as the items have them.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import BaseModel

from service.backlog.spreadsheet import neutralise_cell, neutralise_markdown

ExportFormat = Literal["jira_csv", "jira_json", "linear_json", "github_json", "markdown"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)

MEDIA_TYPES: dict[str, str] = {
    "jira_csv": "text/csv",
    "jira_json": "application/json",
    "linear_json": "application/json",
    "github_json": "application/json",
    "markdown": "text/markdown",
}

# Jira's story points field is a custom field whose id differs per Jira site (10016 is the usual Cloud default for
# "Story point estimate"; classic projects often use another). Look it up via GET /rest/api/3/field and override.
STORY_POINTS_FIELD = "customfield_10016"

# "Spike" is not a default Jira issue type, so research items become Tasks (they carry a "research" label anyway).
JIRA_ISSUE_TYPES: dict[str, str] = {"feature": "Story", "bug": "Bug", "tech_debt": "Task", "research": "Task"}

# Linear priorities: 0 none, 1 urgent, 2 high, 3 medium, 4 low.
LINEAR_PRIORITIES: dict[str, int] = {"highest": 1, "high": 2, "medium": 3, "low": 4, "lowest": 4}

# Linear's default completed state; the caller resolves `stateName` to the team's `stateId`, as it does labels.
LINEAR_DONE_STATE = "Done"

# GitHub's default label set names features "enhancement"; the others follow common conventions.
GITHUB_TYPE_LABELS: dict[str, str] = {
    "feature": "enhancement",
    "bug": "bug",
    "tech_debt": "tech-debt",
    "research": "research",
}

# Linear's default workspace labels name the types "Feature", "Bug" and "Improvement".
LINEAR_TYPE_LABELS: dict[str, str] = {
    "feature": "Feature",
    "bug": "Bug",
    "tech_debt": "tech-debt",
    "research": "research",
}

# Issue key: the Jira issue an item came from, if any; Issue ID: a number for the row (the item's id), which a child's
# Parent names when its parent is in the file too, as Jira's CSV importer links them (parents come first).
JIRA_CSV_HEADER = (
    "Issue key", "Issue ID", "Summary", "Issue Type", "Description", "Priority", "Labels", "Story Points", "Parent",
    "Status",
)  # fmt: skip
_JIRA_KEY_RE = re.compile(r"(?:jira:)?([A-Z][A-Z0-9_]*-\d+)")
# One column per item an item blocks, repeated as Jira's own export does. Outward, because Jira's CSV importer reads a
# link column from the row's own issue ("X blocks K"); `importers` reads these back, and the inward ones too.
JIRA_BLOCKS_COLUMN = "Outward issue link (Blocks)"

Criterion = tuple[str, str, str]


class ExportItem(BaseModel):
    """An accepted backlog item, ready to export."""

    id: int
    title: str
    description: str  # Markdown; may contain a "**Acceptance criteria**" checklist of Given/When/Then lines
    item_type: str  # feature | bug | tech_debt | research
    labels: list[str] = []
    priority: str | None = None  # Jira-style: Highest | High | Medium | Low | Lowest, or None
    story_points: int | None = None
    parent: str | None = None  # an external parent key, e.g. "SHOP-12"
    parent_id: int | None = None  # the parent's `id`, when the parent is exported too
    uid: str = ""  # stable across exports and databases: the external id, or one minted at creation
    children: list[str] = []  # the titles of the stories a split made of this one
    depends_on: list[str] = []  # the keys of the items it waits for, as `parent` names its parent
    blocks: list[str] = []  # the keys of the items waiting for it
    blocks_ids: list[int] = []  # their `id`s, in the same order (a Jira CSV names one in the file by its Issue ID)
    story: dict | None = None  # persona, goal, benefit, acceptance_criteria, assumptions, open_questions
    closed: bool = False  # done or cancelled in its tracker
    comments: list[tuple[str, str, str]] = []  # its thread, oldest first: (author, day, text); a Markdown export's


_CRITERION_RE = re.compile(
    r"^\s*[-*+]\s+\[[ xX]\]\s+given\s+(?P<given>.+?),?\s+when\s+(?P<when>.+?),?\s+then\s+(?P<then>.+?)\s*$",
    re.IGNORECASE,
)
_SECTION_RE = re.compile(r"^\s*\*\*(?P<name>[^*]+?):?\*\*:?\s*$")
_BULLET_RE = re.compile(r"^\s*[-*+]\s+(?:\[[ xX]\]\s+)?(?P<text>.+?)\s*$")
_KNOWN_SECTIONS = {"acceptance criteria": "criteria", "assumptions": "assumptions", "open questions": "open_questions"}


@dataclass
class _Parts:
    """An item's description split into its statement, criteria, assumptions and open questions."""

    paragraphs: list[str] = field(default_factory=list)
    criteria: list[Criterion] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    open_questions: list[str] = field(default_factory=list)


def _criterion_from_line(line: str) -> Criterion | None:
    """A (given, when, then) triple from one checklist line, or None if the line is not one."""
    match = _CRITERION_RE.match(line)
    if not match:
        return None
    return match["given"].strip(), match["when"].strip(), match["then"].strip().rstrip(".")


def _parse_description(description: str) -> _Parts:
    """Split a story_markdown-style description into paragraphs and known sections."""
    parts = _Parts()
    section: str | None = None
    body: list[str] = []
    for line in description.splitlines():
        heading = _SECTION_RE.match(line)
        if heading and heading["name"].strip().lower() in _KNOWN_SECTIONS:
            section = _KNOWN_SECTIONS[heading["name"].strip().lower()]
            continue
        criterion = _criterion_from_line(line)
        if criterion:
            parts.criteria.append(criterion)
            continue
        bullet = _BULLET_RE.match(line)
        if section in ("assumptions", "open_questions") and bullet:
            getattr(parts, section).append(bullet["text"])
            continue
        if section is not None and not line.strip():
            continue
        section = None if line.strip() else section
        body.append(line)
    parts.paragraphs = [p.strip() for p in re.split(r"\n\s*\n", "\n".join(body)) if p.strip()]
    return parts


def _story_criteria(story: dict) -> list[Criterion]:
    """Criteria from a structured story's acceptance_criteria list (entries with all fields empty are skipped)."""
    result: list[Criterion] = []
    for entry in story.get("acceptance_criteria") or []:
        given, when, then = (str(entry.get(key) or "").strip() for key in ("given", "when", "then"))
        if given or when or then:
            result.append((given, when, then))
    return result


def _parts(item: ExportItem) -> _Parts:
    """The item's content, preferring the structured story over the Markdown description."""
    parsed = _parse_description(item.description)
    story = item.story
    if not story:
        return parsed
    persona, goal, benefit = (str(story.get(key) or "").strip() for key in ("persona", "goal", "benefit"))
    paragraphs = [f"As a {persona}, I want {goal}, so that {benefit}."] if persona and goal and benefit else []
    return _Parts(
        paragraphs=paragraphs or parsed.paragraphs,
        criteria=_story_criteria(story),
        assumptions=[str(a).strip() for a in story.get("assumptions") or [] if str(a).strip()],
        open_questions=[str(q).strip() for q in story.get("open_questions") or [] if str(q).strip()],
    )


def acceptance_criteria(item: ExportItem) -> list[Criterion]:
    """The item's (given, when, then) criteria: from `item.story` when present, else from the description."""
    if item.story:
        return _story_criteria(item.story)
    return _parse_description(item.description).criteria


def _criterion_text(criterion: Criterion) -> str:
    given, when, then = criterion
    return f"Given {given}, when {when}, then {then}"


def _clean_label(label: str) -> str:
    """A label without whitespace (Jira labels cannot contain spaces)."""
    return re.sub(r"\s+", "-", label.strip())


def _jira_labels(item: ExportItem) -> list[str]:
    return list(dict.fromkeys(clean for label in item.labels if (clean := _clean_label(label))))


def _jira_issue_type(item: ExportItem) -> str:
    """An item with children is their Epic (in Jira only an epic can be a story's, task's or bug's parent)."""
    return "Epic" if item.children else JIRA_ISSUE_TYPES.get(item.item_type.strip().lower(), "Task")


def parents_first(items: Sequence[ExportItem]) -> list[ExportItem]:
    """The items with each parent before its children (a tracker links a child only to an issue it already made),
    in their order within a level (the rank order)."""
    parents = {item.id: item.parent_id for item in items if item.parent_id in {i.id for i in items}}

    def depth(item_id: int) -> int:
        seen = {item_id}
        while (item_id := parents.get(item_id, item_id)) not in seen:
            seen.add(item_id)
        return len(seen) - 1

    return sorted(items, key=lambda item: depth(item.id))  # stable


def _one_line(text: str) -> str:
    """Text with whitespace runs (newlines included) collapsed, for titles and summaries."""
    return " ".join(text.split())


# --- Jira CSV ---------------------------------------------------------------------------------------------------


def _text_body(item: ExportItem, bold: str, bullet: str) -> str:
    """The description as text with a '<bullet> [ ] Given ...' checklist; headings wrapped in `bold`."""
    parts = _parts(item)
    blocks = list(parts.paragraphs)
    if parts.criteria:
        checklist = [f"{bullet} [ ] {_criterion_text(c)}" for c in parts.criteria]
        blocks.append("\n".join([f"{bold}Acceptance criteria{bold}", *checklist]))
    for heading, entries in (("Assumptions", parts.assumptions), ("Open questions", parts.open_questions)):
        if entries:
            blocks.append("\n".join([f"{bold}{heading}{bold}", *(f"{bullet} {entry}" for entry in entries)]))
    return "\n\n".join(blocks)


def _jira_wiki_description(item: ExportItem) -> str:
    """The description as Jira wiki-style plain text with a '* [ ] Given ...' checklist."""
    return _text_body(item, "*", "*")


def jira_key(item: ExportItem) -> str:
    """The key of the Jira issue the item came from (SHOP-12), or "" for an item Jira has not seen."""
    found = _JIRA_KEY_RE.fullmatch(item.uid)
    return found[1] if found else ""


def to_jira_csv(items: Sequence[ExportItem]) -> str:
    """Jira CSV import file: one row per item, parents first; labels space-separated (Jira's CSV convention), spaces
    become "-". A child's Parent is its parent's Issue ID when the parent is in the file, else the parent's key. Text
    cells that would start a spreadsheet formula get a leading quote; story points stay numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    links = max((len(item.blocks) for item in items), default=0) or 1
    writer.writerow((*JIRA_CSV_HEADER, *[JIRA_BLOCKS_COLUMN] * links))
    exported = {item.id for item in items}
    for item in parents_first(items):
        parent = str(item.parent_id) if item.parent_id in exported else item.parent or ""
        text = [
            jira_key(item),
            str(item.id),
            _one_line(item.title),
            _jira_issue_type(item),
            _jira_wiki_description(item),
            item.priority or "",
            " ".join(_jira_labels(item)),
        ]
        points = "" if item.story_points is None else item.story_points
        status = "Done" if item.closed else ""  # empty: the project's first status, as Jira's importer does
        ids = item.blocks_ids or [None] * len(item.blocks)
        waiting = [str(i) if i in exported else key for key, i in zip(item.blocks, ids, strict=True)]
        blocks = [neutralise_cell(key) for key in waiting] + [""] * (links - len(waiting))
        writer.writerow([*map(neutralise_cell, text), points, neutralise_cell(parent), status, *blocks])
    return buffer.getvalue()


# --- Jira REST v3 (ADF) -----------------------------------------------------------------------------------------


def _adf_inline(text: str) -> list[dict[str, Any]]:
    """Text nodes for a block of text, with hardBreaks between lines (ADF text nodes must be non-empty)."""
    nodes: list[dict[str, Any]] = []
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        if nodes:
            nodes.append({"type": "hardBreak"})
        nodes.append({"type": "text", "text": line})
    return nodes


def _adf_heading(text: str) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": text}]}


def _adf_bullet_list(entries: list[str]) -> dict[str, Any]:
    return {
        "type": "bulletList",
        "content": [
            {"type": "listItem", "content": [{"type": "paragraph", "content": _adf_inline(entry)}]} for entry in entries
        ],
    }


def adf_document(text: str) -> dict[str, Any]:
    """Plain text as an ADF document: a paragraph per block of lines (a blank line between blocks)."""
    blocks = [inline for block in re.split(r"\n\s*\n", text) if (inline := _adf_inline(block))]
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": inline} for inline in blocks]}


def to_adf(item: ExportItem) -> dict[str, Any]:
    """The item's description as an Atlassian Document Format v1 document (Jira Cloud REST v3)."""
    parts = _parts(item)
    content: list[dict[str, Any]] = [
        {"type": "paragraph", "content": inline} for paragraph in parts.paragraphs if (inline := _adf_inline(paragraph))
    ]
    if parts.criteria:
        content.append(_adf_heading("Acceptance criteria"))
        content.append(
            {
                "type": "taskList",
                "attrs": {"localId": f"item-{item.id}-ac"},
                "content": [
                    {
                        "type": "taskItem",
                        "attrs": {"localId": f"item-{item.id}-ac-{n}", "state": "TODO"},
                        "content": _adf_inline(_criterion_text(criterion)),
                    }
                    for n, criterion in enumerate(parts.criteria, start=1)
                ],
            }
        )
    for heading, entries in (("Assumptions", parts.assumptions), ("Open questions", parts.open_questions)):
        if entries:
            content += [_adf_heading(heading), _adf_bullet_list(entries)]
    return {"type": "doc", "version": 1, "content": content}


def to_jira_json(items: Sequence[ExportItem], wiki: bool = False) -> list[dict[str, Any]]:
    """Jira REST v3 create-issue bodies (POST /rest/api/3/issue), or with `wiki` REST v2's (Jira Data Center: the
    description in wiki markup, as the CSV has it); the caller adds fields.project.

    Story points go in `STORY_POINTS_FIELD`, which differs per Jira site.
    """
    bodies = []
    for item in items:
        fields: dict[str, Any] = {
            "summary": _one_line(item.title),
            "issuetype": {"name": _jira_issue_type(item)},
            "description": _jira_wiki_description(item) if wiki else to_adf(item),
            "labels": _jira_labels(item),
        }
        if item.priority:
            fields["priority"] = {"name": item.priority}
        if item.story_points is not None:
            fields[STORY_POINTS_FIELD] = item.story_points
        if item.parent:
            fields["parent"] = {"key": item.parent}
        bodies.append({"fields": fields})
    return bodies


# --- Markdown (Linear, GitHub, document) ------------------------------------------------------------------------


def _markdown_body(item: ExportItem) -> str:
    """The description as Markdown with a '- [ ] Given ..., when ..., then ...' task list, and the child stories
    of a split epic as a task list."""
    body = _text_body(item, "**", "-")
    if item.children:
        body += "\n\n**Child stories**\n" + "\n".join(f"- [ ] {_one_line(title)}" for title in item.children)
    return body


def linear_priority(priority: str | None) -> int:
    """Linear's 0-4 priority for a Jira-style name; None or an unknown name gives 0 (no priority)."""
    return LINEAR_PRIORITIES.get((priority or "").strip().lower(), 0)


def linear_id(item: ExportItem) -> str:
    """The item's Linear issue id: its own when imported from Linear by id, else a UUID v4-format id derived from
    `uid`, so exporting again gives the same ids (Linear refuses to create an id twice: no duplicate issues)."""
    key = item.uid.removeprefix("linear:")
    with contextlib.suppress(ValueError):
        if item.uid.startswith("linear:") and uuid.UUID(key).version == 4:
            return key
    digest = bytearray(hashlib.sha256(f"refinery:{item.uid or item.id}".encode()).digest()[:16])
    return str(uuid.UUID(bytes=bytes(digest), version=4))


def to_linear_json(items: Sequence[ExportItem]) -> list[dict[str, Any]]:
    """Linear `IssueCreateInput`-shaped dicts, parents before their children, each with its `id` and the parent's
    as `parentId`, so creating them in order (mutation issueCreate) rebuilds the epic links.

    The caller must add `teamId` and resolve `labelNames` (the item's labels and its type's) to `labelIds`, and a
    closed item's `stateName` ("Done") to the team's `stateId`.
    """
    ids = {item.id: linear_id(item) for item in items}
    parents = {item.id: item.parent_id for item in items if item.parent_id in ids}
    issues = []
    for item in parents_first(items):
        issue: dict[str, Any] = {
            "id": ids[item.id],
            "title": _one_line(item.title),
            "description": _markdown_body(item),
            "priority": linear_priority(item.priority),
            "labelNames": list(dict.fromkeys([*item.labels, LINEAR_TYPE_LABELS.get(item.item_type, item.item_type)])),
        }
        if item.story_points is not None:
            issue["estimate"] = item.story_points
        if item.id in parents:
            issue["parentId"] = ids[parents[item.id]]
        if item.closed:
            issue["stateName"] = LINEAR_DONE_STATE
        issues.append(issue)
    return issues


def _github_type_label(item_type: str) -> str:
    key = item_type.strip().lower()
    return GITHUB_TYPE_LABELS.get(key, key.replace("_", "-"))


def to_github_json(items: Sequence[ExportItem]) -> list[dict[str, Any]]:
    """GitHub create-issue bodies (POST /repos/{owner}/{repo}/issues) with the item type added as a label.

    A closed item's body also has `state` "closed" and `state_reason` "completed": GitHub opens every issue it
    creates, so the caller closes it after (PATCH /repos/{owner}/{repo}/issues/{number} with those two fields).
    """
    bodies = []
    for item in items:
        body: dict[str, Any] = {
            "title": _one_line(item.title),
            "body": _markdown_body(item),
            "labels": list(dict.fromkeys([*item.labels, _github_type_label(item.item_type)])),
        }
        if item.closed:
            body |= {"state": "closed", "state_reason": "completed"}
        bodies.append(body)
    return bodies


def to_markdown(items: Sequence[ExportItem]) -> str:
    """A readable Markdown document: one '## <title>' section per item with its metadata, checklist and discussion
    (its comments); `*` bullets, and no line starts as a spreadsheet formula."""
    sections = ["# Backlog export"]
    for item in items:
        meta = [
            f"- **Type:** {item.item_type}",
            f"- **Priority:** {item.priority or '-'}",
            f"- **Story points:** {'-' if item.story_points is None else item.story_points}",
            f"- **Labels:** {', '.join(item.labels) if item.labels else '-'}",
        ]
        if item.parent:
            meta.append(f"- **Parent:** {item.parent}")
        if item.depends_on:
            meta.append(f"- **Depends on:** {', '.join(item.depends_on)}")
        if item.closed:
            meta.append("- **Status:** Done")
        body = _markdown_body(item)
        thread = "\n".join(
            f"* {_one_line(author)}, {day}: " + "\n  ".join(text.splitlines()) for author, day, text in item.comments
        )
        discussion = f"**Discussion**\n{thread}" if thread else ""
        sections.append("\n\n".join(filter(None, [f"## {_one_line(item.title)}", "\n".join(meta), body, discussion])))
    return neutralise_markdown("\n\n".join(sections)) + "\n"


# --- Dispatch ---------------------------------------------------------------------------------------------------


def _json(build: Callable[[Sequence[ExportItem]], list[dict[str, Any]]]) -> Callable[[Sequence[ExportItem]], str]:
    # JSON is data for an API, not a spreadsheet: its strings are not neutralised (a title "=x" stays "=x").
    return lambda items: json.dumps(build(items), indent=2, ensure_ascii=False)


_RENDERERS: dict[ExportFormat, Callable[[Sequence[ExportItem]], str]] = {
    "jira_csv": to_jira_csv,
    "jira_json": _json(to_jira_json),
    "linear_json": _json(to_linear_json),
    "github_json": _json(to_github_json),
    "markdown": to_markdown,
}


def export(items: Sequence[ExportItem], fmt: str) -> tuple[str, str]:
    """(content, media_type) of the items in format `fmt`; ValueError naming the valid formats for an unknown one."""
    if fmt not in _RENDERERS:
        raise ValueError(f"unknown export format {fmt!r}; valid formats: {', '.join(EXPORT_FORMATS)}")
    return _RENDERERS[fmt](items), MEDIA_TYPES[fmt]


def export_item(
    item: Any,
    parent: str | None = None,
    children: list[str] | None = None,
    depends_on: list[str] | None = None,
    blocks: list[str] | None = None,
    comments: list[tuple[str, str, str]] | None = None,
    blocks_ids: list[int] | None = None,
) -> ExportItem:
    """An ExportItem from a backlog item row (service.core.tables.BacklogItem); `parent`: its parent's key,
    `children`: the titles of its child stories, `depends_on` and `blocks`: the keys of the items it waits for and
    of those waiting for it (`blocks_ids`: the latter's ids), `comments`: its thread (author, day, text)."""
    return ExportItem(
        comments=comments or [],
        parent=parent,
        depends_on=depends_on or [],
        blocks=blocks or [],
        blocks_ids=blocks_ids or [],
        parent_id=item.parent_id,
        uid=item.external_id or f"{item.id}@{item.created_at.isoformat()}",
        children=children or [],
        id=item.id,
        title=item.title,
        description=item.description or "",
        item_type=item.item_type,
        labels=list(item.labels or []),
        priority=item.priority,
        story_points=item.story_points,
        story=item.story,
        closed=item.closed,
    )
