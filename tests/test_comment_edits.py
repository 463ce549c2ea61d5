"""Editing a comment (`PATCH .../comments/{id}`, `refinery review|backlog comment --edit`): its author changes its text,
`edited_at` says when; only names newly mentioned are told (the thread's followers are not told again); the
`comment.updated` webhook carries it; no one else edits it once accounts are on (an admin neither); bad input is
refused saying what to fix, the comment as it was."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from typer.testing import CliRunner

from service.cli import app
from service.core.tables import WebhookDelivery
from tests.conftest import story_json
from tests.test_access import make_users
from tests.test_comments import comment
from tests.test_inbox import inbox
from tests.test_item_comments import add_item, say
from tests.test_undo import draft


def edit(client, url: str, text: str, **headers: str):  # noqa: ANN001, ANN201
    return client.patch(url, json={"text": text}, headers=headers)


def test_the_author_edits_a_comment_and_only_the_names_it_newly_mentions_are_told(client, llm):
    made = draft(client, llm, "Filter search results by price")
    comment(client, made["id"], "Sounds right", **{"X-User": "bo"})  # bo follows the thread
    said = comment(client, made["id"], "@cy can you size this?", **{"X-User": "ana"}).json()
    assert said["edited_at"] is None
    assert inbox(client, "cy")[1] == 1 and inbox(client, "bo")[1] == 1
    url = f"/v1/suggestions/{made['id']}/comments/{said['id']}"
    changed = edit(client, url, "  @cy @dee can you size this by Friday?  ", **{"X-User": "ana"})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["text"] == "@cy @dee can you size this by Friday?" and body["edited_at"] is not None
    assert body["mentions"] == ["cy", "dee"] and body["at"] == said["at"] and body["id"] == said["id"]
    assert inbox(client, "dee")[0] == [("mentioned", made["id"], "ana")]  # newly mentioned: told
    assert inbox(client, "cy")[1] == 1 and inbox(client, "bo")[1] == 1  # told already: not again
    line = client.get("/v1/inbox", headers={"X-User": "dee"}).json()[0]["text"]
    assert line == f"ana mentioned you on story draft #{made['id']} (Filter search results by price): " + body["text"]
    same = edit(client, url, "@cy @dee can you size this by Friday?", **{"X-User": "ana"}).json()
    assert same["edited_at"] == body["edited_at"]  # nothing changed: not an edit
    (shown,) = [c for c in client.get(f"/v1/suggestions/{made['id']}/comments").json() if c["id"] == said["id"]]
    assert shown["text"] == body["text"] and shown["edited_at"] == body["edited_at"]
    assert client.get(f"/v1/suggestions/{made['id']}").json()["comment_count"] == 2
    assert [e["action"] for e in client.get(f"/v1/suggestions/{made['id']}/history").json()] == ["created"]


def test_the_webhook_tells_of_the_edit_with_the_comment_as_it_now_reads(client):
    hook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["comment.updated"]})
    assert hook.status_code == 201, hook.text
    item = add_item(client)
    said = say(client, item, "EUR only", **{"X-User": "ana"}).json()
    changed = edit(client, f"/v1/backlog/{item}/comments/{said['id']}", "EUR and USD", **{"X-User": "ana"}).json()
    with client.app.state.runtime.db.session() as session:
        (body,) = session.scalars(select(WebhookDelivery.body)).all()  # the comment's creation was not asked for
    assert body["event"] == "comment.updated" and body["actor"] == "ana"
    assert body["text"] == f"ana edited a comment on item #{item} (Export invoices as PDF): EUR and USD"
    edited_at = datetime.fromisoformat(body["comment"]["edited_at"])
    assert body["comment"]["text"] == "EUR and USD" and edited_at == datetime.fromisoformat(changed["edited_at"])
    assert body["item"]["id"] == item


def test_no_one_but_the_author_edits_once_accounts_are_on(client, llm):
    tokens = make_users(client)
    as_ = {name: {"Authorization": f"Bearer {tokens[name]}"} for name in ("viewer", "reviewer", "admin")}
    llm.chat.replies.append(story_json(title="Filter search results by price"))
    made = client.post("/v1/drafts", json={"text": "filter by price"}, headers=as_["reviewer"]).json()
    mine = comment(client, made["id"], "mine", **as_["reviewer"]).json()
    url = f"/v1/suggestions/{made['id']}/comments/{mine['id']}"
    by_admin = edit(client, url, "the admin's words", **as_["admin"])
    assert by_admin.status_code == 403 and "only they edit it" in by_admin.json()["detail"]
    assert edit(client, url, "a viewer's", **as_["viewer"]).status_code == 403  # a viewer does not comment
    claimed = edit(client, url, "claimed", **as_["admin"], **{"X-User": "reviewer"})  # a claimed name is ignored
    assert claimed.status_code == 403
    assert edit(client, url, "mine, edited", **as_["reviewer"]).status_code == 200
    thread = client.get(f"/v1/suggestions/{made['id']}/comments", headers=as_["viewer"]).json()
    assert [c["text"] for c in thread] == ["mine, edited"]


def test_while_accounts_are_off_anyone_edits_and_bad_edits_change_nothing(client, llm):
    made = draft(client, llm, "Export invoices as PDF")
    said = comment(client, made["id"], "EUR only", **{"X-User": "ana"}).json()
    url = f"/v1/suggestions/{made['id']}/comments/{said['id']}"
    assert edit(client, url, "EUR and USD", **{"X-User": "bo"}).status_code == 200  # a name is only a claim
    for body in ({"text": "  "}, {"text": "x" * 10_001}, {}, {"text": "ok", "author": "bo"}):
        refused = client.patch(url, json=body)
        assert refused.status_code == 422, (body, refused.text)
    other = draft(client, llm, "Dark mode")
    wrong = edit(client, f"/v1/suggestions/{other['id']}/comments/{said['id']}", "moved?")
    assert wrong.status_code == 404 and f"has no comment {said['id']}" in wrong.json()["detail"]
    assert edit(client, f"/v1/suggestions/{made['id']}/comments/999", "hello").status_code == 404
    item = add_item(client)
    assert edit(client, f"/v1/backlog/{item}/comments/{said['id']}", "hello").status_code == 404  # not that thread
    (kept,) = client.get(f"/v1/suggestions/{made['id']}/comments").json()
    assert kept["text"] == "EUR and USD"


def test_the_cli_edits_ones_own_comment_and_shows_it_was_edited(cli_home, monkeypatch):
    monkeypatch.setenv("REFINERY_DUPLICATE_CHECK", "false")
    runner = CliRunner()
    assert runner.invoke(app, ["backlog", "add", "Export invoices as PDF"]).exit_code == 0
    said = runner.invoke(app, ["backlog", "comment", "1", "EUR only", "--as", "ana"])
    assert said.exit_code == 0, said.output
    refused = runner.invoke(app, ["backlog", "comment", "1", "USD", "--edit", "1", "--as", "bo"])
    assert refused.exit_code == 2 and "only they edit it" in refused.output, refused.output
    changed = runner.invoke(app, ["backlog", "comment", "1", "EUR and USD", "--edit", "1", "--as", "ana"])
    assert changed.exit_code == 0 and "edited comment 1 on item #1" in changed.output, changed.output
    missing = runner.invoke(app, ["backlog", "comment", "1", "EUR", "--edit", "9", "--as", "ana"])
    assert missing.exit_code == 2 and "has no comment 9" in missing.output, missing.output
    shown = runner.invoke(app, ["backlog", "show", "1"], env={"COLUMNS": "200"})
    assert "comments (1):" in shown.output and "#1 ana, " in shown.output and "(edited" in shown.output
    assert "EUR and USD" in shown.output and "EUR only" not in shown.output, shown.output
