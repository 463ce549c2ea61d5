"""Background jobs on the real queue (procrastinate on a real PostgreSQL) run by `refinery worker` processes, with a
Chroma server and a scripted OpenAI-compatible model server: several workers share one job, and faults (a worker
SIGKILLed mid-job, the database or the model server away for a while, a piece that always fails) lose nothing and
double nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.api import create_app
from service.core import scope
from service.core.settings import Settings
from service.core.tables import RefineJob, Suggestion, ThemeRow, TicketRow
from tests.chroma_server import chroma_server
from tests.postgres import PostgresProcess, postgres_process
from tests.scripted_openai_server import ScriptedServer
from tests.worker_stack import THEME_REPLY, TOPICS, Stack, tickets_csv


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresProcess]:
    with postgres_process() as server:
        yield server


@pytest.fixture(scope="module")
def chroma() -> Iterator[tuple[str, int]]:
    with chroma_server() as address:
        yield address


@pytest.fixture
def model() -> Iterator[ScriptedServer]:
    with ScriptedServer(reply=THEME_REPLY, latency_s=0.6, slots=8) as server:
        yield server


@pytest.fixture
def stack(postgres, chroma, model, tmp_path) -> Iterator[Stack]:
    found = Stack(postgres.url, chroma, model.url, tmp_path)
    yield found
    found.stop_workers()


@contextmanager
def serving(stack: Stack) -> Iterator[TestClient]:
    """The API on the stack's settings, enqueueing only (no job runs in this process)."""
    settings = Settings(**{name: value for name, value in stack.env.items()})
    with TestClient(create_app(settings)) as client:
        yield client
    client.app.state.runtime.db.engine.dispose()


@pytest.fixture
def api(stack: Stack) -> Iterator[TestClient]:
    with serving(stack) as client:
        yield client


def ingest(api: TestClient, themes: int, first: int = 0) -> int:
    response = api.post("/v1/ingest", files={"file": ("tickets.csv", tickets_csv(themes, first=first))})
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def wait_for(api: TestClient, job_id: int, until=lambda job: job["status"] in ("done", "failed"), timeout=180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"/v1/jobs/{job_id}").json()
        if until(job):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not get there: {job}")


def exactly_once(api: TestClient, job_id: int, tickets: int) -> list[Suggestion]:
    """Every ticket triaged once, every theme with one suggestion, no suggestion doubled; the suggestions."""
    runtime = api.app.state.runtime
    with scope.every_project(), runtime.db.session() as session:
        processed = session.scalars(select(TicketRow.processed_at).where(TicketRow.job_id == job_id)).all()
        themes = session.scalars(select(ThemeRow).where(ThemeRow.job_id == job_id)).all()
        suggestions = [s for s in session.scalars(select(Suggestion)) if s.input.get("job_id") == job_id]
        session.expunge_all()
    assert len(processed) == tickets and all(processed)
    per_theme = Counter(s.input["theme_id"] for s in suggestions)
    assert per_theme and set(per_theme.values()) == {1}, per_theme
    assert sorted(per_theme) == sorted(t.id for t in themes)
    assert {t.suggestion_id for t in themes} == {s.id for s in suggestions}
    return suggestions


def test_two_workers_share_one_job_and_each_theme_is_drafted_once(api, stack, model):
    stack.start_workers(["a", "b"])
    assert api.get("/healthz").json()["queue"] == {"kind": "postgres", "workers": 2, "waiting": 0, "running": 0}
    job_id = ingest(api, themes=8)
    job = wait_for(api, job_id)
    assert job["status"] == "done", job["errors"]
    assert job["processed"] == 32 and job["themes"] >= 6 and (job["suggestions"], job["failed"]) == (job["themes"], 0)
    suggestions = exactly_once(api, job_id, 32)
    assert all(s.status == "pending" for s in suggestions)
    assert model.stats().answered == job["themes"]  # one model call per theme, none repeated
    for name in ("a", "b"):  # both workers drafted themes
        assert "refinery.piece" in stack.log(name) and "theme_id" in stack.log(name), stack.log(name)[-2000:]


def test_a_worker_killed_mid_job_loses_nothing_and_doubles_nothing(api, stack, model):
    a, _ = stack.start_workers(["a", "b"])
    job_id = ingest(api, themes=10)
    wait_for(api, job_id, until=lambda job: job["suggestions"] >= 2)
    a.send_signal(signal.SIGKILL)  # in the middle of a theme, most likely: each takes 0.6 s
    job = wait_for(api, job_id)
    assert job["status"] == "done", job["errors"]
    assert job["themes"] >= 8 and (job["suggestions"], job["failed"]) == (job["themes"], 0)
    exactly_once(api, job_id, 40)


def test_the_database_away_for_a_while_pauses_the_job_and_it_resumes(api, stack, postgres, model):
    worker = stack.start_worker("a")
    job_id = ingest(api, themes=6)
    wait_for(api, job_id, until=lambda job: job["suggestions"] >= 1)
    postgres.stop()  # the queue and the data: the piece in progress fails, the worker waits for the database
    time.sleep(4)
    postgres.start()
    api.app.state.runtime.db.engine.dispose()  # the API's pooled connections died with the server
    job = wait_for(api, job_id)
    assert job["status"] == "done", job["errors"]
    assert job["themes"] >= 4 and job["suggestions"] + job["failed"] == job["themes"]
    exactly_once(api, job_id, 24)
    assert worker.poll() is None, stack.log("a")[-3000:]  # it waited, it did not die
    again = wait_for(api, ingest(api, themes=2, first=6))  # and it takes new work
    assert again["status"] == "done" and again["suggestions"] == again["themes"] >= 1, again


def test_the_model_server_away_for_a_while_pauses_pieces_and_they_resume(api, stack, model):
    stack.start_worker("a")
    job_id = ingest(api, themes=4)
    wait_for(api, job_id, until=lambda job: job["suggestions"] >= 1)
    model.stop()
    time.sleep(3)
    model.start()
    job = wait_for(api, job_id)
    assert job["status"] == "done", job["errors"]
    assert job["themes"] >= 3 and (job["suggestions"], job["failed"]) == (job["themes"], 0)  # waited, none failed
    exactly_once(api, job_id, 16)


def test_a_piece_that_always_fails_is_a_counted_failure_with_its_reason(api, stack, model):
    stack.start_worker("a")
    model.fault("garbage", times=None)  # every call answers a body that is not JSON
    job_id = ingest(api, themes=2)
    job = wait_for(api, job_id)
    assert job["status"] == "failed" and job["themes"] == job["failed"] == 2
    suggestions = exactly_once(api, job_id, 8)
    assert all(s.status == "failed" and s.reason for s in suggestions)
    assert any("theme" in e for e in job["errors"])


def kill_after_one_item(api: TestClient, status: str, worker: subprocess.Popen) -> dict:
    """SIGKILL `worker` once the job at `status` has done an item (another is most likely in progress); the job as
    it ends."""
    deadline = time.monotonic() + 180
    while api.get(status).json()["processed"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    worker.send_signal(signal.SIGKILL)
    while (job := api.get(status).json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


def test_a_refine_run_is_shared_by_workers_and_each_item_counted_once(api, stack, model):
    a, _ = stack.start_workers(["a", "b"])
    ids = []
    for i, (topic, kind) in enumerate(TOPICS[:6]):
        body = {"title": topic.capitalize(), "description": f"Reported {i + 2} times.", "type": kind}
        ids.append(api.post("/v1/backlog/items", json=body).json()["created"][0]["id"])
    created = api.post("/v1/refine", json={"item_ids": ids})
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    job = kill_after_one_item(api, f"/v1/refine/jobs/{job_id}", a)
    assert job["processed"] == job["total"] == 6, job  # each item counted once, the killed worker's one too
    runtime = api.app.state.runtime
    with runtime.db.session() as session:
        row = session.get(RefineJob, job_id)
        estimates = Counter(
            s.input.get("backlog_item_id") for s in session.scalars(select(Suggestion)) if s.kind == "estimate"
        )
    assert sorted(row.done_item_ids) == sorted(ids)
    assert set(estimates) == set(ids) and set(estimates.values()) == {1}, estimates  # no estimate doubled


PRIORITY_REPLY = json.dumps({
    "goal": None, "goal_rationale": "No goals were given.", "reach": 1000, "reach_rationale": "Every user.",
    "impact": 1.0, "impact_rationale": "It blocks the task.", "confidence": 0.8, "confidence_rationale": "Reported.",
    "effort": 3, "effort_rationale": "A small change.", "business_value": 8, "business_value_rationale": "Revenue.",
    "time_criticality": 5, "time_criticality_rationale": "Soon.", "risk_reduction": 2,
    "risk_reduction_rationale": "Little.", "moscow": "should", "moscow_rationale": "Wanted.", "depends_on": [],
})  # fmt: skip


def test_a_prioritize_job_shares_its_estimates_and_ranks_once(postgres, chroma, tmp_path):
    with ScriptedServer(reply=PRIORITY_REPLY, latency_s=0.8, slots=8) as server:
        stack = Stack(postgres.url, chroma, server.url, tmp_path)
        try:
            a, _ = stack.start_workers(["a", "b"])
            with serving(stack) as api:
                ids = [
                    api.post("/v1/backlog/items", json={"title": topic, "type": kind}).json()["created"][0]["id"]
                    for topic, kind in TOPICS[:6]
                ]
                job_id = api.post("/v1/prioritize", json={"item_ids": ids}).json()["job_id"]
                job = kill_after_one_item(api, f"/v1/prioritize/jobs/{job_id}", a)
                assert job["status"] == "done" and (job["processed"], job["failed"]) == (6, 0), job
                runtime = api.app.state.runtime
                with runtime.db.session() as session:
                    made = [s for s in session.scalars(select(Suggestion)) if s.kind == "priority"]
                    session.expunge_all()
            assert server.stats().answered in (6, 7)  # one estimate per item; the killed worker's call may be redone
            assert sorted(s.input["backlog_item_id"] for s in made) == sorted(ids)  # one suggestion each, ranked once
            assert sorted(s.payload["proposed_rank"] for s in made) == list(range(1, 7))
        finally:
            stack.stop_workers()


def test_a_model_server_that_never_answers_gives_failed_pieces_with_the_reason(postgres, chroma, model, tmp_path):
    stack = Stack(postgres.url, chroma, model.url, tmp_path, llm_timeout_s=1, piece_attempts=2)
    try:
        stack.start_worker("a")
        model.fault("hang", times=None)
        with serving(stack) as api:
            job = wait_for(api, ingest(api, themes=2))
            assert job["status"] == "failed" and job["themes"] == job["failed"] == 2, job
            suggestions = exactly_once(api, job_id=job["id"], tickets=8)
            assert all("no reply within 1 s" in s.reason for s in suggestions), [s.reason for s in suggestions]
    finally:
        stack.stop_workers()


def _worker(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("refinery")), "worker"]
    env = {**os.environ, "REFINERY_DATA_DIR": str(tmp_path), **env}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    done.stderr = " ".join(done.stderr.split())  # as one line, however the terminal width wrapped it
    return done


def test_a_worker_with_a_wrong_database_url_says_what_to_fix(tmp_path, postgres):
    wrong = postgres.url.rsplit(":", 1)[0] + ":1/refinery"  # nothing listens on port 1
    done = _worker({"REFINERY_QUEUE": "postgres", "DATABASE_URL": wrong}, tmp_path)
    assert done.returncode == 2 and "cannot reach the database in DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr
    done = _worker({"REFINERY_QUEUE": "postgres", "DATABASE_URL": ""}, tmp_path)
    assert done.returncode == 2 and "set DATABASE_URL=postgresql://" in done.stderr
    done = _worker({"REFINERY_QUEUE": "inline"}, tmp_path)
    assert done.returncode == 2 and "REFINERY_QUEUE is inline" in done.stderr
    done = _worker({"REFINERY_QUEUE": "postgres", "DATABASE_URL": postgres.url, "CHROMA_HOST": ""}, tmp_path)
    assert done.returncode == 2 and "CHROMA_HOST is not set" in done.stderr and "Traceback" not in done.stderr
