"""What sending a backlog to its tracker and pulling it back costs Refinery: a push job of N items to a stand-in of
Jira Cloud's API on a loopback server (tests/tracker_standin.py: no network wait, so this is Refinery's own cost and
the stand-in's), against building the same N issue bodies for a download (`GET /v1/backlog/export?format=jira_json`),
in the same process.

For each size: N backlog items (real user stories, as `bench_refine` reads them) written straight into a fresh SQLite
database; then the first push (every item created), a second (nothing changed: nothing sent), a push after a tenth of
the items were edited (those updated), one after a tenth were set to wait for another item (a Blocks link each: the
issue's links read, then one made), and a pull of every issue back (all unchanged); and the preview the desk asks
for with every backlog page (`GET /v1/tracker/pending`), before the first push and after them; last, the median of 20
webhooks, each for one issue retitled in the stand-in (the issue read back and imported alone). A real Jira answers a
create in a few hundred ms, which a push of N items adds N times over (one call per item, in order); that wait is not
in these figures.
Run: .venv/bin/python -m bench.bench_tracker --items 100 500
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import median_time, publish_by_size, served
from bench.bench_refine import item_rows
from service.backlog.service import import_and_index
from service.core import scope
from service.core.tables import BacklogItem
from service.trackers import pulls, service
from tests.tracker_standin import TOKEN, USER, standin

RESULTS = Path(__file__).parent / "results" / "bench_tracker.md"


def timed_job(client, path: str, body: dict | None = None) -> tuple[float, dict]:
    """How long the job `path` starts takes from the request to its end (its status polled every 10 ms), and its
    status."""
    started = time.perf_counter()
    url = client.post(path, json=body).json()["status_url"]
    while (job := client.get(url).json())["status"] in ("queued", "running"):
        time.sleep(0.01)
    return time.perf_counter() - started, job


@contextmanager
def connected(n: int) -> Iterator[tuple[Any, Any]]:
    """(client, stand-in) of a fresh database of N backlog items (real user stories), connected to a stand-in of
    Jira Cloud on loopback."""
    rows = item_rows(n, lambda _k: {"labels": ["bench"], "story_points": 3})
    with served({BacklogItem: rows}) as (_, client), standin() as site:
        body = {"kind": "jira", "url": site.url, "target": "SHOP", "user": USER, "token": TOKEN}
        client.put("/v1/tracker", json=body).raise_for_status()
        yield client, site


def measure(n: int) -> list[str]:
    out = []
    with connected(n) as (client, site):
        bodies = median_time(lambda _r: client.get("/v1/backlog/export", params={"format": "jira_json"}), 3)
        out.append(f"| {n} | build the {n} Jira bodies (export jira_json) | - | {1000 * bodies:.0f} | 1.00 |")
        before = median_time(lambda _r: client.get("/v1/tracker/pending"), 5)
        out.append(f"| {n} | preview before the first push (GET /v1/tracker/pending: {n} to create) | "
                   f"{1000 * before / n:.2f} | {1000 * before:.0f} | {before / bodies:.2f} |")  # fmt: skip
        for what, prepare in (
            ("first push: every item created", lambda: None),
            ("again, nothing changed", lambda: None),
            ("after a tenth were edited", lambda: [
                client.patch(f"/v1/backlog/{i}", json={"title": f"Edited {i}"}).raise_for_status()
                for i in range(1, n + 1, 10)]),
            ("after a tenth were set to wait for the item before (Blocks links made)", lambda: [
                client.patch(f"/v1/backlog/{i}", json={"depends_on": [i - 1]}).raise_for_status()
                for i in range(2, n + 1, 10)]),
        ):  # fmt: skip
            prepare()
            calls = len(site.calls)
            took, job = timed_job(client, "/v1/tracker/push")
            assert job["status"] == "done" and not job["failed"], job
            said = f"{job['created']} created, {job['updated']} updated, {job['unchanged']} unchanged"
            out.append(
                f"| {n} | {what} ({said}; {len(site.calls) - calls} calls) | {1000 * took / n:.1f} | "
                f"{1000 * took:.0f} | {took / bodies:.2f} |"
            )
        after = median_time(lambda _r: client.get("/v1/tracker/pending"), 5)
        out.append(f"| {n} | preview after them (all {n} sent: each compared with what the tracker has) | "
                   f"{1000 * after / n:.2f} | {1000 * after:.0f} | {after / bodies:.2f} |")  # fmt: skip
        client.post("/v1/duplicates/search", json={"text": "warm up"}).raise_for_status()  # the index opened first
        calls = len(site.calls)
        took, pulled = timed_job(client, "/v1/tracker/pull", None)
        said = f"{pulled['created']} new, {pulled['updated']} updated, {pulled['unchanged']} unchanged"
        ended, began = (datetime.fromisoformat(pulled[name]) for name in ("finished_at", "started_at"))
        own = (ended - began).total_seconds()
        out.append(
            f"| {n} | pull every issue back, a job ({said}; {len(site.calls) - calls} calls), as its status is polled "
            f"every 10 ms | {1000 * took / n:.1f} | {1000 * took:.0f} | {took / bodies:.2f} |"
        )
        out.append(f"| {n} | the same pull's own run (its status's started_at to finished_at) | {1000 * own / n:.1f} | "
                   f"{1000 * own:.0f} | {own / bodies:.2f} |")  # fmt: skip
        runtime, started = client.app.state.runtime, time.perf_counter()
        with scope.in_project(1):  # as a pull ran before this stop: read and imported within its request
            parsed = pulls.read(runtime)
            import_and_index(runtime, parsed.items, parsed.problems)
        inline = time.perf_counter() - started
        out.append(f"| {n} | the same pull within one call, as before pulls were jobs | {1000 * inline / n:.1f} | "
                   f"{1000 * inline:.0f} | {inline / bodies:.2f} |")  # fmt: skip
        secret = client.get("/v1/tracker/hook").json()["secret"]

        def webhook(run: int) -> None:  # an issue retitled in Jira, and its signed event
            key = f"SHOP-{run % n + 1}"
            site.issues[key]["summary"] = f"Retitled in Jira {run}"
            event = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": key}}).encode()
            signature = "sha256=" + hmac.new(secret.encode(), event, hashlib.sha256).hexdigest()
            heard = client.post("/v1/tracker/hook", content=event, headers={"X-Hub-Signature": signature}).json()
            assert heard["detail"] == "jira:issue_updated: updated: title", heard

        hook = median_time(webhook, 20)
        said = "a webhook: one issue retitled in Jira, read from it and imported (its text embedded again)"
        out.append(f"| {n} | {said} | - | {1000 * hook:.0f} | {hook / bodies:.2f} |")
        out += marked_creates(client, n, bodies)
    return out


def marked_creates(client, n: int, bodies: float) -> list[str]:
    """A tenth more items created, each push with the mark a create leaves until its key is stored (since 2026-11-28's
    third stop) and without it (as before), alternated twice in the same process; the faster of each pair."""
    creating, took = service._creating, {True: [], False: []}
    for run, marked in enumerate((False, True, True, False)):
        rows = [{"title": f"New {run} {k}", "description": "As a shopper I want it."} for k in range(max(n // 10, 1))]
        ids = [i["id"] for i in client.post("/v1/backlog/items", json=rows).json()["created"]]
        service._creating = creating if marked else lambda *_args: None
        try:
            seconds, job = timed_job(client, "/v1/tracker/push", {"item_ids": ids})
        finally:
            service._creating = creating
        assert job["created"] == len(ids), job
        took[marked].append(seconds / len(ids))
    out = []
    for marked, said in ((False, "without the create mark (as before)"), (True, "with the create mark")):
        per = min(took[marked])
        out.append(f"| {n} | a tenth more items created, {said} | {1000 * per:.1f} | - | {per * n / 10 / bodies:.2f} |")
    return out


def main() -> None:
    publish_by_size(
        "Sending a backlog to its tracker and pulling it back (a stand-in of Jira Cloud on loopback) against building "
        "the same bodies",
        "One push job each, in-process (SQLite, TestClient, the job runner's thread); ms per item and in all; ratios "
        "against building the same items' Jira bodies for a download, in the same process.",
        ["items", "what", "ms per item", "ms", "ratio"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
