"""Imports as background jobs (`POST /v1/backlog/import/jobs`; a pull is tested in test_trackers): the file is checked
in the request, the job reports its phase and counts, the new items are embedded for the duplicate check, a job a
crash stopped after writing its rows is resumed without losing what they made, and the inline runner runs an import
beside a long model job instead of behind it."""

from __future__ import annotations

import json
import threading

import pytest

from service.backlog import jobs as import_jobs
from service.backlog import service
from service.backlog.importers import parse_import
from service.core import jobs
from service.core.tables import ImportJob
from tests.test_imports import GITHUB_REST_ISSUES
from tests.test_trackers import finished

ISSUES = json.dumps(GITHUB_REST_ISSUES).encode()


def start(client, data: bytes = ISSUES, format: str = "github_json"):
    return client.post(f"/v1/backlog/import/jobs?format={format}", files={"file": ("issues.json", data)})


def test_an_import_job_reports_its_counts_and_embeds_what_it_added(client):
    started = start(client)
    assert started.status_code == 202, started.text
    job = finished(client, started.json()["status_url"])
    assert (job["status"], job["source"], job["phase"]) == ("done", "issues.json (github_json)", "indexing")
    assert (job["created"], job["updated"], job["unchanged"], job["processed"], job["total"]) == (3, 0, 0, 3, 3)
    assert job["updates"] == [] and [p.split(":")[0] for p in job["problems"]] == ["item 2 (#43)", "item 5 (#46)"]
    titles = {client.get(f"/v1/backlog/{i}").json()["title"] for i in job["created_ids"]}
    assert titles == {"Crash when the cart is empty", "Wishlist", "Move to the new payments SDK"}
    found = client.post("/v1/duplicates/search", json={"text": GITHUB_REST_ISSUES[0]["title"]}).json()
    assert found and found[0]["item_id"] in job["created_ids"]  # embedded for the duplicate check

    again = finished(client, start(client).json()["status_url"])  # the same file again: nothing new
    assert (again["created"], again["unchanged"], again["created_ids"]) == (0, 3, [])


def test_a_bad_import_is_refused_in_the_request(client, monkeypatch):
    said = start(client, b"not json")
    assert said.status_code == 422 and "invalid JSON" in said.json()["detail"]
    assert start(client, format="csv").status_code == 422
    monkeypatch.setattr(client.app.state.runtime.settings, "max_rows", 1)
    too_many = start(client)
    assert too_many.status_code == 413 and "REFINERY_MAX_ROWS" in too_many.json()["detail"]
    assert client.get("/v1/backlog/import/jobs/99").status_code == 404
    assert client.get("/v1/backlog").json() == []


def test_a_job_stopped_after_writing_its_rows_resumes_and_keeps_what_they_made(client, monkeypatch):
    runtime = client.app.state.runtime
    parsed = parse_import(ISSUES, "github_json")
    job = import_jobs.create_job(runtime, ImportJob, "issues.json", parsed, "ana")
    real = service.index_items

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt  # the process dies while embedding: no failure is recorded

    monkeypatch.setattr(service, "index_items", crash)
    with pytest.raises(KeyboardInterrupt):
        import_jobs.run_job(runtime, job.id)
    stopped = import_jobs.get_job(runtime, job.id)
    assert (stopped.status, stopped.phase, stopped.created) == ("running", "indexing", 3)
    monkeypatch.setattr(service, "index_items", real)
    import_jobs.run_job(runtime, job.id)  # as a restarted runner resumes it
    resumed = client.get(f"/v1/backlog/import/jobs/{job.id}").json()
    assert (resumed["status"], resumed["created"], len(resumed["created_ids"])) == ("done", 3, 3)
    assert len(client.get("/v1/backlog").json()) == 3  # its rows were not written twice
    found = client.post("/v1/duplicates/search", json={"text": GITHUB_REST_ISSUES[0]["title"]}).json()
    assert found and found[0]["item_id"] in resumed["created_ids"]


def test_the_inline_runner_runs_an_import_beside_a_long_model_job(client):
    runtime = client.app.state.runtime
    release, ran = threading.Event(), []
    model_job = jobs.JobKind("slow", ImportJob, lambda _r, _id: (release.wait(30), ran.append("model")))
    runner = jobs.JobRunner(runtime, [model_job, import_jobs.JOB])
    runner.start()
    try:
        runner.submit(model_job, 0)  # holds the model's lane until released
        job = import_jobs.create_job(runtime, ImportJob, "issues.json", parse_import(ISSUES, "github_json"),
                                     None)  # fmt: skip
        runner.submit(import_jobs.JOB, job.id)
        done = finished(client, f"/v1/backlog/import/jobs/{job.id}")
        assert done["status"] == "done" and ran == []  # while the model job still runs
        assert runner.status()["running"] == 1
    finally:
        release.set()
        runner.stop()
    assert ran == ["model"]


def test_a_dry_run_says_what_an_import_would_do_and_writes_nothing(client):
    said = finished(client, client.post(
        "/v1/backlog/import/jobs?format=github_json&dry_run=true", files={"file": ("issues.json", ISSUES)}
    ).json()["status_url"])  # fmt: skip
    assert (said["status"], said["dry_run"], said["created"], said["created_ids"]) == ("done", True, 3, [])
    assert client.get("/v1/backlog").json() == []  # nothing written
    assert client.post("/v1/duplicates/search", json={"text": GITHUB_REST_ISSUES[0]["title"]}).json() == []

    done = finished(client, start(client).json()["status_url"])
    assert (done["created"], done["dry_run"]) == (said["created"], False)
    changed = [dict(GITHUB_REST_ISSUES[0], title="Crash when the cart is empty on iOS"), *GITHUB_REST_ISSUES[1:]]
    would = finished(client, client.post(
        "/v1/backlog/import/jobs?format=github_json&dry_run=true",
        files={"file": ("issues.json", json.dumps(changed).encode())},
    ).json()["status_url"])  # fmt: skip
    assert [(u["external_id"], u["changed"]) for u in would["updates"]] == [("github:acme/shop#42", ["title"])]
    titles = {i["title"] for i in client.get("/v1/backlog").json()}
    assert "Crash when the cart is empty" in titles and "Crash when the cart is empty on iOS" not in titles
    history = client.get(f"/v1/backlog/{done['created_ids'][0]}/history").json()
    assert [e["action"] for e in history] == []  # the dry run left no trace in the item's history
