"""Webhooks from the tracker (`POST /v1/tracker/hook`): a signed event brings the issue it names here at once, read
from the tracker (the stand-in of tests/tracker_standin.py), never from the event's body; an unsigned, wrongly
signed or replayed event is refused and changes nothing; events about other issues, deletions and pings are taken
and ignored; the secret is shown to admins and can be replaced (Linear makes its own)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from service.backlog import service as backlog_service
from service.core.tables import PullJob, utcnow
from service.trackers import http, schedule
from tests.test_trackers import (
    GITHUB_TOKEN,
    ITEMS,
    LINEAR_KEY,
    add_items,
    connect,
    connect_jira,
    finished,
    items,
    push,
    written_there,
)
from tests.tracker_standin import TOKEN, USER, standin


def jira_connection(site, **overrides) -> dict:
    return {"kind": "jira", "url": site.url, "target": "SHOP", "user": USER, "token": TOKEN} | overrides


def send(client, event: dict, secret: str | None, header: str, prefix: str = "sha256=", **headers):
    body = json.dumps(event).encode()
    if secret is not None:
        headers[header] = prefix + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/v1/tracker/hook?project=default", content=body, headers=headers)


def jira_event(key: str, what: str = "jira:issue_updated", **fields) -> dict:
    return {"webhookEvent": what, "timestamp": 1764338400000, "issue": {"key": key, "fields": fields}}


def test_a_signed_jira_event_brings_that_issue_from_jira_and_nothing_else_is_taken(client, monkeypatch):
    monkeypatch.setattr(http.Http, "sleep", staticmethod(lambda _s: None))
    first, *_ = add_items(client)
    assert client.post("/v1/tracker/hook", content=b"{}").status_code == 404  # no tracker yet
    with standin() as site:
        connect_jira(client, site)
        push(client)
        setup = client.get("/v1/tracker/hook").json()
        assert setup["url"].endswith("/v1/tracker/hook?project=default") and len(setup["secret"]) == 64
        assert "System > WebHooks" in setup["events"] and setup["received_at"] is None
        secret, header = setup["secret"], "X-Hub-Signature"
        connected_at = client.get("/v1/tracker").json()["updated_at"]

        site.issues["SHOP-1"]["summary"] = "Saved carts for a week"  # edited in Jira
        forged = jira_event("SHOP-1", summary="FORGED")
        assert send(client, forged, None, header).status_code == 401  # unsigned
        assert send(client, forged, "not the secret", header).status_code == 401
        assert items(client)[first]["title"] == "Saved carts"  # nothing taken
        heard = send(client, forged, secret, header)
        assert heard.status_code == 200, heard.text
        assert heard.json() == {"key": "SHOP-1", "imported": True, "detail": "jira:issue_updated: updated: title"}
        assert items(client)[first]["title"] == "Saved carts for a week"  # Jira's, not the event's body
        again = send(client, forged, secret, header).json()
        assert again["detail"] == "jira:issue_updated: unchanged here"

        site.issues["SHOP-4"] = {"summary": "Gift wrapping", "issuetype": {"name": "Story"}, "status": "To Do"}
        made = send(client, jira_event("SHOP-4", "jira:issue_created"), secret, header).json()
        assert made["imported"] and made["detail"].startswith("jira:issue_created: added as item #")
        assert "Gift wrapping" in {i["title"] for i in items(client).values()}

        site.issues["SHOP-5"] = {"summary": "Gift cards", "issuetype": {"name": "Story"}, "status": "To Do"}
        real, tries = backlog_service.import_items, []

        def raced(session, found, *args):  # another event for the same new issue is taken meanwhile
            tries.append(1)
            if len(tries) > 1:
                return real(session, found, *args)
            with client.app.state.runtime.db.session() as other:
                real(other, found, *args)
            raise IntegrityError("INSERT INTO backlog_items", {}, Exception("unique constraint"))

        monkeypatch.setattr(backlog_service, "import_items", raced)
        raced_in = send(client, jira_event("SHOP-5", "jira:issue_created"), secret, header).json()
        monkeypatch.setattr(backlog_service, "import_items", real)
        assert raced_in["detail"] == "jira:issue_created: unchanged here" and len(tries) == 2
        assert [i["title"] for i in items(client).values()].count("Gift cards") == 1

        forged = send(client, jira_event("SHOP-3", "jira:issue_deleted"), secret, header).json()
        assert forged["detail"] == "jira:issue_deleted: unchanged here"  # Jira still has it: nothing closed
        bug = next(i for i in items(client).values() if i["external_id"] == "jira:SHOP-2")
        del site.issues["SHOP-2"]  # deleted in Jira
        gone = send(client, jira_event("SHOP-2", "jira:issue_deleted"), secret, header).json()
        assert gone["imported"] and gone["detail"].endswith(f"is not in Jira project SHOP at {site.url} any more: "
                                                            f"item #{bug['id']} closed here"), gone  # fmt: skip
        assert items(client)[bug["id"]]["closed"] is True  # closed, not deleted: a person can reopen it
        history = client.get(f"/v1/backlog/{bug['id']}/history").json()
        assert history[-1]["after"] == {"closed": True, "gone_from_tracker": "SHOP-2"}
        assert client.get("/v1/tracker/pending").json()["updated"] == 0  # nothing to send to the gone issue
        ignored = {
            "OPS-3": jira_event("OPS-3"),
            "deleted again": jira_event("SHOP-2", "jira:issue_deleted"),
            "comment": {"webhookEvent": "comment_created", "comment": {"body": "hi"}},
        }
        for name, event in ignored.items():
            said = send(client, event, secret, header)
            assert said.status_code == 200 and said.json()["imported"] is False, (name, said.text)
        assert len(items(client)) == 5  # nothing is removed here
        setup = client.get("/v1/tracker/hook").json()
        assert setup["received_at"] and setup["last"].startswith("comment_created")
        assert client.get("/v1/tracker").json()["updated_at"] == connected_at  # hearing is not reconnecting

        new = client.put("/v1/tracker/hook", json={}).json()["secret"]
        assert new != secret and send(client, forged, secret, header).status_code == 401  # the old one is gone
        assert send(client, forged, new, header).status_code == 200
        bad = client.post("/v1/tracker/hook", content=b"[1, 2", headers={header: "sha256=" + hmac.new(
            new.encode(), b"[1, 2", hashlib.sha256).hexdigest()})  # fmt: skip
        assert bad.status_code == 422 and "not JSON" in bad.json()["detail"]


def test_github_and_linear_events_are_checked_by_their_own_signatures(client, monkeypatch):
    monkeypatch.setattr(http.Http, "sleep", staticmethod(lambda _s: None))
    first, *_ = add_items(client)
    with standin() as site:
        connected = {"kind": "github", "url": site.url, "target": "acme/shop", "token": GITHUB_TOKEN}
        client.put("/v1/tracker", json=connected).raise_for_status()
        push(client)
        secret = client.get("/v1/tracker/hook").json()["secret"]
        header = "X-Hub-Signature-256"
        ping = send(client, {"zen": "Keep it simple."}, secret, header, **{"X-GitHub-Event": "ping"}).json()
        assert ping == {"key": None, "imported": False, "detail": "ping: GitHub reaches Refinery"}
        site.issues["1"]["title"] = "Saved carts v2"
        event = {"action": "edited", "issue": {"number": 1}, "repository": {"full_name": "acme/shop"}}
        heard = send(client, event, secret, header, **{"X-GitHub-Event": "issues"}).json()
        assert heard == {"key": "acme/shop#1", "imported": True, "detail": "issues edited: updated: title"}
        assert items(client)[first]["title"] == "Saved carts v2"
        other = event | {"repository": {"full_name": "acme/other"}}
        assert send(client, other, secret, header, **{"X-GitHub-Event": "issues"}).json()["imported"] is False

    client.delete("/v1/tracker")
    with standin() as site:
        connected = {"kind": "linear", "url": site.url, "target": "ENG", "token": LINEAR_KEY}
        client.put("/v1/tracker", json=connected).raise_for_status()
        linears = add_items(client, [{"title": "Dark mode", "description": "As a reader I want a dark theme."}])
        push(client)
        own = "lin_wh_" + "a1" * 20  # Linear makes the signing secret; an admin sets it here
        assert client.put("/v1/tracker/hook", json={"secret": own}).json()["secret"] == own
        issue = next(v for v in site.issues.values() if v.get("title") == "Dark mode")
        issue["title"] = "Dark mode everywhere"
        event = {"action": "update", "type": "Issue", "data": {"id": issue["id"], "identifier": issue["identifier"]},
                 "webhookTimestamp": int(time.time() * 1000)}  # fmt: skip
        heard = send(client, event, own, "Linear-Signature", prefix="").json()
        assert heard["imported"] and heard["detail"] == "Issue update: updated: title", heard
        assert items(client)[linears[0]]["title"] == "Dark mode everywhere"
        stale = event | {"webhookTimestamp": int((time.time() - 3600) * 1000)}
        replayed = send(client, stale, own, "Linear-Signature", prefix="")
        assert replayed.status_code == 401 and "replay" in replayed.json()["detail"]
        assert send(client, event, own, "X-Hub-Signature").status_code == 401  # Linear's own header only


@pytest.mark.parametrize("kind", ["jira", "github", "linear"])
def test_a_comment_event_brings_its_issues_whole_thread_and_a_deletion_there_deletes_it_here(client, kind, monkeypatch):
    monkeypatch.setattr(http.Http, "sleep", staticmethod(lambda _s: None))
    (first,) = add_items(client, ITEMS[:1])
    issue = {"jira": "SHOP-1", "github": "1", "linear": "ENG-1"}[kind]
    with standin() as site:
        connect(client, site, kind)
        push(client)
        if kind == "linear":
            own = "lin_wh_" + "b2" * 20
            secret = client.put("/v1/tracker/hook", json={"secret": own}).json()["secret"]
        else:
            secret = client.get("/v1/tracker/hook").json()["secret"]
        linear_id = next((v["id"] for v in site.linear().values() if v["identifier"] == issue), None)

        def event(action: str) -> dict:  # the tracker's own comment event (the comment itself is not read from it)
            return {
                "jira": {"webhookEvent": f"comment_{action}", "issue": {"key": issue}, "comment": {"id": "1"}},
                "github": {"action": action, "issue": {"number": 1}, "comment": {"id": 1},
                           "repository": {"full_name": "acme/shop"}},
                "linear": {"action": action, "type": "Comment", "data": {"id": "c1", "issueId": linear_id},
                           "webhookTimestamp": int(time.time() * 1000)},
            }[kind]  # fmt: skip

        def hear(action: str) -> dict:
            header, prefix, extra = {
                "jira": ("X-Hub-Signature", "sha256=", {}),
                "github": ("X-Hub-Signature-256", "sha256=", {"X-GitHub-Event": "issue_comment"}),
                "linear": ("Linear-Signature", "", {}),
            }[kind]
            heard = send(client, event(action), secret, header, prefix=prefix, **extra)
            assert heard.status_code == 200 and heard.json()["imported"], heard.text
            return heard.json()

        def thread() -> list[str]:
            return [c["text"] for c in client.get(f"/v1/backlog/{first}/comments").json()]

        for text in ("And GBP?", "Buy cheap watches"):
            written_there(site, kind, issue, text, "Jo Park")
        hear("created")
        assert thread() == ["And GBP?", "Buy cheap watches"]
        site.comments_deleted.add(2)
        hear("deleted" if kind != "linear" else "remove")
        assert thread() == ["And GBP?"]
    if kind == "github":  # a pull request's comment names no issue here
        pr = {"action": "created", "issue": {"number": 9, "pull_request": {}}, "repository": {"full_name": "acme/shop"}}
        said = send(client, pr, secret, "X-Hub-Signature-256", **{"X-GitHub-Event": "issue_comment"}).json()
        assert said["imported"] is False and "pull request" in said["detail"]


def test_a_schedule_pulls_the_tracker_that_often_and_starts_one_pull_at_a_time(client, monkeypatch):
    monkeypatch.setattr(http.Http, "sleep", staticmethod(lambda _s: None))
    runtime, runner = client.app.state.runtime, client.app.state.jobs
    first, *_ = add_items(client)
    with standin() as site:
        connect_jira(client, site)
        push(client)
        assert schedule.start_due(runtime, runner) == []  # no schedule set
        assert client.put("/v1/tracker", json=jira_connection(site, pull_every_minutes=2)).status_code == 422
        assert client.put("/v1/tracker", json=jira_connection(site, pull_every_minutes=15)).status_code == 200
        assert client.get("/v1/tracker").json()["pull_every_minutes"] == 15

        site.issues["SHOP-1"]["summary"] = "Saved carts for a week"  # edited in Jira
        first_pull = schedule.start_due(runtime, runner)
        assert len(first_pull) == 1
        job = finished(client, f"/v1/tracker/pulls/{first_pull[0]}")
        assert (job["status"], job["updated"]) == ("done", 1), job
        assert items(client)[first]["title"] == "Saved carts for a week"
        assert schedule.start_due(runtime, runner) == []  # the last began less than 15 minutes ago

        with runtime.db.session() as session:  # ... as if it had begun 16 minutes ago
            session.execute(update(PullJob).values(created_at=utcnow() - timedelta(minutes=16)))
        site.issues["SHOP-1"]["summary"] = "Saved carts for a month"
        watch = schedule.schedule(runtime, runner, interval_s=0.05)  # the API process's thread
        watch.start()
        try:
            deadline = time.monotonic() + 30
            while items(client)[first]["title"] != "Saved carts for a month" and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            watch.stop()
        assert items(client)[first]["title"] == "Saved carts for a month"
        with runtime.db.session() as session:
            pulls = session.scalars(select(PullJob).order_by(PullJob.id)).all()
        assert [p.actor for p in pulls] == ["schedule"] * 2  # one per due time, not one per look
        assert finished(client, f"/v1/tracker/pulls/{pulls[-1].id}")["status"] == "done"
        last = client.get("/v1/tracker").json()["last_pull"]
        assert re.search(
            r"UTC by schedule \(the issues changed since \d\d:\d\d\): done, 0 imported, 1 updated$", last
        ), last
