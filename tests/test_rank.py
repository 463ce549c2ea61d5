"""Ranking the backlog by hand (`POST /v1/backlog/rank`, `refinery rank`): items go before or after another, to the top
or the bottom; unranked items above the new place are numbered too; a hand-placed item keeps its place when accepted
priorities reorder the rest, until it is given back to its score; each move is in the item's history and the
activity; bad requests say what to fix and change nothing."""

from __future__ import annotations

from service.core.tables import BacklogItem
from tests.test_prioritization_api import estimate, run_prioritize, setup_backlog

FIVE = [{"title": f"Item {k}"} for k in range(1, 6)]


def rank(client, ids: list[int], **where):
    return client.post("/v1/backlog/rank", json={"item_ids": ids, **where}, headers={"X-User": "ana"})


def order(client) -> list[tuple[int, int | None]]:
    return [(i["id"], i["priority_rank"]) for i in client.get("/v1/backlog?order=priority").json()]


def test_items_are_moved_before_after_top_and_bottom_and_unranked_ones_above_are_numbered(client):
    one, two, three, four, five = setup_backlog(client, FIVE)
    moved = rank(client, [four], to="top")
    assert moved.status_code == 200, moved.text
    assert [(i["id"], i["priority_rank"], i["ranked_by"]) for i in moved.json()] == [(four, 1, "ana")]
    assert order(client) == [(four, 1), (one, None), (two, None), (three, None), (five, None)]
    rank(client, [two], after_id=three)  # below an unranked item: those above it are numbered
    assert order(client) == [(four, 1), (one, 2), (three, 3), (two, 4), (five, None)]
    rank(client, [five, one], before_id=four)  # several, in the order given
    assert order(client) == [(five, 1), (one, 2), (four, 3), (three, 4), (two, 5)]
    rank(client, [five], to="bottom")
    assert order(client) == [(one, 1), (four, 2), (three, 3), (two, 4), (five, 5)]
    listed = {i["id"]: i["ranked_by"] for i in client.get("/v1/backlog").json()}
    assert listed == {one: "ana", two: "ana", three: None, four: "ana", five: "ana"}  # three was only numbered
    ranked = [
        (e["before"], e["after"])
        for item in (four, one)
        for e in client.get(f"/v1/backlog/{item}/history").json()
        if e["action"] == "ranked"
    ]
    assert ranked == [  # only the moves it was in: four was pushed down by others' moves, one numbered then moved
        ({"rank": None}, {"rank": 1, "by_hand": True}),
        ({"rank": 2}, {"rank": 2, "by_hand": True}),
    ]
    lines = client.get("/v1/activity?limit=1").json()
    assert [(a["actor"], a["action"], a["item_id"], a["detail"]) for a in lines] == [
        ("ana", "ranked", five, "to place 5 (was 1)")
    ]


def test_a_hand_placed_item_keeps_its_place_when_priorities_rerank_until_given_back_to_its_score(client, llm):
    a, b, c = setup_backlog(client)
    llm.chat.replies.extend([estimate(reach=10), estimate(reach=1000), estimate(reach=100)])
    job = run_prioritize(client, {"framework": "rice"})
    by_item = {row["backlog_item_id"]: row["suggestion_id"] for row in job["ranked"]}
    client.post(f"/v1/suggestions/{by_item[a]}/accept", json={})
    client.post(f"/v1/suggestions/{by_item[b]}/accept", json={})
    assert order(client) == [(b, 1), (a, 2), (c, None)]  # by score: b 1000, a 10
    rank(client, [a], to="top")  # the person puts the low scorer first
    assert order(client) == [(a, 1), (b, 2), (c, None)]
    client.post(f"/v1/suggestions/{by_item[c]}/accept", json={})  # a rerank by scores
    assert order(client) == [(a, 1), (b, 2), (c, 3)]  # a kept its place; b and c by score in the places left
    rank(client, [c], before_id=b)
    assert order(client) == [(a, 1), (c, 2), (b, 3)]
    back = rank(client, [a, c], to="score")
    assert [(i["id"], i["ranked_by"]) for i in back.json()] == [(a, None), (c, None)]
    assert order(client) == [(b, 1), (c, 2), (a, 3)]  # all by score again: 1000, 100, 10
    plan = client.post("/v1/sprints/plan", json={"capacity_points": 100}).json()
    assert [row["backlog_item_id"] for row in plan["payload"]["items"]] == [b, c, a]


def test_a_sprint_plan_follows_the_hand_order(client, llm):
    a, b, c = setup_backlog(client)
    llm.chat.replies.extend([estimate(reach=10), estimate(reach=1000), estimate(reach=100)])
    job = run_prioritize(client, {"framework": "rice"})
    for row in job["ranked"]:
        client.post(f"/v1/suggestions/{row['suggestion_id']}/accept", json={})
    rank(client, [a], to="top")
    plan = client.post("/v1/sprints/plan", json={"capacity_points": 6}).json()  # 3 points each: two fit
    assert [row["backlog_item_id"] for row in plan["payload"]["items"]] == [a, b]


def test_bad_rank_requests_say_what_to_fix_and_change_nothing(client):
    one, two, three = setup_backlog(client, FIVE[:3])
    for body in (
        {"item_ids": [one]},
        {"item_ids": [one], "to": "top", "before_id": two},
        {"item_ids": [], "to": "top"},
        {"item_ids": [one], "to": "middle"},
        {"item_ids": [one], "to": "top", "extra": 1},
    ):
        refused = client.post("/v1/backlog/rank", json=body)
        assert refused.status_code == 422, (body, refused.text)
    itself = rank(client, [one, two], before_id=two)
    assert itself.status_code == 422 and "is one of those moved" in itself.json()["detail"]
    unknown = rank(client, [one], after_id=99)
    assert unknown.status_code == 404 and "no backlog item with id 99" in unknown.json()["detail"]
    merged_away = client.app.state.runtime
    with merged_away.db.session() as session:
        session.get(BacklogItem, three).merged_into_id = one
    merged = rank(client, [three], to="top")
    assert merged.status_code == 404 and "merged away" in merged.json()["detail"]
    assert order(client) == [(one, None), (two, None)]
