"""What the review insights and the activity cost to read, next to the review queue's page.

For each size: N story-draft suggestions (real user stories, as `bench_comments` writes them) made over the last 60
days, of which a tenth pending, a twentieth failed, and of the rest three in five accepted (a third of those after
edits) and two in five rejected for one of 20 reasons, each with its history (created, and accepted, accepted with
edits or rejected), written straight into a fresh SQLite database. Then, 20 times each after a warm-up, the queue's
page (`GET /v1/suggestions?limit=200`, the baseline) and the insights over all suggestions and over the last 30 days
(`GET /v1/suggestions/insights`), and the newest 50 things people did (`GET /v1/activity`: every decision is one).
Medians; ratios against the page at the same size, in the same process.
Run: .venv/bin/python -m bench.bench_insights --items 1000 10000 100000
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bench import median_time, publish_by_size, served
from bench.bench_refine import stories
from service.core.tables import Suggestion, SuggestionEvent, utcnow

RESULTS = Path(__file__).parent / "results" / "bench_insights.md"
REQUESTS = 20


def outcome(number: int) -> tuple[str, str | None]:
    """The status and last action of suggestion `number` (0-based), as the docstring's shares say."""
    if number % 10 == 0:
        return "pending", None
    if number % 20 == 1:
        return "failed", None
    if number % 5 < 3:
        return "accepted", "accepted_with_edits" if number % 3 == 0 else "accepted"
    return "rejected", "rejected"


def measure(n: int) -> list[str]:
    real, now = stories(min(n, 5000)), utcnow()
    drafts, events = [], []
    for number in range(n):
        story = real[number % len(real)]
        status, action = outcome(number)
        made = now - timedelta(days=60 * number / n)
        decided = made + timedelta(hours=number % 48) if action else None
        drafts.append(
            {"kind": "story_draft", "status": status, "project_id": 1, "input": {"text": story.description},
             "payload": {"title": story.title}, "model": "bench", "provider": "fake",
             "prompt_version": f"draft_story@{1 + number % 2}", "usage": {}, "warnings": [], "created_at": made,
             "decided_at": decided, "decided_by": f"reviewer{number % 4}" if action else None,
             "reason": f"reason {chr(65 + number % 20)}" if status == "rejected" else None}
        )  # fmt: skip
        events.append({"suggestion_id": number + 1, "action": "created", "at": made})
        if action:
            decider = drafts[-1]["decided_by"]
            events.append({"suggestion_id": number + 1, "action": action, "at": decided, "actor": decider})
    with served({Suggestion: drafts, SuggestionEvent: events}) as (_, client):
        seen = client.get("/v1/suggestions/insights").json()["kinds"][0]
        assert seen["made"] == n and seen["accepted_with_edits"] > 0, seen
        paths = {
            "GET /v1/suggestions?limit=200 (the page)": "/v1/suggestions?limit=200",
            "GET /v1/suggestions/insights (all)": "/v1/suggestions/insights",
            "GET /v1/suggestions/insights?days=30": "/v1/suggestions/insights?days=30",
            "GET /v1/activity (the newest 50)": "/v1/activity",
            "GET /v1/activity?actor=reviewer3": "/v1/activity?actor=reviewer3",
        }
        rows = [(name, median_time(lambda _, path=path: client.get(path), REQUESTS)) for name, path in paths.items()]
    floor = rows[0][1]
    return [f"| {n} | {name} | {1000 * t:.1f} | {t / floor:.2f} |" for name, t in rows]


def main() -> None:
    publish_by_size(
        "Review insights and activity next to the review queue's page",
        f"Median of {REQUESTS} calls each, in-process (SQLite, TestClient); ratios against the queue's page at the "
        "same size, in the same process.",
        ["suggestions", "what", "ms", "ratio"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
