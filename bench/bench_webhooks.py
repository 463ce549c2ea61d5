"""What webhooks cost a decision, and how fast deliveries are sent.

In one process (fake LLM, SQLite, no duplicate index, the app's own sender stopped): N pending story drafts are
written straight into the database, then each is accepted through the app (`POST /v1/suggestions/{id}/accept`, which
creates its backlog item) and the median accept is timed: with no event queued at all (the outbox switched off, as
before webhooks; the baseline), with no webhook, with 1 and with 5 webhooks (each accept then writes 1 or 5
deliveries). Then the deliveries the 5-webhook run wrote are sent to a real HTTP receiver on loopback
(`deliver_due`, one sender) and their rate is measured. Ratios against the baseline, in the same process.
Run: .venv/bin/python -m bench.bench_webhooks
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, insert, select

from bench import publish, table_head
from service.core import outbox
from service.core.tables import Suggestion, WebhookDelivery
from service.webhooks.delivery import deliver_due
from tests.conftest import story
from tests.webhook_receiver import receiver

RESULTS = Path(__file__).parent / "results" / "bench_webhooks.md"
ACCEPTS = 100  # per variant


def main() -> None:
    from fastapi.testclient import TestClient

    from pipelines.llm import fake_llm
    from service.api import create_app
    from service.core.settings import Settings

    settings = Settings(
        REFINERY_DATA_DIR=tempfile.mkdtemp(), REFINERY_LLM_PROVIDER="fake", REFINERY_DUPLICATE_CHECK=False
    )
    app = create_app(settings, fake_llm())
    db = app.state.runtime.db
    variants = [("no event queued (before webhooks)", 0), ("no webhook", 0), ("1 webhook", 1), ("5 webhooks", 4)]
    drafts = [
        {"kind": "story_draft", "status": "pending", "project_id": 1, "input": {"text": f"idea {n}"},
         "payload": story(title=f"Story {n}"), "model": "bench", "provider": "fake",
         "prompt_version": "draft_story@bench", "usage": {}, "warnings": []}
        for n in range(ACCEPTS * len(variants) + 1)
    ]  # fmt: skip
    lines = table_head(
        "What webhooks cost a decision, and how fast deliveries are sent",
        f"Median of {ACCEPTS} accepts per variant, in-process (SQLite, TestClient); ratios against accepting with no "
        "event queued, in the same process.",
        ["what", "ms", "ratio", "deliveries written"],
    )
    timed = []
    with receiver() as got, TestClient(app, base_url="http://localhost") as client:
        app.state.webhooks.stop()
        with db.session() as session:
            session.execute(insert(Suggestion), drafts)
        client.post("/v1/suggestions/1/accept").raise_for_status()  # warm-up
        queue_action = outbox.queue_action
        next_id = 2
        for name, more_hooks in variants:
            outbox.queue_action = (lambda *_: None) if name.startswith("no event") else queue_action
            for _ in range(more_hooks):
                client.post("/v1/webhooks", json={"url": got.url}).raise_for_status()
            before = _deliveries(db)
            samples = []
            for suggestion_id in range(next_id, next_id + ACCEPTS):
                started = time.perf_counter()
                client.post(f"/v1/suggestions/{suggestion_id}/accept").raise_for_status()
                samples.append(time.perf_counter() - started)
            next_id += ACCEPTS
            timed.append((name, statistics.median(samples), _deliveries(db) - before))
        outbox.queue_action = queue_action
        floor = timed[0][1]
        lines += [f"| accept, {name} | {1000 * t:.2f} | {t / floor:.2f} | {n} |" for name, t, n in timed]
        pending = _deliveries(db)
        started = time.perf_counter()
        while deliver_due(db, limit=100):
            pass
        took = time.perf_counter() - started
        assert len(got.received) == pending, (len(got.received), pending)
        lines.append(
            f"| send {pending} deliveries to a loopback receiver (one sender) | {1000 * took / pending:.2f} each | - "
            f"| {pending / took:.0f} per second |"
        )
    publish(lines, RESULTS)


def _deliveries(db: object) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0


if __name__ == "__main__":
    main()
