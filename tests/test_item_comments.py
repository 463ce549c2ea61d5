"""Comments on backlog items (`/v1/backlog/{id}/comments`, `refinery backlog comment`): a thread per item, oldest
first, counted on the item; `@name` and the thread's earlier authors are told in their inbox (and by mail, linked to
the item); the `comment.created` webhook carries the item; the activity lists them; a comment is in exactly one
thread; bad input is refused saying what to fix."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from service.cli import app
from service.core.tables import Comment, Notification, WebhookDelivery, utcnow
from service.inbox import mail
from tests.smtp_server import smtp_server
from tests.test_comments import comment
from tests.test_mail import LATER, mail_settings, people
from tests.test_undo import draft


def add_item(client, title: str = "Export invoices as PDF", **headers: str) -> int:  # noqa: ANN001
    asked = {"title": title, "description": "Finance asked for it."}
    made = client.post("/v1/backlog/items", json=asked, headers=headers)
    assert made.status_code == 201, made.text
    return client.get("/v1/backlog", headers=headers).json()[-1]["id"]


def say(client, item_id: int, text: str, **headers: str):  # noqa: ANN001, ANN201
    return client.post(f"/v1/backlog/{item_id}/comments", json={"text": text}, headers=headers)


def test_people_comment_on_an_item_and_its_thread_is_counted_apart_from_suggestions(client, llm):
    item = add_item(client)
    suggestion = draft(client, llm, "Dark mode")
    first = say(client, item, "  Which currencies?  ", **{"X-User": "ana"})
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["item_id"], body["suggestion_id"], body["author"], body["text"]) == (
        item, None, "ana", "Which currencies?"
    )  # fmt: skip
    assert say(client, item, "EUR and USD, @ana", **{"X-User": "bo"}).json()["mentions"] == ["ana"]
    assert comment(client, suggestion["id"], "on the draft", **{"X-User": "cy"}).status_code == 201
    thread = client.get(f"/v1/backlog/{item}/comments").json()
    assert [(c["author"], c["text"]) for c in thread] == [("ana", "Which currencies?"), ("bo", "EUR and USD, @ana")]
    assert client.get(f"/v1/backlog/{item}").json()["comment_count"] == 2
    assert client.get("/v1/backlog").json()[0]["comment_count"] == 2
    assert [c["text"] for c in client.get(f"/v1/suggestions/{suggestion['id']}/comments").json()] == ["on the draft"]
    assert client.get(f"/v1/suggestions/{suggestion['id']}").json()["comment_count"] == 1
    assert client.get(f"/v1/backlog/{item}/history").json()[-1]["action"] == "added"  # a comment is no change
    gone = client.delete(f"/v1/backlog/{item}/comments/{thread[0]['id']}", headers={"X-User": "ana"})
    assert gone.status_code == 204
    wrong = client.delete(f"/v1/backlog/{item}/comments/{thread[1]['id'] + 1}")  # the draft's comment: not here
    assert wrong.status_code == 404 and f"backlog item {item} has no comment" in wrong.text
    assert client.get(f"/v1/backlog/{item}").json()["comment_count"] == 1


def test_bad_comments_and_unknown_items_are_refused_and_a_comment_is_in_exactly_one_thread(client):
    item = add_item(client)
    assert say(client, 999, "hello").status_code == 404 and "no backlog item with id 999" in say(client, 999, "x").text
    assert client.get("/v1/backlog/999/comments").status_code == 404
    assert say(client, item, "   ").status_code == 422
    assert say(client, item, "x" * 10_001).status_code == 422
    assert client.post(f"/v1/backlog/{item}/comments", json={"text": "hi", "mood": "x"}).status_code == 422
    with pytest.raises(IntegrityError), client.app.state.runtime.db.session() as session:
        session.add(Comment(project_id=1, text="nowhere"))  # neither thread: the database refuses it
    with pytest.raises(IntegrityError), client.app.state.runtime.db.session() as session:
        session.add(Comment(project_id=1, text="both", item_id=item, suggestion_id=item))


def test_mentions_and_the_threads_authors_are_told_and_lines_are_read_by_item(client, llm):
    item = add_item(client)
    say(client, item, "Which currencies? @bo", **{"X-User": "ana"})
    say(client, item, "EUR only for now", **{"X-User": "bo"})
    say(client, item, "Agreed", **{"X-User": "cy"})
    lines = client.get("/v1/inbox", headers={"X-User": "ana"}).json()
    assert [(n["reason"], n["item_id"], n["suggestion_id"], n["actor"]) for n in lines] == [
        ("commented", item, None, "cy"),
        ("commented", item, None, "bo"),
    ]
    assert lines[-1]["text"] == f"bo commented on item #{item} (Export invoices as PDF): EUR only for now"
    bo = client.get("/v1/inbox", headers={"X-User": "bo"}).json()
    assert [(n["reason"], n["actor"]) for n in bo] == [("commented", "cy"), ("mentioned", "ana")]
    assert client.get("/v1/inbox", headers={"X-User": "cy"}).json() == []  # only what cy did
    read = client.post("/v1/inbox/read", json={"item_id": item}, headers={"X-User": "ana"})
    assert read.json() == {"marked": 2, "unread": 0}
    both = client.post("/v1/inbox/read", json={"item_id": item, "all": True}, headers={"X-User": "ana"})
    assert both.status_code == 422 and "an `item_id`" in both.text
    activity = client.get("/v1/activity?limit=3").json()
    assert [(a["action"], a["item_id"], a["suggestion_id"], a["actor"]) for a in activity] == [
        ("commented", item, None, "cy"),
        ("commented", item, None, "bo"),
        ("commented", item, None, "ana"),
    ]
    assert activity[0]["subject"] == "Export invoices as PDF" and activity[0]["detail"] == "Agreed"


def test_the_webhook_carries_the_item_and_the_comment(client):
    hook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["comment.created"]})
    assert hook.status_code == 201, hook.text
    item = add_item(client)
    said = say(client, item, "@bo please size it", **{"X-User": "ana"}).json()
    with client.app.state.runtime.db.session() as session:
        (body,) = session.scalars(select(WebhookDelivery.body)).all()
    assert body["event"] == "comment.created" and body["actor"] == "ana"
    assert body["text"] == f"ana commented on item #{item} (Export invoices as PDF): @bo please size it"
    assert body["item"]["id"] == item and body["item"]["title"] == "Export invoices as PDF"
    assert body["comment"] | {"at": None} == {
        "id": said["id"], "author": "ana", "text": "@bo please size it", "mentions": ["bo"], "at": None,
        "edited_at": None,
    }  # fmt: skip
    assert "suggestion" not in body


def test_an_item_line_is_mailed_with_a_link_to_the_items_thread(client):
    as_ = people(client)
    client.patch("/v1/auth/me", json={"email": "viewer@example.com"}, headers=as_["viewer"])
    item = add_item(client, **as_["reviewer"])
    assert say(client, item, "@viewer is EUR enough?", **as_["reviewer"]).status_code == 201
    with smtp_server() as (mailbox, port):
        settings = mail_settings(client, port, desk_url="https://refinery.example.com")
        assert mail.mail_due(client.app.state.runtime.db, settings, utcnow() + LATER) == mail.Round(1, None)
    (sent,) = mailbox.to("viewer@example.com")
    assert f"reviewer mentioned you on item #{item} (Export invoices as PDF)" in sent["Subject"]
    assert f"https://refinery.example.com/?project=default#backlog/{item}" in sent.get_body(("plain",)).get_content()
    with client.app.state.runtime.db.session() as session:
        assert session.scalars(select(Notification.item_id)).all() == [item]


def test_the_cli_comments_on_an_item_and_shows_the_thread(cli_home, monkeypatch):
    monkeypatch.setenv("REFINERY_DUPLICATE_CHECK", "false")
    runner = CliRunner()
    added = runner.invoke(app, ["backlog", "add", "Export invoices as PDF"])
    assert added.exit_code == 0, added.output
    said = runner.invoke(app, ["backlog", "comment", "1", "Which currencies? [b]@bo[/b]", "--as", "ana"])
    assert said.exit_code == 0 and "commented on item #1 as ana" in said.output, said.output
    empty = runner.invoke(app, ["backlog", "comment", "1", "  "])
    assert empty.exit_code == 2 and "the comment is empty" in empty.output
    missing = runner.invoke(app, ["backlog", "comment", "99", "hello"])
    assert missing.exit_code == 2 and "99" in missing.output
    shown = runner.invoke(app, ["backlog", "show", "1"], env={"COLUMNS": "200"})
    assert "comments (1):" in shown.output and "ana, " in shown.output
    assert "Which currencies? [b]@bo[/b]" in shown.output  # text, not markup


def test_an_accepted_draft_whose_item_was_commented_on_is_not_undone(client, llm):
    made = draft(client, llm, "Export invoices as PDF")
    item = client.post(f"/v1/suggestions/{made['id']}/accept").json()
    assert say(client, item["id"], "EUR only", **{"X-User": "ana"}).status_code == 201
    refused = client.post(f"/v1/suggestions/{made['id']}/undo")
    assert refused.status_code == 409 and "was commented on since it was accepted" in refused.json()["detail"]
    assert [c["text"] for c in client.get(f"/v1/backlog/{item['id']}/comments").json()] == ["EUR only"]
    assert client.get(f"/v1/suggestions/{made['id']}").json()["status"] == "accepted"


def follows(client, item_id: int, who: str, watching: bool | None | str = "get") -> tuple[bool, str]:  # noqa: ANN001
    url, headers = f"/v1/backlog/{item_id}/subscription", {"X-User": who}
    got = (
        client.get(url, headers=headers)
        if watching == "get"
        else client.put(url, json={"watching": watching}, headers=headers)
    )
    assert got.status_code == 200, got.text
    assert (got.json()["item_id"], got.json()["suggestion_id"]) == (item_id, None)
    return got.json()["following"], got.json()["why"]


def told(client, who: str) -> list[str]:  # noqa: ANN001
    return [n["actor"] for n in client.get("/v1/inbox?unread=true", headers={"X-User": who}).json()]


def test_a_person_watches_or_mutes_an_items_thread_and_a_mention_reaches_them_anyway(client):
    item = add_item(client)
    say(client, item, "Which currencies?", **{"X-User": "bo"})
    assert follows(client, item, "bo") == (True, "in its thread")
    assert follows(client, item, "dee") == (False, "not in its thread, not watching")
    assert follows(client, item, "dee", True) == (True, "watching")
    assert follows(client, item, "bo", False) == (False, "muted")
    say(client, item, "EUR only", **{"X-User": "cy"})
    assert told(client, "bo") == [] and told(client, "dee") == ["cy"]
    say(client, item, "@bo is that fine?", **{"X-User": "cy"})
    assert told(client, "bo") == ["cy"]  # a mention reaches a person who muted the thread
    assert follows(client, item, "bo", None) == (True, "in its thread")
    assert follows(client, item, "dee", None) == (False, "not in its thread, not watching")
    assert client.get("/v1/backlog/999/subscription", headers={"X-User": "bo"}).status_code == 404
    assert client.get(f"/v1/backlog/{item}/subscription").status_code == 422  # whose choice: no one named


def test_the_cli_watches_and_mutes_an_items_thread(cli_home, monkeypatch):
    monkeypatch.setenv("REFINERY_DUPLICATE_CHECK", "false")
    runner = CliRunner()
    assert runner.invoke(app, ["backlog", "add", "Export invoices as PDF"]).exit_code == 0
    watched = runner.invoke(app, ["inbox", "watch", "1", "--item", "--as", "dee"])
    assert watched.exit_code == 0 and "Your inbox follows item #1 (watching)." in watched.output, watched.output
    muted = runner.invoke(app, ["inbox", "watch", "1", "--item", "--mute", "--as", "dee"])
    assert "does not follow item #1 (muted)" in muted.output
    missing = runner.invoke(app, ["inbox", "watch", "9", "--item", "--as", "dee"])
    assert missing.exit_code == 2 and "no backlog item with id 9" in missing.output


def test_a_persons_edit_of_an_item_tells_its_followers_which_fields_changed(client):
    item = add_item(client)
    say(client, item, "Which currencies?", **{"X-User": "bo"})  # in its thread
    assert follows(client, item, "dee", True) == (True, "watching")
    assert follows(client, item, "eve", True) == (True, "watching")
    assert follows(client, item, "eve", False) == (False, "muted")
    edited = client.patch(f"/v1/backlog/{item}", json={"title": "Export invoices", "story_points": 3},
                          headers={"X-User": "cy"})  # fmt: skip
    assert edited.status_code == 200, edited.text
    assert told(client, "bo") == ["cy"] and told(client, "dee") == ["cy"] and told(client, "eve") == []
    assert told(client, "cy") == []  # not told of what one did oneself
    (line,) = client.get("/v1/inbox", headers={"X-User": "dee"}).json()
    assert (line["reason"], line["item_id"]) == ("edited", item)
    assert line["text"] == f"cy edited item #{item} (Export invoices): title, points"
    bulk = client.post("/v1/backlog/edit", json={"item_ids": [item], "closed": True, "add_labels": ["q3"]},
                       headers={"X-User": "bo"})  # fmt: skip
    assert bulk.status_code == 200, bulk.text
    newest = client.get("/v1/inbox", headers={"X-User": "dee"}).json()[0]["text"]
    assert (
        newest.startswith(f"bo edited item #{item} (Export invoices): ") and "closed" in newest and "labels" in newest
    )
    unchanged = client.patch(f"/v1/backlog/{item}", json={"story_points": 3}, headers={"X-User": "cy"})
    assert unchanged.status_code == 200 and len(client.get("/v1/inbox", headers={"X-User": "dee"}).json()) == 2
    keyed = {"title": "Export invoices", "description": "Changed in Jira", "external_id": "jira:SHOP-9"}
    client.post("/v1/backlog/items", json=keyed)
    tracked = client.get("/v1/backlog?q=SHOP-9").json()[0]["id"]
    assert follows(client, tracked, "dee", True) == (True, "watching")
    again = client.post("/v1/backlog/items", json=keyed | {"title": "Export all invoices"})  # a re-import
    assert again.json()["updated"], again.text
    assert len(client.get("/v1/inbox", headers={"X-User": "dee"}).json()) == 2  # no one's word: no line


def test_a_markdown_export_carries_each_items_discussion_and_the_trackers_formats_do_not(client):
    item = add_item(client)
    say(client, item, "Which currencies?", **{"X-User": "ana"})
    say(client, item, "EUR only.\n=SUM(A1) is not a formula here", **{"X-User": "bo"})
    text = client.get("/v1/backlog/export?format=markdown").text
    discussion = text.split("**Discussion**\n", 1)[1].splitlines()
    assert discussion[0].startswith("* ana, ") and discussion[0].endswith(": Which currencies?")
    assert discussion[1].endswith(": EUR only.") and discussion[2].strip().endswith("is not a formula here")
    assert discussion[2].startswith("  ")  # the comment's next line, under its bullet: no line starts a formula
    for fmt in ("jira_csv", "jira_json", "github_json", "linear_json"):
        assert "Which currencies?" not in client.get(f"/v1/backlog/export?format={fmt}").text, fmt
