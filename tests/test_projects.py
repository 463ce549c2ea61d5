"""Projects: several backlogs per instance. A project's items, suggestions, jobs, strategy, exports and duplicate
index (in the vector store too) are invisible from another; routes without `?project=` act on the default project;
roles are per project and a project that is not yours is a 404, like one that does not exist."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from service.accounts import service as accounts
from service.cli import app as cli
from service.core import scope
from service.core.enums import Role
from service.core.settings import get_settings
from tests.conftest import story_json

SHOP = [
    {
        "title": "Filter search results by price range",
        "description": "Min and max price filters.",
        "external_id": "S-1",
    },
    {
        "title": "Password reset email never arrives",
        "description": "The reset link is not received.",
        "external_id": "S-2",
    },
]
MOBILE = [
    {"title": "Password reset mail does not arrive on Android", "description": "No reset link.", "external_id": "S-2"}
]


def make_projects(client) -> None:
    for key in ("shop", "mobile"):
        assert client.post("/v1/projects", json={"key": key, "name": key.title()}).status_code == 201
    assert client.post("/v1/backlog/items?project=shop", json=SHOP).status_code == 201
    assert client.post("/v1/backlog/items?project=mobile", json=MOBILE).status_code == 201  # the same key: its own


def test_a_projects_items_suggestions_and_searches_stay_in_it(client, llm):
    make_projects(client)
    shop = client.get("/v1/backlog?project=shop").json()
    mobile = client.get("/v1/backlog?project=mobile").json()
    assert [i["title"] for i in shop] == [i["title"] for i in SHOP] and len(mobile) == 1
    assert client.get("/v1/backlog").json() == []  # the default project has none
    assert client.get(f"/v1/backlog/{shop[0]['id']}?project=mobile").status_code == 404
    assert (
        client.patch(f"/v1/backlog/{shop[0]['id']}/priority?project=mobile", json={"priority": "High"}).status_code
        == 404
    )
    found = client.post(
        "/v1/duplicates/search?project=mobile", json={"text": "password reset email never arrives", "k": 5}
    )
    assert {c["item_id"] for c in found.json()} == {mobile[0]["id"]}  # the vector store never crosses projects
    found = client.post(
        "/v1/duplicates/search?project=shop", json={"text": "password reset email never arrives", "k": 5}
    )
    assert mobile[0]["id"] not in {c["item_id"] for c in found.json()}
    llm.chat.replies.append(story_json())
    draft = client.post("/v1/drafts?project=mobile", json={"text": "customers want a price filter"}).json()
    assert [s["id"] for s in client.get("/v1/suggestions?project=mobile").json()] == [draft["id"]]
    assert client.get("/v1/suggestions?project=shop").json() == []
    assert client.get(f"/v1/suggestions/{draft['id']}?project=shop").status_code == 404
    assert client.post(f"/v1/suggestions/{draft['id']}/accept?project=shop").status_code == 404
    assert "Filter search results by price" not in client.get("/v1/backlog/export?project=mobile&format=markdown").text


def test_strategy_and_jobs_are_per_project(client):
    make_projects(client)
    assert client.put("/v1/strategy?project=shop", json={"text": "Grow repeat purchases"}).status_code == 200
    assert client.get("/v1/strategy?project=shop").json()["text"] == "Grow repeat purchases"
    assert client.get("/v1/strategy?project=mobile").status_code == 404
    job = client.post("/v1/refine?project=mobile", json={}).json()
    assert client.get(f"/v1/refine/jobs/{job['job_id']}?project=shop").status_code == 404
    assert client.get(f"/v1/refine/jobs/{job['job_id']}?project=mobile").status_code == 200
    assert [j["id"] for j in client.get("/v1/jobs?project=shop").json()] == []


def test_an_unknown_project_is_a_404_that_says_how_to_list_them(client):
    reply = client.get("/v1/backlog?project=nope")
    assert reply.status_code == 404 and "GET /v1/projects" in reply.json()["detail"]
    assert client.get("/v1/backlog?project=bad%20key").status_code == 422


def test_roles_are_per_project_and_someone_elses_project_is_not_found(client):
    make_projects(client)
    runtime = client.app.state.runtime
    with runtime.db.session() as session:
        accounts.add_user(session, "ada", Role.admin)  # default project
        ada = accounts.create_token(session, "ada")[1]
    with scope.in_project(2), runtime.db.session() as session:  # shop
        accounts.add_user(session, "rey", Role.reviewer)
        rey = accounts.create_token(session, "rey")[1]
    with scope.in_project(3), runtime.db.session() as session:  # mobile
        accounts.set_role(session, "rey", Role.viewer)
    as_rey = {"Authorization": f"Bearer {rey}"}
    projects = client.get("/v1/projects", headers=as_rey).json()
    assert [(p["key"], p["role"]) for p in projects] == [("shop", "reviewer"), ("mobile", "viewer")]
    assert client.get("/v1/backlog?project=shop", headers=as_rey).status_code == 200
    assert client.post("/v1/backlog/items?project=mobile", json=SHOP, headers=as_rey).status_code == 403
    missing = client.get("/v1/backlog", headers=as_rey)  # the default project: exists, not rey's
    nowhere = client.get("/v1/backlog?project=nope", headers=as_rey)
    assert missing.status_code == nowhere.status_code == 404
    assert missing.json()["detail"].replace("'default'", "X") == nowhere.json()["detail"].replace("'nope'", "X")
    as_ada = {"Authorization": f"Bearer {ada}"}
    assert client.get("/v1/backlog?project=shop", headers=as_ada).status_code == 404  # admin elsewhere only
    made = client.post("/v1/projects", json={"key": "ops"}, headers=as_ada)
    assert made.status_code == 201 and made.json()["role"] == "admin"
    assert client.get("/v1/users?project=ops", headers=as_ada).json()[0]["name"] == "ada"


def test_the_cli_acts_on_the_project_it_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")
    get_settings.cache_clear()
    runner = CliRunner()
    items = tmp_path / "items.json"
    items.write_text(json.dumps([{"title": "Export orders to CSV", "number": 7}]))
    try:
        assert runner.invoke(cli, ["project", "add", "shop", "--name", "Shop"]).exit_code == 0
        assert "shop" in runner.invoke(cli, ["project", "list"]).output
        imported = runner.invoke(cli, ["--project", "shop", "import", str(items), "--format", "github_json"])
        assert imported.exit_code == 0, imported.output
        listed = runner.invoke(cli, ["--project", "shop", "backlog", "list", "--json"])
        assert [i["title"] for i in json.loads(listed.stdout)] == ["Export orders to CSV"]
        assert json.loads(runner.invoke(cli, ["backlog", "list", "--json"]).stdout) == []
        unknown = runner.invoke(cli, ["--project", "nope", "backlog", "list"])
        assert unknown.exit_code == 2 and "no project 'nope'" in unknown.output
    finally:
        get_settings.cache_clear()


def test_estimate_comparables_come_from_the_same_project_only(client):
    for key in ("shop", "mobile"):
        assert client.post("/v1/projects", json={"key": key}).status_code == 201
    shop = [{"title": "Export invoices to CSV", "description": "Finance exports invoices.", "story_points": 5}]
    mobile = [{"title": "Export refunds to a CSV file", "description": "Finance exports refunds.", "story_points": 13}]
    assert client.post("/v1/backlog/items?project=shop", json=shop).status_code == 201
    assert client.post("/v1/backlog/items?project=mobile", json=mobile).status_code == 201
    target = {"title": "Export refunds to CSV", "description": "Finance exports refunds."}
    (item,) = client.post("/v1/backlog/items?project=shop", json=target).json()["created"]
    payload = client.post(f"/v1/backlog/{item['id']}/estimate?project=shop").json()["payload"]
    assert [c["title"] for c in payload["comparables"]] == ["Export invoices to CSV"] and payload["points"] == 5
