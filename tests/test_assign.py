"""Assigning suggestions (`POST /v1/suggestions/{id}/assign`): an undecided suggestion is given to a person to decide,
or to no one; the history records who did; the queue filters by assignee; with accounts on, only a reviewer or an
admin of the project can be given one; a webhook hears of it."""

from __future__ import annotations

from service.webhooks.delivery import deliver_due
from tests.conftest import story_json
from tests.test_access import make_users
from tests.test_undo import draft
from tests.webhook_receiver import receiver


def assign(client, suggestion_id: int, assignee: str | None, **headers: str):
    return client.post(f"/v1/suggestions/{suggestion_id}/assign", json={"assignee": assignee}, headers=headers)


def listed(client, query: str) -> tuple[list[int], str]:
    found = client.get(f"/v1/suggestions?{query}")
    assert found.status_code == 200, found.text
    return [s["id"] for s in found.json()], found.headers["X-Total-Count"]


def test_a_suggestion_is_assigned_filtered_by_assignee_and_given_back(client, llm):
    first, second, third = (draft(client, llm, t) for t in ("Price filter", "Dark mode", "CSV export"))
    given = assign(client, first["id"], "  bo ", **{"X-User": "ana"})
    assert given.status_code == 200 and given.json()["assignee"] == "bo", given.text
    assert assign(client, second["id"], "bo").json()["assignee"] == "bo"
    assert listed(client, "assignee=bo") == ([second["id"], first["id"]], "2")
    assert listed(client, "unassigned=true") == ([third["id"]], "1")
    assert listed(client, "assignee=bo&q=dark") == ([second["id"]], "1")
    assert assign(client, first["id"], "bo").status_code == 200  # the same again: nothing to record
    assert assign(client, first["id"], None).json()["assignee"] is None  # given back
    history = client.get(f"/v1/suggestions/{first['id']}/history").json()
    assert [(e["action"], e["actor"], e["before"], e["after"]) for e in history[1:]] == [
        ("assigned", "ana", {"assignee": None}, {"assignee": "bo"}),
        ("assigned", None, {"assignee": "bo"}, {"assignee": None}),
    ]
    accepted = client.post(f"/v1/suggestions/{second['id']}/accept", headers={"X-User": "cy"})
    assert accepted.status_code == 201  # anyone may decide it; it stays bo's in the record
    assert client.get(f"/v1/suggestions/{second['id']}").json()["assignee"] == "bo"
    refused = assign(client, second["id"], "ana")
    assert refused.status_code == 409 and "only an undecided one is assigned" in refused.json()["detail"]
    assert assign(client, 999, "bo").status_code == 404
    for body in ({"assignee": "  "}, {"assignee": "x" * 201}, {}, {"assignee": "bo", "extra": 1}):
        assert client.post(f"/v1/suggestions/{third['id']}/assign", json=body).status_code == 422, body
    assert client.get(f"/v1/suggestions/{third['id']}").json()["assignee"] is None


def test_with_accounts_only_a_reviewer_or_admin_of_the_project_is_given_one(client, llm):
    tokens = make_users(client)
    as_ = {name: {"Authorization": f"Bearer {tokens[name]}"} for name in ("viewer", "reviewer", "admin")}
    llm.chat.replies.append(story_json(title="Price filter"))
    made = client.post("/v1/drafts", json={"text": "price filter"}, headers=as_["reviewer"]).json()
    assert assign(client, made["id"], "reviewer", **as_["admin"]).json()["assignee"] == "reviewer"
    assert assign(client, made["id"], "admin", **as_["reviewer"]).json()["assignee"] == "admin"
    for name in ("viewer", "outsider", "nobody-at-all"):
        refused = assign(client, made["id"], name, **as_["admin"])
        assert refused.status_code == 422 and "may not decide suggestions in this project" in refused.json()["detail"]
    assert assign(client, made["id"], None, **as_["viewer"]).status_code == 403
    history = client.get(f"/v1/suggestions/{made['id']}/history", headers=as_["viewer"]).json()
    assert [e["actor"] for e in history if e["action"] == "assigned"] == ["admin", "reviewer"]  # who signed in


def test_a_webhook_hears_who_was_given_a_suggestion(client, llm):
    client.app.state.webhooks.stop()
    with receiver() as got:
        client.post("/v1/webhooks", json={"url": got.url, "events": ["suggestion.assigned"]}).raise_for_status()
        made = draft(client, llm, "Dark mode")
        assign(client, made["id"], "bo", **{"X-User": "ana"})
        deliver_due(client.app.state.runtime.db)
        (said,) = got.received
        assert said.body["text"] == f"ana assigned story draft #{made['id']} to bo: Dark mode"
        assert said.body["suggestion"]["assignee"] == "bo"
