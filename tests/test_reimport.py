"""Items that change after they came in: re-importing a tracker's export applies what the tracker changed since the
last import and keeps (and says) what was changed here too; a person edits an item; the item's history keeps both;
suggestions made from the old text become stale."""

from __future__ import annotations

import csv
import io

from sqlalchemy import update

from service.core.tables import BacklogItem

HEADER = ["Summary", "Issue key", "Issue Type", "Priority", "Labels", "Description", "Story Points", "Parent"]
ROWS = [
    ["Checkout fails on Safari", "SHOP-1", "Bug", "High", "checkout", "Paying with Apple Pay fails.", "3", ""],
    ["Saved carts", "SHOP-2", "Story", "Medium", "carts", "As a shopper I want to save my cart.", "5", ""],
    ["Export orders to CSV", "SHOP-3", "Story", "Low", "", "Ops exports orders.", "2", ""],
]


def jira_csv(rows: list[list[str]]) -> dict[str, tuple[str, bytes, str]]:
    out = io.StringIO()
    csv.writer(out).writerows([HEADER, *rows])
    return {"file": ("jira.csv", out.getvalue().encode(), "text/csv")}


def changed(rows: list[list[str]], key: str, **fields: str) -> list[list[str]]:
    """The rows with the issue `key`'s columns (by header name, spaces as underscores) changed."""
    return [
        [fields.get(name.replace(" ", "_"), value) for name, value in zip(HEADER, row, strict=True)]
        if row[1] == key
        else row
        for row in rows
    ]


def imported(client, rows: list[list[str]]) -> dict:
    response = client.post("/v1/backlog/import?format=jira_csv", files=jira_csv(rows))
    assert response.status_code == 201, response.text
    return response.json()


def ids(client) -> dict[str, int]:
    return {i["external_id"].split(":")[-1]: i["id"] for i in client.get("/v1/backlog").json()}


def test_a_reimport_applies_what_the_tracker_changed_and_skips_the_rest(client):
    imported(client, ROWS)
    rows = changed(ROWS, "SHOP-1", Summary="Checkout fails on Safari 17", Story_Points="5")
    rows = changed(rows, "SHOP-2", Labels="", Description="As a shopper I want to keep my cart for a week.")
    again = imported(client, rows)
    assert again["created"] == []
    assert {(u["external_id"], tuple(u["changed"]), tuple(u["kept"])) for u in again["updated"]} == {
        ("jira:SHOP-1", ("title", "story_points"), ()),
        ("jira:SHOP-2", ("description", "labels"), ()),
    }
    assert [s["external_id"] for s in again["skipped"]] == ["jira:SHOP-3"]
    assert "unchanged in the tracker" in again["skipped"][0]["reason"]
    item = client.get(f"/v1/backlog/{ids(client)['SHOP-1']}").json()
    assert (item["title"], item["story_points"], item["priority"]) == ("Checkout fails on Safari 17", 5, "High")
    assert client.get(f"/v1/backlog/{ids(client)['SHOP-2']}").json()["labels"] == []
    # the index has the new text: a search for it finds the item
    found = client.post("/v1/duplicates/search", json={"text": "keep my shopping cart for a week", "k": 1}).json()
    assert found[0]["item_id"] == ids(client)["SHOP-2"]
    third = imported(client, rows)  # the same file again: nothing left to apply
    assert third["updated"] == [] and len(third["skipped"]) == 3


def test_a_field_changed_here_and_in_the_tracker_keeps_the_value_here(client):
    imported(client, ROWS)
    item = ids(client)["SHOP-3"]
    assert client.patch(f"/v1/backlog/{item}/priority", json={"priority": "Highest"}).status_code == 200
    rows = changed(ROWS, "SHOP-3", Priority="Lowest", Summary="Export orders and refunds to CSV")
    again = imported(client, rows)
    assert [(u["changed"], u["kept"]) for u in again["updated"]] == [(["title"], ["priority"])]
    after = client.get(f"/v1/backlog/{item}").json()
    assert (after["title"], after["priority"]) == ("Export orders and refunds to CSV", "Highest")
    # said once: the tracker's value is now the last import's, so the same file again raises nothing
    assert imported(client, rows)["updated"] == []


def test_a_pending_estimate_of_an_item_the_tracker_changed_is_stale(client):
    imported(client, ROWS)
    item = ids(client)["SHOP-3"]
    client.post("/v1/backlog/import?format=jira_csv", files=jira_csv(changed(ROWS, "SHOP-3", Story_Points="")))
    made = client.post(f"/v1/backlog/{item}/estimate")
    assert made.status_code == 201, made.text
    imported(client, changed(ROWS, "SHOP-3", Story_Points="", Description="Ops exports orders and refunds."))
    accepted = client.post(f"/v1/suggestions/{made.json()['id']}/accept")
    assert accepted.status_code == 409 and "stale" in accepted.json()["detail"]
    assert client.get(f"/v1/backlog/{item}").json()["story_points"] is None  # nothing written


def test_an_item_imported_before_fields_were_kept_takes_changes_unless_a_person_changed_it(client):
    imported(client, ROWS)
    runtime = client.app.state.runtime
    with runtime.db.session() as session:
        session.execute(update(BacklogItem).values(imported=None))  # as a database from before 2026-11-27 has it
    item = ids(client)["SHOP-1"]
    assert client.patch(f"/v1/backlog/{item}/priority", json={"priority": "Highest"}).status_code == 200
    rows = changed(ROWS, "SHOP-1", Summary="Checkout fails on Safari 17")
    rows = changed(rows, "SHOP-2", Summary="Saved carts for a week")
    again = imported(client, rows)
    assert {u["external_id"]: (u["changed"], u["kept"]) for u in again["updated"]} == {
        "jira:SHOP-1": ([], ["title", "priority"]),  # a person changed it here: every field that differs is kept
        "jira:SHOP-2": (["title"], []),
    }
    assert client.get(f"/v1/backlog/{item}").json()["title"] == "Checkout fails on Safari"


def test_a_repeated_record_and_a_merged_item_are_skipped_with_why(client):
    rows = [*ROWS, changed(ROWS, "SHOP-1", Summary="Another title")[0]]
    first = imported(client, rows)
    assert len(first["created"]) == 3
    assert [s["reason"] for s in first["skipped"]] == [
        "repeats an earlier record of this import with the same external_id"
    ]
    runtime = client.app.state.runtime
    shop = ids(client)
    with runtime.db.session() as session:
        session.get(BacklogItem, shop["SHOP-2"]).merged_into_id = shop["SHOP-1"]
    again = imported(client, changed(ROWS, "SHOP-2", Summary="Saved carts for a week"))
    reasons = {s["external_id"]: s["reason"] for s in again["skipped"]}
    assert reasons["jira:SHOP-2"].startswith(f"merged into backlog item #{shop['SHOP-1']} here")
    assert again["updated"] == []


def test_a_parent_changed_in_the_tracker_is_linked_again(client):
    imported(client, ROWS)
    shop = ids(client)
    again = imported(client, changed(ROWS, "SHOP-3", Parent="SHOP-2"))
    assert [u["changed"] for u in again["updated"]] == [["parent"]]
    assert client.get(f"/v1/backlog/{shop['SHOP-3']}").json()["parent_id"] == shop["SHOP-2"]


def test_closed_issues_are_history_not_work(client, llm):
    """Done or cancelled in the tracker: comparables for estimates, but no refinement, queue row or priority."""
    rows = [[*ROWS[0][:5], "Done already.", "3", ""], *ROWS[1:]]
    header = [*HEADER, "Status"]
    out = io.StringIO()
    csv.writer(out).writerows([header, *[[*r, "Done" if r[1] == "SHOP-1" else "To Do"] for r in rows]])
    made = client.post("/v1/backlog/import?format=jira_csv", files={"file": ("j.csv", out.getvalue().encode())})
    assert [i["closed"] for i in made.json()["created"]] == [True, False, False]
    shop = ids(client)
    queue = client.get("/v1/refine/queue").json()
    assert shop["SHOP-1"] not in {row["item"]["id"] for row in queue}  # it has findings, but it is done
    assert client.post("/v1/refine", json={}).status_code == 202
    job = client.get("/v1/refine/jobs/1").json()
    assert job["total"] == 2  # the open items only
    # a new item's estimate still learns from the done one
    (new,) = [
        i["id"] for i in client.post("/v1/backlog/items", json={"title": "Checkout fails on Firefox"}).json()["created"]
    ]
    comparables = client.post(f"/v1/backlog/{new}/estimate").json()["payload"]["comparables"]
    assert shop["SHOP-1"] in {c["item_id"] for c in comparables}
    # the tracker reopens it: a re-import says so
    reopened = client.post("/v1/backlog/import?format=jira_csv", files=jira_csv(rows)).json()  # no Status column
    assert [(u["external_id"], u["changed"]) for u in reopened["updated"]] == [("jira:SHOP-1", ["closed"])]


def test_a_person_edits_an_item_its_history_keeps_it_and_a_reimport_keeps_the_edit(client):
    imported(client, ROWS)
    item = ids(client)["SHOP-2"]
    edit = {"title": "Saved carts for a week", "story_points": None, "labels": ["Carts", "retention"]}
    edited = client.patch(f"/v1/backlog/{item}", json=edit, headers={"X-User": "pat"})
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["title"], body["story_points"], body["labels"]) == (
        "Saved carts for a week",
        None,
        ["carts", "retention"],
    )
    found = client.post("/v1/duplicates/search", json={"text": "saved carts for a week", "k": 1}).json()
    assert found[0]["item_id"] == item and found[0]["title"] == "Saved carts for a week"  # indexed again
    # the tracker changes the title and the description: the title stays as edited here, the description comes in
    rows = changed(ROWS, "SHOP-2", Summary="Saved carts v2", Description="Keep carts.")
    again = imported(client, rows)
    assert [(u["changed"], u["kept"]) for u in again["updated"]] == [(["description"], ["title"])]
    history = client.get(f"/v1/backlog/{item}/history").json()
    assert [(e["action"], e["actor"]) for e in history] == [("edited", "pat"), ("imported", None)]
    assert history[0]["before"] == {"title": "Saved carts", "labels": ["carts"], "story_points": 5}
    assert history[1]["after"] == {"description": "Keep carts."}
    assert client.patch(f"/v1/backlog/{item}", json=edit).json()["title"] == "Saved carts for a week"  # no change
    assert len(client.get(f"/v1/backlog/{item}/history").json()) == 2  # an edit that changes nothing is no event


def test_an_item_added_by_a_person_records_who_added_it_and_a_trackers_item_does_not(client):
    mine = {"title": "Export invoices as PDF", "labels": ["Billing"], "story_points": 3}
    theirs = {"title": "Dark mode", "external_id": "jira:SHOP-9"}
    added = client.post("/v1/backlog/items", json=[mine, theirs], headers={"X-User": "ana"})
    assert added.status_code == 201, added.text
    first, second = (i["id"] for i in added.json()["created"])
    history = client.get(f"/v1/backlog/{first}/history").json()
    assert [(e["action"], e["actor"], e["before"], e["after"]) for e in history] == [("added", "ana", {}, {})]
    assert client.get(f"/v1/backlog/{second}/history").json() == []  # its origin is its tracker
    unnamed = client.post("/v1/backlog/items", json={"title": "Offline mode"}).json()["created"][0]["id"]
    assert [(e["action"], e["actor"]) for e in client.get(f"/v1/backlog/{unnamed}/history").json()] == [("added", None)]


def test_a_bad_edit_says_what_to_fix_and_changes_nothing(client):
    imported(client, ROWS)
    item = ids(client)["SHOP-1"]
    for body, says in (
        ({}, "nothing to change"),
        ({"title": None}, "title cannot be null"),
        ({"title": "  "}, "at least 1 character"),
        ({"story_points": -1}, "greater than or equal to 0"),
        ({"status": "done"}, "Extra inputs are not permitted"),
    ):
        refused = client.patch(f"/v1/backlog/{item}", json=body)
        assert refused.status_code == 422 and says in refused.text, (body, refused.text)
    assert client.patch("/v1/backlog/999", json={"title": "X"}).status_code == 404
    assert client.get(f"/v1/backlog/{item}").json()["title"] == "Checkout fails on Safari"
    assert client.get(f"/v1/backlog/{item}/history").json() == []


def test_closing_an_item_by_hand_takes_it_out_of_the_queue_and_makes_its_estimate_stale(client):
    imported(client, changed(ROWS, "SHOP-3", Story_Points=""))
    item = ids(client)["SHOP-3"]
    made = client.post(f"/v1/backlog/{item}/estimate").json()
    assert item in {row["item"]["id"] for row in client.get("/v1/refine/queue").json()}
    assert client.patch(f"/v1/backlog/{item}", json={"closed": True}).json()["closed"] is True
    assert item not in {row["item"]["id"] for row in client.get("/v1/refine/queue").json()}
    reopened = client.patch(f"/v1/backlog/{item}", json={"closed": False, "description": "Ops and finance."}).json()
    assert reopened["closed"] is False
    assert client.post(f"/v1/suggestions/{made['id']}/accept").status_code == 409  # made from the old text
