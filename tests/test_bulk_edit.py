"""Several backlog items edited alike (Jira's bulk change): labels added or removed, the type, closed or reopened,
moved under an epic or out of any, each change in its item's history, through the API and the CLI."""

from __future__ import annotations

from service.cli import app
from tests.test_dependencies import add, jira_imported


def test_several_items_are_edited_alike_each_in_its_history_and_an_unknown_one_is_said(client):
    a, b, c = add(client, "Checkout API", "Payments SDK", "Checkout page")
    assert client.patch(f"/v1/backlog/{a}", json={"labels": ["Payments", "old"]}).status_code == 200
    body = {"item_ids": [a, b, c, 999, a], "add_labels": ["Q3"], "remove_labels": ["old"], "closed": True}
    done = client.post("/v1/backlog/edit", json=body, headers={"X-User": "ana"})
    assert done.status_code == 200, done.text
    assert done.json() == {
        "changed": [a, b, c],
        "unchanged": [],
        "refused": [{"id": 999, "detail": "no backlog item with this id"}],
    }
    items = {i["id"]: i for i in client.get("/v1/backlog").json()}
    assert [(items[i]["labels"], items[i]["closed"]) for i in (a, b, c)] == [
        (["payments", "q3"], True),
        (["q3"], True),
        (["q3"], True),
    ]
    (event,) = [e for e in client.get(f"/v1/backlog/{b}/history").json() if e["action"] == "edited"]
    assert (event["actor"], event["before"], event["after"]) == (
        "ana",
        {"labels": [], "closed": False},
        {"labels": ["q3"], "closed": True},
    )
    again = client.post("/v1/backlog/edit", json={"item_ids": [a, b], "closed": True}).json()
    assert (again["changed"], again["unchanged"]) == ([], [a, b])
    for bad, says in [
        ({"item_ids": [a]}, "nothing to change"),
        ({"item_ids": [], "closed": True}, "at least 1 item"),
        ({"item_ids": [a], "add_labels": ["x"], "remove_labels": ["X"]}, "x both added and removed"),
        ({"item_ids": list(range(1, 502)), "closed": True}, "at most 500 items"),
    ]:
        refused = client.post("/v1/backlog/edit", json=bad)
        assert refused.status_code == 422 and says in refused.text, (bad, refused.text)


def test_backlog_bulk_edits_items_by_id_or_key(tmp_path, monkeypatch):
    runner = jira_imported(tmp_path, monkeypatch)
    done = runner.invoke(app, ["backlog", "bulk", "SHOP-1", "SHOP-2", "3", "--add-label", "q3", "--as", "bo"])
    assert done.exit_code == 0, done.output
    assert "3 changed: #1, #2, #3" in done.output
    closed = runner.invoke(app, ["backlog", "bulk", "1", "2", "--close"])
    assert "1 changed: #1" in closed.output and "1 already so: #2" in closed.output  # SHOP-2 was done already
    for bad, says in [
        (["1"], "nothing to change"),
        (["SHOP-9", "--close"], "no backlog item with id or key 'SHOP-9'"),
    ]:
        refused = runner.invoke(app, ["backlog", "bulk", *bad])
        assert refused.exit_code == 2 and says in " ".join(refused.output.split()), refused.output


def test_several_items_are_moved_under_an_epic_and_out_and_one_that_cannot_go_there_is_said(client):
    epic, a, b = add(client, "Checkout", "Checkout API", "Checkout page")
    moved = client.post("/v1/backlog/edit", json={"item_ids": [a, b, epic], "parent_id": epic}).json()
    assert moved == {
        "changed": [a, b],
        "unchanged": [],
        "refused": [{"id": epic, "detail": f"item #{epic} cannot be its own parent: give another parent_id, or null "
                     "for none"}],
    }  # fmt: skip
    assert [client.get(f"/v1/backlog/{i}").json()["parent_id"] for i in (a, b, epic)] == [epic, epic, None]
    cycle = client.post("/v1/backlog/edit", json={"item_ids": [epic], "parent_id": a}).json()
    assert cycle["refused"][0]["detail"].endswith("that would be a cycle") and cycle["changed"] == []
    out = client.post("/v1/backlog/edit", json={"item_ids": [a, b], "parent_id": None}).json()
    assert out["changed"] == [a, b] and client.get(f"/v1/backlog/{a}").json()["parent_id"] is None
    history = [e["after"] for e in client.get(f"/v1/backlog/{b}/history").json() if e["action"] == "edited"]
    assert history == [{"parent_id": epic}, {"parent_id": None}]
    unknown = client.post("/v1/backlog/edit", json={"item_ids": [a], "parent_id": 999})
    assert unknown.status_code == 422 and "parent_id: #999 is no backlog item" in unknown.text


def test_backlog_bulk_moves_items_under_an_epic_by_key(tmp_path, monkeypatch):
    runner = jira_imported(tmp_path, monkeypatch)
    done = runner.invoke(app, ["backlog", "bulk", "SHOP-3", "SHOP-4", "--parent", "SHOP-1"])
    assert done.exit_code == 0 and "2 changed: #3, #4" in done.output, done.output
    assert "child #3 Checkout page" in runner.invoke(app, ["backlog", "show", "SHOP-1"]).output
    out = runner.invoke(app, ["backlog", "bulk", "3", "--no-parent"])
    assert out.exit_code == 0 and "1 changed: #3" in out.output
    both = runner.invoke(app, ["backlog", "bulk", "3", "--parent", "1", "--no-parent"])
    assert both.exit_code == 2 and "contradict" in both.output
