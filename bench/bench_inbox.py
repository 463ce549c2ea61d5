"""What the inbox costs: a comment that writes inbox lines, and reading an inbox of many lines.

For each size N: a fresh SQLite database of 300 story-draft suggestions and N inbox lines spread over 20 people (so
the person read holds N/20, all unread), written straight in. Then, in this process, through the app:
- writing: a comment mentioning 3 people on a suggestion given to one, whose thread already has 20 authors (24 lines
  to write), with the inbox's writer switched off (the comment as it cost before the inbox; the baseline), and as it
  runs now; and a comment that tells no one (no mention, no assignee, no thread);
- reading: a person's first page (`GET /v1/inbox?limit=30`), the desk's badge (`?unread=true&limit=1`, which also
  counts the unread), each against the same calls for a person with no lines.
Medians of 50 calls each after a warm-up; ratios against the baseline at the same size, in the same process.
Run: .venv/bin/python -m bench.bench_inbox --items 10000 100000
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

from bench import median_time, publish_by_size, served
from service.core.tables import Comment, Notification, Suggestion, utcnow

RESULTS = Path(__file__).parent / "results" / "bench_inbox.md"
REQUESTS = 50
SUGGESTIONS = 300
PEOPLE = 20
THREAD = 20  # earlier authors on the suggestion a comment is written on


def measure(n: int) -> list[str]:
    drafts = [
        {"kind": "story_draft", "status": "pending", "project_id": 1, "input": {"text": f"idea {k}"},
         "payload": {"title": f"Idea {k}", "goal": f"idea {k}"}, "model": "bench", "provider": "fake",
         "prompt_version": "draft_story@bench", "usage": {}, "warnings": [],
         "assignee": "bo" if k < REQUESTS * 3 + 3 else None}
        for k in range(SUGGESTIONS)
    ]  # fmt: skip
    thread = [
        {"suggestion_id": k + 1, "author": f"person{a}", "text": "earlier", "project_id": 1}
        for k in range(REQUESTS * 2 + 2)
        for a in range(THREAD)
    ]
    now = utcnow()
    lines = [
        {"recipient": f"person{k % PEOPLE}", "reason": "mentioned", "suggestion_id": k % SUGGESTIONS + 1,
         "actor": "ana", "text": f"ana mentioned you on story draft #{k % SUGGESTIONS + 1}", "project_id": 1,
         "at": now, "read_at": None if k % 2 else now}
        for k in range(n)
    ]  # fmt: skip
    with served({Suggestion: drafts, Comment: thread, Notification: lines}) as (_, client):

        def commenting(first: int, text: str, headers: dict[str, str]):  # noqa: ANN202
            return lambda k: client.post(
                f"/v1/suggestions/{first + k + 1}/comments", json={"text": text}, headers=headers
            )

        said = "@cy @dee @eve please look"
        ana = {"X-User": "ana"}
        with mock.patch("service.core.notifications.write", lambda *_: []):
            before = median_time(commenting(1, said, ana), REQUESTS)  # suggestions 1..51 (index from k=-1)
        now_written = median_time(commenting(REQUESTS + 2, said, ana), REQUESTS)  # 53..103
        quiet_first = REQUESTS * 3 + 4  # past the assigned ones and the threads: no one to tell
        quiet = median_time(commenting(quiet_first, "a note", ana), REQUESTS)
        written = client.get("/v1/inbox?limit=1", headers={"X-User": "cy"}).headers["X-Unread-Count"]
        assert int(written) == REQUESTS + 1, written  # one mention a comment written now, its warm-up included
        page, badge = "/v1/inbox?limit=30", "/v1/inbox?unread=true&limit=1"

        def read(path: str, who: str) -> float:
            return median_time(lambda _: client.get(path, headers={"X-User": who}), REQUESTS)

        reads = [
            (f"GET {path}, {held}", read(path, who))
            for path in (page, badge)
            for held, who in (("no lines", "nobody"), (f"{n // PEOPLE} lines", "person1"))
        ]
    rows = [
        (f"comment: 3 mentions, given to bo, {THREAD} in its thread; inbox not written (before)", before, before),
        (f"comment: the same, {3 + 1 + THREAD} inbox lines written (now)", now_written, before),
        ("comment telling no one (now)", quiet, before),
        *[(name, t, reads[k - k % 2][1]) for k, (name, t) in enumerate(reads)],
    ]
    return [f"| {n} | {name} | {1000 * t:.2f} | {t / floor:.2f} |" for name, t, floor in rows]


def main() -> None:
    publish_by_size(
        "The inbox: writing a comment's lines, and reading an inbox",
        f"Median of {REQUESTS} calls each, in-process (SQLite, TestClient); N inbox lines over {PEOPLE} people. A "
        "comment's ratio is against the same comment with the inbox not written; a read's against the same call for "
        "a person with no lines, at the same size, in the same process.",
        ["inbox lines", "what", "ms", "ratio"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
