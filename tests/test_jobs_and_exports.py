"""Jobs people can stop and count on, and exports safe to open: cancelling every kind of job (queued at once,
running at its next piece, not resumed after a restart), the limit on active jobs, the same upload twice, honest
failure counts, exports that are never cut short, and spreadsheet formula injection in the text exports."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from playwright.sync_api import expect
from sqlalchemy import insert
from typer.testing import CliRunner

from service.api import create_app
from service.backlog.exporters import ExportItem, export, to_jira_csv, to_markdown
from service.backlog.importers import parse_import
from service.backlog.spreadsheet import FORMULA_START, neutralise_cell, restore_cell
from service.core.enums import JobStatus
from service.core.runtime import Runtime
from service.core.settings import get_settings
from service.core.tables import BacklogItem, Conversation, ConversationJob, IngestJob, PrioritizeJob, RefineJob
from tests.test_ingest import theme_reply, tickets_csv, upload, wait_for
from tests.test_prioritization_api import ITEMS, estimate
from tests.test_web import browser, desk, page, visit  # noqa: F401 - the review desk in a real browser

SMALL_CSV = b"id,subject,description\n1,Login,I cannot log in since the update\n2,Export,Please add CSV export\n"
PAYLOAD = "=cmd|' /C calc'!A0"


class Held(str):
    """A scripted reply the fake model hands over only once `release` is set: its call stays in flight till then."""

    release: threading.Event

    def split(self, *args: Any, **kwargs: Any) -> list[str]:
        self.release.wait(120)
        return super().split(*args, **kwargs)


def held(reply: str) -> Held:
    value = Held(reply)
    value.release = threading.Event()
    return value


def wait_until(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def add_row(client: TestClient, row: Any) -> int:
    runtime: Runtime = client.app.state.runtime
    with runtime.db.session() as session:
        session.add(row)
        session.flush()
        return row.id


def job_status(client: TestClient, table: type, job_id: int) -> Any:
    return client.app.state.runtime.db.get(table, job_id)


# --- 1. cancelling -----------------------------------------------------------------------------------------------


def test_a_queued_ingest_job_is_cancelled_at_once_a_running_one_at_its_next_theme_and_neither_resumes(
    client, llm, settings
):
    first = held(theme_reply())
    llm.chat.replies.extend([first, theme_reply(title="Add a dark mode", item_type="feature")])
    running = upload(client, tickets_csv())["job_id"]  # two themes, two drafts; the first draft is held
    queued = upload(client, SMALL_CSV, name="small.csv")["job_id"]  # waits behind it (one worker)
    wait_until(lambda: len(llm.chat.calls) == 1, "the first theme draft")

    answer = client.post(f"/v1/jobs/{queued}/cancel?kind=ingest", headers={"X-User": "ana"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "cancelled" and body["kind"] == "ingest" and body["started_at"] is None
    assert body["filename"] == "small.csv"  # the kind's own status, as GET /v1/ingest/jobs/{id} shows it
    assert "cancelled by ana" in body["errors"][-1] and "before it started" in body["errors"][-1]

    stopping = client.post(f"/v1/jobs/{running}/cancel?kind=ingest").json()
    assert stopping["status"] == "cancelled" and "the piece in progress finishes" in stopping["errors"][-1]
    first.release.set()
    client.app.state.jobs.stop(timeout=120)  # the worker ends the theme in progress, then stops

    assert len(llm.chat.calls) == 1  # the second theme was never drafted
    job = client.get(f"/v1/ingest/jobs/{running}").json()
    assert job["status"] == "cancelled" and job["stage"] == "themes" and job["eta_s"] is None
    assert (job["themes"], job["suggestions"], job["failed"]) == (2, 1, 0)
    drafts = client.get("/v1/suggestions?kind=story_draft").json()
    assert [d["status"] for d in drafts] == ["pending"] and drafts[0]["payload"]["title"]  # whole, not half-made
    assert job_status(client, IngestJob, queued).processed == 0

    again = client.post(f"/v1/jobs/{running}/cancel?kind=ingest")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]

    llm.chat.replies.append(theme_reply(title="Add a dark mode", item_type="feature"))
    with TestClient(create_app(settings, llm)) as restarted:  # cancelled jobs are not resumed
        assert job_status(restarted, IngestJob, queued).started_at is None
        # uploading a cancelled job's file again is not a duplicate: the new job takes over what it left
        small = wait_for(restarted, upload(restarted, SMALL_CSV, name="small.csv")["job_id"])
        assert small["status"] == "done" and small["processed"] == 2 and small["already_ingested"] == 0
        rest = wait_for(restarted, upload(restarted, tickets_csv(), name="again.csv", source="freshdesk.csv")["job_id"])
        assert rest["status"] == "done", rest["errors"]
        assert rest["already_ingested"] == 4 and rest["processed"] == 6  # the drafted theme's tickets stay put
        assert (rest["themes"], rest["suggestions"]) == (1, 1)
    restarted.app.state.runtime.db.engine.dispose()
    assert len(llm.chat.calls) == 2


def test_every_kind_of_job_can_be_cancelled_and_a_finished_one_cannot(client, settings, monkeypatch):
    item = client.post("/v1/backlog/items", json={"title": "Dark mode"}).json()["created"][0]["id"]
    conversation = add_row(client, Conversation(title="Planning", format="text", filename="p.txt", turns=[]))
    rows = {
        "prioritize": PrioritizeJob(framework="rice", item_ids=[item], total=1),
        "refine": RefineJob(item_ids=[item], total=1),
        "conversation": ConversationJob(conversation_id=conversation),
    }
    ids = {kind: add_row(client, row) for kind, row in rows.items()}  # queued, never handed to the runner
    own_field = {"prioritize": "framework", "refine": "findings", "conversation": "conversation_id"}
    for kind, job_id in ids.items():
        answer = client.post(f"/v1/jobs/{job_id}/cancel", params={"kind": kind})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "cancelled" and own_field[kind] in answer.json()
    assert client.get(f"/v1/refine/jobs/{ids['refine']}").json()["status"] == "cancelled"

    done = add_row(client, RefineJob(item_ids=[item], total=1, status=JobStatus.done))
    refused = client.post(f"/v1/jobs/{done}/cancel?kind=refine")
    assert refused.status_code == 409
    assert (
        refused.json()["detail"] == f"refine job {done} is already done: only a queued or running job can be cancelled"
    )
    assert client.post("/v1/jobs/1/cancel").status_code == 422  # ids are per kind: several kinds have a job 1
    assert client.post("/v1/jobs/1/cancel?kind=nope").status_code == 422
    assert client.post("/v1/jobs/999/cancel?kind=refine").status_code == 404

    # the CLI, on the same database: `refinery job cancel ID` finds the kind when only one has that id
    queued = add_row(client, RefineJob(item_ids=[item], total=1))
    monkeypatch.setenv("REFINERY_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        from service.cli import app

        listed = CliRunner().invoke(app, ["job", "list"])
        assert listed.exit_code == 0 and "refine" in listed.output and str(queued) in listed.output
        result = CliRunner().invoke(app, ["job", "cancel", str(queued)])
        assert result.exit_code == 0, result.output
        assert f"refine job {queued}: cancelled" in result.output
        twice = CliRunner().invoke(app, ["job", "cancel", str(queued), "--kind", "refine"])
        assert twice.exit_code == 2 and "already cancelled" in twice.output
    finally:
        get_settings.cache_clear()
    assert job_status(client, RefineJob, queued).status == JobStatus.cancelled


def test_a_running_prioritization_stops_after_the_estimate_in_progress(client, llm):
    client.post("/v1/backlog/items", json=ITEMS)
    first = held(estimate())
    llm.chat.replies.extend([first, estimate(), estimate()])
    job_id = client.post("/v1/prioritize", json={"framework": "rice"}).json()["job_id"]
    wait_until(lambda: len(llm.chat.calls) == 1, "the first estimate")
    assert client.post(f"/v1/jobs/{job_id}/cancel?kind=prioritize").json()["status"] == "cancelled"
    first.release.set()
    client.app.state.jobs.stop(timeout=120)
    assert len(llm.chat.calls) == 1  # the estimates not started never start
    job = client.get(f"/v1/prioritize/jobs/{job_id}").json()
    assert job["status"] == "cancelled" and job["ranked"] is None
    assert client.get("/v1/suggestions?kind=priority").json() == []  # the ranking needs every estimate


def test_the_desk_cancels_a_running_upload(page, llm, tmp_path):  # noqa: F811 - page: tests.test_web's
    first = held(theme_reply())
    llm.chat.replies.append(first)
    tickets = tmp_path / "tickets.csv"
    tickets.write_bytes(tickets_csv())
    try:
        visit(page, "/#upload")
        page.set_input_files("#upload-file", str(tickets))
        page.click("#upload-submit")
        expect(page.locator("#job .job-status")).to_have_text("running")
        page.click("#job button.cancel-job")
        expect(page.locator("#job .job-status")).to_have_text("cancelled")
        expect(page.locator("#job button.cancel-job")).to_have_count(0)
        expect(page.locator("#flash")).to_contain_text("cancelled")
    finally:
        first.release.set()


# --- 2. a limit on active jobs -----------------------------------------------------------------------------------


def test_a_job_beyond_the_active_limit_is_429_and_says_what_to_do(settings, llm):
    limited = settings.model_copy(update={"max_active_jobs": 1})
    with TestClient(create_app(limited, llm)) as client:
        client.post("/v1/backlog/items", json={"title": "Dark mode"})
        busy = add_row(client, RefineJob(item_ids=[], total=0, status=JobStatus.running))
        refused = client.post("/v1/refine", json={})
        assert refused.status_code == 429
        detail = refused.json()["detail"]
        assert "1 jobs are already queued or running (1 running, 0 queued; the limit is 1" in detail
        assert "wait for one to finish, or cancel one" in detail
        assert client.post("/v1/ingest", files={"file": ("t.csv", SMALL_CSV)}).status_code == 429
        assert client.post("/v1/prioritize", json={"framework": "rice"}).status_code == 429
        assert client.post("/v1/conversations", files={"file": ("m.txt", b"Ana: hello\nBo: hi\n")}).status_code == 429
        client.post(f"/v1/jobs/{busy}/cancel?kind=refine")
        started = client.post("/v1/refine", json={})
        assert started.status_code == 202
        ended = lambda: client.get(started.json()["status_url"]).json()["status"] not in ("queued", "running")  # noqa: E731
        wait_until(ended, "the refinement")
    client.app.state.runtime.db.engine.dispose()


# --- 3. the same bytes twice -------------------------------------------------------------------------------------


def test_the_same_file_under_another_name_is_refused_naming_the_earlier_job_unless_forced(client):
    first = wait_for(client, upload(client, SMALL_CSV, name="tickets.csv")["job_id"])
    assert first["status"] == "done" and first["processed"] == 2
    again = client.post("/v1/ingest", files={"file": ("renamed.csv", SMALL_CSV)})
    assert again.status_code == 409
    detail = again.json()["detail"]
    assert f"already uploaded as ingest job {first['id']} ('tickets.csv'" in detail and "force=true" in detail
    assert len(client.get("/v1/ingest/jobs").json()) == 1
    # forced: a second job, whose tickets (keyed by source, the file name by default) count as new ones
    forced = wait_for(client, upload(client, SMALL_CSV, name="renamed.csv", force="true")["job_id"])
    assert forced["status"] == "done" and forced["processed"] == 2
    assert len(client.get("/v1/ingest/jobs").json()) == 2


# --- 4. honest failure counts ------------------------------------------------------------------------------------


def test_an_ingest_job_whose_every_draft_failed_has_failed_and_says_why(client, llm):
    job = wait_for(client, upload(client, tickets_csv())["job_id"])  # no scripted reply: every draft fails
    assert job["status"] == "failed"
    assert (job["themes"], job["failed"], job["suggestions"]) == (2, 2, 0)
    drafts = [e for e in job["errors"] if "its story draft failed" in e]
    assert len(drafts) == 2 and all("no scripted reply" in e for e in drafts)
    assert "every theme's story draft failed (2 of 2)" in job["errors"][-1]
    assert len(client.get("/v1/suggestions?status=failed").json()) == 2


# --- 5. exports are never cut short ------------------------------------------------------------------------------


def test_an_export_of_more_than_10000_items_has_every_item_and_says_how_many(client):
    runtime: Runtime = client.app.state.runtime
    rows = [{"title": f"Item {n}", "description": "", "labels": []} for n in range(10_001)]
    with runtime.db.session() as session:
        session.execute(insert(BacklogItem), rows)
    response = client.get("/v1/backlog/export?format=jira_csv")
    assert response.status_code == 200 and response.headers["x-total-count"] == "10001"
    exported = list(csv.DictReader(io.StringIO(response.text)))
    assert len(exported) == 10_001 and exported[-1]["Summary"] == "Item 10000"


def test_an_export_takes_the_listings_filters_and_a_child_keeps_its_parents_key(client):
    items = [
        {"title": "Billing epic", "external_id": "SHOP-1", "labels": ["billing"], "closed": True},
        {"title": "Export invoices", "external_id": "SHOP-2", "labels": ["billing"], "parent": "SHOP-1"},
        {"title": "Dark mode", "external_id": "SHOP-3", "labels": ["ui"]},
    ]
    assert client.post("/v1/backlog/items", json=items).status_code == 201
    response = client.get("/v1/backlog/export?format=jira_csv&state=open&label=billing")
    assert response.status_code == 200 and response.headers["x-total-count"] == "1"
    assert [(r["Summary"], r["Parent"]) for r in csv.DictReader(io.StringIO(response.text))] == [
        ("Export invoices", "SHOP-1")  # the parent, closed, is not exported; the link is kept
    ]
    assert client.get("/v1/backlog/export?format=markdown&q=dark").headers["x-total-count"] == "1"
    assert client.get("/v1/backlog/export?format=markdown").headers["x-total-count"] == "3"
    assert client.get("/v1/backlog/export?format=markdown&state=done").status_code == 422


# --- 6. spreadsheet formula injection ----------------------------------------------------------------------------


def formula_item(**overrides: Any) -> ExportItem:
    data = {
        "id": 1,
        "title": PAYLOAD,
        "description": "+SUM(1+1)*cmd|' /C calc'!A0\n-2+3\n@ops look\n\tindented\n\n- a bullet\n"
        "- [ ] Given a, when b, then c",
        "item_type": "bug",
        "labels": ["@ops", "-1"],
        "priority": "-High",
        "story_points": -3,
        "parent": '=HYPERLINK("http://evil")',
    }
    return ExportItem(**(data | overrides))


def test_jira_csv_cells_never_start_a_formula_and_points_stay_numbers():
    rows = list(csv.reader(io.StringIO(to_jira_csv([formula_item()]))))
    header, row = rows
    cells = dict(zip(header, row, strict=True))
    assert cells["Summary"] == "'" + PAYLOAD
    assert cells["Story Points"] == "-3"  # a number, not a text cell: not prefixed
    for name, cell in cells.items():
        if name != "Story Points":
            assert cell[:1] not in FORMULA_START, (name, cell)
    assert cells["Description"].startswith("'+SUM") and cells["Priority"] == "'-High"
    assert cells["Labels"] == "'@ops -1" and cells["Parent"].startswith("'=HYPERLINK")


def test_markdown_lines_never_start_a_formula_and_read_the_same():
    text = to_markdown([formula_item()])
    for line in text.splitlines():
        assert line[:1] not in FORMULA_START, line
    assert f"## {PAYLOAD}" in text
    assert "\\+SUM(1+1)" in text and "\\-2+3" in text and "\\@ops look" in text  # Markdown shows \+ as +
    assert "* a bullet" in text and "* [ ] Given a, when b, then c" in text and "* **Type:** bug" in text
    assert "    indented" in text


@pytest.mark.parametrize("fmt", ["jira_json", "linear_json", "github_json"])
def test_json_exports_keep_the_text_as_data(fmt: str):
    content, _ = export([formula_item()], fmt)
    assert PAYLOAD in json.dumps(json.loads(content), ensure_ascii=False)
    assert "'" + PAYLOAD not in content


def test_our_jira_csv_imports_back_without_the_marker():
    titles = ["=1+1", "-20% churn since May", "@here please look", "+1 from sales", "'=SUM(A1) was quoted", PAYLOAD]
    items = [
        ExportItem(id=n, title=t, description="", item_type="feature", story_points=n) for n, t in enumerate(titles)
    ]
    parsed = parse_import(to_jira_csv(items).encode(), "jira_csv")
    assert parsed.problems == []
    assert [i.title for i in parsed.items] == titles
    assert [i.story_points for i in parsed.items] == list(range(len(titles)))


@given(st.text())
def test_a_neutralised_cell_is_safe_and_restores_exactly(text: str):
    cell = neutralise_cell(text)
    assert cell[:1] not in FORMULA_START
    assert restore_cell(cell) == text
