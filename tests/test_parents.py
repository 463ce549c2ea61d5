"""An item's parent (the epic a split makes it a child of) set, changed and taken away by a person: checked, kept in
its history, shown and written by the CLI; a tracker's own parent change is taken by a pull unless a person moved
the item here since (tests/test_trackers.py sends a move to the trackers)."""

from __future__ import annotations

from sqlalchemy import update

from service.cli import app
from service.core.tables import BacklogItem
from tests.test_dependencies import add, jira_imported


def under(client, item: int, parent, user: str = "pat"):
    return client.patch(f"/v1/backlog/{item}", json={"parent_id": parent}, headers={"X-User": user})


def test_a_person_puts_an_item_under_another_moves_it_and_takes_it_out_and_its_history_keeps_each(client):
    epic, other, story = add(client, "Checkout", "Payments", "Pay by card")
    moved = under(client, story, epic)
    assert moved.status_code == 200 and moved.json()["parent_id"] == epic, moved.text
    assert under(client, story, other).json()["parent_id"] == other
    assert under(client, story, other).status_code == 200  # the same again: no change, no event
    listed = client.get("/v1/backlog", params={"parent_id": other})
    assert [i["id"] for i in listed.json()] == [story] and listed.headers["X-Total-Count"] == "1"
    exported = client.get("/v1/backlog/export", params={"format": "markdown", "parent_id": other}).text
    assert "Pay by card" in exported and "Checkout" not in exported
    out = under(client, story, None)
    assert out.status_code == 200 and out.json()["parent_id"] is None
    history = [(e["actor"], e["before"], e["after"]) for e in client.get(f"/v1/backlog/{story}/history").json()]
    assert history[1:] == [
        ("pat", {"parent_id": None}, {"parent_id": epic}),
        ("pat", {"parent_id": epic}, {"parent_id": other}),
        ("pat", {"parent_id": other}, {"parent_id": None}),
    ]


def test_an_item_under_itself_an_unknown_or_merged_item_or_its_own_child_is_refused_and_changes_nothing(client):
    epic, story, task, merged = add(client, "Checkout", "Pay by card", "Card form", "Merged away")
    assert under(client, story, epic).status_code == 200
    assert under(client, task, story).status_code == 200  # task under story under epic
    with client.app.state.runtime.db.session() as session:
        session.execute(update(BacklogItem).where(BacklogItem.id == merged).values(merged_into_id=story))
    for parent, says in [
        (epic, f"item #{epic} cannot be its own parent"),
        (task + 1000, f"parent_id names no backlog item with id {task + 1000}"),
        (task, f"#{task} under #{story} under #{epic}: #{epic} cannot also be under #{task}, that would be a cycle"),
        (merged, f"item #{merged} was merged into #{story}: put it under that one"),
        (0, "greater than or equal to 1"),
    ]:
        refused = under(client, epic, parent)
        assert refused.status_code == 422 and says in refused.text, (parent, refused.text)
    assert client.get(f"/v1/backlog/{epic}").json()["parent_id"] is None
    assert len(client.get(f"/v1/backlog/{epic}/history").json()) == 1  # added; no edit


def test_backlog_edit_puts_an_item_under_another_by_key_and_says_what_to_fix(tmp_path, monkeypatch):
    runner = jira_imported(tmp_path, monkeypatch)  # SHOP-1 Checkout API ... SHOP-4 Receipts
    edited = runner.invoke(app, ["backlog", "edit", "SHOP-4", "--parent", "SHOP-1"])
    assert edited.output.strip() == "#4 Receipts: parent_id changed", edited.output
    assert "child of #1" in runner.invoke(app, ["backlog", "show", "SHOP-4"]).output
    assert "child #4 Receipts" in runner.invoke(app, ["backlog", "show", "SHOP-1"]).output
    listed = runner.invoke(app, ["backlog", "list", "--parent", "SHOP-1"]).output
    assert "Backlog (1 item)" in listed and "Receipts (child of #1)" in listed, listed
    nowhere = runner.invoke(app, ["backlog", "list", "--parent", "SHOP-9"])
    assert nowhere.exit_code == 2 and "no backlog item with id or key 'SHOP-9'" in " ".join(nowhere.output.split())
    for bad, says in [
        (["--parent", "SHOP-9"], "no backlog item with id or key 'SHOP-9'"),
        (["--parent", "1", "--no-parent"], "contradict"),
        (["--parent", "SHOP-4"], "cannot be its own parent"),
    ]:
        refused = runner.invoke(app, ["backlog", "edit", "SHOP-4", *bad])
        assert refused.exit_code == 2 and says in " ".join(refused.output.split()), refused.output
        assert "Traceback" not in refused.output
    cycle = runner.invoke(app, ["backlog", "edit", "SHOP-1", "--parent", "4"])
    assert cycle.exit_code == 2 and "#1 cannot also be under #4, that would be a cycle" in cycle.output
    out = runner.invoke(app, ["backlog", "edit", "4", "--no-parent"])
    assert out.exit_code == 0 and "child of" not in runner.invoke(app, ["backlog", "show", "4"]).output


def test_an_item_of_another_project_is_no_parent(client):
    from tests.test_projects import make_projects

    make_projects(client)
    shop = client.get("/v1/backlog?project=shop").json()
    mobile = client.get("/v1/backlog?project=mobile").json()
    across = client.patch(f"/v1/backlog/{shop[0]['id']}?project=shop", json={"parent_id": mobile[0]["id"]})
    assert across.status_code == 422 and f"names no backlog item with id {mobile[0]['id']}" in across.text
    body = {"item_ids": [shop[0]["id"]], "parent_id": mobile[0]["id"]}
    bulk = client.post("/v1/backlog/edit?project=shop", json=body)
    assert bulk.status_code == 422 and "is no backlog item" in bulk.text
