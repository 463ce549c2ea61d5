"""Undoing a decision (`POST /v1/suggestions/{id}/undo`): a rejection always, an accepted draft or estimate while
nothing has built on it, anything else refused saying what to do instead (fake LLM, real embeddings)."""

from __future__ import annotations

from tests.conftest import story_json
from tests.test_refinement_api import add


def draft(client, llm, title: str) -> dict:
    llm.chat.replies.append(story_json(title=title))
    made = client.post("/v1/drafts", json={"text": f"{title.lower()} please"})
    assert made.status_code == 201, made.text
    return made.json()


def found(client, text: str) -> list[tuple[str, int]]:
    return [(c["kind"], c["item_id"]) for c in client.post("/v1/duplicates/search", json={"text": text}).json()]


def test_a_rejection_is_undone_and_the_draft_is_pending_and_searchable_again(client, llm):
    made = draft(client, llm, "Filter search results by price")
    client.post(f"/v1/suggestions/{made['id']}/reject", json={"reason": "later"})
    assert ("suggestion", made["id"]) not in found(client, "filter search results by price")
    undone = client.post(f"/v1/suggestions/{made['id']}/undo", headers={"X-User": "ana"})
    assert undone.status_code == 200, undone.text
    body = undone.json()
    assert (body["status"], body["reason"], body["decided_by"], body["decided_at"]) == ("pending", None, None, None)
    assert ("suggestion", made["id"]) in found(client, "filter search results by price")
    history = client.get(f"/v1/suggestions/{made['id']}/history").json()
    assert [(e["action"], e["actor"]) for e in history][-2:] == [("rejected", None), ("reopened", "ana")]
    assert history[-1]["before"] == {"status": "rejected", "decided_by": None, "reason": "later"}
    again = client.post(f"/v1/suggestions/{made['id']}/undo")
    assert again.status_code == 409 and "only a decision can be undone" in again.json()["detail"]
    assert client.post(f"/v1/suggestions/{made['id']}/accept").status_code == 201  # decided anew


def test_an_accepted_draft_is_undone_by_deleting_its_item_while_nothing_has_used_it(client, llm):
    made = draft(client, llm, "Export invoices as PDF")
    item = client.post(f"/v1/suggestions/{made['id']}/accept").json()
    assert ("backlog_item", item["id"]) in found(client, "export invoices as pdf")
    undone = client.post(f"/v1/suggestions/{made['id']}/undo")
    assert undone.status_code == 200 and undone.json()["status"] == "pending", undone.text
    assert undone.json()["backlog_item_id"] is None
    assert client.get(f"/v1/backlog/{item['id']}").status_code == 404
    assert client.get("/v1/backlog").json() == []
    assert found(client, "export invoices as pdf")[0] == ("suggestion", made["id"])  # the draft, not the item
    # accepted again, then edited: undoing would lose the edit, so it is refused and nothing changes
    item = client.post(f"/v1/suggestions/{made['id']}/accept").json()
    client.patch(f"/v1/backlog/{item['id']}", json={"story_points": 3})
    refused = client.post(f"/v1/suggestions/{made['id']}/undo")
    assert refused.status_code == 409 and "was edited since it was accepted" in refused.json()["detail"]
    assert client.get(f"/v1/suggestions/{made['id']}").json()["status"] == "accepted"
    assert client.get(f"/v1/backlog/{item['id']}").json()["story_points"] == 3


def test_a_draft_accepted_with_edits_then_undone_is_no_longer_an_example_for_drafting(client, llm):
    made = draft(client, llm, "Export invoices as PDF")
    edits = {"edits": {"title": "Download invoices as one PDF"}}
    assert client.post(f"/v1/suggestions/{made['id']}/accept", json=edits).status_code == 201
    assert client.get("/v1/drafts/learning").json()["edited_accepts"] == 1
    assert client.post(f"/v1/suggestions/{made['id']}/undo").status_code == 200
    assert client.get("/v1/drafts/learning").json()["edited_accepts"] == 0


def test_an_accepted_draft_with_a_suggestion_about_its_item_is_not_undone(client, llm):
    made = draft(client, llm, "Export orders to CSV")
    item = client.post(f"/v1/suggestions/{made['id']}/accept").json()
    add(client, {"title": "Export invoices to CSV", "description": "Finance exports invoices.", "story_points": 5})
    estimate = client.post(f"/v1/backlog/{item['id']}/estimate").json()
    refused = client.post(f"/v1/suggestions/{made['id']}/undo")
    assert refused.status_code == 409 and f"has suggestion {estimate['id']} made about it" in refused.json()["detail"]
    assert client.get(f"/v1/backlog/{item['id']}").status_code == 200


def test_an_accepted_estimate_is_undone_while_the_points_are_still_its_own(client, llm):
    add(
        client,
        {"title": "Export invoices to CSV", "description": "Finance exports invoices.", "story_points": 5},
        {"title": "Export orders to CSV", "description": "Ops exports orders.", "story_points": 5},
    )
    (item,) = add(client, {"title": "Export refunds to CSV", "description": "Finance exports refunds."})
    made = client.post(f"/v1/backlog/{item}/estimate").json()
    client.post(f"/v1/suggestions/{made['id']}/accept")
    assert client.get(f"/v1/backlog/{item}").json()["story_points"] == 5
    undone = client.post(f"/v1/suggestions/{made['id']}/undo")
    assert undone.status_code == 200 and undone.json()["status"] == "pending", undone.text
    assert client.get(f"/v1/backlog/{item}").json()["story_points"] is None
    again = client.post(f"/v1/backlog/{item}/estimate").json()
    assert again["id"] == made["id"]  # pending again: refining the item does not make a second one
    client.post(f"/v1/suggestions/{made['id']}/accept")
    client.patch(f"/v1/backlog/{item}", json={"story_points": 8})  # a person set the points since
    refused = client.post(f"/v1/suggestions/{made['id']}/undo")
    assert refused.status_code == 409 and "has 8 points now, not the 5" in refused.json()["detail"]
    assert client.get(f"/v1/backlog/{item}").json()["story_points"] == 8


def test_an_accepted_rewrite_is_undone_while_the_item_still_reads_as_the_rewrite_left_it(client, llm):
    from tests.test_refinement_api import VAGUE

    (item,) = add(client, {**VAGUE, "labels": ["search"]})
    before = client.get(f"/v1/backlog/{item}").json()
    llm.chat.replies.append(story_json(title="Search results within two seconds", labels=["performance"]))
    made = client.post(f"/v1/backlog/{item}/rewrite").json()
    client.post(f"/v1/suggestions/{made['id']}/accept")
    assert client.get(f"/v1/backlog/{item}").json()["title"] == "Search results within two seconds"
    undone = client.post(f"/v1/suggestions/{made['id']}/undo")
    assert undone.status_code == 200 and undone.json()["status"] == "pending", undone.text
    after = client.get(f"/v1/backlog/{item}").json()
    fields = ("title", "description", "item_type", "labels", "story")
    assert {k: after[k] for k in fields} == {k: before[k] for k in fields}  # exactly as it was
    assert found(client, "fast search user-friendly")[0] == ("backlog_item", item)  # indexed as it reads again
    assert client.post(f"/v1/suggestions/{made['id']}/accept").status_code == 201  # current again: accepted anew
    client.patch(f"/v1/backlog/{item}", json={"title": "Search results within one second"})
    refused = client.post(f"/v1/suggestions/{made['id']}/undo")
    assert refused.status_code == 409 and "changed after this rewrite was accepted" in refused.json()["detail"]
    assert client.get(f"/v1/backlog/{item}").json()["title"] == "Search results within one second"


def test_an_accepted_split_is_undone_by_deleting_its_children_while_nothing_has_used_them(client, llm):
    import json

    from tests.test_refinement_api import CHILD, EPIC

    (epic,) = add(client, EPIC)
    children = [CHILD | {"covers": [0]}, CHILD | {"title": "Reset a forgotten password", "covers": [1, 2]}]
    llm.chat.replies.extend([json.dumps({"pattern": "crud_operations", "children": children})] * 2)
    made = client.post(f"/v1/backlog/{epic}/split").json()
    assert "epic" in client.post(f"/v1/suggestions/{made['id']}/accept").json()["labels"]
    assert len(client.get("/v1/backlog").json()) == 3
    undone = client.post(f"/v1/suggestions/{made['id']}/undo")
    assert undone.status_code == 200 and undone.json()["status"] == "pending", undone.text
    (left,) = client.get("/v1/backlog").json()
    assert left["id"] == epic and "epic" not in left["labels"]
    assert ("backlog_item", epic + 1) not in found(client, "reset a forgotten password")  # children left the index
    client.post(f"/v1/suggestions/{made['id']}/accept")
    child = next(i for i in client.get("/v1/backlog").json() if i["parent_id"] == epic)
    client.patch(f"/v1/backlog/{child['id']}", json={"story_points": 2})  # a child is used: the undo would lose it
    refused = client.post(f"/v1/suggestions/{made['id']}/undo")
    assert refused.status_code == 409 and f"child {child['id']} was edited" in refused.json()["detail"]
    assert len(client.get("/v1/backlog").json()) == 3


def test_a_rejected_estimate_is_not_reopened_next_to_a_newer_one(client, llm):
    add(client, {"title": "Export invoices to CSV", "description": "Finance exports invoices.", "story_points": 5})
    (item,) = add(client, {"title": "Export refunds to CSV", "description": "Finance exports refunds."})
    first = client.post(f"/v1/backlog/{item}/estimate").json()
    client.post(f"/v1/suggestions/{first['id']}/reject", json={"reason": "too few comparables"})
    second = client.post(f"/v1/backlog/{item}/estimate").json()
    assert second["id"] != first["id"]
    refused = client.post(f"/v1/suggestions/{first['id']}/undo")
    assert refused.status_code == 409 and f"suggestion {second['id']} proposes the same" in refused.json()["detail"]
    assert client.get(f"/v1/suggestions/{first['id']}").json()["status"] == "rejected"


def test_an_accepted_merge_and_the_draft_it_merged_are_not_undone_and_say_what_to_do_instead(client, llm):
    from tests.test_duplicates_api import import_items

    items = import_items(client)
    made = draft(client, llm, "Filter search results by price range")
    (merge,) = client.get("/v1/suggestions?kind=merge").json()
    assert client.post(f"/v1/suggestions/{merge['id']}/accept").status_code == 201
    refused = client.post(f"/v1/suggestions/{merge['id']}/undo")
    assert refused.status_code == 409 and "accepting a merge cannot be undone here" in refused.json()["detail"]
    merged = client.post(f"/v1/suggestions/{made['id']}/undo")  # rejected as merged: its text is in the item now
    assert merged.status_code == 409 and "was merged into a backlog item" in merged.json()["detail"]
    assert client.get(f"/v1/suggestions/{made['id']}").json()["status"] == "rejected"
    assert len(client.get("/v1/backlog").json()) == len(items)
    assert client.post("/v1/suggestions/999/undo").status_code == 404


def test_the_desk_offers_undo_for_exactly_the_kinds_whose_acceptance_can_be_undone():
    import re
    from pathlib import Path

    from service.review.decisions import HANDLERS

    script = (Path(__file__).parents[1] / "service/web/static/review.js").read_text()
    listed = re.search(r"UNDONE_ACCEPTS = \[([^\]]*)\]", script)
    assert listed is not None
    assert set(re.findall(r'"(\w+)"', listed.group(1))) == {kind for kind, h in HANDLERS.items() if h.undo}
