"""Several backlog items edited alike (Jira's bulk change): labels added or removed, the type, closed or reopened,
each change in its item's history, through the API and the CLI."""

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
