"""Dependencies between backlog items (Jira's "is blocked by", Linear's "blocked by"): a person sets them, imports
read them from the tracker, exports write them back, and ranks and sprint plans put the prerequisite first."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import update
from typer.testing import CliRunner

from service.backlog.exporters import ExportItem, export
from service.backlog.importers import parse_import
from service.cli import app
from service.core.settings import get_settings
from service.core.tables import BacklogItem
from tests.test_prioritization_api import estimate, run_prioritize

JIRA = (
    "Summary,Issue key,Issue Type,Status,Inward issue link (Blocks),Inward issue link (Blocks),"
    "Outward issue link (Blocks)\n"
    "Checkout API,SHOP-1,Story,To Do,,,SHOP-3\n"
    "Payments SDK,SHOP-2,Task,Done,,,\n"
    "Checkout page,SHOP-3,Story,To Do,SHOP-2,SHOP-1,\n"
    "Receipts,SHOP-4,Story,To Do,,,SHOP-77\n"
)


def add(client, *titles: str) -> list[int]:
    created = client.post("/v1/backlog/items", json=[{"title": t} for t in titles])
    assert created.status_code == 201, created.text
    return [i["id"] for i in created.json()["created"]]


def patch(client, item: int, depends_on, user: str = "pat"):
    return client.patch(f"/v1/backlog/{item}", json={"depends_on": depends_on}, headers={"X-User": user})


def by_key(client) -> dict[str, dict]:
    return {i["external_id"].split(":")[-1]: i for i in client.get("/v1/backlog").json()}


def test_a_person_sets_what_an_item_waits_for_and_its_history_keeps_it(client):
    api, sdk, page = add(client, "Checkout API", "Payments SDK", "Checkout page")
    edited = patch(client, page, [sdk, api, api])
    assert edited.status_code == 200, edited.text
    assert edited.json()["depends_on"] == [api, sdk]  # each once, in id order
    assert client.get(f"/v1/backlog/{page}").json()["depends_on"] == [api, sdk]
    history = client.get(f"/v1/backlog/{page}/history").json()
    assert (history[-1]["actor"], history[-1]["before"], history[-1]["after"]) == (
        "pat",
        {"depends_on": []},
        {"depends_on": [api, sdk]},
    )
    assert patch(client, page, [api, sdk]).status_code == 200
    assert len(client.get(f"/v1/backlog/{page}/history").json()) == len(history)  # no change, no event
    cleared = patch(client, page, [])
    assert cleared.status_code == 200 and cleared.json()["depends_on"] == []


def test_a_dependency_on_itself_an_unknown_or_merged_item_or_a_cycle_is_refused_and_changes_nothing(client):
    a, b, c, merged = add(client, "A", "B", "C", "Merged away")
    assert patch(client, b, [a]).status_code == 200
    assert patch(client, c, [b]).status_code == 200  # c -> b -> a
    with client.app.state.runtime.db.session() as session:
        session.execute(update(BacklogItem).where(BacklogItem.id == merged).values(merged_into_id=c))
    for depends_on, says in [
        ([b, c + 1000], f"depends_on names no backlog item with id {c + 1000}"),
        ([a, b], f"item #{a} cannot depend on itself: remove {a} from depends_on"),
        ([c], f"#{c} waits for #{b} waits for #{a}: #{a} cannot also wait for #{c}, that would be a cycle"),
        ([merged], f"item #{merged} was merged into #{c}: depend on #{c}"),
        ([0], "greater than or equal to 1"),
        (None, "depends_on cannot be null"),
    ]:
        refused = patch(client, a, depends_on)
        assert refused.status_code == 422 and says in refused.text, (depends_on, refused.text)
    assert client.get(f"/v1/backlog/{a}").json()["depends_on"] == []
    assert len(client.get(f"/v1/backlog/{a}/history").json()) == 1  # added; no edit


def test_a_prerequisite_a_person_set_ranks_first_with_its_evidence_and_a_sprint_never_takes_one_without_the_other(
    client, llm
):
    outage, dark, upgrade = add(client, "Checkout fails for some cards", "Dark mode", "Upgrade the payment library")
    assert patch(client, outage, [upgrade]).status_code == 200  # no text names it: only a person knows
    llm.chat.replies.extend([estimate(reach=1000, effort=2), estimate(reach=500, effort=3), estimate(effort=8)])
    ranked = run_prioritize(client, {"framework": "rice"})["ranked"]
    assert [row["backlog_item_id"] for row in ranked] == [upgrade, outage, dark]
    waits = next(row for row in ranked if row["backlog_item_id"] == outage)["dependencies"]
    assert waits == [
        {
            "item_id": upgrade,
            "evidence": "linked by a person",
            "source": "person",
            "title": "Upgrade the payment library",
        },
    ]
    for row in ranked:
        assert client.post(f"/v1/suggestions/{row['suggestion_id']}/accept", json={}).status_code == 201
    plan = client.post("/v1/sprints/plan", json={"capacity_points": 5}).json()["payload"]
    # the outage (2 points) fits 5, but not its prerequisite (8): neither is taken
    assert [i["backlog_item_id"] for i in plan["items"]] == [dark]
    assert client.get(f"/v1/backlog/{outage}").json()["depends_on"] == [upgrade]  # accepting kept the person's link


def test_a_jira_export_s_blocks_links_come_in_both_ways_and_a_link_to_an_issue_not_in_the_file_is_said(client):
    imported = client.post(
        "/v1/backlog/import?format=jira_csv", files={"file": ("jira.csv", JIRA.encode(), "text/csv")}
    ).json()
    said = "row 5: blocks SHOP-77, which no issue of the file has as its key; that link is left out"
    assert imported["problems"] == [said]
    items = by_key(client)
    assert items["SHOP-3"]["depends_on"] == sorted([items["SHOP-1"]["id"], items["SHOP-2"]["id"]])
    assert [items[k]["depends_on"] for k in ("SHOP-1", "SHOP-2", "SHOP-4")] == [[], [], []]
    # exported: each blocker names what it blocks (Jira's importer reads a link from the row's own issue)
    # by its Issue ID, as the file names a row in it; a re-import reads the same links back
    exported = client.get("/v1/backlog/export?format=jira_csv").text
    rows = list(csv.reader(io.StringIO(exported)))
    header, body = rows[0], {row[2]: row[10:] for row in rows[1:]}
    assert header[:3] == ["Issue key", "Issue ID", "Summary"] and header[10:] == ["Outward issue link (Blocks)"]
    page = str(items["SHOP-3"]["id"])
    assert (body["Checkout API"], body["Payments SDK"], body["Checkout page"]) == ([page], [page], [""])
    parsed = {i.external_id: i.depends_on_keys for i in parse_import(exported.encode(), "jira_csv").items}
    assert sorted(parsed["jira:SHOP-3"]) == ["jira:SHOP-1", "jira:SHOP-2"]
    markdown = client.get("/v1/backlog/export?format=markdown").text
    assert "* **Depends on:** SHOP-1, SHOP-2" in markdown  # bullets as `*`: no line starts as a formula


def test_a_reimport_takes_the_tracker_s_new_links_unless_a_person_changed_them_here(client):
    def upload(text: str) -> dict:
        return client.post(
            "/v1/backlog/import?format=jira_csv", files={"file": ("jira.csv", text.encode(), "text/csv")}
        ).json()

    upload(JIRA)
    ids = {k: v["id"] for k, v in by_key(client).items()}
    again = upload(JIRA.replace("To Do,SHOP-2,SHOP-1,", "To Do,SHOP-2,,").replace(",,,SHOP-3\n", ",,,\n"))
    assert [(u["external_id"], u["changed"]) for u in again["updated"]] == [("jira:SHOP-3", ["depends_on_keys"])]
    assert by_key(client)["SHOP-3"]["depends_on"] == [ids["SHOP-2"]]
    history = client.get(f"/v1/backlog/{ids['SHOP-3']}/history").json()
    assert history[-1]["action"] == "imported"
    # a person changes them here: the tracker's next change to them is kept out, and said so
    assert patch(client, ids["SHOP-3"], [ids["SHOP-4"]]).status_code == 200
    third = upload(JIRA)
    assert [(u["external_id"], u["changed"], u["kept"]) for u in third["updated"]] == [
        ("jira:SHOP-3", [], ["depends_on_keys"])
    ]
    assert by_key(client)["SHOP-3"]["depends_on"] == [ids["SHOP-4"]]


def test_our_jira_csv_carries_the_links_of_jira_items_back_into_a_fresh_backlog():
    items = [
        ExportItem(id=1, title="API", description="", item_type="feature", uid="jira:SHOP-1", blocks=["SHOP-3"]),
        ExportItem(id=2, title="SDK", description="", item_type="feature", uid="jira:SHOP-2", blocks=["SHOP-3"]),
        ExportItem(id=3, title="Page", description="", item_type="feature", uid="jira:SHOP-3"),
    ]
    content, _ = export(items, "jira_csv")
    header = next(csv.reader(io.StringIO(content)))
    assert header.count("Outward issue link (Blocks)") == 1
    content = content.replace("Summary,", "Issue key,Summary,", 1)  # a Jira issue export carries its keys
    lines = content.splitlines()
    keyed = [lines[0], *(f"SHOP-{n},{line}" for n, line in enumerate(lines[1:], start=1))]
    parsed = parse_import("\n".join(keyed).encode(), "jira_csv")
    assert parsed.problems == []
    assert [i.depends_on_keys for i in parsed.items] == [[], [], ["jira:SHOP-1", "jira:SHOP-2"]]


def test_linear_relations_of_type_blocks_are_read_from_either_side():
    issues = {
        "data": {
            "issues": {
                "nodes": [
                    {
                        "identifier": "ENG-1",
                        "title": "Auth service",
                        "relations": {"nodes": [{"type": "blocks", "relatedIssue": {"identifier": "ENG-2"}}]},
                    },
                    {
                        "identifier": "ENG-2",
                        "title": "Login page",
                        "inverseRelations": {
                            "nodes": [
                                {"type": "blocks", "issue": {"identifier": "ENG-1"}},
                                {"type": "related", "issue": {"identifier": "ENG-3"}},
                            ]
                        },
                    },
                    {"identifier": "ENG-3", "title": "SSO", "relations": [{"type": "duplicate", "relatedIssue": {}}]},
                ]
            }
        }
    }
    parsed = parse_import(json.dumps(issues).encode(), "linear_json")
    assert parsed.problems == []
    assert [i.depends_on_keys for i in parsed.items] == [[], ["linear:ENG-1"], []]


def jira_imported(tmp_path, monkeypatch) -> CliRunner:
    """A fresh data folder for the CLI (fake LLM) holding the items of `JIRA`, imported by `refinery import`."""
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")
    monkeypatch.setenv("COLUMNS", "300")
    get_settings.cache_clear()  # settings are cached per process: read this test's environment
    runner = CliRunner()
    path = tmp_path / "jira.csv"
    path.write_text(JIRA)
    assert runner.invoke(app, ["import", str(path), "--format", "jira_csv"]).exit_code == 0
    return runner


def test_backlog_edit_and_show_name_what_an_item_waits_for_and_blocks(tmp_path, monkeypatch):
    runner = jira_imported(tmp_path, monkeypatch)
    shown = runner.invoke(app, ["backlog", "show", "SHOP-3"]).output
    assert "waits for #1 Checkout API\n" in shown and "waits for #2 Payments SDK (closed)\n" in shown
    assert "blocks #3 Checkout page\n" in runner.invoke(app, ["backlog", "show", "SHOP-1"]).output
    assert "Checkout page (waits for #1, #2)" in runner.invoke(app, ["backlog", "list"]).output
    cycle = runner.invoke(app, ["backlog", "edit", "SHOP-1", "--depends-on", "SHOP-3"])
    assert cycle.exit_code == 2 and "#3 waits for #1: #1 cannot also wait for #3, that would be a cycle" in cycle.output
    assert "Traceback" not in cycle.output
    for bad, says in [
        (["--depends-on", "SHOP-9"], "no backlog item with id or key 'SHOP-9'"),
        (["--depends-on", "1", "--no-depends-on"], "contradict"),
    ]:
        refused = runner.invoke(app, ["backlog", "edit", "SHOP-4", *bad])
        assert refused.exit_code == 2 and says in " ".join(refused.output.split()), refused.output
    edited = runner.invoke(app, ["backlog", "edit", "SHOP-4", "--depends-on", "SHOP-1", "--depends-on", "2"])
    assert edited.output.strip() == "#4 Receipts: depends_on changed", edited.output
    assert "blocks #4 Receipts" in runner.invoke(app, ["backlog", "show", "1"]).output
    cleared = runner.invoke(app, ["backlog", "edit", "3", "--no-depends-on"])
    assert cleared.exit_code == 0 and "waits for" not in runner.invoke(app, ["backlog", "show", "3"]).output


def test_a_link_from_the_tracker_is_shown_as_the_trackers_and_one_a_person_changed_as_theirs(client, llm):
    client.post("/v1/backlog/import?format=jira_csv", files={"file": ("jira.csv", JIRA.encode(), "text/csv")})
    items = by_key(client)
    page, api, sdk = (items[k]["id"] for k in ("SHOP-3", "SHOP-1", "SHOP-2"))
    llm.chat.replies.extend([estimate(effort=3)])
    (row,) = run_prioritize(client, {"framework": "rice", "item_ids": [page]})["ranked"]
    assert [(d["item_id"], d["evidence"], d["source"]) for d in row["dependencies"]] == [
        (api, "linked in the tracker (SHOP-1)", "tracker"),
        (sdk, "linked in the tracker (SHOP-2)", "tracker"),
    ]
    assert patch(client, page, [api]).status_code == 200  # a person changes them here: theirs from now on
    llm.chat.replies.extend([estimate(effort=3)])
    (row,) = run_prioritize(client, {"framework": "rice", "item_ids": [page]})["ranked"]
    assert [(d["item_id"], d["source"]) for d in row["dependencies"]] == [(api, "person")]
