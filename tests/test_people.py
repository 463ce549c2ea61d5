"""Whom a person can mention or assign (`GET /v1/people`): the project's members with their roles once accounts are
on; before, the names its comments, assignments and decisions used; by the start of a name, any case; never another
project's."""

from __future__ import annotations

from tests.conftest import story_json
from tests.test_access import make_users
from tests.test_assign import assign
from tests.test_comments import comment
from tests.test_undo import draft


def names(client, query: str = "", **headers: str) -> list[tuple[str, str | None]]:  # noqa: ANN001
    found = client.get(f"/v1/people{query}", headers=headers)
    assert found.status_code == 200, found.text
    return [(p["name"], p["role"]) for p in found.json()]


def test_with_accounts_off_the_names_used_in_the_project_are_offered(client, llm):
    assert names(client) == []
    made = draft(client, llm, "Export invoices as PDF")
    comment(client, made["id"], "hello", **{"X-User": "Bo"})
    assign(client, made["id"], "ana", **{"X-User": "cy"})
    client.post(f"/v1/suggestions/{made['id']}/reject", json={"reason": "later"}, headers={"X-User": "cy"})
    assert names(client) == [("ana", None), ("Bo", None), ("cy", None)]
    assert names(client, "?q=b") == [("Bo", None)]
    assert names(client, "?q=%25") == [] and names(client, "?q=_") == []  # LIKE's wildcards are letters here
    assert names(client, "?limit=1") == [("ana", None)]
    assert client.post("/v1/projects", json={"key": "ops"}).status_code == 201
    assert names(client, "?project=ops") == []  # another project's names are not offered
    llm.chat.replies.append(story_json(title="Rotate logs"))
    theirs = client.post("/v1/drafts?project=ops", json={"text": "rotate logs"}).json()
    said = client.post(
        f"/v1/suggestions/{theirs['id']}/comments?project=ops", json={"text": "hi"}, headers={"X-User": "dee"}
    )
    assert said.status_code == 201
    assert names(client, "?project=ops") == [("dee", None)]
    assert ("dee", None) not in names(client)
    assert client.get("/v1/people?limit=0").status_code == 422
    tracked = {"title": "Rotate logs", "external_id": "jira:OPS-1", "comments": [{"id": "1", "author": "Kim Lee",
                                                                                  "text": "Daily?"}]}  # fmt: skip
    assert client.post("/v1/backlog/items", json=tracked).status_code == 201
    assert ("Kim Lee", None) not in names(client)  # a tracker's people are not this project's to mention


def test_with_accounts_on_members_are_offered_with_their_roles_and_no_one_else(client, llm):
    tokens = make_users(client)
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    assert names(client, **viewer) == [("admin", "admin"), ("reviewer", "reviewer"), ("viewer", "viewer")]
    assert names(client, "?q=RE", **viewer) == [("reviewer", "reviewer")]
    outsider = client.get("/v1/people", headers={"Authorization": f"Bearer {tokens['outsider']}"})
    assert outsider.status_code == 404
