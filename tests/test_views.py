"""Saved views (`/v1/views`, `refinery view`): named filters of the review queue or the backlog, shared with the
project, checked and written in one order; one name once a project; removed by who saved them or an admin; projects
keep theirs apart."""

from __future__ import annotations

from typer.testing import CliRunner

from service.cli import app
from tests.test_access import make_users


def save(client, name: str, tab: str, query: str = "", **headers: str):  # noqa: ANN001, ANN201
    return client.post("/v1/views", json={"name": name, "tab": tab, "query": query}, headers=headers)


def test_views_are_saved_listed_by_tab_and_name_and_their_filters_written_in_one_order(client):
    made = save(client, "  Billing, open  ", "backlog", "state=open&label=billing", **{"X-User": "ana"})
    assert made.status_code == 201, made.text
    view = made.json()
    assert (view["name"], view["tab"], view["query"], view["created_by"]) == (
        "Billing, open", "backlog", "label=billing&state=open", "ana"
    )  # fmt: skip
    assert save(client, "Failed estimates", "review", "?status=failed&kind=estimate").json()["query"] == (
        "kind=estimate&status=failed"
    )
    assert save(client, "Everything", "review", "status=all").json()["query"] == "status=all"
    assert save(client, "Everything too", "review", "status=").json()["query"] == "status=all"  # as written before
    assert save(client, "Search", "backlog", "q=export+pdf").json()["query"] == "q=export+pdf"
    assert [v["name"] for v in client.get("/v1/views").json()] == [
        "Billing, open",
        "Everything",
        "Everything too",
        "Failed estimates",
        "Search",
    ]
    assert [v["name"] for v in client.get("/v1/views?tab=review").json()] == [
        "Everything",
        "Everything too",
        "Failed estimates",
    ]
    taken = save(client, "Billing, open", "review")
    assert taken.status_code == 409 and "a view named 'Billing, open' already" in taken.json()["detail"]


def test_bad_views_are_refused_saying_what_to_fix(client):
    cases = {
        ("backlog", "colour=red"): "'colour' is not a filter of the backlog tab: use q, type, label, under, state",
        ("review", "kind=story&kind=merge"): "'story' is not a value of 'kind': use one of action_item,",
        ("review", "status=done"): "'done' is not a value of 'status': use one of accepted, all, failed,",
        ("backlog", "label=a&label=b"): "the filter 'label' is given twice",
        ("backlog", "q=" + "x" * 201): "at most 200",
    }
    for (tab, query), said in cases.items():
        refused = save(client, "Bad", tab, query)
        assert refused.status_code == 422 and said in refused.json()["detail"], (query, refused.text)
    for body in ({"name": "", "tab": "review"}, {"name": "x", "tab": "draft"}, {"name": "x", "tab": "review", "y": 1}):
        assert client.post("/v1/views", json=body).status_code == 422, body
    assert client.get("/v1/views?tab=draft").status_code == 422
    assert client.get("/v1/views").json() == []


def test_a_view_is_removed_by_who_saved_it_or_an_admin_and_projects_keep_theirs_apart(client):
    tokens = make_users(client)
    as_ = {name: {"Authorization": f"Bearer {tokens[name]}"} for name in ("viewer", "reviewer", "admin")}
    mine = save(client, "Mine", "backlog", "state=open", **as_["reviewer"]).json()
    theirs = save(client, "The admin's", "backlog", "state=closed", **as_["admin"]).json()
    assert mine["created_by"] == "reviewer"
    assert save(client, "A viewer's", "backlog", **as_["viewer"]).status_code == 403
    assert len(client.get("/v1/views", headers=as_["viewer"]).json()) == 2
    refused = client.delete(f"/v1/views/{theirs['id']}", headers=as_["reviewer"])
    assert refused.status_code == 403 and "only they or an admin remove it" in refused.json()["detail"]
    assert client.delete(f"/v1/views/{mine['id']}", headers=as_["admin"]).status_code == 204
    assert client.delete(f"/v1/views/{mine['id']}", headers=as_["admin"]).status_code == 404
    assert client.post("/v1/projects", json={"key": "ops", "name": "Ops"}, headers=as_["admin"]).status_code == 201
    assert client.get("/v1/views?project=ops", headers=as_["admin"]).json() == []
    same_name = {"name": "The admin's", "tab": "backlog", "query": "state=open"}
    assert client.post("/v1/views?project=ops", json=same_name, headers=as_["admin"]).status_code == 201
    assert [v["query"] for v in client.get("/v1/views", headers=as_["admin"]).json()] == ["state=closed"]


def test_the_cli_saves_lists_and_removes_views(cli_home):
    runner = CliRunner()
    added = runner.invoke(
        app, ["view", "add", "Billing", "--tab", "backlog", "state=open&label=billing", "--as", "ana"]
    )
    assert added.exit_code == 0 and "Saved view 'Billing': #backlog?label=billing&state=open" in added.output
    bad = runner.invoke(app, ["view", "add", "Bad", "--tab", "review", "colour=red"])
    assert bad.exit_code == 2 and "'colour' is not a filter of the review tab" in bad.output
    listed = runner.invoke(app, ["view", "list"], env={"COLUMNS": "200"})
    assert (
        "Billing" in listed.output and "#backlog?label=billing&state=open" in listed.output and "ana" in listed.output
    )
    assert runner.invoke(app, ["view", "remove", "Billing"]).exit_code == 0
    missing = runner.invoke(app, ["view", "remove", "Billing"])
    assert missing.exit_code == 2 and "no view 'Billing'" in missing.output


def test_the_cli_lists_the_backlog_and_the_queue_through_a_saved_view(cli_home, monkeypatch):
    monkeypatch.setenv("REFINERY_DUPLICATE_CHECK", "false")
    runner = CliRunner()
    for title, label in (("Export invoices", "billing"), ("Dark mode", "ui")):
        assert runner.invoke(app, ["backlog", "add", title, "--label", label]).exit_code == 0
    runner.invoke(app, ["view", "add", "Billing", "--tab", "backlog", "label=billing"])
    runner.invoke(app, ["view", "add", "Failed", "--tab", "review", "status=failed"])
    shown = runner.invoke(app, ["backlog", "list", "--view", "Billing"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "Export invoices" in shown.output and "Dark mode" not in shown.output, shown.output
    both = runner.invoke(app, ["backlog", "list", "--view", "Billing", "--label", "ui"], env={"COLUMNS": "200"})
    assert "Dark mode" in both.output and "Export invoices" not in both.output  # an option given wins
    exported = runner.invoke(app, ["export", "--format", "markdown", "--view", "Billing"])
    assert "## Export invoices" in exported.output and "## Dark mode" not in exported.output, exported.output
    wrong = runner.invoke(app, ["backlog", "list", "--view", "Failed"])
    assert wrong.exit_code == 2 and "filters the review tab, not the backlog" in wrong.output
    queue = runner.invoke(app, ["review", "list", "--view", "Failed"])
    assert queue.exit_code == 0, queue.output
    assert runner.invoke(app, ["review", "list", "--view", "Nothing"]).exit_code == 2
