"""Tests for service.backlog.importers: Jira CSV, GitHub issues JSON and Linear CSV / issues JSON parsed into
BacklogItemCreate, story points and parent links included."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import pytest

from service.backlog.exporters import EXPORT_FORMATS, JIRA_BLOCKS_COLUMN, ExportItem, export, linear_id
from service.backlog.importers import IMPORT_FORMATS, ImportFormatError, parse_import

# A Jira Cloud "Export CSV (all fields)" file, trimmed: repeated Labels and Sprint columns, a multi-line quoted
# description, a UTF-8 BOM and CRLF line endings, as Jira writes them.
JIRA_CLOUD_CSV = (
    "\ufeffSummary,Issue key,Issue id,Issue Type,Status,Priority,Labels,Labels,Labels,Description,Sprint,Sprint\r\n"
    'Checkout fails on Safari,SHOP-101,10101,Bug,To Do,High,checkout,Safari,,"Steps:\r\n'
    '# open cart\r\n# pay, with ""Apple Pay""",Sprint 4,\r\n'
    "Saved carts,SHOP-102,10102,Story,In Progress,Medium,carts,,,As a shopper I want to save my cart.,,\r\n"
    ",SHOP-103,10103,Task,To Do,Low,,,,A row whose summary was deleted,,\r\n"
    "Evaluate search vendors,SHOP-104,10104,Spike,To Do,Lowest,search,research,SEARCH,,,\r\n"
    "Upgrade ORM,SHOP-105,10105,Sub-task,Done,,tech-debt,,,,,\r\n"
    "Mystery type,SHOP-106,10106,Custom Thing,To Do,,,,,,,\r\n"
)

GITHUB_REST_ISSUES: list[dict[str, Any]] = [
    {
        "url": "https://api.github.com/repos/acme/shop/issues/42",
        "repository_url": "https://api.github.com/repos/acme/shop",
        "html_url": "https://github.com/acme/shop/issues/42",
        "number": 42,
        "title": "Crash when the cart is empty",
        "body": "Open the cart with nothing in it.\r\n\r\nIt crashes.",
        "labels": [{"id": 1, "name": "bug", "color": "d73a4a"}, {"id": 2, "name": "Priority: High"}],
        "state": "open",
    },
    {
        "url": "https://api.github.com/repos/acme/shop/issues/43",
        "repository_url": "https://api.github.com/repos/acme/shop",
        "html_url": "https://github.com/acme/shop/pull/43",
        "number": 43,
        "title": "Fix crash when the cart is empty",
        "body": "Fixes #42",
        "labels": [],
        "pull_request": {"url": "https://api.github.com/repos/acme/shop/pulls/43"},
    },
    {
        "repository_url": "https://api.github.com/repos/acme/shop",
        "number": 44,
        "title": "Wishlist",
        "body": None,
        "labels": [{"name": "enhancement"}, {"name": "ux"}, {"name": "P0"}],
    },
    {"number": 45, "title": "Move to the new payments SDK", "body": "", "labels": ["refactor", "Payments"]},
    {"number": 46, "title": "   ", "body": "no title", "labels": []},
]


def parse_json(data: Any) -> Any:
    return parse_import(json.dumps(data).encode(), "github_json")


# --- Jira CSV ---------------------------------------------------------------------------------------------------


def test_jira_cloud_csv_reads_keys_types_priorities_and_repeated_labels() -> None:
    parsed = parse_import(JIRA_CLOUD_CSV.encode("utf-8"), "jira_csv")

    by_id = {item.external_id: item for item in parsed.items}
    assert list(by_id) == ["jira:SHOP-101", "jira:SHOP-102", "jira:SHOP-104", "jira:SHOP-105", "jira:SHOP-106"]
    bug = by_id["jira:SHOP-101"]
    assert bug.title == "Checkout fails on Safari"  # the BOM is not part of the first column's name or value
    assert bug.item_type == "bug"
    assert bug.priority == "High"
    assert bug.labels == ["checkout", "safari"]
    assert bug.description == 'Steps:\r\n# open cart\r\n# pay, with "Apple Pay"'
    assert by_id["jira:SHOP-102"].item_type == "feature"
    assert by_id["jira:SHOP-104"].item_type == "research"
    assert by_id["jira:SHOP-104"].labels == ["search", "research"]  # lowercased and deduplicated, order kept
    assert by_id["jira:SHOP-105"].item_type == "tech_debt"
    assert by_id["jira:SHOP-105"].priority is None
    assert by_id["jira:SHOP-106"].item_type == "feature"


def test_jira_row_without_summary_is_skipped_with_its_spreadsheet_row_number() -> None:
    parsed = parse_import(JIRA_CLOUD_CSV.encode("utf-8"), "jira_csv")

    # Header is row 1; SHOP-101 spans three physical lines but is one spreadsheet row (2), so SHOP-103 is row 4.
    assert parsed.problems == ["row 4: no Summary; skipped"]


def test_jira_columns_are_matched_case_insensitively_and_blank_rows_are_counted() -> None:
    data = b"ISSUE TYPE,summary,issue KEY\nbug,First,A-1\n\n,,\nTask,,A-3\n"

    parsed = parse_import(data, "jira_csv")

    assert [(i.title, i.item_type, i.external_id) for i in parsed.items] == [("First", "bug", "jira:A-1")]
    assert parsed.problems == ["row 5: no Summary; skipped"]


def test_jira_without_summary_column_names_the_columns_it_found() -> None:
    with pytest.raises(ImportFormatError, match="no Summary column") as error:
        parse_import(b"Title;Type;Labels\nCheckout;Bug;x\n", "jira_csv")

    assert "'Title;Type;Labels'" in str(error.value)  # a semicolon-separated file shows as one column


def test_jira_empty_file_and_non_utf8_file_are_format_errors() -> None:
    with pytest.raises(ImportFormatError, match="empty"):
        parse_import(b"", "jira_csv")
    with pytest.raises(ImportFormatError, match=r"not UTF-8 .*0xe9 at offset 11"):
        parse_import("Summary\nCaf\u00e9 menu\n".encode("cp1252"), "jira_csv")


def test_long_title_description_and_labels_are_cut_with_problems() -> None:
    long_label = "x" * 41
    row = ["T" * 301, "d" * 50_001, f"ok {long_label} OK"]
    data = ("Summary,Description,Labels\n" + ",".join(row) + "\n").encode()

    parsed = parse_import(data, "jira_csv")

    [item] = parsed.items
    assert len(item.title) == 300
    assert len(item.description) == 50_000
    assert item.labels == ["ok"]
    assert parsed.problems == [
        f"row 2: label '{long_label[:40]}'... longer than 40 characters dropped",
        "row 2: title cut to 300 characters (was 301)",
        "row 2: description cut to 50000 characters (was 50001)",
    ]


# --- Round trip through our own exporters -----------------------------------------------------------------------

EXPORTED = [
    ExportItem(id=1, title="Filter by price", description="Shoppers filter.", item_type="feature", labels=["Search"]),
    ExportItem(id=2, title="Crash on empty cart", description="It crashes.", item_type="bug", labels=["cart", "ux"]),
    ExportItem(id=3, title="Evaluate vendors", description="", item_type="research", labels=["research"]),
    ExportItem(id=4, title="Drop legacy ORM", description="Old.", item_type="tech_debt", labels=["mobile app"]),
    # GitHub labels: ["bug", "enhancement"]; the last type label (the one the exporter appends) decides.
    ExportItem(id=5, title="Bug bash tooling", description="", item_type="feature", labels=["bug"]),
]


ROUND_TRIP_FORMATS = [fmt for fmt in IMPORT_FORMATS if fmt in EXPORT_FORMATS]


@pytest.mark.parametrize("fmt", ROUND_TRIP_FORMATS)
def test_own_export_round_trips_titles_types_and_labels(fmt: str) -> None:
    content, _ = export(EXPORTED, fmt)

    parsed = parse_import(content.encode(), fmt)

    assert parsed.problems == []
    assert [(i.title, i.item_type) for i in parsed.items] == [(e.title, e.item_type) for e in EXPORTED]
    # GitHub: the type label the exporter adds is dropped again, so a label equal to it ("research") goes too.
    if fmt.startswith("jira"):  # Jira's labels have no spaces; the research type is a Task with its label
        expected_labels = [["search"], ["cart", "ux"], ["research"], ["mobile-app"], ["bug"]]
    else:
        expected_labels = [["search"], ["cart", "ux"], [], ["mobile app"], ["bug"]]
    assert [i.labels for i in parsed.items] == expected_labels


@pytest.mark.parametrize("fmt", ["jira_csv", "github_json"])
def test_records_without_ids_get_stable_content_hash_ids(fmt: str) -> None:
    content, _ = export(EXPORTED, fmt)

    first = [i.external_id for i in parse_import(content.encode(), fmt).items]
    again = [i.external_id for i in parse_import(content.encode(), fmt).items]
    changed = [i.external_id for i in parse_import(content.replace("Crash", "Hang").encode(), fmt).items]

    source = fmt.split("_")[0]
    assert first == again
    assert all(str(eid).startswith(f"{source}:sha1:") and len(str(eid)) == len(f"{source}:sha1:") + 12 for eid in first)
    assert len(set(first)) == len(first)
    assert changed[1] != first[1] and changed[0] == first[0]


# --- GitHub issues JSON -----------------------------------------------------------------------------------------


def test_github_rest_issues_skip_pull_requests_and_read_labels_types_and_ids() -> None:
    parsed = parse_json(GITHUB_REST_ISSUES)

    crash, wishlist, sdk = parsed.items
    assert (crash.external_id, crash.item_type, crash.labels, crash.priority) == (
        "github:acme/shop#42",
        "bug",
        ["priority: high"],
        "High",
    )
    assert crash.description == "Open the cart with nothing in it.\r\n\r\nIt crashes."
    assert (wishlist.external_id, wishlist.description, wishlist.item_type) == ("github:acme/shop#44", "", "feature")
    assert (wishlist.labels, wishlist.priority) == (["ux", "p0"], "Highest")
    assert (sdk.external_id, sdk.item_type, sdk.labels, sdk.priority) == ("github:#45", "tech_debt", ["payments"], None)
    assert parsed.problems == ["item 2 (#43): pull request; skipped", "item 5 (#46): no title; skipped"]


def test_github_single_object_and_type_labels() -> None:
    issue = {"html_url": "https://github.com/o/r/issues/7", "title": "Spike: caching", "labels": ["Spike"]}

    [item] = parse_json(issue).items

    assert (item.external_id, item.item_type, item.labels) == ("github:o/r#7", "research", [])
    assert [i.item_type for i in parse_json([{"title": "x", "labels": ["tech debt"]}]).items] == ["tech_debt"]
    assert [i.item_type for i in parse_json([{"title": "x", "labels": ["question"]}]).items] == ["feature"]


def test_invalid_json_error_gives_line_and_column() -> None:
    with pytest.raises(ImportFormatError, match=r"invalid JSON at line 3, column 2: Expecting value"):
        parse_import(b'[\n  {"title": "a"}\n,]', "github_json")


@pytest.mark.parametrize(
    ("data", "message"),
    [("just text", "got a string"), (["fine", 3], "item 1 of the array is a string"), (None, "got null")],
)
def test_json_that_is_not_issue_objects_is_a_format_error(data: Any, message: str) -> None:
    with pytest.raises(ImportFormatError, match=message):
        parse_json(data)


def test_unknown_format_lists_the_valid_ones() -> None:
    said = "unknown import format 'asana_csv'.*jira_csv, jira_json, github_json, linear_csv"
    with pytest.raises(ImportFormatError, match=said):
        parse_import(b"[]", "asana_csv")
    assert issubclass(ImportFormatError, ValueError)


def test_api_import_is_idempotent_and_reports_skipped_rows(client) -> None:
    upload = {"file": ("jira.csv", JIRA_CLOUD_CSV.encode(), "text/csv")}
    first = client.post("/v1/backlog/import?format=jira_csv", files=upload)
    assert first.status_code == 201, first.text
    body = first.json()
    assert [i["external_id"] for i in body["created"]] == [
        "jira:SHOP-101",
        "jira:SHOP-102",
        "jira:SHOP-104",
        "jira:SHOP-105",
        "jira:SHOP-106",
    ]
    assert any("row 4" in p for p in body["problems"]) and body["skipped"] == []
    again = client.post("/v1/backlog/import?format=jira_csv", files=upload).json()
    assert again["created"] == [] and len(again["skipped"]) == 5
    assert len(client.get("/v1/backlog").json()) == 5
    # imported items are searchable for duplicates at once
    found = client.post("/v1/duplicates/search", json={"text": "checkout fails in Safari", "k": 1}).json()
    assert found[0]["item_id"] == body["created"][0]["id"]


def test_api_import_of_github_issues_and_bad_files_are_4xx_and_change_nothing(client) -> None:
    upload = {"file": ("issues.json", json.dumps(GITHUB_REST_ISSUES).encode(), "application/json")}
    created = client.post("/v1/backlog/import?format=github_json", files=upload).json()["created"]
    assert created[0]["external_id"] == "github:acme/shop#42" and created[0]["item_type"] == "bug"
    before = client.get("/v1/backlog").json()
    broken = client.post("/v1/backlog/import?format=github_json", files={"file": ("x.json", b"[{", "application/json")})
    assert broken.status_code == 422 and "line 1" in broken.json()["detail"]
    wrong = client.post("/v1/backlog/import?format=trello", files=upload)
    assert wrong.status_code == 422
    missing = client.post("/v1/backlog/import?format=jira_csv")
    assert missing.status_code == 422
    assert client.get("/v1/backlog").json() == before


def test_cli_import(settings, monkeypatch, tmp_path) -> None:
    from typer.testing import CliRunner

    from service.cli import app
    from service.core.settings import get_settings

    monkeypatch.setenv("REFINERY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")
    if settings.database_url:
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
    path = tmp_path / "jira.csv"
    path.write_text(JIRA_CLOUD_CSV, encoding="utf-8")
    get_settings.cache_clear()
    runner = CliRunner()
    dry = runner.invoke(app, ["import", str(path), "--format", "jira_csv", "--dry-run"])
    assert dry.exit_code == 0 and "would import 5, update 0 from the tracker" in dry.output, dry.output
    first = runner.invoke(app, ["import", str(path), "--format", "jira_csv"])
    assert first.exit_code == 0, first.output
    assert "5 imported, 0 updated from the tracker, 0 already" in first.output and "row 4" in first.output
    assert "0 imported, 0 updated from the tracker, 5 already" in runner.invoke(app, ["import", str(path)]).output
    path.write_text(JIRA_CLOUD_CSV.replace("Checkout fails on Safari", "Checkout fails on Safari 17"), encoding="utf-8")
    assert "0 imported, 1 updated from the tracker, 4 already" in runner.invoke(app, ["import", str(path)]).output
    bad = runner.invoke(app, ["import", str(path), "--format", "github_json"])
    assert bad.exit_code != 0 and "invalid JSON" in bad.output
    get_settings.cache_clear()


# --- Parent links and Linear ------------------------------------------------------------------------------------

EPIC = [
    ExportItem(id=1, title="Accounts", description="Sign up and sign in.", item_type="feature", uid="a@1",
               story_points=20, children=["Sign up", "Sign in"]),
    ExportItem(id=2, title="Sign up", description="", item_type="feature", uid="a@2", parent_id=1, story_points=3),
    ExportItem(id=3, title="Sign in", description="", item_type="bug", uid="a@3", parent_id=1),
]  # fmt: skip


def test_linear_export_gives_stable_v4_ids_parents_first_and_parent_ids() -> None:
    issues = json.loads(export(list(reversed(EPIC)), "linear_json")[0])

    assert [i["title"] for i in issues] == ["Accounts", "Sign in", "Sign up"]  # the parent moves first
    assert all(uuid.UUID(i["id"]).version == 4 for i in issues)
    assert [i.get("parentId") for i in issues] == [None, issues[0]["id"], issues[0]["id"]]
    assert issues[2]["estimate"] == 3 and "estimate" not in issues[1]
    assert linear_id(EPIC[0]) == issues[0]["id"] != linear_id(EPIC[0].model_copy(update={"uid": "b@1"}))
    own = str(uuid.uuid4())
    assert linear_id(EPIC[0].model_copy(update={"uid": f"linear:{own}"})) == own  # imported from Linear: its id


@pytest.mark.parametrize("fmt", ["linear_json", "github_json", "jira_csv"])
def test_own_export_round_trips_parent_links(fmt: str) -> None:
    parsed = parse_import(export(EPIC, fmt)[0].encode(), fmt)

    accounts, sign_up, sign_in = parsed.items
    assert accounts.parent is None
    assert sign_up.parent == sign_in.parent == accounts.external_id
    if fmt in ("linear_json", "jira_csv"):
        assert [i.story_points for i in parsed.items] == [20, 3, None]
    if fmt == "linear_json":
        assert accounts.external_id == f"linear:{linear_id(EPIC[0])}"


def test_jira_csv_lists_parents_first_and_links_a_new_parent_by_issue_id() -> None:
    """Jira's CSV importer links a child to a row above it whose Issue ID its Parent names; a parent Jira already
    has (imported from it, not in the file) is named by its key."""
    imported = EPIC[1].model_copy(update={"id": 4, "uid": "jira:SHOP-7", "parent_id": 9, "parent": "SHOP-1"})
    rows = list(csv.DictReader(io.StringIO(export([*reversed(EPIC), imported], "jira_csv")[0])))

    assert [(r["Summary"], r["Issue key"], r["Issue ID"], r["Parent"]) for r in rows] == [
        ("Accounts", "", "1", ""),
        ("Sign up", "SHOP-7", "4", "SHOP-1"),  # its parent is not in the file: a top row, like the epic
        ("Sign in", "", "3", "1"),
        ("Sign up", "", "2", "1"),
    ]
    assert rows[0]["Issue Type"] == "Epic"


def test_our_jira_csv_reads_back_a_link_between_items_jira_has_not_seen() -> None:
    """Sign up blocks Sign in: the file names Sign in by its Issue ID, and reading the file back links them."""
    items = [EPIC[0], EPIC[1].model_copy(update={"blocks": ["3"], "blocks_ids": [3]}), EPIC[2]]
    exported = export(items, "jira_csv")[0]

    assert next(r for r in csv.DictReader(io.StringIO(exported)) if r["Issue ID"] == "2")[JIRA_BLOCKS_COLUMN] == "3"
    _, sign_up, sign_in = parse_import(exported.encode(), "jira_csv").items
    assert sign_in.depends_on_keys == [sign_up.external_id] and sign_up.depends_on_keys == []


def test_a_jira_cloud_export_naming_parents_by_issue_id_links_them() -> None:
    """Jira Cloud's "Export CSV (all fields)" writes a child's Parent as the parent's numeric Issue id."""
    text = (
        "Summary,Issue key,Issue id,Issue Type,Parent,Parent summary\r\n"
        "Accounts,SHOP-1,10001,Epic,,\r\n"
        "Sign up,SHOP-2,10002,Story,10001,Accounts\r\n"
        "Orphan,SHOP-3,10003,Story,10999,Gone\r\n"
        "Keyed,SHOP-4,10004,Story,SHOP-1,Accounts\r\n"
    )
    parents = [(i.external_id, i.parent) for i in parse_import(text.encode(), "jira_csv").items]

    assert parents == [
        ("jira:SHOP-1", None),
        ("jira:SHOP-2", "jira:SHOP-1"),
        ("jira:SHOP-3", "10999"),  # a parent not in the file, by a number: looked up as a key, so not linked
        ("jira:SHOP-4", "SHOP-1"),
    ]


def test_github_sub_issues_and_task_lists_name_parents() -> None:
    issues = [
        {"html_url": "https://github.com/o/r/issues/1", "title": "Epic", "body": "- [ ] #2\n- [x] o/r#3\n- [ ] #9"},
        {"html_url": "https://github.com/o/r/issues/2", "title": "Two"},
        {"html_url": "https://github.com/o/r/issues/3", "title": "Three"},
        {"html_url": "https://github.com/o/r/issues/4", "title": "Four",
         "parent_issue_url": "https://api.github.com/repos/o/r/issues/7"},
        {"html_url": "https://github.com/o/r/issues/5", "title": "Mentions #2 in prose", "body": "See #2."},
    ]  # fmt: skip

    parents = [i.parent for i in parse_json(issues).items]

    assert parents == [None, "github:o/r#1", "github:o/r#1", "github:o/r#7", None]


LINEAR_CSV = (
    "ID,Team,Title,Description,Status,Estimate,Priority,Project,Labels,Parent issue\n"
    "ENG-1,Engineering,Accounts,Sign up and in,Backlog,13,Urgent,Auth,Feature,\n"
    'ENG-2,Engineering,Sign-up crashes,"Steps: open sign up",Todo,2,No priority,Auth,"Bug, mobile",ENG-1\n'
    "ENG-3,Engineering,,deleted title,Todo,,,,,\n"
    "ENG-4,Engineering,Dark mode,,Todo,lots,Low,,,\n"
)


def test_linear_csv_reads_estimates_priorities_type_labels_and_parents() -> None:
    parsed = parse_import(LINEAR_CSV.encode(), "linear_csv")

    accounts, crash, dark = parsed.items
    assert (accounts.external_id, accounts.story_points, accounts.priority, accounts.item_type) == (
        "linear:ENG-1", 13, "Highest", "feature")  # fmt: skip
    assert (crash.item_type, crash.labels, crash.priority, crash.parent) == ("bug", ["mobile"], None, "ENG-1")
    assert (dark.story_points, dark.priority) == (None, "Low")
    assert parsed.problems == ["row 4: no Title; skipped", "row 5: story points 'lots' is not a number; left empty"]
    with pytest.raises(ImportFormatError, match="no Title column.*Linear CSV export"):
        parse_import(b"Summary,Issue key\nx,SHOP-1\n", "linear_csv")


def test_linear_graphql_issues_resolve_parents_given_by_id() -> None:
    answer = {"data": {"issues": {"nodes": [
        {"id": "u-1", "identifier": "ENG-1", "title": "Accounts", "estimate": 8, "priority": 2,
         "labels": {"nodes": [{"name": "Improvement"}, {"name": "auth"}]}},
        {"id": "u-2", "identifier": "ENG-2", "title": "Sign up", "parent": {"id": "u-1"}, "priority": 0},
        {"id": "u-3", "identifier": "ENG-3", "title": "Elsewhere", "parent": {"id": "u-99"}},
    ]}}}  # fmt: skip

    accounts, sign_up, elsewhere = parse_import(json.dumps(answer).encode(), "linear_json").items

    assert (accounts.external_id, accounts.story_points, accounts.priority) == ("linear:ENG-1", 8, "High")
    assert accounts.labels == ["auth"] and accounts.item_type == "feature"  # "Improvement" is a type label
    assert (sign_up.parent, sign_up.priority) == ("linear:ENG-1", None)
    assert elsewhere.parent == "linear:u-99"  # not in this file: linked if an item with that id is imported
    with pytest.raises(ImportFormatError, match="expected a JSON array of Linear issues"):
        parse_import(b'"text"', "linear_json")


def test_each_tracker_says_which_issues_are_closed() -> None:
    """Done, resolved or cancelled issues are imported `closed` (history): Jira by Status, Status Category or
    Resolution; GitHub by state (REST "closed", gh CLI "CLOSED"); Linear JSON by state type or name, or a completion
    date; Linear CSV by Status or its Completed / Canceled dates."""
    jira = (
        "Summary,Issue key,Status,Status Category,Resolution\n"
        "A,J-1,Done,Done,Done\nB,J-2,In Review,In Progress,\nC,J-3,Shipped to prod,Done,\nD,J-4,Open,To Do,Won't Do\n"
    )
    assert [i.closed for i in parse_import(jira.encode(), "jira_csv").items] == [True, False, True, True]
    github = [{"number": n, "title": "T", "state": state} for n, state in ((1, "closed"), (2, "open"), (3, "CLOSED"))]
    assert [i.closed for i in parse_import(json.dumps(github).encode(), "github_json").items] == [True, False, True]
    linear = [
        {"identifier": "ENG-1", "title": "T", "state": {"name": "Shipped", "type": "completed"}},
        {"identifier": "ENG-2", "title": "T", "state": {"name": "In Progress", "type": "started"}},
        {"identifier": "ENG-3", "title": "T", "canceledAt": "2026-11-01T00:00:00Z"},
        {"identifier": "ENG-4", "title": "T"},
    ]
    assert [i.closed for i in parse_import(json.dumps(linear).encode(), "linear_json").items] == [
        True, False, True, False
    ]  # fmt: skip
    linear_csv = "ID,Title,Status,Completed,Canceled\nE-1,T,Done,,\nE-2,T,Todo,,\nE-3,T,Custom,2026-11-01,\n"
    assert [i.closed for i in parse_import(linear_csv.encode(), "linear_csv").items] == [True, False, True]


JIRA_SEARCH = {
    "isLast": True,
    "issues": [
        {"id": "10201", "key": "SHOP-201", "fields": {
            "summary": "Saved carts", "issuetype": {"name": "Story"}, "priority": {"name": "High"},
            "labels": ["carts"], "customfield_10016": 5.0, "customfield_10028": 8,
            "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
            "description": {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "As a shopper I want to save my cart."},
                                                  {"type": "hardBreak"}, {"type": "text", "text": "Mobile first.",
                                                   "marks": [{"type": "strong"}]}]},
                {"type": "heading", "attrs": {"level": 3},
                 "content": [{"type": "text", "text": "Acceptance criteria"}]},
                {"type": "taskList", "attrs": {"localId": "a"}, "content": [
                    {"type": "taskItem", "attrs": {"localId": "b", "state": "TODO"},
                     "content": [{"type": "text", "text": "Given a cart, when I save it, then it is kept"}]},
                    {"type": "taskItem", "attrs": {"localId": "c", "state": "DONE"},
                     "content": [{"type": "text", "text": "Given a saved cart, when I return, then I see it"}]}]},
                {"type": "orderedList", "content": [{"type": "listItem", "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "open the cart"}]}]}]},
                {"type": "codeBlock", "content": [{"type": "text", "text": "POST /carts"}]},
                {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "x"}}]}]},
            "issuelinks": [
                {"type": {"name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
                 "inwardIssue": {"key": "SHOP-200"}},
                {"type": {"name": "Blocks"}, "outwardIssue": {"key": "SHOP-202"}},
                {"type": {"name": "Relates"}, "inwardIssue": {"key": "SHOP-199"}}]}},
        {"id": "10202", "key": "SHOP-202", "fields": {
            "summary": "Share a cart", "issuetype": {"name": "Task"}, "labels": ["spike"],
            "status": {"name": "Done", "statusCategory": {"key": "done"}}, "description": None,
            "parent": {"key": "SHOP-201"}}},
        {"id": "10203", "key": "SHOP-203", "fields": {"summary": "", "issuetype": {"name": "Bug"}}},
    ],
}  # fmt: skip


def test_jira_rest_issues_read_adf_as_markdown_links_as_dependencies_and_the_sites_points_field() -> None:
    parsed = parse_import(json.dumps(JIRA_SEARCH).encode(), "jira_json")
    carts, share = parsed.items
    assert parsed.problems == ["issue 3 (SHOP-203): no summary; skipped"]
    assert carts.description == (
        "As a shopper I want to save my cart.\nMobile first.\n\n**Acceptance criteria**\n"
        "- [ ] Given a cart, when I save it, then it is kept\n- [x] Given a saved cart, when I return, then I see it"
        "\n\n1. open the cart\n\n```\nPOST /carts\n```"
    )
    assert (carts.external_id, carts.item_type, carts.priority, carts.story_points) == (
        "jira:SHOP-201",
        "feature",
        "High",
        5,
    )
    assert (carts.depends_on_keys, carts.closed) == (["jira:SHOP-200"], False)
    assert share.depends_on_keys == ["jira:SHOP-201"]  # SHOP-201 blocks it, said from SHOP-201's side
    assert (share.item_type, share.closed, share.parent, share.description) == ("research", True, "SHOP-201", "")
    assert parse_import(json.dumps(JIRA_SEARCH).encode(), "jira_json", "customfield_10028").items[0].story_points == 8
    one = parse_import(json.dumps(JIRA_SEARCH["issues"][1]).encode(), "jira_json")  # one issue alone
    assert one.items[0].external_id == "jira:SHOP-202"


def test_a_jira_issues_comments_are_read_a_bad_one_left_out_and_said():
    long = "x" * 10_050
    issue = {"key": "SHOP-7", "fields": {"summary": "Export invoices", "comment": {"total": 4, "comments": [
        {"id": "10001", "author": {"displayName": "Jo Park"}, "created": "2026-11-02T10:00:00.000+0000",
         "body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
             {"type": "text", "text": "EUR first"}]}]}},
        {"id": "10002", "author": {"displayName": "Kim Lee"}, "body": "Data Center's text", "created": "not a date"},
        {"id": "10003", "body": "   "},
        {"id": "10004", "body": long},
    ]}}}  # fmt: skip
    parsed = parse_import(json.dumps([issue]).encode(), "jira_json")
    (item,) = parsed.items
    assert [(c.id, c.author, c.text[:20]) for c in item.comments] == [
        ("10001", "Jo Park", "EUR first"), ("10004", None, "x" * 20)
    ]  # fmt: skip
    assert item.comments[0].at is not None and len(item.comments[1].text) == 10_000
    assert any("comment 10004 cut to 10,000 characters" in p for p in parsed.problems), parsed.problems
    assert sum("a comment (" in p and "left out" in p for p in parsed.problems) == 2, parsed.problems


def test_items_sent_with_comments_need_a_key_and_take_each_comment_once(client):
    said = {"title": "Export invoices", "comments": [{"id": "c1", "author": "Jo", "text": "EUR first"}]}
    refused = client.post("/v1/backlog/items", json=said)
    assert refused.status_code == 422 and "comments need the item's external_id" in refused.text
    keyed = {**said, "external_id": "jira:SHOP-7"}
    assert client.post("/v1/backlog/items", json=keyed).status_code == 201
    assert client.post("/v1/backlog/items", json=keyed).status_code == 201  # re-imported: the comment is there once
    item = client.get("/v1/backlog").json()[0]
    (comment,) = client.get(f"/v1/backlog/{item['id']}/comments").json()
    assert (comment["author"], comment["text"], comment["from_tracker"], comment["sent_as"]) == (
        "Jo", "EUR first", True, "jira:SHOP-7@c1"
    )  # fmt: skip


def test_a_jira_csv_s_rank_orders_its_items_as_jira_s_backlog_does():
    """Exported sorted by key, ranked otherwise: the items come in rank order (LexoRank sorts as text), unranked
    last."""
    text = (
        "Summary,Issue key,Custom field (Rank)\r\n"
        "Login,SHOP-1,0|i0000f:\r\n"
        "Search,SHOP-2,0|i00007:\r\n"
        "Typo,SHOP-3,\r\n"
        "Export,SHOP-4,0|i0000a:\r\n"
    )
    assert [i.title for i in parse_import(text.encode(), "jira_csv").items] == ["Search", "Export", "Login", "Typo"]
