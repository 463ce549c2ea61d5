"""Comments on suggestions (`/v1/suggestions/{id}/comments`): people discuss a suggestion before or after deciding it;
a comment decides nothing, is kept apart from the history, and is deleted only by its author or an admin."""

from __future__ import annotations

from tests.conftest import story_json
from tests.test_access import make_users
from tests.test_undo import draft


def comment(client, suggestion_id: int, text: str, **headers: str):
    return client.post(f"/v1/suggestions/{suggestion_id}/comments", json={"text": text}, headers=headers)


def test_people_comment_on_a_suggestion_and_read_the_thread_oldest_first(client, llm):
    made = draft(client, llm, "Filter search results by price")
    first = comment(client, made["id"], "  Is this in scope for Q3?  ", **{"X-User": "ana"})
    assert first.status_code == 201, first.text
    assert (first.json()["author"], first.json()["text"]) == ("ana", "Is this in scope for Q3?")
    reply = client.post(
        f"/v1/suggestions/{made['id']}/comments", json={"text": "Yes, <b>after</b> the redesign.", "author": "bo"}
    )
    assert reply.status_code == 201
    thread = client.get(f"/v1/suggestions/{made['id']}/comments").json()
    assert [(c["author"], c["text"]) for c in thread] == [
        ("ana", "Is this in scope for Q3?"),
        ("bo", "Yes, <b>after</b> the redesign."),  # stored as typed; the desk shows it as text
    ]
    assert [c["mentions"] for c in thread] == [[], []]
    said = comment(client, made["id"], "@bo, @cy: see @bo's note; mail ana@example.com or @ana@example.com.").json()
    assert said["mentions"] == ["bo", "cy", "ana@example.com"]  # each once; an e-mail address is not a mention
    assert client.get(f"/v1/suggestions/{made['id']}").json()["comment_count"] == 3
    listed = client.get("/v1/suggestions").json()
    assert [s["comment_count"] for s in listed if s["id"] == made["id"]] == [3]
    # a comment is not a change: the history and the status are as they were
    assert [e["action"] for e in client.get(f"/v1/suggestions/{made['id']}/history").json()] == ["created"]
    assert client.get(f"/v1/suggestions/{made['id']}").json()["status"] == "pending"


def test_a_decided_suggestion_takes_comments_and_its_decision_is_still_undone(client, llm):
    made = draft(client, llm, "Export invoices as PDF")
    client.post(f"/v1/suggestions/{made['id']}/reject", json={"reason": "later"})
    assert comment(client, made["id"], "Rejected by mistake, reopening").status_code == 201
    undone = client.post(f"/v1/suggestions/{made['id']}/undo")  # the comment is not the last event of its history
    assert undone.status_code == 200 and undone.json()["status"] == "pending", undone.text
    assert undone.json()["comment_count"] == 1


def test_bad_comments_are_refused_saying_what_to_fix_and_store_nothing(client, llm):
    made = draft(client, llm, "Export invoices as PDF")
    for body in ({"text": "   "}, {"text": "x" * 10_001}, {}, {"text": "ok", "extra": 1}):
        refused = client.post(f"/v1/suggestions/{made['id']}/comments", json=body)
        assert refused.status_code == 422, (body, refused.text)
    missing = comment(client, 999, "hello")
    assert missing.status_code == 404 and "no suggestion with id 999" in missing.json()["detail"]
    assert client.get("/v1/suggestions/999/comments").status_code == 404
    assert client.get(f"/v1/suggestions/{made['id']}/comments").json() == []


def test_a_comment_is_deleted_by_its_author_or_an_admin_only_and_a_viewer_only_reads(client, llm):
    tokens = make_users(client)
    as_ = {name: {"Authorization": f"Bearer {tokens[name]}"} for name in ("viewer", "reviewer", "admin")}
    llm.chat.replies.append(story_json(title="Filter search results by price"))
    made = client.post("/v1/drafts", json={"text": "filter by price"}, headers=as_["reviewer"]).json()
    claimed = client.post(
        f"/v1/suggestions/{made['id']}/comments", json={"text": "mine", "author": "mallory"}, headers=as_["reviewer"]
    )
    assert claimed.status_code == 201 and claimed.json()["author"] == "reviewer"  # who signed in, not who is claimed
    by_admin = comment(client, made["id"], "the admin's", **as_["admin"]).json()
    assert comment(client, made["id"], "a viewer's", **as_["viewer"]).status_code == 403
    assert len(client.get(f"/v1/suggestions/{made['id']}/comments", headers=as_["viewer"]).json()) == 2
    url = f"/v1/suggestions/{made['id']}/comments"
    refused = client.delete(f"{url}/{by_admin['id']}", headers=as_["reviewer"])
    assert refused.status_code == 403 and "only they or an admin delete it" in refused.json()["detail"]
    assert client.delete(f"{url}/{claimed.json()['id']}", headers=as_["reviewer"]).status_code == 204
    assert client.delete(f"{url}/{by_admin['id']}", headers=as_["admin"]).status_code == 204
    assert client.delete(f"{url}/{by_admin['id']}", headers=as_["admin"]).status_code == 404
    assert client.get(url, headers=as_["viewer"]).json() == []


def test_a_comment_belongs_to_its_suggestions_project(client, llm):
    assert client.post("/v1/projects", json={"key": "shop", "name": "Shop"}).status_code == 201
    llm.chat.replies.append(story_json(title="Filter search results by price"))
    made = client.post("/v1/drafts?project=shop", json={"text": "filter by price"}).json()
    said = client.post(f"/v1/suggestions/{made['id']}/comments?project=shop", json={"text": "ok"}).json()
    assert comment(client, made["id"], "from elsewhere").status_code == 404  # the default project has no such one
    assert client.get(f"/v1/suggestions/{made['id']}/comments").status_code == 404
    assert client.delete(f"/v1/suggestions/{made['id']}/comments/{said['id']}").status_code == 404
    assert len(client.get(f"/v1/suggestions/{made['id']}/comments?project=shop").json()) == 1
    other = draft(client, llm, "Export invoices as PDF")  # the default project's
    wrong = client.delete(f"/v1/suggestions/{other['id']}/comments/{said['id']}?project=shop")
    assert wrong.status_code == 404


def test_the_desk_reads_mentions_with_the_servers_pattern():
    """review.js bolds the @names the server lists in `mentions`: both use one pattern (service/core/tables.py)."""
    import re
    from pathlib import Path

    from service.core.tables import MENTION

    script = (Path(__file__).parents[1] / "service/web/static/comments.js").read_text()
    found = re.search(r"const MENTION = /(.*)/g;", script)
    assert found is not None and found.group(1) == MENTION.pattern
