"""Sending backlog items to the team's tracker (`/v1/tracker`, `refinery tracker`): against a stand-in of the issue APIs
of Jira Cloud, GitHub and Linear on a real loopback HTTP server (tests/tracker_standin.py; the real services cannot be
reached here). New items are created there, parents first, and take the issue's key; a second push sends nothing;
what a person changes here is updated there, closing by the workflow's transition; the tracker's file re-imported
finds every item unchanged; refusals the tracker can get over are worked round and said, others fail that item alone,
bad credentials stop the push; a Linear create whose answer was lost makes no second issue; the token is never
shown."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import unquote_plus

import pytest
from sqlalchemy import select, update

from service.backlog.importers import adf_text
from service.core.tables import BacklogItem, Comment, PullJob, WebhookDelivery, utcnow
from service.trackers import http
from tests.test_reimport import jira_csv
from tests.tracker_standin import (
    DC_EPIC_LINK,
    DC_EPIC_NAME,
    DC_PAT,
    GITHUB_TOKEN,
    LINEAR_KEY,
    TOKEN,
    USER,
    standin,
)

ITEMS = [
    {"title": "Saved carts", "description": "As a shopper I want to save my cart, so that I can buy later.",
     "item_type": "feature", "labels": ["carts"], "priority": "High", "story_points": 5},
    {"title": "Checkout fails on Safari", "description": "Steps: pay with Apple Pay.\nExpected: paid.\nActual: error.",
     "item_type": "bug", "labels": ["checkout"], "story_points": 3},
    {"title": "Share a saved cart", "description": "As a shopper I want to share a saved cart with a friend.",
     "item_type": "feature"},
]  # fmt: skip


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(http.Http, "sleep", staticmethod(lambda _s: None))


def add_items(client, items=ITEMS) -> list[int]:
    made = client.post("/v1/backlog/items", json=items)
    assert made.status_code == 201, made.text
    return [i["id"] for i in made.json()["created"]]


def connect_jira(client, site, **overrides) -> dict:
    body = {"kind": "jira", "url": site.url, "target": "SHOP", "user": USER, "token": TOKEN} | overrides
    response = client.put("/v1/tracker", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def push(client, **body) -> dict:
    started = client.post("/v1/tracker/push", json=body or None)
    assert started.status_code == 202, started.text
    return finished(client, started.json()["status_url"])


def finished(client, url: str) -> dict:
    """The job at `url` once it has ended."""
    deadline = time.monotonic() + 60
    while (job := client.get(url).json())["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
    return job


def items(client) -> dict[int, dict]:
    return {i["id"]: i for i in client.get("/v1/backlog", params={"state": "all"}).json()}


def test_a_connection_is_checked_and_never_shows_its_token(client):
    with standin() as site:
        shown = connect_jira(client, site)
        assert TOKEN not in str(shown) and shown["browse_url"] == f"{site.url}/browse/{{key}}"
        assert TOKEN not in client.get("/v1/tracker").text
        check = client.post("/v1/tracker/check").json()
        assert check == {"ok": True, "detail": "signed in to Jira as Ana Lima; project SHOP: Shop"}
        connect_jira(client, site, token=None, target="SHOPX")  # the kept token, another project
        said = client.post("/v1/tracker/check").json()
        assert not said["ok"] and "find project SHOPX (404: No project could be found" in said["detail"]
        connect_jira(client, site, token="wrong")
        said = client.post("/v1/tracker/check").json()
        assert not said["ok"] and "Jira refused the request (401" in said["detail"]
    assert client.delete("/v1/tracker").status_code == 204
    assert client.get("/v1/tracker").json() is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"kind": "jira", "url": "https://acme.atlassian.net", "target": "SHOP", "token": "t"}, "needs user"),
        ({"kind": "jira", "url": "https://a.test", "target": "shop", "user": "a@b", "token": "t"}, "project key"),
        ({"kind": "github", "target": "acme", "token": "t"}, "owner/repo"),
        ({"kind": "github", "target": "acme/shop"}, "give the tracker's token"),
        ({"kind": "linear", "target": "eng", "token": "t"}, "Linear team key"),
        ({"kind": "linear", "target": "ENG", "user": "a@b", "token": "t"}, "Jira's"),
        ({"kind": "gitlab", "target": "acme/shop", "token": "t"}, "kind"),
    ],
)
def test_a_bad_connection_is_refused_saying_what_to_fix(client, body, says):
    response = client.put("/v1/tracker", json=body)
    assert response.status_code == 422 and says in response.text
    assert client.get("/v1/tracker").json() is None


def test_push_needs_a_tracker_and_known_items(client):
    add_items(client)
    refused = client.post("/v1/tracker/push")
    assert refused.status_code == 404 and "an admin connects one" in refused.json()["detail"]
    with standin() as site:
        connect_jira(client, site)
        assert client.post("/v1/tracker/push", json={"item_ids": [999]}).status_code == 404
        assert client.post("/v1/tracker/push", json={"item_ids": []}).status_code == 422


def test_jira_gets_new_items_parents_first_then_only_what_changed_here(client):
    parent, bug, child = add_items(client)
    with client.app.state.runtime.db.session() as session:  # as accepting a split links them
        session.execute(update(BacklogItem).where(BacklogItem.id == child).values(parent_id=parent))
    with standin() as site:
        connect_jira(client, site)
        preview = client.get("/v1/tracker/pending").json()  # asks Jira nothing
        assert (preview["created"], preview["updated"], preview["unchanged"], site.calls) == (3, 0, 0, [])
        assert [i["item_id"] for i in preview["items"]] == [parent, bug, child]  # parents first
        job = push(client, item_ids=[child, bug, parent])
        assert (job["status"], job["created"], job["failed"], job["errors"]) == ("done", 3, 0, [])
        keys = {i: items(client)[i]["external_id"] for i in (parent, bug, child)}
        assert keys == {parent: "jira:SHOP-1", bug: "jira:SHOP-2", child: "jira:SHOP-3"}
        issues = site.jira()
        assert issues["SHOP-3"]["parent"] == {"key": "SHOP-1"}  # the parent was created first
        assert issues["SHOP-1"]["issuetype"] == {"name": "Epic"}  # Jira takes a parent only of a story's level above
        assert issues["SHOP-2"]["issuetype"] == {"name": "Bug"}
        assert (issues["SHOP-1"]["customfield_10016"], issues["SHOP-1"]["priority"]) == (5, {"name": "High"})
        assert issues["SHOP-1"]["description"]["type"] == "doc"  # ADF, checked against Atlassian's schema
        history = client.get(f"/v1/backlog/{bug}/history").json()
        assert history[-1]["action"] == "sent" and history[-1]["after"] == {"external_id": "jira:SHOP-2"}
        sent = [a for a in client.get("/v1/activity").json() if a["action"] == "sent"]
        assert {(a["item_id"], a["detail"]) for a in sent} == {(parent, "SHOP-1"), (bug, "SHOP-2"), (child, "SHOP-3")}

        writes = len(site.writes())
        again = push(client)
        assert (again["unchanged"], again["created"], again["updated"]) == (3, 0, 0)
        assert len(site.writes()) == writes  # nothing was sent

        client.patch(f"/v1/backlog/{bug}", json={"title": "Checkout fails on Safari 17"})
        client.patch(f"/v1/backlog/{child}", json={"closed": True})
        preview = client.get("/v1/tracker/pending").json()
        assert (preview["updated"], preview["unchanged"]) == (2, 1)
        assert [(i["key"], i["changed"]) for i in preview["items"]] == [("SHOP-2", ["title"]), ("SHOP-3", ["closed"])]
        job = push(client)
        assert (job["updated"], job["unchanged"], job["status"]) == (2, 1, "done")
        assert site.jira()["SHOP-2"]["summary"] == "Checkout fails on Safari 17"
        assert site.writes()[writes].body == {"fields": {"summary": "Checkout fails on Safari 17"}}  # that field only
        assert site.jira()["SHOP-3"]["status"] == "Done"  # by the workflow's transition to a Done status

        # the tracker's own export, re-imported, finds every item as it is: nothing created, nothing changed
        now = items(client)
        rows = [
            [now[i]["title"], key.split(":")[1], issue_type, now[i]["priority"] or "", " ".join(now[i]["labels"]),
             now[i]["description"], str(now[i]["story_points"] or ""), ""]
            for i, key, issue_type in ((parent, keys[parent], "Epic"), (bug, keys[bug], "Bug"))
        ]  # fmt: skip
        reimported = client.post("/v1/backlog/import?format=jira_csv", files=jira_csv(rows)).json()
        assert reimported["created"] == [] and reimported["updated"] == []
        assert len(client.get("/v1/backlog", params={"state": "all"}).json()) == 3


def test_what_jira_refuses_is_worked_round_and_said_or_fails_that_item_alone(client):
    first, second, third = add_items(client)
    with standin() as site:
        site.issue_types, site.screen = {"Task", "Epic"}, set()  # no Story or Bug; story points not on the screen
        site.failures = [(429, {}, {"Retry-After": "0"}), (503, {}, {"Retry-After": "0"})]  # then answered
        connect_jira(client, site)
        job = push(client, item_ids=[first, second])
        assert (job["created"], job["failed"], job["status"]) == (2, 0, "done")
        assert {issue["issuetype"]["name"] for issue in site.jira().values()} == {"Task"}
        assert not any("customfield_10016" in issue for issue in site.jira().values())
        notes = " | ".join(job["errors"])
        assert "Jira has no issue type Story here (Specify a valid issue type): sent as Task" in notes
        assert "Jira did not take the story points (Field 'customfield_10016' cannot be set" in notes
        # what Jira did not take is not taken from it either: a pull keeps points and types, a push resends nothing
        pulled = pull(client)
        assert (pulled["created"], pulled["updated"]) == (0, 0), pulled
        kept = items(client)
        assert [(kept[i]["item_type"], kept[i]["story_points"]) for i in (first, second)] == [
            ("feature", 5),
            ("bug", 3),
        ]
        assert push(client, item_ids=[first, second])["unchanged"] == 2

        site.failures = [(400, {"errorMessages": ["The issue is too big."], "errors": {}}, {})]
        job = push(client, item_ids=[third, first])
        assert (job["failed"], job["unchanged"], job["status"]) == (1, 1, "done")
        said = f"#{third} Share a saved cart: Jira did not create the issue (400: The issue is too big.)"
        assert job["errors"] == [said]
        assert items(client)[third]["external_id"] is None  # it can be sent again
        site.issue_types.add("Story")
        site.lose_creates = 1  # Jira makes the issue, but its answer is lost: not sent again by itself
        job = push(client, item_ids=[third])
        assert (
            job["failed"] == 1
            and "answered 502 (Bad Gateway): it may have been created anyway: the next push looks" in job["errors"][0]
        )
        assert len(site.jira()) == 3 and items(client)[third]["external_id"] is None
        job = push(client, item_ids=[third])  # finds the issue the lost create made: not made twice
        assert (job["created"], job["failed"]) == (1, 0) and len(site.jira()) == 3, job
        said = f"#{third} Share a saved cart (SHOP-3): made by an earlier push whose answer was lost"
        assert said in job["errors"][0], job
        assert items(client)[third]["external_id"] == "jira:SHOP-3"
        assert push(client, item_ids=[third])["unchanged"] == 1


def test_refused_credentials_stop_the_push_and_nothing_is_recorded(client):
    add_items(client)
    with standin() as site:
        connect_jira(client, site, token="expired")
        job = push(client)
        assert job["status"] == "failed" and job["processed"] == 0
        assert job["errors"][0].startswith("stopped: Jira refused the request (401")
        assert all(i["external_id"] is None for i in items(client).values()) and site.jira() == {}


def test_github_issues_are_created_closed_and_items_of_other_trackers_left_alone(client):
    open_item, done, _ = add_items(client)
    linear = client.post("/v1/backlog/items", json={"title": "From Linear", "external_id": "linear:ENG-4"}).json()
    client.patch(f"/v1/backlog/{done}", json={"closed": True})
    with standin() as site:
        shown = client.put("/v1/tracker", json={"kind": "github", "url": site.url, "target": "acme/shop",
                                                "token": GITHUB_TOKEN}).json()  # fmt: skip
        assert shown["browse_url"] == f"{site.url}/acme/shop/issues/{{key}}"
        assert client.post("/v1/tracker/check").json()["ok"]
        job = push(client)
        assert (job["created"], job["skipped"], job["failed"]) == (2, 1, 0)
        assert any("came from linear (linear:ENG-4): not sent to GitHub" in note for note in job["errors"])
        assert push(client, item_ids=[done])["skipped"] == 1  # closed and never sent: not created
        reasons = {i["item_id"]: i["reason"] for i in client.get("/v1/tracker/pending").json()["items"]}
        assert (
            reasons[linear["created"][0]["id"]]
            == f"came from linear (linear:ENG-4): not sent to GitHub acme/shop at {site.url}"
        )
        assert items(client)[open_item]["external_id"] == "github:acme/shop#1"
        assert site.github()["1"]["labels"] == ["carts", "enhancement"]
        client.patch(f"/v1/backlog/{open_item}", json={"closed": True})
        assert push(client, item_ids=[open_item])["updated"] == 1
        assert site.github()["1"]["state"] == "closed" and site.writes()[-1].body == {
            "state": "closed", "state_reason": "completed"
        }  # fmt: skip
        assert items(client)[linear["created"][0]["id"]]["external_id"] == "linear:ENG-4"

        # GitHub's own issues re-imported: nothing changed (GitHub keeps no priority or points: still here)
        issues = [{"number": int(n), "html_url": f"https://github.com/acme/shop/issues/{n}", "title": i["title"],
                   "body": i["body"], "labels": [{"name": name} for name in i["labels"]], "state": i["state"]}
                  for n, i in site.github().items()]  # fmt: skip
        files = {"file": ("issues.json", json.dumps(issues).encode(), "application/json")}
        again = client.post("/v1/backlog/import?format=github_json", files=files).json()
        assert again["created"] == [] and again["updated"] == [], again
        assert (items(client)[open_item]["priority"], items(client)[open_item]["story_points"]) == ("High", 5)


def test_linear_gets_items_with_their_labels_parent_and_state_and_a_lost_answer_makes_no_second_issue(client):
    parent, bug, child = add_items(client)
    with client.app.state.runtime.db.session() as session:
        session.execute(update(BacklogItem).where(BacklogItem.id == child).values(parent_id=parent))
    with standin() as site:
        body = {"kind": "linear", "url": site.url, "target": "ENG", "token": LINEAR_KEY}
        shown = client.put("/v1/tracker", json=body).json()
        assert shown["browse_url"] is None and LINEAR_KEY not in str(shown)
        assert (
            client.post("/v1/tracker/check").json()["detail"]
            == "signed in to Linear as Ana Lima; team ENG: Engineering"
        )
        site.lose_creates = 1  # the first issue is made but the answer is lost: the create is sent again
        job = push(client)
        assert (job["created"], job["failed"], job["status"]) == (3, 0, "done"), job
        issues = site.linear()
        assert sorted(issues) == ["ENG-1", "ENG-2", "ENG-3"]  # the repeated create made no fourth
        assert any("ENG-1 was already made by an earlier try: not made again" in note for note in job["errors"])
        assert any("made the label carts in team ENG" in note for note in job["errors"])
        keys = {i: items(client)[i]["external_id"] for i in (parent, bug, child)}
        assert keys == {parent: "linear:ENG-1", bug: "linear:ENG-2", child: "linear:ENG-3"}
        assert issues["ENG-3"]["parentId"] == issues["ENG-1"]["id"]
        assert (issues["ENG-1"]["priority"], issues["ENG-1"]["estimate"]) == (2, 5)  # High
        named = {site.labels[label] for label in issues["ENG-2"]["labelIds"]}
        assert named == {"checkout", "Bug"}  # the workspace's Bug label, any case
        assert push(client)["unchanged"] == 3
        client.patch(f"/v1/backlog/{bug}", json={"closed": True, "story_points": 8})
        assert push(client)["updated"] == 1
        assert site.writes()[-1].body["variables"] == {"id": "ENG-2", "input": {"estimate": 8, "stateId": "state-done"}}

        client.put("/v1/tracker", json=body | {"token": "lin_api_wrong"})
        client.patch(f"/v1/backlog/{bug}", json={"closed": False})
        job = push(client)
        assert job["status"] == "failed" and "Linear refused the request (401" in job["errors"][0]


def pull(client, full: bool = False) -> dict:
    """A pull job (`full`: of every issue), once done."""
    started = client.post("/v1/tracker/pull", params={"full": "true"} if full else None)
    assert started.status_code == 202, started.text
    job = finished(client, started.json()["status_url"])
    assert job["status"] == "done", job
    return job


def test_a_pull_brings_what_changed_in_jira_and_new_issues_and_keeps_what_changed_here(client):
    first, second, third = add_items(client)
    with standin() as site:
        connect_jira(client, site)
        push(client)
        untouched = pull(client)  # what was sent comes back as it is: nothing to do
        assert (untouched["created"], untouched["updated"], untouched["unchanged"]) == (0, 0, 3)
        site.issues["SHOP-1"]["summary"] = "Saved carts for a week"  # edited in Jira
        site.issues["SHOP-2"]["status"] = "Done"
        site.issues["SHOP-2"]["description"] = {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Fails only with Apple Pay."}]}]}  # fmt: skip
        site.issues["SHOP-3"]["priority"] = {"name": "Low"}  # and here, to High: kept as here
        client.patch(f"/v1/backlog/{third}", json={"title": "Share a saved cart by link"})
        with client.app.state.runtime.db.session() as session:
            session.execute(update(BacklogItem).where(BacklogItem.id == third).values(priority="High"))
        site.issues["SHOP-4"] = {"summary": "Gift wrapping", "issuetype": {"name": "Story"}, "labels": ["gifts"],
                                 "status": "To Do", "parent": {"key": "SHOP-1"}}  # fmt: skip
        pulled = pull(client)
        assert [items(client)[i]["title"] for i in pulled["created_ids"]] == ["Gift wrapping"]
        changes = {u["external_id"]: (u["changed"], u["kept"]) for u in pulled["updates"]}
        assert changes == {"jira:SHOP-1": (["title"], []), "jira:SHOP-2": (["description", "closed"], []),
                           "jira:SHOP-3": ([], ["priority"])}  # fmt: skip
        now = items(client)
        assert now[first]["title"] == "Saved carts for a week"
        assert (now[second]["description"], now[second]["closed"]) == ("Fails only with Apple Pay.", True)
        assert (now[third]["priority"], now[third]["title"]) == ("High", "Share a saved cart by link")
        gift = next(i for i in now.values() if i["title"] == "Gift wrapping")
        assert (gift["external_id"], gift["parent_id"], gift["labels"]) == ("jira:SHOP-4", first, ["gifts"])
        job = push(client)  # only what changed here since goes back: #3's title and priority
        assert (job["updated"], job["unchanged"]) == (1, 3), job
        assert site.writes()[-1].body == {
            "fields": {"summary": "Share a saved cart by link", "priority": {"name": "High"}}
        }


@pytest.mark.parametrize("kind", ["github", "linear"])
def test_a_pull_from_github_or_linear_finds_what_was_sent_unchanged_and_takes_an_edit(client, kind):
    first, *_ = add_items(client)
    with standin() as site:
        target, token = ("acme/shop", GITHUB_TOKEN) if kind == "github" else ("ENG", LINEAR_KEY)
        client.put("/v1/tracker", json={"kind": kind, "url": site.url, "target": target, "token": token})
        assert push(client)["created"] == 3
        untouched = pull(client)
        assert (untouched["created"], untouched["updated"]) == (0, 0), untouched
        key = next(iter(site.github() if kind == "github" else site.linear()))
        site.issues[key if kind == "github" else f"linear:{site.linear()[key]['id']}"]["title"] = "Saved carts v2"
        pulled = pull(client)
        assert [(u["changed"], u["kept"]) for u in pulled["updates"]] == [(["title"], [])]
        assert items(client)[first]["title"] == "Saved carts v2"
        assert (items(client)[first]["priority"], items(client)[first]["story_points"]) == ("High", 5)


def test_a_pull_that_the_tracker_refuses_says_so_and_changes_nothing(client):
    add_items(client)
    with standin() as site:
        connect_jira(client, site, token="expired")
        started = client.post("/v1/tracker/pull")
        assert started.status_code == 202, started.text
        refused = finished(client, started.json()["status_url"])
        assert refused["status"] == "failed" and "Jira refused the request (401" in refused["errors"][0], refused
    assert all(i["external_id"] is None for i in items(client).values())


def test_the_cli_connects_checks_and_pushes_with_a_progress_bar(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from service.cli import app
    from service.core.settings import get_settings

    monkeypatch.setenv("REFINERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")
    get_settings.cache_clear()
    runner = CliRunner()
    with standin() as site:
        monkeypatch.setenv("JIRA_API_TOKEN", TOKEN)
        said = runner.invoke(app, ["tracker", "set", "jira", "--url", site.url, "--project", "SHOP", "--user", USER])
        assert said.exit_code == 0 and "Jira project SHOP" in said.output, said.output
        assert "Ana Lima" in runner.invoke(app, ["tracker", "check"]).output
        assert TOKEN not in runner.invoke(app, ["tracker", "show"]).output
        runner.invoke(app, ["backlog", "add", "Saved carts", "-d", "As a shopper I want to save my cart.", "--anyway"])
        dry = runner.invoke(app, ["tracker", "push", "--dry-run"])
        assert dry.exit_code == 0 and "1 created, 0 updated, 0 unchanged, 0 skipped (nothing sent)" in dry.output
        assert site.jira() == {}
        pushed = runner.invoke(app, ["tracker", "push"])
        assert pushed.exit_code == 0 and "created" in pushed.output, pushed.output
        assert list(site.jira()) == ["SHOP-1"]
        runner.invoke(app, ["backlog", "add", "Share a cart", "--anyway"])
        runner.invoke(app, ["rank", "2", "1", "--top"])
        runner.invoke(app, ["backlog", "comment", "SHOP-1", "EUR only", "--as", "ana"])
        ordered = runner.invoke(app, ["tracker", "push", "--order"])
        assert ordered.exit_code == 0 and "order: 2 ranked issues put in the backlog's order" in ordered.output
        assert "1 comment(s) on items posted on their issues" in ordered.output, ordered.output
        assert [key for key, _ in site.comments] == ["SHOP-1"]
        assert site.rank == ["SHOP-2", "SHOP-1"]
        site.issues["SHOP-1"]["summary"] = "Saved carts for a week"
        pulled = runner.invoke(app, ["tracker", "pull"])
        assert pulled.exit_code == 0 and "0 imported, 1 updated from the tracker" in pulled.output, pulled.output
        last = " ".join(runner.invoke(app, ["tracker", "show"]).output.split())
        assert "(every issue): done, 0 imported, 1 updated" in last, last  # the first pull
        assert runner.invoke(app, ["tracker", "pull"]).exit_code == 0
        assert "(the issues changed since " in " ".join(runner.invoke(app, ["tracker", "show"]).output.split())
        assert runner.invoke(app, ["tracker", "pull", "--full"]).exit_code == 0
        assert "(every issue): done" in " ".join(runner.invoke(app, ["tracker", "show"]).output.split())
        hook = runner.invoke(app, ["tracker", "hook", "--url", "https://refinery.acme.test"])
        assert hook.exit_code == 0 and "address: https://refinery.acme.test/v1/tracker/hook?project=default" in (
            hook.output) and "System > WebHooks" in hook.output, hook.output  # fmt: skip
        short = runner.invoke(app, ["tracker", "hook", "--secret", "short"])
        assert short.exit_code == 2 and "at least 16 characters" in short.output, short.output
        monkeypatch.setenv("JIRA_API_TOKEN", "wrong")
        runner.invoke(app, ["tracker", "set", "jira", "--url", site.url, "--project", "SHOP", "--user", USER])
        failed = runner.invoke(app, ["tracker", "check"])
        assert failed.exit_code == 2 and "Jira refused the request (401" in failed.output, failed.output
    get_settings.cache_clear()


def connect(client, site, kind: str) -> None:
    """Connect the project to the stand-in as `kind`: jira (Cloud), jira_dc (Data Center), github or linear."""
    if kind == "jira":
        connect_jira(client, site)
        return
    if kind == "jira_dc":
        body = {"kind": "jira", "edition": "data_center", "url": site.url, "target": "SHOP", "token": DC_PAT}
        assert client.put("/v1/tracker", json=body).status_code == 200
        return
    target, token = ("acme/shop", GITHUB_TOKEN) if kind == "github" else ("ENG", LINEAR_KEY)
    connected = client.put("/v1/tracker", json={"kind": kind, "url": site.url, "target": target, "token": token})
    assert connected.status_code == 200, connected.text


def waits(client, item_id: int, on: list[int]) -> None:
    edited = client.patch(f"/v1/backlog/{item_id}", json={"depends_on": on})
    assert edited.status_code == 200, edited.text


@pytest.mark.parametrize("kind", ["jira", "github", "linear"])
def test_dependencies_become_the_trackers_blocked_by_links_and_a_pull_finds_them_unchanged(client, kind):
    first, second, third = add_items(client)
    waits(client, first, [third])  # on an item sent after it: linked once every item has its key
    waits(client, second, [first])
    key = {"jira": "SHOP-{}", "github": "{}", "linear": "ENG-{}"}[kind].format
    with standin() as site:
        connect(client, site, kind)
        job = push(client)
        assert (job["created"], job["failed"]) == (3, 0) and not any("wait" in e for e in job["errors"]), job
        assert site.blocked_by() == {(key(1), key(3)), (key(2), key(1))}  # (blocked, blocker)
        untouched = pull(client)
        assert (untouched["created"], untouched["updated"]) == (0, 0), untouched
        assert {i: items(client)[i]["depends_on"] for i in (first, second, third)} == {
            first: [third], second: [first], third: []}  # fmt: skip
        writes = len(site.writes())
        assert push(client)["unchanged"] == 3 and len(site.writes()) == writes  # nothing to send

        waits(client, second, [])  # no longer waits
        waits(client, third, [second])
        preview = client.get("/v1/tracker/pending").json()
        assert [(i["item_id"], i["changed"]) for i in preview["items"]] == [
            (second, ["depends_on"]), (third, ["depends_on"])]  # fmt: skip
        job = push(client)
        assert (job["updated"], job["unchanged"], job["failed"]) == (2, 1, 0), job
        assert site.blocked_by() == {(key(1), key(3)), (key(3), key(2))}
        untouched = pull(client)
        assert (untouched["created"], untouched["updated"]) == (0, 0), untouched


def test_a_linear_issue_with_more_relations_than_a_page_is_read_whole(client):
    first, second, third = add_items(client)
    waits(client, first, [second, third])
    with standin() as site:
        connect(client, site, "linear")
        assert push(client)["failed"] == 0
        site.linear_relation_page = 1  # each list of relations comes a relation a page
        site.calls.clear()
        untouched = pull(client, full=True)
        assert (untouched["created"], untouched["updated"]) == (0, 0), untouched
        assert sorted(items(client)[first]["depends_on"]) == sorted([second, third])
        more = [c.body["query"] for c in site.calls if str(c.body.get("query", "")).startswith("query More(")]
        assert more and all("relations(first:" in q or "inverseRelations(first:" in q for q in more), more


def test_jira_links_name_the_blocker_as_inward_a_link_made_there_is_kept_and_a_refused_link_is_retried(client):
    first, second, third = add_items(client)
    waits(client, second, [first])
    with standin() as site:
        connect_jira(client, site)
        push(client)
        made = [c.body for c in site.writes() if c.path.endswith("/issueLink")]
        blocks = {"type": {"name": "Blocks"}, "inwardIssue": {"key": "SHOP-1"}, "outwardIssue": {"key": "SHOP-2"}}
        assert made == [blocks]  # SHOP-2 waits for SHOP-1

        site.jira_links["29999"] = ("SHOP-3", "SHOP-1")  # made in Jira: SHOP-3 blocks SHOP-1
        waits(client, third, [second])
        site.failures = [(404, {"errorMessages": ["No issue link type with name 'Blocks' found."]}, {})]
        job = push(client)
        assert (job["failed"], job["unchanged"], job["status"]) == (1, 2, "done"), job
        assert "what it waits for was not all sent" in job["errors"][0] and "'Blocks'" in job["errors"][0]
        assert ("SHOP-1", "SHOP-3") in site.blocked_by()  # Jira's own link is left alone
        assert [i["changed"] for i in client.get("/v1/tracker/pending").json()["items"]] == [["depends_on"]]
        job = push(client)  # tried again
        assert (job["updated"], job["failed"]) == (1, 0), job
        assert site.blocked_by() == {("SHOP-2", "SHOP-1"), ("SHOP-1", "SHOP-3"), ("SHOP-3", "SHOP-2")}

        pulled = pull(client)  # the link made in Jira comes here
        assert [(u["external_id"], u["changed"]) for u in pulled["updates"]] == [("jira:SHOP-1", ["depends_on_keys"])]
        assert items(client)[first]["depends_on"] == [third]
        assert pull(client)["updated"] == 0


def test_jira_data_center_takes_wiki_markup_a_personal_access_token_and_pages_by_start(client, monkeypatch):
    from service.trackers import jira

    parent, bug, child = add_items(client)
    with client.app.state.runtime.db.session() as session:
        session.execute(update(BacklogItem).where(BacklogItem.id == child).values(parent_id=parent))
    waits_on = client.patch(f"/v1/backlog/{bug}", json={"depends_on": [parent]})
    assert waits_on.status_code == 200, waits_on.text
    with standin() as site:
        body = {"kind": "jira", "edition": "data_center", "url": site.url, "target": "SHOP", "token": DC_PAT}
        assert client.put("/v1/tracker", json=body | {"kind": "github", "target": "a/b"}).status_code == 422
        shown = client.put("/v1/tracker", json=body).json()  # no user: the token is a personal access token
        assert (shown["edition"], shown["user"]) == ("data_center", None)
        check = client.post("/v1/tracker/check").json()
        said = f"signed in to Jira Data Center as Ana Lima; project SHOP: Shop; epics by {DC_EPIC_LINK}"
        assert check == {"ok": True, "detail": said}
        job = push(client)
        assert (job["created"], job["failed"]) == (3, 0), job
        assert [c.path.split("?")[0] for c in site.writes()][:3] == ["/rest/api/2/issue"] * 3  # REST v2
        issues = site.jira()
        assert issues["SHOP-1"]["description"].startswith("As a shopper I want to save my cart")  # wiki markup
        assert job["errors"] == [], job
        assert "parent" not in issues["SHOP-3"] and issues["SHOP-3"][DC_EPIC_LINK] == "SHOP-1"  # its Epic Link
        assert issues["SHOP-1"]["issuetype"] == {"name": "Epic"} and issues["SHOP-1"][DC_EPIC_NAME] == "Saved carts"
        assert site.blocked_by() == {("SHOP-2", "SHOP-1")}
        monkeypatch.setattr(jira, "PAGE", 2)  # Data Center's search pages by startAt: 3 issues in 2 pages
        untouched = pull(client)
        assert (untouched["created"], untouched["updated"], untouched["unchanged"]) == (0, 0, 3), untouched
        assert len([c for c in site.calls if c.path.startswith("/rest/api/2/search")]) == 2
        client.patch(f"/v1/backlog/{bug}", json={"title": "Checkout fails on Safari 17"})
        assert push(client)["updated"] == 1
        assert site.writes()[-1].path == "/rest/api/2/issue/SHOP-2"
        assert site.jira()["SHOP-2"]["summary"] == "Checkout fails on Safari 17"
        site.issues["SHOP-1"]["description"] = "As a shopper I want to save my cart for a week."
        pulled = pull(client)
        assert [(u["external_id"], u["changed"]) for u in pulled["updates"]] == [("jira:SHOP-1", ["description"])]
        assert items(client)[child]["parent_id"] == parent  # read from its Epic Link
        move(client, child, None)  # out of its epic: its Epic Link cleared
        assert push(client)["updated"] == 1 and site.jira()["SHOP-3"][DC_EPIC_LINK] is None
        assert pull(client)["updated"] == 0 and items(client)[child]["parent_id"] is None
        (gifts,) = add_items(client, [{"title": "Gift cards", "description": "As a shopper I want gift cards."}])
        site.issue_types.discard("Epic")  # a project without the Epic type: the epic goes as a Task, without a name
        move(client, child, gifts)
        job = push(client)
        assert (job["created"], job["failed"]) == (1, 0) and site.jira()["SHOP-4"]["issuetype"] == {"name": "Task"}
        assert DC_EPIC_NAME not in site.jira()["SHOP-4"], job
        move(client, child, bug)  # under a Bug: Data Center refuses it as an Epic Link, said once
        job = push(client)
        assert any("did not take the parent (The issue key 'SHOP-2' for field 'Epic Link'" in e for e in job["errors"])
        assert push(client)["unchanged"] == 4


def test_jira_data_center_without_jira_software_sends_a_child_without_its_epic_and_says_why(client):
    epic, _bug, story = add_items(client)
    move(client, story, epic)
    with standin() as site:
        site.jira_software = False  # no Epic Link field and no Epic type: no epics to link to
        site.issue_types.discard("Epic")
        body = {"kind": "jira", "edition": "data_center", "url": site.url, "target": "SHOP", "token": DC_PAT}
        assert client.put("/v1/tracker", json=body).status_code == 200
        assert client.post("/v1/tracker/check").json()["detail"].endswith(
            "; no Epic Link field (Jira Software?): children go without epic")  # fmt: skip
        job = push(client)
        assert (job["created"], job["failed"]) == (3, 0) and "parent" not in site.jira()["SHOP-3"], job["errors"]
        (said,) = [e for e in job["errors"] if "did not take the parent" in e]
        assert "(Field 'parent' cannot be set" in said and "Epic" not in said, said


@pytest.mark.parametrize("kind", ["jira", "github", "linear"])
def test_a_child_sent_with_its_parent_comes_back_from_a_pull_unchanged(client, kind):
    parent, _bug, child = add_items(client)
    with client.app.state.runtime.db.session() as session:  # as accepting a split links them
        session.execute(update(BacklogItem).where(BacklogItem.id == child).values(parent_id=parent))
    with standin() as site:
        if kind == "jira":
            connect_jira(client, site)
        else:
            target, token = ("acme/shop", GITHUB_TOKEN) if kind == "github" else ("ENG", LINEAR_KEY)
            client.put("/v1/tracker", json={"kind": kind, "url": site.url, "target": target, "token": token})
        assert push(client)["created"] == 3
        if kind == "github":  # GitHub's own parent link: a sub-issue; the parent's body lists no children
            assert site.issues["3"]["parent_issue_url"].endswith("/repos/acme/shop/issues/1")
        if kind != "jira":
            body = site.issues["1"]["body"] if kind == "github" else site.linear()["ENG-1"]["description"]
            assert "Share a saved cart" not in body and "Child stories" not in body
        pulled = pull(client)
        assert (pulled["created"], pulled["updated"], pulled["unchanged"]) == (0, 0, 3), pulled
        assert items(client)[child]["parent_id"] == parent


def test_a_pull_dry_run_lists_what_changed_in_the_tracker_and_changes_nothing(client):
    first, *_ = add_items(client)
    with standin() as site:
        connect_jira(client, site)
        push(client)
        site.issues["SHOP-1"]["summary"] = "Saved carts for a week"
        site.issues["SHOP-4"] = {"summary": "Gift wrapping", "issuetype": {"name": "Story"}, "status": "To Do"}
        started = client.post("/v1/tracker/pull?dry_run=true")
        assert started.status_code == 202, started.text
        would = finished(client, started.json()["status_url"])
        assert (would["status"], would["dry_run"], would["created"], would["unchanged"]) == ("done", True, 1, 2)
        assert [(u["external_id"], u["changed"]) for u in would["updates"]] == [("jira:SHOP-1", ["title"])]
        assert items(client)[first]["title"] == "Saved carts" and len(items(client)) == 3  # nothing written
        assert client.get("/v1/tracker").json()["last_pull"] is None  # a dry run is not a pull
        pulled = pull(client)
        assert (pulled["created"], pulled["updated"]) == (1, 1) and items(client)[first]["title"] != "Saved carts"
        assert client.get("/v1/tracker").json()["last_pull"].endswith("done, 1 imported, 1 updated")
        third = next(i for i in items(client).values() if i["external_id"] == "jira:SHOP-3")
        del site.issues["SHOP-3"]  # deleted in Jira: a pull of every issue says so and leaves the item open
        assert pull(client)["problems"] == []  # one of the issues changed since the last pull cannot tell
        said = pull(client, full=True)["problems"]
        assert len(said) == 1 and said[0].startswith("1 open item(s) here are not among Jira project SHOP") and (
            said[0].endswith(": SHOP-3; they are left as they are")), said  # fmt: skip
        assert items(client)[third["id"]]["closed"] is False


def move(client, item_id: int, under: int | None) -> None:
    moved = client.patch(f"/v1/backlog/{item_id}", json={"parent_id": under})
    assert moved.status_code == 200, moved.text


def parent_there(site, kind: str, key: str) -> str | None:
    """The key of the issue's parent in the stand-in (SHOP-1, 1, ENG-1), or None."""
    if kind == "jira":
        return (site.issues[key].get("parent") or {}).get("key")
    if kind == "github":
        url = site.issues[key].get("parent_issue_url")
        return url.rsplit("/", 1)[1] if url else None
    issues = site.linear()
    issue = next(i for i in issues.values() if i["identifier"] == key)
    return next((i["identifier"] for i in issues.values() if i["id"] == issue.get("parentId")), None)


EPICS = [
    ITEMS[0],
    {"title": "Gift cards", "description": "As a shopper I want gift cards, so that friends can choose."},
    ITEMS[2],
    {"title": "Wrap a gift", "description": "As a shopper I want my gift wrapped."},
]  # two epics (an item with children is one) and a story under each


def two_epics(client) -> tuple[int, int, int, int]:
    carts, gifts, share, wrap = add_items(client, EPICS)
    move(client, share, carts)
    move(client, wrap, gifts)
    return carts, gifts, share, wrap


@pytest.mark.parametrize("kind", ["jira", "github", "linear"])
def test_an_item_moved_to_another_epic_or_out_of_any_is_moved_there_by_the_next_push(client, kind):
    carts, gifts, share, _wrap = two_epics(client)
    key = {"jira": "SHOP-{}", "github": "{}", "linear": "ENG-{}"}[kind].format
    with standin() as site:
        connect(client, site, kind)
        assert push(client)["created"] == 4 and parent_there(site, kind, key(3)) == key(1)
        assert parent_there(site, kind, key(4)) == key(2)

        move(client, share, gifts)  # to the other epic
        preview = client.get("/v1/tracker/pending").json()
        assert [(i["item_id"], i["changed"]) for i in preview["items"]] == [(share, ["parent"])]
        job = push(client)
        assert (job["updated"], job["unchanged"], job["failed"], job["errors"]) == (1, 3, 0, []), job
        assert parent_there(site, kind, key(3)) == key(2)
        untouched = pull(client)
        assert (untouched["created"], untouched["updated"]) == (0, 0), untouched
        assert items(client)[share]["parent_id"] == gifts
        assert push(client)["unchanged"] == 4  # sent: nothing left to send

        move(client, share, None)  # out of any epic
        assert push(client)["updated"] == 1 and parent_there(site, kind, key(3)) is None
        untouched = pull(client)
        assert (untouched["updated"], items(client)[share]["parent_id"]) == (0, None), untouched
        assert items(client)[carts]["parent_id"] is None


def test_a_move_here_is_kept_over_jiras_a_refused_one_is_said_once_and_a_new_epic_is_sent_first(client):
    carts, gifts, share, wrap = two_epics(client)
    with standin() as site:
        connect_jira(client, site)
        push(client)
        site.issues["SHOP-3"]["parent"] = {"key": "SHOP-2"}  # moved in Jira
        move(client, share, None)  # and out of its epic here, before a pull
        pulled = pull(client)
        assert [(u["external_id"], u["changed"], u["kept"]) for u in pulled["updates"]] == [
            ("jira:SHOP-3", [], ["parent"])]  # fmt: skip
        assert items(client)[share]["parent_id"] is None
        assert push(client)["updated"] == 1 and site.issues["SHOP-3"]["parent"] is None

        site.issues["SHOP-3"]["parent"] = {"key": "SHOP-1"}  # put back in Jira: a pull takes that
        assert [u["changed"] for u in pull(client)["updates"]] == [["parent"]]
        assert items(client)[share]["parent_id"] == carts

        move(client, share, gifts)  # moved here and in Jira alike: nothing kept, nothing left to send
        site.issues["SHOP-3"]["parent"] = {"key": "SHOP-2"}
        assert pull(client)["updates"] == [] and push(client)["unchanged"] == 4
        move(client, share, None)
        move(client, share, gifts)  # and back where Jira has it: nothing to send
        assert client.get("/v1/tracker/pending").json()["updated"] == 0
        move(client, share, carts)
        assert push(client)["updated"] == 1 and site.issues["SHOP-3"]["parent"] == {"key": "SHOP-1"}

        move(client, share, wrap)  # under a story: Jira takes a story only under an epic
        job = push(client)
        assert (job["updated"], job["failed"]) == (1, 0) and site.issues["SHOP-3"]["parent"] == {"key": "SHOP-1"}
        assert any("did not take the parent (Given parent work item does not belong" in e for e in job["errors"])
        hint = "put the issue under it in Jira, and a pull brings the link back"
        assert any(e.endswith(hint) for e in job["errors"]), job
        assert push(client)["unchanged"] == 4  # said once: not sent again until it is moved again
        assert pull(client)["updated"] == 0 and items(client)[share]["parent_id"] == wrap  # kept here

        (toys,) = add_items(client, [{"title": "Toys", "description": "As a parent I want to buy toys."}])
        move(client, share, toys)  # under an item Jira does not have yet
        assert push(client, item_ids=[share])["unchanged"] == 1 and site.issues["SHOP-3"]["parent"] == {"key": "SHOP-1"}
        job = push(client)  # the new epic is created first, then the story moved under it
        assert (job["created"], job["updated"]) == (1, 1), job
        assert site.issues["SHOP-5"]["issuetype"] == {"name": "Epic"} and site.issues["SHOP-3"]["parent"] == {
            "key": "SHOP-5"}  # fmt: skip

        client.patch(f"/v1/backlog/{gifts}", json={"item_type": "bug", "title": "Gift cards fail"})  # an epic
        job = push(client)
        assert job["updated"] == 1 and job["errors"] == [
            f"#{gifts} Gift cards fail (SHOP-2): SHOP-2 has child issues: its type is not changed in Jira"]  # fmt: skip
        assert site.issues["SHOP-2"]["issuetype"] == {"name": "Epic"} and site.issues["SHOP-2"]["summary"] == (
            "Gift cards fail")  # fmt: skip
        assert pull(client)["updated"] == 0 and items(client)[gifts]["item_type"] == "bug"
        assert push(client)["unchanged"] == 5


@pytest.mark.parametrize("kind", ["jira", "github", "linear"])
def test_a_push_that_ended_before_storing_a_key_finds_the_issue_it_made_and_makes_none_twice(client, kind, monkeypatch):
    from service.trackers import service

    first, second, _third = add_items(client)
    stored = service.sent_to_tracker

    def crash_once(session, item, *args):
        if item.id == second and not crashed:
            crashed.append(item.id)
            raise RuntimeError("the process ended")  # after the tracker made the issue, before its key was stored
        stored(session, item, *args)

    crashed: list[int] = []
    monkeypatch.setattr(service, "sent_to_tracker", crash_once)
    with standin() as site:
        connect(client, site, kind)
        assert push(client)["status"] == "failed" and crashed == [second]
        made = {"jira": site.jira, "github": site.github, "linear": site.linear}[kind]
        assert len(made()) == 2 and items(client)[second]["external_id"] is None
        client.patch(f"/v1/backlog/{second}", json={"labels": ["checkout", "safari"]})  # edited meanwhile
        job = push(client)  # as the job would run again: the second item's issue is found, not made again
        assert (job["created"], job["failed"], len(made())) == (2, 0, 3), job
        key = {"jira": "SHOP-2", "github": "acme/shop#2", "linear": "ENG-2"}[kind]
        assert items(client)[second]["external_id"] == f"{kind}:{key}"
        if kind != "linear":  # Linear finds it by its id when the create is sent again: no search
            assert any(f"({key}): made by an earlier push whose answer was lost" in e for e in job["errors"]), job
        pulled = pull(client)
        assert (pulled["created"], pulled["updated"]) == (0, 0), pulled
        assert push(client)["unchanged"] == 3


def test_a_push_with_the_order_ranks_jiras_issues_as_the_backlog_and_only_when_it_changed(client):
    ids = add_items(client, [{"title": f"Item {k}"} for k in range(1, 61)])  # more than Jira ranks in one call
    with standin() as site:
        connect_jira(client, site)
        first = push(client)  # without the order: Jira keeps its own (the order of creation)
        assert first["status"] == "done" and not [n for n in first["errors"] if n.startswith("order")]
        assert site.rank[:3] == ["SHOP-1", "SHOP-2", "SHOP-3"]
        key = {item_id: f"SHOP-{k}" for k, item_id in enumerate(ids, 1)}
        client.post("/v1/backlog/rank", json={"item_ids": [ids[59], ids[2]], "to": "top"})
        client.post("/v1/backlog/rank", json={"item_ids": [ids[0]], "after_id": ids[54]})
        order = [i["id"] for i in client.get("/v1/backlog?order=priority&limit=100").json()]
        assert [i["priority_rank"] is None for i in client.get("/v1/backlog?order=priority").json()].count(True) == 4
        ranked = push(client, order=True)
        assert ranked["status"] == "done" and ranked["updated"] == 0, ranked
        assert "order: 56 ranked issues put in the backlog's order in Jira" in ranked["errors"]  # not the 4 unranked
        assert site.rank == [key[i] for i in order]
        rank_calls = [c.body for c in site.writes() if c.path.endswith("/issue/rank")]
        assert rank_calls[0] == {"issues": [key[ids[59]]], "rankBeforeIssue": "SHOP-1"}  # the first to the top
        assert [len(c["issues"]) for c in rank_calls[1:]] == [50, 5]  # then the 55 others after it
        again = push(client, order=True)
        assert "order: the 56 ranked issues are in the order last sent" in again["errors"]
        assert len([c for c in site.writes() if c.path.endswith("/issue/rank")]) == 3
        site.issues.pop("SHOP-5")  # deleted in Jira meanwhile: said, the rest ranked, tried again next time
        site.rank.remove("SHOP-5")
        client.post("/v1/backlog/rank", json={"item_ids": [ids[4]], "to": "top"})
        partly = push(client, item_ids=[ids[1]], order=True)
        assert partly["status"] == "done" and partly["errors"][:2] == [
            "Jira did not rank SHOP-5: Issue does not exist",
            "Jira did not rank SHOP-60..SHOP-51 by SHOP-5 (400: Give 1 to 50 issues and another issue to rank them "
            "by.)",
        ], partly["errors"]  # said, the push not failed, the rest sent; tried again by the next push with the order
        assert push(client, item_ids=[ids[1]], order=True)["errors"][0].startswith("Jira did not rank SHOP-5")


def test_a_push_with_the_order_sets_linears_manual_order_above_the_teams_other_issues(client):
    ids = add_items(client, [{"title": f"Item {k}"} for k in range(1, 6)])
    with standin() as site:
        connect(client, site, "linear")
        assert push(client)["created"] == 5
        site.issues["linear:made-there"] = {"id": "made-there", "identifier": "ENG-99", "title": "Made in Linear",
                                            "teamId": "team-1", "sortOrder": -50.0}  # fmt: skip
        assert site.linear_order()[0] == "ENG-99"
        client.post("/v1/backlog/rank", json={"item_ids": [ids[4], ids[1], ids[3]], "to": "top"})
        ranked = push(client, order=True)
        assert "order: 3 ranked issues put in the backlog's order in Linear" in ranked["errors"], ranked
        assert site.linear_order()[:4] == ["ENG-5", "ENG-2", "ENG-4", "ENG-99"]  # above the team's others
        updates = [c for c in site.writes() if "mutation Update(" in str(c.body)]
        assert len(updates) == 3  # one per ranked issue
        again = push(client, order=True)
        assert "order: the 3 ranked issues are in the order last sent" in again["errors"]
        assert len([c for c in site.writes() if "mutation Update(" in str(c.body)]) == 3


def test_a_push_with_the_order_says_where_there_is_none_to_set(client):
    add_items(client)
    with standin() as site:
        site.jira_software = False
        connect_jira(client, site, edition="data_center", user=None, token=DC_PAT)
        client.post("/v1/backlog/rank", json={"item_ids": [3, 2, 1], "to": "top"})
        said = push(client, order=True)
        assert said["status"] == "done", said
        assert said["errors"] == [
            "Jira Data Center has no rank to set here (Jira Data Center did not list the issues of SHOP (400: Field "
            "'Rank' does not exist or you do not have permission.)): order not sent"
        ]
    with standin() as site:
        connect(client, site, "github")
        fresh = add_items(client)
        client.post("/v1/backlog/rank", json={"item_ids": fresh, "to": "top"})
        said = push(client, item_ids=fresh, order=True)
        assert said["created"] == 3 and said["errors"] == [
            "GitHub issues have no order to set (a Project's view sorts them): the backlog's order is not sent"
        ]


def comment_on(client, item_id: int, text: str, who: str = "ana") -> dict:
    said = client.post(f"/v1/backlog/{item_id}/comments", json={"text": text}, headers={"X-User": who})
    assert said.status_code == 201, said.text
    return said.json()


@pytest.mark.parametrize("kind", ["jira", "jira_dc", "github", "linear"])
def test_an_items_comments_are_posted_on_its_issue_once_oldest_first_by_the_next_push(client, kind):
    first, second, _ = add_items(client)
    comment_on(client, first, "Which currencies?\n\nEUR and USD, @bo?")
    key = {"jira": "SHOP-1", "jira_dc": "SHOP-1", "github": "1", "linear": "ENG-1"}[kind]
    with standin() as site:
        connect(client, site, kind)
        job = push(client)  # the issue is made first, then its comment posted on it
        assert (job["created"], job["comments_sent"], job["failed"]) == (3, 1, 0), job
        (posted,) = site.comments
        assert posted[0] == key
        text = adf_text(posted[1]) if kind == "jira" else posted[1]  # Cloud takes ADF, the others text
        assert text.replace("\n\n", "\n") == "ana commented in Refinery:\nWhich currencies?\nEUR and USD, @bo?"
        assert push(client)["comments_sent"] == 0 and len(site.comments) == 1  # each once
        (shown,) = client.get(f"/v1/backlog/{first}/comments").json()
        assert shown["sent_as"].rsplit("@", 1)[0].endswith(f":{key}" if kind != "github" else f"#{key}"), shown
        comment_on(client, first, "EUR only", who="bo")
        comment_on(client, second, "Safari 17 only?", who="cy")
        job = push(client)
        assert (job["comments_sent"], job["unchanged"]) == (2, 3), job
        assert [(k, "bo" in str(b), "cy" in str(b)) for k, b in site.comments[1:]] == [
            (key, True, False), ({"jira": "SHOP-2", "jira_dc": "SHOP-2", "github": "2", "linear": "ENG-2"}[kind],
                                 False, True)]  # fmt: skip
    with client.app.state.runtime.db.session() as session:
        sent = session.scalars(select(Comment.sent_as).order_by(Comment.id)).all()
    assert all(s and s.startswith(f"{'jira' if kind.startswith('jira') else kind}:") for s in sent), sent


@pytest.mark.parametrize("kind", ["jira", "jira_dc", "github", "linear"])
def test_a_comment_edited_after_a_push_posted_it_is_updated_there_by_the_next(client, kind):
    (first,) = add_items(client, ITEMS[:1])
    comment_on(client, first, "EUR only")
    with standin() as site:
        connect(client, site, kind)
        assert push(client)["comments_sent"] == 1
        (said,) = client.get(f"/v1/backlog/{first}/comments").json()
        url = f"/v1/backlog/{first}/comments/{said['id']}"
        assert client.patch(url, json={"text": "EUR and USD"}, headers={"X-User": "ana"}).status_code == 200
        assert client.get("/v1/tracker/pending").json()["unchanged"] == 1  # the item's fields are as sent
        job = push(client)
        assert (job["comments_sent"], job["errors"]) == (1, []), job
        (posted,) = site.comments  # the comment there changed, no second one made
        text = adf_text(posted[1]) if kind == "jira" else posted[1]
        assert text.replace("\n\n", "\n") == "ana commented in Refinery:\nEUR and USD"
        assert push(client)["comments_sent"] == 0  # sent as it now reads: nothing to send
        assert client.get(f"/v1/backlog/{first}/comments").json()[0]["sent_as"] == said["sent_as"]
        site.comments_deleted.add(1)  # someone deleted it there
        assert client.patch(url, json={"text": "EUR, USD, GBP"}, headers={"X-User": "ana"}).status_code == 200
        job = push(client)
        assert job["comments_sent"] == 0 and job["status"] == "done", job
        assert any("is not on the issue any more" in e and "its edit stays here" in e for e in job["errors"]), job
        again = push(client)  # not tried again at every push
        assert (again["comments_sent"], again["errors"]) == (0, []), again
    (kept,) = client.get(f"/v1/backlog/{first}/comments").json()
    assert kept["text"] == "EUR, USD, GBP"


def as_kept(kind: str, text: str) -> object:
    """A comment's body as the tracker keeps it: Jira Cloud's an ADF document, the others' text."""
    doc = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}
    return doc if kind == "jira" else text


def written_there(site, kind: str, issue: str, text: str, author: str) -> None:
    """A comment someone wrote on the issue in the tracker."""
    site.comments.append((issue, as_kept(kind, text)))
    site.comment_authors[len(site.comments)] = author


@pytest.mark.parametrize("kind", ["jira", "jira_dc", "github", "linear"])
def test_a_pull_reads_the_comments_written_in_the_tracker_into_the_items_thread_once(client, kind):
    (first,) = add_items(client, ITEMS[:1])
    comment_on(client, first, "EUR only")  # posted there by the push: not read back as a second one
    issue = {"jira": "SHOP-1", "jira_dc": "SHOP-1", "github": "1", "linear": "ENG-1"}[kind]
    with standin() as site:
        connect(client, site, kind)
        assert push(client)["comments_sent"] == 1
        for text, author in (("And GBP?", "Jo Park"), ("Finance says EUR first", "Kim Lee"), ("Agreed", "Jo Park")):
            written_there(site, kind, issue, text, author)  # Jira's search (and Linear's page) gives 2 of the 4
        site.calls.clear()
        assert pull(client)["status"] == "done"
        if kind == "github":  # the repository's comments in one listing, not a call an issue
            read = [c.path.split("?")[0] for c in site.calls if c.method == "GET" and "comments" in c.path]
            assert read == ["/repos/acme/shop/issues/comments"], read
        if kind == "linear":  # the rest of the thread: one more page
            pages = [c.body for c in site.calls if str(c.body.get("query", "")).startswith("query More(")]
            assert len(pages) == 1 and pages[0]["variables"]["after"] == "2", pages
        thread = client.get(f"/v1/backlog/{first}/comments").json()
        assert [(c["author"], c["text"], c["from_tracker"]) for c in thread] == [
            ("ana", "EUR only", False), ("Jo Park", "And GBP?", True), ("Kim Lee", "Finance says EUR first", True),
            ("Jo Park", "Agreed", True),
        ]  # fmt: skip
        assert all(c["sent_as"].startswith(("jira:", "github:", "linear:")) for c in thread)
        assert thread[1]["at"].startswith("2026-11-0")  # when it was written there
        assert client.get("/v1/backlog").json()[0]["comment_count"] == 4
        pull(client)  # again: nothing new
        assert len(client.get(f"/v1/backlog/{first}/comments").json()) == 4
        site.comments[2] = (issue, as_kept(kind, "Finance says EUR and GBP"))  # its text changed there
        pull(client)
        thread = client.get(f"/v1/backlog/{first}/comments").json()
        assert [c["text"] for c in thread] == ["EUR only", "And GBP?", "Finance says EUR and GBP", "Agreed"]
        assert thread[2]["edited_at"] and not thread[1]["edited_at"]
        url = f"/v1/backlog/{first}/comments/{thread[1]['id']}"
        refused = client.patch(url, json={"text": "GBP too"}, headers={"X-User": "Jo Park"})
        assert refused.status_code == 409 and "edit it there" in refused.json()["detail"], refused.text
        assert client.delete(url).status_code == 409  # it would come back with the next pull
        assert push(client)["comments_sent"] == 0  # what was read from there is not sent back
        assert len(site.comments) == 4
    assert client.get("/v1/inbox", headers={"X-User": "ana"}).json() == []  # a pull is not a person's word here


def retitled_there(site, kind: str, key: str, title: str) -> None:
    """The issue `key` (SHOP-1, 1, ENG-1) retitled in the tracker."""
    issue = site.linear()[key] if kind == "linear" else site.issues[key]
    issue["summary" if kind.startswith("jira") else "title"] = title


@pytest.mark.parametrize("kind", ["jira", "jira_dc", "github", "linear"])
def test_a_pull_reads_the_issues_changed_since_the_last_pull_and_every_issue_once_a_day(client, kind):
    first, second, third = add_items(client)
    keys = {"jira": "SHOP-{}", "jira_dc": "SHOP-{}", "github": "{}", "linear": "ENG-{}"}[kind]
    with standin() as site:
        connect(client, site, kind)
        push(client)
        whole = pull(client)
        assert (whole["since"], whole["unchanged"]) == (None, 3)  # the first pull reads every issue
        site.age()  # ... then a while passes
        retitled_there(site, kind, keys.format(1), "Saved carts for a week")
        written_there(site, kind, keys.format(2), "Safari 17 only?", "Jo Park")
        site.calls.clear()
        job = pull(client)
        assert job["since"] == whole["started_at"], (job, whole)  # the start of the last pull that ended well
        assert (job["created"], job["updated"], job["unchanged"]) == (0, 1, 1), job  # 2 issues read, not 3
        assert items(client)[first]["title"] == "Saved carts for a week"
        assert [c["text"] for c in client.get(f"/v1/backlog/{second}/comments").json()] == ["Safari 17 only?"]
        asked = " ".join(f"{c.path} {json.dumps(c.body)}" for c in site.calls)
        assert {"jira": 'updated >= "-', "jira_dc": 'updated >= "-', "github": "since=", "linear": '"or": ['}[kind] in (
            unquote_plus(asked)), asked  # fmt: skip
        assert (pull(client)["unchanged"], pull(client, full=True)["unchanged"]) == (2, 3)  # read again: 10 min back
        gone = next(k for k, v in site.issues.items() if k == keys.format(3) or v.get("identifier") == "ENG-3")
        del site.issues[gone]
        assert pull(client)["problems"] == []  # the issues changed since cannot tell an issue deleted there
        with client.app.state.runtime.db.session() as session:  # a day later
            session.execute(update(PullJob).values(started_at=utcnow() - timedelta(hours=25)))
        job = pull(client)
        assert job["since"] is None and len(job["problems"]) == 1, job
        assert "1 open item(s) here are not among" in job["problems"][0] and keys.format(3) in job["problems"][0]
        assert items(client)[third]["closed"] is False


def test_a_pull_reads_every_issue_of_a_tracker_it_has_not_pulled_and_goes_on_from_the_last_of_one_it_has(client):
    add_items(client)
    with standin() as site:
        connect(client, site, "jira")
        push(client)
        assert [pull(client)["since"] is None for _ in range(2)] == [True, False]
        connect(client, site, "github")  # another tracker: every issue
        push(client)
        assert [pull(client)["since"] is None for _ in range(2)] == [True, False]
        connect(client, site, "jira")  # Jira again: the issues changed since its last pull
        last = client.get("/v1/tracker/pulls/2").json()
        assert pull(client)["since"] == last["started_at"]
        dry = client.post("/v1/tracker/pull?dry_run=true&full=true")
        assert finished(client, dry.json()["status_url"])["since"] is None
        assert pull(client)["since"] != last["started_at"]  # a dry run is not a pull: the one before it counts


@pytest.mark.parametrize("kind", ["jira", "jira_dc", "github", "linear"])
def test_a_comment_deleted_in_the_tracker_is_deleted_here_by_a_pull_that_reads_the_whole_thread(client, kind):
    (first,) = add_items(client, ITEMS[:1])
    comment_on(client, first, "EUR only")  # written here, posted there by the push
    issue = {"jira": "SHOP-1", "jira_dc": "SHOP-1", "github": "1", "linear": "ENG-1"}[kind]

    def thread() -> list[str]:
        return [c["text"] for c in client.get(f"/v1/backlog/{first}/comments").json()]

    with standin() as site:
        connect(client, site, kind)
        assert push(client)["comments_sent"] == 1
        for text, author in (("And GBP?", "Jo Park"), ("Buy cheap watches", "Spam Bot"), ("Agreed", "Jo Park")):
            written_there(site, kind, issue, text, author)
        pull(client)
        assert thread() == ["EUR only", "And GBP?", "Buy cheap watches", "Agreed"]
        site.comments_deleted.add(3)  # the spam, deleted there
        pull(client)  # the issues changed since: GitHub gives only the comments changed since, not the whole thread
        kept = ["EUR only", "And GBP?", "Agreed"]
        assert thread() == (["EUR only", "And GBP?", "Buy cheap watches", "Agreed"] if kind == "github" else kept)
        site.comments_deleted.add(1)  # one written here, deleted there: a pull leaves it
        pull(client, full=True)
        assert thread() == kept
        assert client.get("/v1/backlog").json()[0]["comment_count"] == 3


@pytest.mark.parametrize("kind", ["jira", "github", "linear"])
def test_a_comment_whose_posts_answer_was_lost_is_found_on_the_issue_not_posted_twice(client, kind):
    (first,) = add_items(client, ITEMS[:1])
    with standin() as site:
        connect(client, site, kind)
        assert push(client)["created"] == 1
        comment_on(client, first, "EUR only")
        comment_on(client, first, "And GBP")
        site.lose_comments = 1  # the first is posted there, but its answer is lost
        job = push(client)
        assert job["comments_sent"] == 0 and any("may not have been posted" in e for e in job["errors"]), job
        assert len(site.comments) == 1
        (unsure, waiting) = client.get(f"/v1/backlog/{first}/comments").json()
        assert unsure["sent_as"].endswith("@?") and waiting["sent_as"] is None
        job = push(client)  # finds the first on the issue, posts the second
        assert (job["comments_sent"], job["errors"]) == (2, []), job
        assert len(site.comments) == 2
        thread = client.get(f"/v1/backlog/{first}/comments").json()
        assert thread[0]["sent_as"].endswith(("@30001", "@40001", "@comment-1")), thread
        comment_on(client, first, "Or USD")
        site.lose_comments = 1
        assert push(client)["comments_sent"] == 0 and len(site.comments) == 3
        site.comments_deleted.add(3)  # as if that post had not been made after all: the next push makes it
        assert push(client)["comments_sent"] == 1 and len(site.comments) == 4
        assert pull(client)["status"] == "done"  # read back: nothing new
    assert [c["text"] for c in client.get(f"/v1/backlog/{first}/comments").json()] == ["EUR only", "And GBP", "Or USD"]


@pytest.mark.parametrize("kind", ["jira", "github", "linear"])
def test_a_comment_edited_after_its_posts_answer_was_lost_is_updated_there_not_posted_again(client, kind):
    (first,) = add_items(client, ITEMS[:1])
    with standin() as site:
        connect(client, site, kind)
        push(client)
        said = comment_on(client, first, "EUR only")
        site.lose_comments = 1  # posted there, its answer lost: perhaps posted
        assert push(client)["comments_sent"] == 0 and len(site.comments) == 1
        url = f"/v1/backlog/{first}/comments/{said['id']}"
        assert client.patch(url, json={"text": "EUR and GBP"}).status_code == 200
        job = push(client)  # found by who wrote it, though its text changed: updated, not posted twice
        assert (job["comments_sent"], job["errors"]) == (1, []), job
        (there,) = [json.dumps(body) for _, body in site.comments]
        assert "EUR and GBP" in there and "EUR only" not in there
        assert (
            client.get(f"/v1/backlog/{first}/comments")
            .json()[0]["sent_as"]
            .endswith(("@30001", "@40001", "@comment-1"))
        )
        assert push(client)["comments_sent"] == 0


@pytest.mark.parametrize("kind", ["jira", "github", "linear"])
def test_a_comment_deleted_after_its_posts_answer_was_lost_is_deleted_there_if_it_was_posted(client, kind):
    (first,) = add_items(client, ITEMS[:1])
    with standin() as site:
        connect(client, site, kind)
        push(client)
        posted, not_posted = comment_on(client, first, "EUR only"), comment_on(client, first, "Or USD")
        site.lose_comments = 1  # the first is posted, its answer lost: the push stops there
        assert push(client)["comments_sent"] == 0 and len(site.comments) == 1
        for said in (posted, not_posted):
            assert client.delete(f"/v1/backlog/{first}/comments/{said['id']}").status_code == 204
        job = push(client)  # found on the issue by its text and deleted; the other was never posted: nothing to do
        assert (job["comments_sent"], job["errors"]) == (1, []), job
        assert site.comments_deleted == {1} and len(site.comments) == 1
        assert push(client)["comments_sent"] == 0


@pytest.mark.parametrize("kind", ["jira", "jira_dc", "github", "linear"])
def test_a_comment_deleted_here_after_a_push_posted_it_is_deleted_there_by_the_next(client, kind):
    (first,) = add_items(client, ITEMS[:1])
    comment_on(client, first, "EUR only")
    comment_on(client, first, "Not sent yet")
    with standin() as site:
        connect(client, site, kind)
        assert push(client)["comments_sent"] == 2
        posted, other = client.get(f"/v1/backlog/{first}/comments").json()
        assert client.delete(f"/v1/backlog/{first}/comments/{posted['id']}").status_code == 204
        site.failures = [(500, {"message": "boom"}, {})] * 4  # the tracker fails: kept for the next push
        job = push(client)
        assert any("was not deleted there" in e for e in job["errors"]), job
        assert site.comment_nodes({"jira": "SHOP-1", "jira_dc": "SHOP-1", "github": "1", "linear": "ENG-1"}[kind])
        site.failures = []
        assert push(client)["comments_sent"] == 1
        assert site.comments_deleted == {1}  # that one, not the other
        assert push(client)["comments_sent"] == 0  # once
        assert client.delete(f"/v1/backlog/{first}/comments/{other['id']}").status_code == 204
        site.comments_deleted.add(2)  # deleted there too meanwhile: nothing to do, nothing said
        job = push(client)
        assert (job["comments_sent"], job["errors"]) == (0, []), job


@pytest.mark.parametrize("kind", ["jira", "github"])
def test_a_new_comment_from_the_tracker_tells_the_items_followers_but_not_the_webhooks(client, kind):
    from datetime import UTC, datetime

    (first,) = add_items(client, ITEMS[:1])
    comment_on(client, first, "Which currencies, @kim?", who="ana")  # ana follows the thread
    hook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    assert hook.status_code == 201, hook.text
    issue = {"jira": "SHOP-1", "github": "1"}[kind]
    with standin() as site:
        connect(client, site, kind)
        push(client)
        written_there(site, kind, issue, "EUR and GBP, @ana", "Kim Lee")
        site.comment_times[2] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        written_there(site, kind, issue, "An old remark", "Jo Park")  # written weeks ago: read, told to no one
        assert pull(client)["status"] == "done"
    lines = client.get("/v1/inbox", headers={"X-User": "ana"}).json()
    where = {"jira": "Jira", "github": "GitHub"}[kind]
    assert [(n["reason"], n["text"]) for n in lines] == [
        ("commented", f"Kim Lee commented in {where} on item #{first} (Saved carts): EUR and GBP, @ana")
    ], lines
    with client.app.state.runtime.db.session() as session:
        events = session.scalars(select(WebhookDelivery.event).order_by(WebhookDelivery.id)).all()
    assert events == ["job.finished", "notification.created", "job.finished"], events  # the push, ana told, the pull


def test_a_comment_the_tracker_refuses_is_said_and_posted_by_a_later_push(client):
    (first,) = add_items(client, ITEMS[:1])
    with standin() as site:
        connect_jira(client, site)
        assert push(client)["created"] == 1
        comment_on(client, first, "one")
        comment_on(client, first, "two")
        site.failures = [(400, {"errorMessages": ["Comment body is not valid."]}, {})]  # the first comment only
        job = push(client)
        assert job["comments_sent"] == 0 and job["status"] == "done", job
        assert any("comment" in e and "the next push tries again" in e for e in job["errors"]), job["errors"]
        assert site.comments == []
        job = push(client)
        assert job["comments_sent"] == 2
        assert [adf_text(body).splitlines()[-1] for _, body in site.comments] == ["one", "two"]
