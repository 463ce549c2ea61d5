"""Review insights: how reviewers answered each kind of suggestion, each model and prompt version, and who decided
what; read from the suggestions and their history, per project and over a window of days."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import update
from typer.testing import CliRunner

from service.cli import app
from service.core.tables import Suggestion, utcnow
from service.review.insights import reason_key
from tests.test_api import draft
from tests.test_cli import drafts_in


def test_insights_count_each_kind_s_decisions_edits_reasons_undos_and_time_to_decide(client, llm):
    ids = [draft(client, llm)["id"] for _ in range(5)]
    llm.chat.replies.append("not a story")  # stays invalid through the re-asks: a failed draft
    llm.chat.replies.extend(["not a story"] * 5)
    failed = client.post("/v1/drafts", json={"text": "make it better"}).json()
    assert failed["status"] == "failed"
    ana, bo = {"X-User": "ana"}, {"X-User": "bo"}
    assert client.post(f"/v1/suggestions/{ids[0]}/accept", json={}, headers=ana).status_code == 201
    edits = {"edits": {"title": "Price range filter"}}
    assert client.post(f"/v1/suggestions/{ids[1]}/accept", json=edits, headers=ana).status_code == 201
    for suggestion, reason in [(ids[2], "Out of scope for Q3"), (ids[3], "out of  scope for q3")]:
        client.post(f"/v1/suggestions/{suggestion}/reject", json={"reason": reason}, headers=bo)
    assert client.post(f"/v1/suggestions/{ids[3]}/undo").status_code == 200  # pending again
    client.post(f"/v1/suggestions/{ids[3]}/reject", json={"reason": "Duplicate of #12"}, headers=bo)
    with client.app.state.runtime.db.session() as session:  # two were decided 3 and 5 hours after they were made
        for suggestion, hours in [(ids[0], 3), (ids[1], 5)]:
            made = utcnow() - timedelta(hours=hours)
            session.execute(update(Suggestion).where(Suggestion.id == suggestion).values(created_at=made))
    seen = client.get("/v1/suggestions/insights")
    assert seen.status_code == 200, seen.text
    body = seen.json()
    (drafts,) = body["kinds"]
    assert {k: drafts[k] for k in ("kind", "made", "pending", "failed", "accepted", "accepted_with_edits")} == {
        "kind": "story_draft",
        "made": 6,
        "pending": 1,
        "failed": 1,
        "accepted": 2,
        "accepted_with_edits": 1,
    }
    assert (drafts["rejected"], drafts["undone"], drafts["acceptance_rate"], drafts["edited_share"]) == (2, 1, 0.5, 0.5)
    assert drafts["rejection_reasons"] == [
        {"reason": "duplicate of #", "count": 1},
        {"reason": "out of scope for q3", "count": 1},
    ]
    assert 1.49 <= drafts["median_hours_to_decision"] <= 1.51  # of 3 h, 5 h and two decisions made at once
    by_week = [(w["accepted"], w["rejected"]) for w in drafts["weeks"]]
    assert tuple(map(sum, zip(*by_week, strict=True))) == (2, 2)  # one week, or two when run early on a Monday
    (source,) = body["sources"]
    assert (source["provider"], source["made"], source["failed"], source["decided"], source["acceptance_rate"]) == (
        "fake",
        6,
        1,
        4,
        0.5,
    )
    assert source["prompt_version"].startswith("draft_story@")
    ana_said, bo_said = {"name": "ana", "accepted": 2, "rejected": 0}, {"name": "bo", "accepted": 0, "rejected": 2}
    assert body["reviewers"] == [ana_said, bo_said]
    assert (body["since"], body["days"]) == (None, None)


def test_insights_cover_only_the_days_asked_for_and_only_the_project_asked_for(client, llm):
    old, new = draft(client, llm)["id"], draft(client, llm)["id"]
    with client.app.state.runtime.db.session() as session:
        gone = utcnow() - timedelta(days=40)
        session.execute(update(Suggestion).where(Suggestion.id == old).values(created_at=gone))
    client.post(f"/v1/suggestions/{old}/reject", json={"reason": "stale"})
    client.post(f"/v1/suggestions/{new}/accept", json={})
    month = client.get("/v1/suggestions/insights?days=30").json()
    assert [(k["made"], k["accepted"], k["rejected"]) for k in month["kinds"]] == [(1, 1, 0)]
    assert month["days"] == 30 and month["since"]
    (ever,) = client.get("/v1/suggestions/insights").json()["kinds"]
    assert (ever["made"], ever["rejected"]) == (2, 1)
    assert [(w["accepted"], w["rejected"], w["acceptance_rate"]) for w in ever["weeks"]] == [(0, 1, 0.0), (1, 0, 1.0)]
    assert ever["weeks"][0]["week"] < ever["weeks"][1]["week"]  # by the week each was made, oldest first
    assert client.post("/v1/projects", json={"key": "mobile", "name": "Mobile"}).status_code == 201
    assert client.get("/v1/suggestions/insights?project=mobile").json()["kinds"] == []
    for bad in ("days=0", "days=x", "days=4000"):
        assert client.get(f"/v1/suggestions/insights?{bad}").status_code == 422


def test_a_reason_counts_once_whatever_its_case_spacing_or_numbers():
    assert reason_key("Merged into backlog item 12 (merge 40)") == "merged into backlog item # (merge #)"
    assert reason_key("  Out of\nscope for Q3 ") == "out of scope for q3"


def test_review_insights_prints_each_kind_and_reviewer(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    drafts_in(tmp_path, monkeypatch)
    empty = runner.invoke(app, ["review", "insights"])
    assert empty.exit_code == 0 and "No suggestions yet" in empty.output, empty.output
    drafts_in(tmp_path, monkeypatch, "Price filter", "Dark mode")
    runner.invoke(app, ["review", "reject", "1", "--reason", "Out of scope", "--as", "bo"])
    shown = runner.invoke(app, ["review", "insights", "--days", "7"])
    assert shown.exit_code == 0, shown.output
    assert "story_draft" in shown.output and "out of scope (1)" in shown.output and "bo" in shown.output
    assert "story_draft by the week made: week of " in shown.output and ": 0% of 1" in shown.output
    data = json.loads(runner.invoke(app, ["review", "insights", "--json"]).output)
    assert [(k["made"], k["pending"], k["rejected"]) for k in data["kinds"]] == [(2, 1, 1)]
    refused = runner.invoke(app, ["review", "insights", "--days", "0"])
    assert refused.exit_code == 2 and "--days" in refused.output
