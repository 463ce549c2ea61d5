"""Webhooks (`/v1/webhooks`): a project's events are POSTed, signed, to a real HTTP receiver once the transaction
that made them commits; a refused decision sends nothing; a failing receiver is retried with backoff, then the
delivery is failed and can be sent again; events and projects are kept apart; the running service sends by itself."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from service.core.tables import utcnow
from service.webhooks.delivery import ATTEMPTS, BACKOFF_S, SIGNATURE, deliver_due, sign
from tests.conftest import story_json
from tests.test_undo import draft
from tests.webhook_receiver import receiver

SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
def hooked(client):
    """The client with the app's own sender stopped: each test sends with `deliver_due`, at the times it chooses."""
    client.app.state.webhooks.stop()
    return client


def add_hook(client, url: str, **body) -> dict:
    made = client.post("/v1/webhooks", json={"url": url, "secret": SECRET, **body})
    assert made.status_code == 201, made.text
    return made.json()


def test_review_events_are_posted_signed_once_their_transaction_commits(hooked, llm):
    client, db = hooked, hooked.app.state.runtime.db
    with receiver() as got:
        hook = add_hook(client, got.url)
        assert hook["secret"] == SECRET and hook["events"] == [
            "suggestion.created", "suggestion.accepted", "suggestion.rejected", "suggestion.reopened",
            "suggestion.assigned", "comment.created", "comment.updated", "item.created", "item.updated",
            "notification.created", "job.finished",
        ]  # fmt: skip
        first = draft(client, llm, "Filter search results by price")
        second = draft(client, llm, "Dark mode")
        edits = {"edits": {"title": "Filter results by price"}}
        assert client.post(f"/v1/suggestions/{first['id']}/accept", json=edits, headers={"X-User": "ana"}).is_success
        assert client.post(f"/v1/suggestions/{first['id']}/accept").status_code == 409  # refused: nothing to tell
        client.post(f"/v1/suggestions/{second['id']}/reject", json={"reason": "later"}, headers={"X-User": "bo"})
        client.post(f"/v1/suggestions/{second['id']}/comments", json={"text": "Too soon?"}, headers={"X-User": "bo"})
        client.post(f"/v1/suggestions/{second['id']}/undo", headers={"X-User": "bo"})
        assert got.received == []  # nothing is sent in the request that made it
        assert deliver_due(db) == 6
        assert got.events() == [
            "suggestion.created", "suggestion.created", "suggestion.accepted", "suggestion.rejected",
            "comment.created", "suggestion.reopened",
        ]  # fmt: skip
        for r in got.received:  # each signed over its raw body with the secret, and named
            assert r.headers[SIGNATURE.lower()] == sign(SECRET, r.raw)
            assert r.headers["content-type"] == "application/json" and r.headers["x-refinery-delivery"].isdigit()
            assert r.headers["x-refinery-event"] == r.body["event"]
        accepted = got.received[2].body
        assert accepted["project"] == "default" and accepted["actor"] == "ana"
        assert accepted["suggestion"] | {"summary": None} == {
            "id": first["id"], "kind": "story_draft", "status": "accepted", "summary": None, "decided_by": "ana",
            "reason": None, "backlog_item_id": 1, "assignee": None,
        }  # fmt: skip
        assert (
            accepted["text"]
            == f"ana accepted story draft #{first['id']}: Filter search results by price (backlog item #1)"
        )
        assert (
            got.received[0].body["text"] == f"New story draft #{first['id']} to review: Filter search results by price"
        )
        said = got.received[4].body
        assert (
            said["comment"]["text"] == "Too soon?"
            and said["comment"]["mentions"] == []
            and said["text"].startswith(f"bo commented on story draft #{second['id']}")
        )
        assert deliver_due(db) == 0  # each sent once
    listed = client.get("/v1/webhooks").json()
    assert listed[0]["deliveries"] == {"pending": 0, "delivered": 6, "failed": 0} and "secret" not in listed[0]
    assert listed[0]["last_delivery"]["event"] == "suggestion.reopened"


def test_a_failing_receiver_is_retried_with_backoff_then_failed_and_sent_again_by_hand(hooked, llm):
    client, db = hooked, hooked.app.state.runtime.db
    with receiver() as got:
        hook = add_hook(client, got.url, events=["suggestion.created"])
        got.answers = [500] * ATTEMPTS
        draft(client, llm, "Filter search results by price")
        now = utcnow()
        assert deliver_due(db, now) == 1
        (tried,) = client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
        assert (tried["status"], tried["attempts"], tried["status_code"]) == ("pending", 1, 500)
        assert "the receiver answered 500: receiver is down" in tried["error"]
        assert deliver_due(db, now + timedelta(seconds=BACKOFF_S[0] - 5)) == 0  # not due yet
        for wait in BACKOFF_S:
            now += timedelta(seconds=wait + 1)
            assert deliver_due(db, now) == 1
        (failed,) = client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
        assert (failed["status"], failed["attempts"], failed["next_attempt_at"]) == ("failed", ATTEMPTS, None)
        assert deliver_due(db, now + timedelta(days=1)) == 0 and len(got.received) == ATTEMPTS
        again = client.post(f"/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver")
        assert again.status_code == 200, again.text
        assert (again.json()["status"], again.json()["attempts"], again.json()["status_code"]) == ("delivered", 1, 200)
        assert len({r.headers["x-refinery-delivery"] for r in got.received}) == 1  # the same delivery each time
    assert client.post(f"/v1/webhooks/{hook['id']}/deliveries/999/redeliver").status_code == 404


def test_a_slow_receiver_holds_up_only_its_own_deliveries_and_a_dead_one_waits_as_a_whole(hooked, llm):
    client, db = hooked, hooked.app.state.runtime.db
    with receiver() as slow, receiver() as fast:
        slow.delay_s = 1.0
        add_hook(client, slow.url, events=["suggestion.created"])
        add_hook(client, fast.url, events=["suggestion.created"])
        for title in ("Price filter", "Dark mode", "CSV export"):
            draft(client, llm, title)
        started = time.monotonic()
        assert deliver_due(db) == 6
        assert time.monotonic() - started >= 3.0  # the slow one's three, one after another
        assert max(r.at for r in fast.received) - started < 1.0  # the fast one's, meanwhile
        for got in (slow, fast):  # each webhook's in the order they were made
            assert [r.body["suggestion"]["summary"] for r in got.received] == [
                "Price filter",
                "Dark mode",
                "CSV export",
            ]
        dead = slow.url
    for old in client.get("/v1/webhooks").json():
        client.delete(f"/v1/webhooks/{old['id']}")
    hook = add_hook(client, dead, events=["comment.created"])  # its receiver has stopped
    made = draft(client, llm, "Gift cards")
    for text in ("one", "two", "three"):
        client.post(f"/v1/suggestions/{made['id']}/comments", json={"text": text})
    assert deliver_due(db) == 1  # the first fails; the other two wait with it, no attempt counted
    tried = client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
    assert [(d["status"], d["attempts"]) for d in tried] == [("pending", 0), ("pending", 0), ("pending", 1)]
    assert len({d["next_attempt_at"] for d in tried}) == 1
    later = utcnow() + timedelta(seconds=BACKOFF_S[0] + 1)
    assert deliver_due(db, later) == 1  # the oldest again (order kept), then the rest wait longer
    assert [d["attempts"] for d in client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()] == [0, 0, 2]


def test_a_job_that_ends_is_told_done_or_cancelled_with_its_counts(hooked, llm):
    from service.core.tables import RefineJob
    from tests.test_refinement_api import VAGUE, add, estimate

    client, db = hooked, hooked.app.state.runtime.db
    with receiver() as got:
        add_hook(client, got.url, events=["job.finished"])
        (vague,) = add(client, VAGUE)
        llm.chat.replies.extend([story_json(), estimate(effort=2)])
        started = client.post("/v1/refine", json={"item_ids": [vague]}).json()
        deadline = time.monotonic() + 60
        while client.get(started["status_url"]).json()["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with db.session() as session:  # a job queued and not started (none runs it): cancelled by a person
            session.add(queued := RefineJob(item_ids=[vague], total=1))
        cancelled = client.post(f"/v1/jobs/{queued.id}/cancel?kind=refine", headers={"X-User": "ana"})
        assert cancelled.status_code == 200, cancelled.text
        deliver_due(db)
        done, stopped = (r.body for r in got.received)
        assert done["text"] == f"Refine job {started['job_id']} done: 1 of 1 processed"
        assert done["job"] | {"started_at": None, "finished_at": None} == {
            "kind": "refine", "id": started["job_id"], "status": "done", "total": 1, "processed": 1, "failed": 0,
            "errors": [], "started_at": None, "finished_at": None,
        }  # fmt: skip
        assert (stopped["job"]["status"], stopped["actor"]) == ("cancelled", "ana")
        assert stopped["text"] == f"Refine job {queued.id} cancelled: 0 of 1 processed"


def test_a_webhook_gets_only_its_events_and_only_its_projects(hooked, llm):
    client, db = hooked, hooked.app.state.runtime.db
    assert client.post("/v1/projects", json={"key": "shop", "name": "Shop"}).status_code == 201
    with receiver() as comments, receiver() as shop:
        add_hook(client, comments.url, events=["comment.created"])
        made = client.post("/v1/webhooks?project=shop", json={"url": shop.url})
        assert made.status_code == 201 and len(made.json()["secret"]) >= 32  # one made when none is given
        mine = draft(client, llm, "Dark mode")
        client.post(f"/v1/suggestions/{mine['id']}/comments", json={"text": "night owls"})
        llm.chat.replies.append(story_json(title="Gift cards"))
        theirs = client.post("/v1/drafts?project=shop", json={"text": "gift cards please"}).json()
        deliver_due(db)
        assert comments.events() == ["comment.created"]
        assert shop.events() == ["suggestion.created"] and shop.received[0].body["suggestion"]["id"] == theirs["id"]
        assert shop.received[0].body["project"] == "shop"
        assert shop.received[0].headers[SIGNATURE.lower()] == sign(made.json()["secret"], shop.received[0].raw)
    assert len(client.get("/v1/webhooks").json()) == 1 and len(client.get("/v1/webhooks?project=shop").json()) == 1


def test_ping_says_how_the_receiver_answered_and_removing_a_webhook_drops_what_is_unsent(hooked, llm):
    client, db = hooked, hooked.app.state.runtime.db
    with receiver() as got:
        hook = add_hook(client, got.url)
        pinged = client.post(f"/v1/webhooks/{hook['id']}/ping", headers={"X-User": "ana"})
        assert pinged.status_code == 200 and (pinged.json()["status"], pinged.json()["status_code"]) == (
            "delivered",
            200,
        )
        assert got.received[0].body["text"] == "Refinery: this webhook works (sent by ana to test it)"
        url = got.url
    down = client.post(f"/v1/webhooks/{hook['id']}/ping").json()  # the receiver is gone: said at once, not retried
    assert down["status"] == "failed" and down["status_code"] is None and "ConnectError" in down["error"], down
    draft(client, llm, "Dark mode")
    assert client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()[0]["status"] == "pending"
    scraped = client.get("/metrics").text  # an operator can alert on deliveries piling up or failing
    assert 'refinery_webhook_deliveries{status="pending"} 1.0' in scraped
    assert 'refinery_webhook_deliveries{status="delivered"} 1.0' in scraped
    assert 'refinery_webhook_deliveries{status="failed"} 1.0' in scraped
    assert client.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    assert client.get(f"/v1/webhooks/{hook['id']}/deliveries").status_code == 404
    assert deliver_due(db) == 0 and client.get("/v1/webhooks").json() == []
    assert client.delete(f"/v1/webhooks/{hook['id']}").status_code == 404
    assert url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/hook"},
        {"url": "not a url"},
        {"url": "http://127.0.0.1/hook", "events": ["suggestion.eaten"]},
        {"url": "http://127.0.0.1/hook", "events": ["ping"]},
        {"url": "http://127.0.0.1/hook", "events": []},
        {"url": "http://127.0.0.1/hook", "secret": "short"},
        {"url": "http://127.0.0.1/" + "x" * 2000},
        {"url": "http://127.0.0.1/hook", "extra": True},
    ],
)
def test_a_bad_webhook_is_refused_saying_what_to_fix(body, hooked):
    refused = hooked.post("/v1/webhooks", json=body)
    assert refused.status_code == 422, refused.text
    assert hooked.get("/v1/webhooks").json() == []


def test_the_running_service_sends_events_by_itself(client, llm):
    with receiver() as got:
        add_hook(client, got.url, events=["suggestion.created"])
        draft(client, llm, "Filter search results by price")
        assert [r.body["event"] for r in got.wait_for(1)] == ["suggestion.created"]  # the app's sender, within seconds


def test_the_desk_offers_the_events_a_webhook_can_subscribe_to():
    """The Backlog tab's checkboxes (webhooks.js EVENTS) are the server's subscribable events, in its order."""
    import re
    from pathlib import Path

    from service.webhooks.schemas import EVENTS

    script = (Path(__file__).parents[1] / "service/web/static/webhooks.js").read_text()
    listed = re.search(r"const EVENTS = \[([^\]]*)\]", script)
    assert listed is not None
    assert re.findall(r'"([\w.]+)"', listed.group(1)) == [e.value for e in EVENTS]


def test_each_inbox_line_is_told_with_its_recipient_for_a_chat_to_tell_that_person(hooked, llm):
    client, db = hooked, hooked.app.state.runtime.db
    with receiver() as got:
        add_hook(client, got.url, events=["notification.created"])
        made = draft(client, llm, "Filter search results by price")
        client.post(f"/v1/suggestions/{made['id']}/assign", json={"assignee": "bo"}, headers={"X-User": "ana"})
        said = {"text": "@cy can you size it?"}
        client.post(f"/v1/suggestions/{made['id']}/comments", json=said, headers={"X-User": "ana"})
        client.post(f"/v1/suggestions/{made['id']}/comments", json={"text": "3 points"}, headers={"X-User": "cy"})
        client.post(f"/v1/suggestions/{made['id']}/comments", json={"text": "mine"}, headers={"X-User": "dee"})
        client.put(f"/v1/suggestions/{made['id']}/subscription", json={"watching": False}, headers={"X-User": "cy"})
        client.post(f"/v1/suggestions/{made['id']}/reject", json={"reason": "later"}, headers={"X-User": "bo"})
        assert deliver_due(db) == 10
        told = [r.body["notification"] for r in got.received]
        assert [(n["recipient"], n["reason"]) for n in told] == [
            ("bo", "assigned"),
            ("cy", "mentioned"), ("bo", "commented"),  # ana's comment
            ("bo", "commented"), ("ana", "commented"),  # cy's reply
            ("bo", "commented"), ("ana", "commented"), ("cy", "commented"),  # dee's
            ("ana", "decided"), ("dee", "decided"),  # bo decided it himself; cy muted it
        ]  # fmt: skip
        inbox = client.get("/v1/inbox", headers={"X-User": "bo"}).json()
        assert [n["id"] for n in told if n["recipient"] == "bo"] == sorted(n["id"] for n in inbox)
        first = got.received[0].body
        assert first["event"] == "notification.created" and first["actor"] == "ana"
        assert (
            first["text"]
            == f"For bo: ana gave you story draft #{made['id']} (Filter search results by price) to decide"
        )


def test_a_persons_item_added_and_edited_alone_or_in_bulk_are_told_with_the_fields_changed(hooked):
    client, db = hooked, hooked.app.state.runtime.db
    with receiver() as got:
        add_hook(client, got.url, events=["item.created", "item.updated"])
        made = client.post("/v1/backlog/items", json=[{"title": "Gift cards"}, {"title": "Wrap a gift"}],
                           headers={"X-User": "ana"}).json()["created"]  # fmt: skip
        epic, story = (i["id"] for i in made)
        client.patch(f"/v1/backlog/{story}", json={"parent_id": epic, "labels": ["Q3"]}, headers={"X-User": "bo"})
        client.patch(f"/v1/backlog/{story}", json={"labels": ["q3"]})  # nothing changed: nothing told
        client.post("/v1/backlog/edit", json={"item_ids": [epic, story], "closed": True}, headers={"X-User": "cy"})
        tracked = {"external_id": "jira:SHOP-1", "title": "From Jira"}
        client.post("/v1/backlog/items", json=[tracked])  # a tracker's issue imported: not a person's item
        assert deliver_due(db) == 5
        assert got.events() == ["item.created", "item.created", "item.updated", "item.updated", "item.updated"]
        moved = got.received[2].body
        assert moved["text"] == f"bo edited item #{story} Wrap a gift: labels, parent_id"
        assert moved["changed"] == {"parent_id": epic, "labels": ["q3"]} and moved["item"]["parent_id"] == epic
        assert got.received[0].body["text"] == f"ana added item #{epic}: Gift cards"
        assert [r.body["changed"] for r in got.received[3:]] == [{"closed": True}, {"closed": True}]
