"""What reading the tracker's comments back costs a pull (since 2026-11-29): pull jobs of N issues from a stand-in of
Jira Cloud's API on a loopback server (tests/tracker_standin.py: no network wait, so this is Refinery's own cost and
the stand-in's), with and without comments, in the same process.

For each size: N backlog items (real user stories, as `bench_refine` reads them) written straight into a fresh SQLite
database and pushed (every issue made); then, each a pull job timed from its request to its end:
- the baseline: a pull of the N issues with no comment anywhere, nothing new (median of 5, as each repeated pull);
- the first pull after 3 comments were written on every issue in Jira (3N comments read and added to the threads; the
  stand-in's search gives up to 20 comments of an issue, as its `comment` field does, so no call more);
- the next pull, the same 3N comments there and here (nothing new: each known by its id);
- the same with a search that gives only the first 2 of each issue's comments, so each issue costs one call more (as a
  long thread does on a real Jira).
Every pull here reads every issue (`?full=true`; since 2026-11-29 a pull reads only the issues changed since the last,
`bench_pull_since`).
Run: .venv/bin/python -m bench.bench_pull_comments --items 100 500
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bench import publish_by_size
from bench.bench_tracker import connected, timed_job

RESULTS = Path(__file__).parent / "results" / "bench_pull_comments.md"
PER_ISSUE = 3
RUNS = 5  # pulls of each kind that can be repeated; the median is shown


def measure(n: int) -> list[str]:
    out = []
    with connected(n) as (client, site):
        assert timed_job(client, "/v1/tracker/push")[1]["created"] == n
        client.post("/v1/duplicates/search", json={"text": "warm up"}).raise_for_status()  # the index opened first
        site.jira_search_comments = 20

        def pull(what: str, comments: int, runs: int = RUNS) -> float:
            times = []
            for _ in range(runs):
                calls = len(site.calls)
                took, job = timed_job(client, "/v1/tracker/pull?full=true")
                assert job["status"] == "done", job
                times.append(took)
            here = sum(item["comment_count"] for item in client.get("/v1/backlog", params={"limit": 1000}).json())
            assert here == comments, (here, comments)
            out.append((what, len(site.calls) - calls, statistics.median(times)))
            return statistics.median(times)

        timed_job(client, "/v1/tracker/pull?full=true")  # the first pull after the push: its records as they stand
        baseline = pull("a pull, no comments anywhere (the baseline)", 0)
        for key in list(site.jira()):
            for k in range(PER_ISSUE):
                site.comments.append((key, f"Comment {k} on {key}: is EUR enough, or GBP too?"))
                site.comment_authors[len(site.comments)] = "Kim Lee"
        pull(f"the first pull after {PER_ISSUE} comments were written on each issue ({PER_ISSUE * n} read)", 3 * n, 1)
        pull(f"the next pull, the {PER_ISSUE * n} comments known (nothing new)", 3 * n)
        site.jira_search_comments = 2
        pull("the same, the search giving 2 comments an issue (the rest a call each)", 3 * n)
    return [
        f"| {n} | {what} | {calls} | {1000 * took:.0f} | {1000 * took / n:.2f} | {took / baseline:.2f} |"
        for what, calls, took in out
    ]


def main() -> None:
    publish_by_size(
        "Reading the tracker's comments back: pull jobs from a stand-in of Jira Cloud on loopback",
        "Median of 5 pull jobs (the first pull after the comments were written: one), each timed from its request "
        "to its end (its status polled every 10 ms), in-process (SQLite, TestClient, the job runner's thread); "
        "ratios against the same pull with no comments, in the same process.",
        ["issues", "pull", "calls", "ms", "ms per issue", "ratio"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
