"""A person's inbox (`/v1/inbox`, `refinery inbox`): others' mentions of them, suggestions given to them, comments and
decisions on the suggestions they follow (given to them, in the thread, watched; not muted); one line a person per
event, none for what they did themselves; read and unread; only the project's members once accounts are on; a deleted
comment's line goes with it."""

from __future__ import annotations

from tests.conftest import story_json
from tests.test_access import make_users
from tests.test_assign import assign
from tests.test_comments import comment
from tests.test_undo import draft


def inbox(client, who: str, query: str = "") -> tuple[list[tuple[str, int, str | None]], int]:
    """(reason, suggestion, actor) per line, newest first, and the unread count."""
    found = client.get(f"/v1/inbox?{query}", headers={"X-User": who})
    assert found.status_code == 200, found.text
    return [(n["reason"], n["suggestion_id"], n["actor"]) for n in found.json()], int(found.headers["X-Unread-Count"])


def test_mentions_assignments_comments_and_decisions_reach_the_people_they_concern(client, llm):
    first, second = draft(client, llm, "Filter search results by price"), draft(client, llm, "Dark mode")
    assert inbox(client, "bo") == ([], 0)
    assign(client, first["id"], "bo", **{"X-User": "ana"})
    comment(client, first["id"], "@cy can you size this? @bo fyi", **{"X-User": "ana"})
    comment(client, first["id"], "About 3 points", **{"X-User": "cy"})
    comment(client, second["id"], "@cy @ana what about @bo?", **{"X-User": "dee"})
    client.post(f"/v1/suggestions/{first['id']}/reject", json={"reason": "later"}, headers={"X-User": "cy"})
    client.post(f"/v1/suggestions/{first['id']}/undo", headers={"X-User": "bo"})  # bo's own: not told to bo
    lines, unread = inbox(client, "bo")
    assert lines == [
        ("decided", first["id"], "cy"),
        ("mentioned", second["id"], "dee"),
        ("commented", first["id"], "cy"),  # a comment on a suggestion given to bo
        ("mentioned", first["id"], "ana"),  # mentioned and assigned: one line, the mention
        ("assigned", first["id"], "ana"),
    ]
    assert unread == 5
    # ana and cy are in the first thread: its decisions reach them (bo's undo too), its comments the others
    assert inbox(client, "cy")[0] == [
        ("decided", first["id"], "bo"),
        ("mentioned", second["id"], "dee"),
        ("mentioned", first["id"], "ana"),
    ]
    assert inbox(client, "ana")[0] == [
        ("decided", first["id"], "bo"),
        ("decided", first["id"], "cy"),
        ("mentioned", second["id"], "dee"),
        ("commented", first["id"], "cy"),
    ]
    assert inbox(client, "dee") == ([], 0)  # nothing she did is in her own inbox
    texts = [n["text"] for n in client.get("/v1/inbox", headers={"X-User": "bo"}).json()]
    assert texts[1] == f"dee mentioned you on story draft #{second['id']} (Dark mode): @cy @ana what about @bo?"
    assert texts[0] == f"cy rejected story draft #{first['id']} (Filter search results by price), given to you: later"
    ana_first = client.get("/v1/inbox", headers={"X-User": "ana"}).json()[0]["text"]
    assert ana_first == f"bo undid the decision on story draft #{first['id']} (Filter search results by price)"
    assert texts[4] == f"ana gave you story draft #{first['id']} (Filter search results by price) to decide"


def test_lines_are_marked_read_and_unread_one_by_one_or_all_and_another_persons_stay_as_they_are(client, llm):
    made = draft(client, llm, "Export invoices as PDF")
    for k in range(3):
        comment(client, made["id"], f"@bo note {k}", **{"X-User": "ana"})
    comment(client, made["id"], "@cy look", **{"X-User": "ana"})
    ids = [n["id"] for n in client.get("/v1/inbox", headers={"X-User": "bo"}).json()]
    read = client.post("/v1/inbox/read", json={"ids": [ids[0], ids[0], 999]}, headers={"X-User": "bo"})
    assert read.status_code == 200 and read.json() == {"marked": 1, "unread": 2}, read.text
    assert [n["read"] for n in client.get("/v1/inbox", headers={"X-User": "bo"}).json()] == [True, False, False]
    assert inbox(client, "bo", "unread=true")[1] == 2 and len(inbox(client, "bo", "unread=true")[0]) == 2
    cy_line = client.get("/v1/inbox", headers={"X-User": "cy"}).json()[0]["id"]
    stolen = client.post("/v1/inbox/read", json={"ids": [cy_line]}, headers={"X-User": "bo"})
    assert stolen.json()["marked"] == 0 and inbox(client, "cy")[1] == 1  # bo cannot read cy's lines
    every = client.post("/v1/inbox/read", json={"all": True}, headers={"X-User": "bo"})
    assert every.json() == {"marked": 2, "unread": 0}
    again = client.post("/v1/inbox/read", json={"ids": [ids[2]], "read": False}, headers={"X-User": "bo"})
    assert again.json() == {"marked": 1, "unread": 1}
    page = client.get(f"/v1/inbox?limit=2&after={ids[0]}", headers={"X-User": "bo"}).json()
    assert [n["id"] for n in page] == ids[1:3]
    other = draft(client, llm, "Dark mode")
    comment(client, other["id"], "@bo one", **{"X-User": "ana"})
    comment(client, other["id"], "@bo two", **{"X-User": "ana"})
    seen = client.post("/v1/inbox/read", json={"suggestion_id": other["id"]}, headers={"X-User": "bo"})
    assert seen.json() == {"marked": 2, "unread": 1}  # its two lines; the one marked unread again above stays so


def test_an_inbox_without_a_name_or_with_a_bad_body_is_refused_saying_what_to_fix(client, llm):
    nameless = client.get("/v1/inbox")
    assert nameless.status_code == 422 and "say whose inbox" in nameless.json()["detail"]
    assert client.post("/v1/inbox/read", json={"all": True}).status_code == 422
    for body in (
        {},
        {"ids": [1], "all": True},
        {"ids": [1], "suggestion_id": 1},
        {"ids": [0]},
        {"ids": [1], "extra": 1},
        {"suggestion_id": 0},
    ):
        refused = client.post("/v1/inbox/read", json=body, headers={"X-User": "bo"})
        assert refused.status_code == 422, (body, refused.text)
    assert "(one of them)" in client.post("/v1/inbox/read", json={}, headers={"X-User": "bo"}).text
    assert client.get("/v1/inbox?after=0", headers={"X-User": "bo"}).status_code == 422


def test_a_deleted_comment_takes_its_lines_and_projects_keep_their_inboxes_apart(client, llm):
    made = draft(client, llm, "Export invoices as PDF")
    said = comment(client, made["id"], "@bo typo", **{"X-User": "ana"}).json()
    assert inbox(client, "bo")[1] == 1
    assert (
        client.delete(f"/v1/suggestions/{made['id']}/comments/{said['id']}", headers={"X-User": "ana"}).status_code
        == 204
    )
    assert inbox(client, "bo") == ([], 0)
    assert client.post("/v1/projects", json={"key": "ops", "name": "Ops"}).status_code == 201
    llm.chat.replies.append(story_json(title="Rotate logs"))
    other = client.post("/v1/drafts?project=ops", json={"text": "rotate logs"}).json()
    client.post(
        f"/v1/suggestions/{other['id']}/comments?project=ops", json={"text": "@bo here"}, headers={"X-User": "ana"}
    )
    assert inbox(client, "bo") == ([], 0)
    assert inbox(client, "bo", "project=ops")[0] == [("mentioned", other["id"], "ana")]
    listed = client.get("/v1/projects", headers={"X-User": "bo"}).json()
    assert [(p["key"], p["unread"]) for p in listed] == [("default", 0), ("ops", 1)]
    assert [p["unread"] for p in client.get("/v1/projects").json()] == [None, None]  # no one named


def test_with_accounts_on_only_members_are_told_and_each_reads_their_own(client, llm):
    tokens = make_users(client)
    as_ = {name: {"Authorization": f"Bearer {tokens[name]}"} for name in ("viewer", "reviewer", "admin", "outsider")}
    llm.chat.replies.append(story_json(title="Filter search results by price"))
    made = client.post("/v1/drafts", json={"text": "filter by price"}, headers=as_["reviewer"]).json()
    said = client.post(
        f"/v1/suggestions/{made['id']}/comments",
        json={"text": "@viewer @outsider @nobody @admin have a look"},
        headers=as_["reviewer"],
    )
    assert said.status_code == 201
    assert assign(client, made["id"], "admin", **as_["reviewer"]).status_code == 200
    mine = client.get("/v1/inbox", headers={**as_["viewer"], "X-User": "admin"})  # a claimed name is ignored
    assert [n["reason"] for n in mine.json()] == ["mentioned"]
    assert [n["reason"] for n in client.get("/v1/inbox", headers=as_["admin"]).json()] == ["assigned", "mentioned"]
    assert client.get("/v1/inbox", headers=as_["outsider"]).status_code == 404  # not a project of theirs
    with client.app.state.runtime.db.session() as session:
        from sqlalchemy import select

        from service.core.tables import Notification

        assert sorted(session.scalars(select(Notification.recipient))) == ["admin", "admin", "viewer"]
    first = mine.json()[0]["id"]
    assert client.post("/v1/inbox/read", json={"ids": [first]}, headers=as_["viewer"]).json()["marked"] == 1
    assert client.get("/v1/inbox", headers=as_["viewer"]).headers["X-Unread-Count"] == "0"


def subscription(client, suggestion_id: int, who: str, watching: bool | None | str = "get") -> dict:
    headers = {"X-User": who}
    url = f"/v1/suggestions/{suggestion_id}/subscription"
    got = (
        client.get(url, headers=headers)
        if watching == "get"
        else client.put(url, json={"watching": watching}, headers=headers)
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body.pop("item_id") is None  # a suggestion's, not an item's thread
    return body


def test_a_person_watches_a_suggestion_or_mutes_it_and_mentions_and_assignments_reach_them_anyway(client, llm):
    made = draft(client, llm, "Export invoices as PDF")
    assert subscription(client, made["id"], "eve") == {
        "suggestion_id": made["id"], "following": False, "why": "not given to you, not in its thread, not watching"
    }  # fmt: skip
    assert subscription(client, made["id"], "eve", True)["why"] == "watching"
    comment(client, made["id"], "Needs a totals row", **{"X-User": "ana"})
    assert subscription(client, made["id"], "ana") == {
        "suggestion_id": made["id"],
        "following": True,
        "why": "in its thread",
    }
    assert subscription(client, made["id"], "ana", False) == {
        "suggestion_id": made["id"],
        "following": False,
        "why": "muted",
    }
    comment(client, made["id"], "Agreed", **{"X-User": "bo"})
    client.post(f"/v1/suggestions/{made['id']}/reject", json={"reason": "later"}, headers={"X-User": "bo"})
    assert inbox(client, "eve")[0] == [
        ("decided", made["id"], "bo"),
        ("commented", made["id"], "bo"),
        ("commented", made["id"], "ana"),
    ]
    assert inbox(client, "ana") == ([], 0)  # muted: neither the reply nor the decision
    client.post(f"/v1/suggestions/{made['id']}/undo", headers={"X-User": "bo"})
    assign(client, made["id"], "ana", **{"X-User": "bo"})
    comment(client, made["id"], "@ana can you take it?", **{"X-User": "bo"})
    assert inbox(client, "ana")[0] == [("mentioned", made["id"], "bo"), ("assigned", made["id"], "bo")]
    assert subscription(client, made["id"], "ana")["why"] == "muted"  # given to her, and still muted
    assert subscription(client, made["id"], "ana", None) == {
        "suggestion_id": made["id"],
        "following": True,
        "why": "given to you",
    }
    assert subscription(client, made["id"], "eve", None)["following"] is False  # back to as the thread says
    missing = client.put("/v1/suggestions/999/subscription", json={"watching": True}, headers={"X-User": "eve"})
    assert missing.status_code == 404
    assert client.put(f"/v1/suggestions/{made['id']}/subscription", json={"watching": True}).status_code == 422  # who?
    assert (
        client.put(f"/v1/suggestions/{made['id']}/subscription", json={}, headers={"X-User": "eve"}).status_code == 422
    )


def test_two_choices_at_the_same_moment_are_a_conflict_not_an_error(client, llm, monkeypatch):
    from service.inbox import service

    made = draft(client, llm, "Export invoices as PDF")
    subscription(client, made["id"], "eve", True)
    monkeypatch.setattr(service, "_choice", lambda *_: None)  # as if the other tab's choice was not there yet
    raced = client.put(
        f"/v1/suggestions/{made['id']}/subscription", json={"watching": False}, headers={"X-User": "eve"}
    )
    assert raced.status_code == 409 and "changed just now" in raced.json()["detail"]
    monkeypatch.undo()
    assert subscription(client, made["id"], "eve")["why"] == "watching"  # the first choice stands
