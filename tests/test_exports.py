"""Tests for service.backlog.exporters: Jira CSV/JSON (ADF), Linear, GitHub and Markdown exports."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.models import StoryDraft, story_markdown
from service.backlog.exporters import (
    EXPORT_FORMATS,
    STORY_POINTS_FIELD,
    ExportItem,
    acceptance_criteria,
    export,
    to_adf,
    to_github_json,
    to_jira_csv,
    to_jira_json,
    to_linear_json,
    to_markdown,
)

ADF_SCHEMA_PATH = Path("/work/shared/schemas/adf-v1-full.json")

CRITERIA = [
    {"given": "search results are shown", "when": "I set a min and max price", "then": "only products in range remain"},
    {"given": "a price filter is set", "when": "I clear it", "then": "all results are shown again"},
    {"given": "no product is in range", "when": "I apply the filter", "then": "an empty state explains why"},
]


def draft(**overrides: Any) -> StoryDraft:
    """A realistic StoryDraft."""
    data: dict[str, Any] = {
        "item_type": "feature",
        "title": "Filter search results by price",
        "persona": "online shopper",
        "goal": "to filter search results by a price range",
        "benefit": "I find affordable products without scrolling 400 results",
        "acceptance_criteria": CRITERIA,
        "labels": ["search", "ux"],
        "assumptions": ["Prices are in the shop currency"],
        "open_questions": ["Should the filter persist across sessions?"],
    }
    return StoryDraft.model_validate(data | overrides)


def item_from_draft(story: StoryDraft, *, with_story: bool = False, **overrides: Any) -> ExportItem:
    """An ExportItem whose description is story_markdown(story); optionally carrying the structured story too."""
    data: dict[str, Any] = {
        "id": 7,
        "title": story.title,
        "description": story_markdown(story),
        "item_type": story.item_type,
        "labels": list(story.labels),
        "priority": "High",
        "story_points": 5,
        "parent": "SHOP-12",
        "story": story.model_dump(mode="json") if with_story else None,
    }
    return ExportItem.model_validate(data | overrides)


@pytest.fixture(scope="module")
def adf_validator() -> jsonschema.protocols.Validator:
    """A validator for Atlassian's official ADF v1 schema (draft-04, $refs into #/definitions)."""
    schema = json.loads(ADF_SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture
def item() -> ExportItem:
    return item_from_draft(draft(), with_story=True)


# --- acceptance criteria ----------------------------------------------------------------------------------------


def test_criteria_parsed_from_story_markdown_description() -> None:
    story = draft(acceptance_criteria=[*CRITERIA, {"given": "a, b and c", "when": "x", "then": "y, z."}])
    parsed = acceptance_criteria(item_from_draft(story))
    assert parsed == [(c["given"], c["when"], c["then"]) for c in CRITERIA] + [("a, b and c", "x", "y, z")]


def test_criteria_prefer_structured_story() -> None:
    story = draft()
    item = item_from_draft(story, with_story=True, description="No checklist here.")
    assert acceptance_criteria(item) == [(c["given"], c["when"], c["then"]) for c in CRITERIA]


def test_description_without_checklist_has_no_criteria() -> None:
    item = ExportItem(id=1, title="t", description="Just text.\n- a bullet", item_type="bug")
    assert acceptance_criteria(item) == []


# --- ADF --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_story", [True, False])
def test_adf_validates_against_official_schema(adf_validator: jsonschema.protocols.Validator, with_story: bool) -> None:
    doc = to_adf(item_from_draft(draft(), with_story=with_story))
    adf_validator.validate(doc)
    task_list = next(node for node in doc["content"] if node["type"] == "taskList")
    assert [t["attrs"]["state"] for t in task_list["content"]] == ["TODO"] * len(CRITERIA)
    assert task_list["content"][0]["content"][0]["text"].startswith("Given search results are shown, when")
    assert [node["type"] for node in doc["content"]].count("bulletList") == 2  # assumptions + open questions


def test_adf_minimal_item_validates(adf_validator: jsonschema.protocols.Validator) -> None:
    item = ExportItem(id=2, title="t", description="Line one\nline two\n\n\nSecond paragraph", item_type="bug")
    doc = to_adf(item)
    adf_validator.validate(doc)
    assert [node["type"] for node in doc["content"]] == ["paragraph", "paragraph"]
    assert {"type": "hardBreak"} in doc["content"][0]["content"]


def test_adf_empty_description_validates(adf_validator: jsonschema.protocols.Validator) -> None:
    doc = to_adf(ExportItem(id=3, title="t", description="", item_type="research"))
    adf_validator.validate(doc)
    assert doc == {"type": "doc", "version": 1, "content": []}


def test_broken_adf_fails_validation(adf_validator: jsonschema.protocols.Validator, item: ExportItem) -> None:
    doc = to_adf(item)
    no_attrs = copy.deepcopy(doc)
    task_list = next(node for node in no_attrs["content"] if node["type"] == "taskList")
    del task_list["content"][0]["attrs"]
    assert not adf_validator.is_valid(no_attrs)

    nested_paragraph = copy.deepcopy(doc)
    paragraph = nested_paragraph["content"][0]
    paragraph["content"] = [{"type": "paragraph", "content": [{"type": "text", "text": "x"}]}]
    assert not adf_validator.is_valid(nested_paragraph)

    empty_text = copy.deepcopy(doc)
    empty_text["content"][0]["content"][0]["text"] = ""
    assert not adf_validator.is_valid(empty_text)


# --- Jira -------------------------------------------------------------------------------------------------------


def test_jira_csv_header_is_exact(item: ExportItem) -> None:
    header = (
        "Issue key,Issue ID,Summary,Issue Type,Description,Priority,Labels,Story Points,Parent,Status,"
        "Outward issue link (Blocks)"
    )
    assert to_jira_csv([item]).splitlines()[0] == header


def test_a_closed_item_exports_as_done_to_jira_csv_and_imports_back_closed(item: ExportItem) -> None:
    from service.backlog.importers import parse_import

    exported = to_jira_csv([item, item.model_copy(update={"id": 2, "title": "Old", "closed": True})])
    assert [row["Status"] for row in csv.DictReader(io.StringIO(exported))] == ["", "Done"]
    assert [i.closed for i in parse_import(exported.encode(), "jira_csv").items] == [False, True]


@pytest.mark.parametrize("fmt", ["linear_json", "github_json"])
def test_a_closed_item_exports_closed_to_linear_and_github_and_imports_back_closed(item: ExportItem, fmt: str) -> None:
    """Linear: `stateName` "Done" for the caller to resolve to the team's stateId; GitHub: state closed, completed
    (applied by a PATCH after creation). An open item has neither."""
    from service.backlog.importers import parse_import

    content, _ = export([item, item.model_copy(update={"id": 2, "title": "Old", "closed": True})], fmt)
    open_body, closed_body = json.loads(content)
    state = {"linear_json": ("stateName", "Done"), "github_json": ("state", "closed")}[fmt]
    assert state[0] not in open_body and closed_body[state[0]] == state[1]
    assert [i.closed for i in parse_import(content.encode(), fmt).items] == [False, True]


def test_markdown_marks_a_closed_item_done(item: ExportItem) -> None:
    document = to_markdown([item, item.model_copy(update={"id": 2, "title": "Old", "closed": True})])
    open_section, closed_section = document.split("\n## ")[1:]
    assert "**Status:** Done" in closed_section and "Status" not in open_section


def test_jira_csv_round_trips_awkward_text() -> None:
    description = 'Commas, "quotes" and\nnewlines\n\n**Acceptance criteria**\n- [ ] Given a, when b, then "c", d'
    item = ExportItem(
        id=1,
        title='Fix "checkout", now',
        description=description,
        item_type="bug",
        labels=["payment flow", "  urgent  fix ", "ux"],
        priority="Highest",
        story_points=3,
        parent="SHOP-1",
    )
    rows = list(csv.DictReader(io.StringIO(to_jira_csv([item]))))
    assert len(rows) == 1
    row = rows[0]
    assert row["Summary"] == 'Fix "checkout", now'
    assert row["Description"].startswith('Commas, "quotes" and\nnewlines')
    assert '* [ ] Given a, when b, then "c", d' in row["Description"]
    assert row["Labels"].split(" ") == ["payment-flow", "urgent-fix", "ux"]
    assert (row["Priority"], row["Story Points"], row["Parent"], row["Issue Type"]) == ("Highest", "3", "SHOP-1", "Bug")


@pytest.mark.parametrize(
    ("item_type", "issue_type"),
    [("feature", "Story"), ("bug", "Bug"), ("tech_debt", "Task"), ("research", "Task"), ("other", "Task")],
)
def test_jira_issue_types_mapped(item_type: str, issue_type: str) -> None:
    item = ExportItem(id=1, title="t", description="d", item_type=item_type)
    assert next(csv.DictReader(io.StringIO(to_jira_csv([item]))))["Issue Type"] == issue_type
    assert to_jira_json([item])[0]["fields"]["issuetype"] == {"name": issue_type}


def test_jira_csv_empty_optional_fields() -> None:
    row = next(csv.DictReader(io.StringIO(to_jira_csv([ExportItem(id=1, title="t", description="", item_type="bug")]))))
    assert (row["Priority"], row["Labels"], row["Story Points"], row["Parent"]) == ("", "", "", "")


def test_jira_json_fields(item: ExportItem, adf_validator: jsonschema.protocols.Validator) -> None:
    fields = to_jira_json([item.model_copy(update={"labels": ["needs review", "ux"]})])[0]["fields"]
    assert fields["summary"] == item.title
    assert fields["labels"] == ["needs-review", "ux"]
    assert fields["priority"] == {"name": "High"}
    assert fields[STORY_POINTS_FIELD] == 5
    assert fields["parent"] == {"key": "SHOP-12"}
    adf_validator.validate(fields["description"])


def test_jira_json_omits_unset_optional_fields() -> None:
    fields = to_jira_json([ExportItem(id=1, title="t", description="d", item_type="feature")])[0]["fields"]
    assert not {"priority", STORY_POINTS_FIELD, "parent"} & fields.keys()
    assert fields["labels"] == []


# --- Linear -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "expected"),
    [("Highest", 1), ("High", 2), ("Medium", 3), ("Low", 4), ("Lowest", 4), (None, 0)],
)
def test_linear_priority_mapping(priority: str | None, expected: int) -> None:
    item = ExportItem(id=1, title="t", description="d", item_type="feature", priority=priority)
    assert to_linear_json([item])[0]["priority"] == expected


@given(
    priority=st.one_of(st.none(), st.sampled_from(["Highest", "High", "Medium", "Low", "Lowest"]), st.text()),
    points=st.one_of(st.none(), st.integers(min_value=0, max_value=100)),
)
def test_linear_priority_always_in_range(priority: str | None, points: int | None) -> None:
    item = ExportItem(id=1, title="t", description="d", item_type="bug", priority=priority, story_points=points)
    issue = to_linear_json([item])[0]
    assert type(issue["priority"]) is int and 0 <= issue["priority"] <= 4
    assert ("estimate" in issue) == (points is not None)


def test_linear_issue_shape(item: ExportItem) -> None:
    issue = to_linear_json([item])[0]
    assert issue["estimate"] == 5
    assert issue["labelNames"] == ["search", "ux", "Feature"]  # the type, as Linear's default label names it
    assert "teamId" not in issue
    assert issue["description"].count("- [ ] Given ") == len(CRITERIA)

    no_points = to_linear_json([item.model_copy(update={"story_points": None})])[0]
    assert "estimate" not in no_points


# --- GitHub -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_story", [True, False])
def test_github_body_has_one_task_per_criterion(with_story: bool) -> None:
    issue = to_github_json([item_from_draft(draft(), with_story=with_story)])[0]
    task_lines = [line for line in issue["body"].splitlines() if line.startswith("- [ ]")]
    assert task_lines == [f"- [ ] Given {c['given']}, when {c['when']}, then {c['then']}" for c in CRITERIA]
    assert issue["body"].startswith("As a online shopper, I want to filter search results by a price range")


@pytest.mark.parametrize(
    ("item_type", "label"),
    [("feature", "enhancement"), ("bug", "bug"), ("tech_debt", "tech-debt"), ("research", "research")],
)
def test_github_type_label_added(item_type: str, label: str) -> None:
    item = ExportItem(id=1, title="t", description="d", item_type=item_type, labels=["api", label])
    assert to_github_json([item])[0]["labels"] == ["api", label]  # added once, not duplicated
    item = item.model_copy(update={"labels": ["api"]})
    assert to_github_json([item])[0]["labels"] == ["api", label]


# --- Markdown and dispatch --------------------------------------------------------------------------------------


def test_markdown_document(item: ExportItem) -> None:
    other = ExportItem(id=8, title="Second\nitem", description="Plain.", item_type="bug")
    text = to_markdown([item, other])
    assert "## Filter search results by price" in text
    assert "## Second item" in text
    # `*` bullets: no line starts as a spreadsheet formula (service.backlog.spreadsheet)
    assert "* **Priority:** High" in text and "* **Story points:** 5" in text and "* **Labels:** search, ux" in text
    assert text.count("* [ ] Given ") == len(CRITERIA)


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("jira_csv", "text/csv"),
        ("jira_json", "application/json"),
        ("linear_json", "application/json"),
        ("github_json", "application/json"),
        ("markdown", "text/markdown"),
    ],
)
def test_export_every_format(item: ExportItem, fmt: str, media_type: str) -> None:
    unicode_item = item.model_copy(update={"title": "Prix en €uros"})
    content, returned_type = export([unicode_item], fmt)
    assert content.strip()
    assert returned_type == media_type
    if media_type == "application/json":
        assert len(json.loads(content)) == 1
        assert "€uros" in content  # ensure_ascii=False
        assert content.startswith("[\n  {")  # indent=2


def test_export_unknown_format_names_valid_ones(item: ExportItem) -> None:
    with pytest.raises(ValueError) as excinfo:
        export([item], "yaml")
    for fmt in EXPORT_FORMATS:
        assert fmt in str(excinfo.value)


def test_the_api_exports_the_backlog_in_every_format(client):
    import csv as csv_module
    import io

    created = client.post(
        "/v1/backlog/items",
        json=[
            {"title": "Export orders, with commas", "type": "bug", "labels": ["billing team"]},
            {"title": "Dark mode"},
        ],
    )
    assert created.status_code == 201
    response = client.get("/v1/backlog/export?format=jira_csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv_module.DictReader(io.StringIO(response.text)))
    assert [r["Summary"] for r in rows] == ["Export orders, with commas", "Dark mode"]
    assert rows[0]["Issue Type"] == "Bug" and rows[0]["Labels"] == "billing-team"
    for fmt in ("jira_json", "linear_json", "github_json", "markdown"):
        exported = client.get(f"/v1/backlog/export?format={fmt}")
        assert exported.status_code == 200 and "Dark mode" in exported.text
    assert client.get("/v1/backlog/export?format=xml").status_code == 422
