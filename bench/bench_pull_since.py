"""What reading only the issues changed since the last pull saves (since 2026-11-29): pull jobs of N issues from a
stand-in of Jira Cloud's API on a loopback server (tests/tracker_standin.py: no network wait, so this is Refinery's
own cost and the stand-in's), a pull of every issue against one of the issues changed since, in the same process.

For each size: N backlog items (real user stories, as `bench_refine` reads them) written straight into a fresh SQLite
database and pushed (every issue made), and a first pull (every issue); then, each a pull job timed from its request
to its end:
- the baseline: a pull of every issue (`?full=true`), nothing changed (median of 5);
- a hundredth of the issues retitled in Jira and a comment written on another hundredth, a while after the last pull
  (`Standin.age`): one pull of every issue, then the same changes again and one pull of the issues changed since;
- a pull a few minutes after that, nothing new (median of 5): it reads the issues changed in the 10 minutes before
  the last pull began (`http.CLOCK_SKEW`) again;
- a pull a while after the last change (nothing changed in the look back; median of 5).
A real Jira answers each search page (100 issues) in a few hundred ms, which the calls column counts; that wait is not
in these figures. The stand-in renders every issue for each page it answers (and compares it with what it last gave,
to know what changed), so its share of a pull of every issue grows with the square of N; and pulls of every issue vary
by a factor of two from one to the next in one process (0.35-0.8 s at 1,000 on the machine this was written on, the
read alone too): read the ratios as rough.
Run: .venv/bin/python -m bench.bench_pull_since --items 300 1000
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bench import publish_by_size
from bench.bench_tracker import connected, timed_job

RESULTS = Path(__file__).parent / "results" / "bench_pull_since.md"
RUNS = 5


def measure(n: int) -> list[str]:
    out: list[tuple[str, int, float]] = []
    with connected(n) as (client, site):
        assert timed_job(client, "/v1/tracker/push")[1]["created"] == n
        client.post("/v1/duplicates/search", json={"text": "warm up"}).raise_for_status()  # the index opened first
        for _ in range(2):  # the first pull (every issue), and one more: their records taken as they stand
            timed_job(client, "/v1/tracker/pull?full=true")

        def pull(what: str, full: bool, runs: int = RUNS) -> float:
            times, calls = [], len(site.calls)
            for _ in range(runs):
                took, job = timed_job(client, "/v1/tracker/pull?full=true" if full else "/v1/tracker/pull")
                assert job["status"] == "done" and (job["since"] is None) == full, job
                times.append(took)
            said = f"{job['created'] + job['updated'] + job['unchanged']} read, {job['updated']} updated"
            out.append((f"{what} ({said})", (len(site.calls) - calls) // runs, statistics.median(times)))
            return statistics.median(times)

        def change(run: int) -> None:  # a hundredth retitled, a comment on another hundredth, a while after
            site.age()
            keys = list(site.jira())
            for key in keys[::100][: max(1, n // 100)]:
                site.issues[key]["summary"] = f"{site.issues[key]['summary']} ({run})"
            for key in keys[50::100][: max(1, n // 100)]:
                site.comments.append((key, f"Is EUR enough for {key}? ({run})"))

        baseline = pull("every issue, nothing changed (the baseline)", True)
        change(1)
        pull(f"every issue, {n // 100} retitled and {n // 100} commented there", True, 1)
        change(2)
        pull("the issues changed since the last pull, the same changes", False, 1)
        pull("the issues changed since, minutes later: the 10 minutes' look back read again", False)
        site.age()
        pull("the issues changed since, a while after the last change", False)
    return [f"| {n} | {what} | {calls} | {1000 * took:.0f} | {took / baseline:.2f} |" for what, calls, took in out]


def main() -> None:
    publish_by_size(
        "Reading only the issues changed since the last pull: pull jobs from a stand-in of Jira Cloud on loopback",
        "Each pull job timed from its request to its end (its status polled every 10 ms), in-process (SQLite, "
        "TestClient, the job runner's thread); median of 5 where repeated; ratios against a pull of every issue with "
        "nothing changed, in the same process.",
        ["issues", "pull", "calls", "ms", "ratio"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
