"""The project's activity: what people did (decisions, assignments, comments, edits of items), newest first, by
person, a page at a time, per project; what the AI made is not listed."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from service.cli import app
from tests.test_api import draft
from tests.test_cli import drafts_in


def test_activity_lists_what_people_did_newest_first_with_what_each_adds(client, llm):
    accepted, rejected, assigned = (draft(client, llm)["id"] for _ in range(3))
    ana, bo = {"X-User": "ana"}, {"X-User": "bo"}
    edits = {"edits": {"title": "Price range filter"}}
    item = client.post(f"/v1/suggestions/{accepted}/accept", json=edits, headers=ana).json()["id"]
    client.post(f"/v1/suggestions/{rejected}/reject", json={"reason": "Out of scope\nfor Q3"}, headers=bo)
    client.post(f"/v1/suggestions/{assigned}/assign", json={"assignee": "cy"}, headers=ana)
    client.post(f"/v1/suggestions/{assigned}/comments", json={"text": "@cy can you take it?"}, headers=bo)
    client.patch(f"/v1/backlog/{item}", json={"story_points": 3, "labels": ["pricing"]}, headers={"X-User": "pat"})
    seen = client.get("/v1/activity")
    assert seen.status_code == 200, seen.text
    lines = seen.json()
    assert [(a["actor"], a["action"]) for a in lines] == [
        ("pat", "edited"),
        ("bo", "commented"),
        ("ana", "assigned"),
        ("bo", "rejected"),
        ("ana", "accepted_with_edits"),
    ]  # the drafts the model made are not listed
    edited, commented, given, refused, taken = lines
    said = (item, "Price range filter", "labels, story_points")
    assert (edited["item_id"], edited["subject"], edited["detail"]) == said
    assert (commented["suggestion_id"], commented["kind"], commented["detail"]) == (
        assigned,
        "story_draft",
        "@cy can you take it?",
    )
    assert given["detail"] == "to cy" and refused["detail"] == "Out of scope for Q3"  # on one line
    assert taken["suggestion_id"] == accepted and taken["detail"] is None
    assert taken["subject"] == "Filter search results by price"  # what the model proposed; the item took the edit
    assert [a["action"] for a in client.get("/v1/activity?actor=bo").json()] == ["commented", "rejected"]
    first = client.get("/v1/activity?limit=2").json()
    rest = client.get("/v1/activity", params={"before": first[-1]["at"]}).json()
    assert [a["action"] for a in first + rest] == [a["action"] for a in lines]  # a page at a time, none twice
    assert client.post("/v1/projects", json={"key": "mobile", "name": "Mobile"}).status_code == 201
    assert client.get("/v1/activity?project=mobile").json() == []
    for bad in ("limit=0", "limit=501", "before=yesterday", "actor=", "after=yesterday", "after=x~1~y"):
        assert client.get(f"/v1/activity?{bad}").status_code == 422, bad


def test_a_bulk_edits_lines_are_paged_without_one_skipped_or_repeated(client):
    made = client.post("/v1/backlog/items", json=[{"title": f"Item {i}"} for i in range(120)]).json()["created"]
    ids = [i["id"] for i in made]
    assert client.post("/v1/backlog/edit", json={"item_ids": ids, "add_labels": ["q3"]}).status_code == 200
    from sqlalchemy import func, select, update

    from service.core.tables import ItemEvent

    with client.app.state.runtime.db.session() as session:  # stored in one microsecond, as a fast machine does: the
        # case paged here (a busy machine stamps each line apart, and the run did not test it)
        first = session.scalar(select(func.min(ItemEvent.at)).where(ItemEvent.action == "edited"))
        session.execute(update(ItemEvent).where(ItemEvent.action == "edited").values(at=first))
    everything = client.get("/v1/activity", params={"limit": 500}).json()
    edits = [a for a in everything if a["action"] == "edited"]
    assert sorted(a["item_id"] for a in edits) == ids
    assert len({a["at"] for a in edits}) == 1
    paged, after = [], None
    while page := client.get("/v1/activity", params={"limit": 7} | ({"after": after} if after else {})).json():
        paged += page
        after = page[-1]["cursor"]
    assert [a["cursor"] for a in paged] == [a["cursor"] for a in everything]  # each once, in the same order


def test_refinery_activity_prints_a_line_each(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    drafts_in(tmp_path, monkeypatch)
    assert "Nothing done yet." in runner.invoke(app, ["activity"]).output
    drafts_in(tmp_path, monkeypatch, "Price filter", "Dark mode")
    runner.invoke(app, ["review", "reject", "1", "--reason", "later", "--as", "bo"])
    runner.invoke(app, ["review", "comment", "2", "Q3?", "--as", "ana"])
    shown = runner.invoke(app, ["activity"])
    assert shown.exit_code == 0, shown.output
    first, second = shown.output.splitlines()
    assert first.endswith("ana commented #2 story_draft Dark mode: Q3?"), first
    assert second.endswith("bo rejected #1 story_draft Price filter: later"), second
    assert [a["actor"] for a in json.loads(runner.invoke(app, ["activity", "--actor", "bo", "--json"]).output)] == [
        "bo"
    ]
    assert runner.invoke(app, ["activity", "--limit", "0"]).exit_code == 2


def test_a_rejections_line_keeps_the_reason_it_was_given(client, llm):
    made = draft(client, llm)["id"]
    assert client.post(f"/v1/suggestions/{made}/reject", json={"reason": "Not now"}).status_code == 200
    assert client.post(f"/v1/suggestions/{made}/undo").status_code == 200
    assert client.post(f"/v1/suggestions/{made}/reject", json={"reason": "Duplicate of #3"}).status_code == 200
    said = [a["detail"] for a in client.get("/v1/activity").json() if a["action"] == "rejected"]
    assert said == ["Duplicate of #3", "Not now"]  # each as given, newest first


def test_a_comments_last_edit_is_a_line_of_its_own_paged_with_the_rest(client):
    (item,) = [i["id"] for i in client.post("/v1/backlog/items", json=[{"title": "Export"}]).json()["created"]]
    ana = {"X-User": "ana"}
    first = client.post(f"/v1/backlog/{item}/comments", json={"text": "EUR only"}, headers=ana).json()
    client.post(f"/v1/backlog/{item}/comments", json={"text": "And GBP?"}, headers={"X-User": "bo"})
    edited = client.patch(f"/v1/backlog/{item}/comments/{first['id']}", json={"text": "EUR and GBP"}, headers=ana)
    assert edited.status_code == 200, edited.text
    lines = client.get("/v1/activity").json()
    assert [(a["actor"], a["action"], a["detail"]) for a in lines[:3]] == [
        ("ana", "edited_comment", "EUR and GBP"),
        ("bo", "commented", "And GBP?"),
        ("ana", "commented", "EUR and GBP"),  # a comment keeps one text: its line shows it as it reads now
    ]
    assert lines[0]["item_id"] == item and lines[0]["subject"] == "Export"
    paged, after = [], None
    while page := client.get("/v1/activity", params={"limit": 1} | ({"after": after} if after else {})).json():
        paged += page
        after = page[-1]["cursor"]
    assert [a["cursor"] for a in paged] == [a["cursor"] for a in lines]
    assert [a["action"] for a in client.get("/v1/activity?actor=bo").json()] == ["commented"]
