"""Operating Refinery: request ids and structured logs, /metrics, `refinery backup` and `refinery restore` (the fake
LLM; the round trip uses the real embedding model to rebuild the duplicate index)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import tarfile
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from pipelines.llm import fake_llm
from service.api import create_app
from service.cli import app as cli
from service.core.jobs import JobKind
from service.core.runtime import Runtime
from service.core.settings import Settings, get_settings
from service.core.tables import Base
from service.ops import backup as ops_backup
from service.ops.logs import configure_logging, with_job_context
from tests.conftest import story_json
from tests.test_duplicates_api import ITEMS
from tests.test_ingest import theme_reply, tickets_csv, wait_for

runner = CliRunner()
log = logging.getLogger("tests.ops")


def local_settings(data_dir: Path, **overrides: Any) -> Settings:
    """A SQLite database under `data_dir`, the fake LLM, and no duplicate index unless asked for."""
    values = {"REFINERY_DATA_DIR": data_dir, "REFINERY_LLM_PROVIDER": "fake", "OPENAI_API_KEY": None}
    return Settings(**{"DATABASE_URL": None, "REFINERY_DUPLICATE_CHECK": False, **values, **overrides})


@pytest.fixture(autouse=True)
def fresh_settings():
    """The CLI reads cached settings; each test reads its own environment."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def json_logs():
    """The JSON log lines written during the test, read when called (the root logger is put back after)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.handlers[:] = handlers
    root.setLevel(level)


def use_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Point the CLI at these settings' database and data directory."""
    get_settings.cache_clear()
    monkeypatch.setenv("REFINERY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("REFINERY_LLM_PROVIDER", "fake")
    monkeypatch.setenv("REFINERY_DUPLICATE_CHECK", str(settings.duplicate_check).lower())
    if settings.database_url:
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("DATABASE_URL", raising=False)


def tables(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, by primary key, read through the tables' own types."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return {
                table.name: [
                    dict(row) for row in connection.execute(select(table).order_by(*table.primary_key)).mappings()
                ]
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def metric(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def new_postgres_database(server: str, name: str) -> str:
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"


# --- request ids and logs -----------------------------------------------------------------------------------------


def test_each_request_has_an_id_in_its_header_and_in_every_line_logged_while_it_runs(tmp_path, json_logs):
    app = create_app(local_settings(tmp_path), fake_llm())

    @app.get("/test/log")
    async def _logs() -> dict:
        log.info("in the handler")
        await asyncio.get_running_loop().run_in_executor(app.state.runtime.model_calls, log.info, "in a model thread")
        return {}

    with TestClient(app) as client:
        given = client.get("/v1/backlog/123456", headers={"X-Request-ID": "trace-42"})
        made = client.get("/test/log")
        again = client.get("/test/log")
        odd = client.get("/v1/backlog", headers={"X-Request-ID": "x" * 300})
        sneaky = client.get("/v1/backlog", headers={"X-Request-ID": "a b<script>"})
    assert given.status_code == 404 and given.headers["X-Request-ID"] == "trace-42"
    made_id = made.headers["X-Request-ID"]
    assert len(made_id) == 32 and made_id != again.headers["X-Request-ID"]
    for refused in (odd, sneaky):  # a caller's id that is not a short token is replaced
        assert len(refused.headers["X-Request-ID"]) == 32 and refused.headers["X-Request-ID"].isalnum()
    lines = json_logs()
    request = next(line for line in lines if line["logger"] == "refinery.requests" and line["request_id"] == "trace-42")
    assert request["method"] == "GET" and request["route"] == "/v1/backlog/{item_id}" and request["status"] == 404
    assert isinstance(request["duration_ms"], float) and request["level"] == "INFO"
    ours = [json.dumps(line) for line in lines if line["logger"] == "refinery.requests"]
    assert not any("123456" in line for line in ours)  # the template, never the raw path
    mine = [line["message"] for line in lines if line["request_id"] == made_id]
    assert mine[:2] == ["in the handler", "in a model thread"] and mine[2].startswith("GET /test/log 200")
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_logs_are_plain_text_by_default_and_json_lines_when_set(tmp_path, json_logs):
    assert local_settings(tmp_path).log_format == "plain"
    assert Settings(REFINERY_LOG_FORMAT="json").log_format == "json"
    with pytest.raises(ValidationError):
        Settings(REFINERY_LOG_FORMAT="xml")
    stream = io.StringIO()
    configure_logging("plain", stream=stream)
    with TestClient(create_app(local_settings(tmp_path), fake_llm())) as client:
        rid = client.get("/v1/backlog").headers["X-Request-ID"]
    line = next(line for line in stream.getvalue().splitlines() if "refinery.requests" in line)
    assert f"[{rid}] GET /v1/backlog 200" in line and not line.startswith("{")


def test_a_background_jobs_lines_carry_its_job_id(json_logs):
    def run(_runtime: Runtime, job_id: int) -> None:
        log.info("working on it")
        raise RuntimeError("boom")

    (kind,) = with_job_context([JobKind("ingest", table=object, run=run)])
    with pytest.raises(RuntimeError):
        kind.run(None, 7)  # type: ignore[arg-type]
    lines = [line for line in json_logs() if line["job_id"] == "ingest:7"]
    assert [line["message"] for line in lines][:2] == ["ingest job 7 started", "working on it"]
    assert lines[-1]["message"].startswith("ingest job 7 ended after") and lines[-1]["kind"] == "ingest"
    assert all(line["request_id"] is None for line in lines)


# --- metrics ------------------------------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_template_model_calls_and_what_the_database_holds(tmp_path):
    llm = fake_llm([story_json(), "not json", "still not", "nope"])
    with TestClient(create_app(local_settings(tmp_path), llm)) as client:
        for path in ("/v1/backlog/111", "/v1/backlog/222", "/nowhere/abc"):
            assert client.get(path).status_code == 404
        assert client.post("/v1/drafts", json={"text": "filter search by price"}).json()["status"] == "pending"
        assert client.post("/v1/drafts", json={"text": "dark mode"}).json()["status"] == "failed"
        response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    requests = "refinery_http_requests_total"
    assert metric(text, requests, method="GET", route="/v1/backlog/{item_id}", status="404") == 2
    assert metric(text, requests, method="GET", route="<unmatched>", status="404") == 1
    assert metric(text, requests, method="POST", route="/v1/drafts", status="201") == 2
    assert "backlog/111" not in text and "nowhere" not in text  # route templates only: the labels stay bounded
    latency = "refinery_http_request_duration_seconds_count"
    assert metric(text, latency, method="GET", route="/v1/backlog/{item_id}") == 2
    calls = "refinery_model_calls_total"
    assert metric(text, calls, provider="fake", model="fake", outcome="ok") == 1
    assert metric(text, calls, provider="fake", model="fake", outcome="invalid") == 1  # one call of three attempts
    assert metric(text, "refinery_model_tokens_total", provider="fake", type="prompt") > 0
    assert metric(text, "refinery_model_tokens_total", provider="fake", type="completion") > 0
    assert metric(text, "refinery_model_call_duration_seconds_count", provider="fake") == 2
    assert metric(text, "refinery_suggestions", kind="story_draft", status="pending") == 1
    assert metric(text, "refinery_suggestions", kind="story_draft", status="failed") == 1
    assert metric(text, "refinery_jobs", kind="ingest", status="done") == 0
    assert metric(text, "refinery_job_queue_depth") == 0
    assert metric(text, "refinery_database_up") == 1


def test_queue_depth_counts_queued_jobs_and_each_app_has_its_own_registry(tmp_path):
    settings = local_settings(tmp_path)
    client = TestClient(create_app(settings, fake_llm()))  # no lifespan: the job runner never starts
    assert client.post("/v1/ingest", files={"file": ("t.csv", tickets_csv())}).status_code == 202
    text = client.get("/metrics").text
    assert metric(text, "refinery_jobs", kind="ingest", status="queued") == 1
    assert metric(text, "refinery_job_queue_depth") == 1
    assert metric(text, "refinery_http_requests_total", route="/v1/ingest", status="202") == 1
    other = TestClient(create_app(settings, fake_llm())).get("/metrics").text
    assert metric(other, "refinery_http_requests_total", route="/v1/ingest") is None
    assert metric(other, "refinery_job_queue_depth") == 1  # the same database


# --- backup and restore -------------------------------------------------------------------------------------------


def make_data(client: TestClient, llm: Any) -> None:
    """Backlog items, an accepted and a rejected draft, an ingest job (an uploaded file, tickets, themes) and a
    strategy, through the API."""
    assert client.post("/v1/backlog/items", json=ITEMS).status_code == 201
    llm.chat.replies.extend([story_json(title="Guided first-run checklist"), story_json(title="Bulk PDF download")])
    first = client.post("/v1/drafts", json={"text": "make onboarding better"}).json()
    second = client.post("/v1/drafts", json={"text": "download invoices as PDF"}).json()
    accepted = client.post(f"/v1/suggestions/{first['id']}/accept", json={"edits": {"title": "First-run checklist"}})
    assert accepted.status_code == 201
    assert client.post(f"/v1/suggestions/{second['id']}/reject", json={"reason": "not now"}).status_code == 200
    assert client.put("/v1/strategy", json={"text": "1. Reduce churn"}).status_code in (200, 201)
    llm.chat.replies.append(theme_reply())
    job = client.post("/v1/ingest", files={"file": ("tickets.csv", tickets_csv())}, data={"product": "photo app"})
    assert wait_for(client, job.json()["job_id"])["status"] == "done"


def test_backup_and_restore_into_a_fresh_sqlite_data_dir_keep_every_row_and_file(
    client, llm, settings, tmp_path, monkeypatch, json_logs
):
    make_data(client, llm)
    assert any(line["job_id"] == "ingest:1" for line in json_logs())  # the job's lines carry its id
    archive = tmp_path / "backup.tar.gz"
    use_env(monkeypatch, settings)
    made = runner.invoke(cli, ["backup", "-o", str(archive)])
    assert made.exit_code == 0, made.output
    assert "Backed up" in made.output and archive.is_file()
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert manifest["format"] == 1 and manifest["database"] == ("postgresql" if settings.database_url else "sqlite")
    assert manifest["tables"]["backlog_items"] == 4 and manifest["files"] == {"uploads": 1}
    assert manifest["tables"]["tickets"] == 10 and manifest["created_at"]

    restored = local_settings(tmp_path / "restored", REFINERY_DUPLICATE_CHECK=True)
    use_env(monkeypatch, restored)
    done = runner.invoke(cli, ["restore", str(archive)])
    assert done.exit_code == 0, done.output
    assert "Restored" in done.output and "Rebuilt the duplicate index" in done.output

    before, after = tables(settings.db_url), tables(restored.db_url)
    (upload,) = (restored.data_dir / "uploads").iterdir()
    assert upload.read_bytes() == tickets_csv()
    (job,) = after["ingest_jobs"]
    assert job["file_path"] == str(restored.data_dir / "uploads" / upload.name)  # pointed at this data dir
    job["file_path"] = before["ingest_jobs"][0]["file_path"]
    for name, rows in before.items():
        assert after[name] == rows, name
    source_index = client.app.state.runtime.detector().store.count()
    with TestClient(create_app(restored, fake_llm())) as again:
        assert again.app.state.runtime.detector().store.count() == source_index  # rebuilt by restore, all of it
        found = again.post("/v1/duplicates/search", json={"text": "the password reset mail is not delivered", "k": 1})
        assert found.json()[0]["title"] == "Password reset email never arrives"
        new = again.post("/v1/backlog/items", json={"title": "A new item after the restore"}).json()["created"][0]
        assert new["id"] > max(row["id"] for row in before["backlog_items"])


def test_a_sqlite_backup_restores_into_postgresql(tmp_path, postgres_url):
    source = local_settings(tmp_path / "source")
    llm = fake_llm()
    with TestClient(create_app(source, llm)) as client:
        assert client.post("/v1/backlog/items", json=ITEMS).status_code == 201
        llm.chat.replies.append(story_json())
        draft = client.post("/v1/drafts", json={"text": "filter by price"}).json()
        assert client.post(f"/v1/suggestions/{draft['id']}/accept").status_code == 201
    archive = tmp_path / "backup.tar.gz"
    ops_backup.backup(source, archive)
    target = local_settings(tmp_path / "target", DATABASE_URL=new_postgres_database(postgres_url, "ops_restore"))
    manifest = ops_backup.restore(target, archive)
    assert manifest.database == "sqlite" and manifest.tables["backlog_items"] == 4
    assert tables(target.db_url) == tables(source.db_url)
    with TestClient(create_app(target, fake_llm())) as client:  # the id sequences were moved past the restored ids
        created = client.post("/v1/backlog/items", json={"title": "After the restore"})
        assert created.status_code == 201 and created.json()["created"][0]["id"] == 5


@pytest.fixture
def small_backup(tmp_path) -> Path:
    source = local_settings(tmp_path / "source")
    with TestClient(create_app(source, fake_llm())) as client:
        assert client.post("/v1/backlog/items", json=ITEMS[:2]).status_code == 201
    archive = tmp_path / "small.tar.gz"
    ops_backup.backup(source, archive)
    return archive


def rewritten(archive: Path, out: Path, manifest: dict | None = None, add: dict[str, bytes] | None = None) -> Path:
    """A copy of `archive` with manifest fields changed and members added."""
    with tarfile.open(archive) as tar, tarfile.open(out, "w:gz") as copy:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()
            if member.name == "manifest.json" and manifest:
                data = json.dumps(json.loads(data) | manifest).encode()
            member.size = len(data)
            copy.addfile(member, io.BytesIO(data))
        for name, data in (add or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            copy.addfile(info, io.BytesIO(data))
    return out


def test_a_missing_damaged_or_newer_archive_is_a_clear_cli_error_and_changes_nothing(
    small_backup, tmp_path, monkeypatch
):
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(small_backup.read_bytes()[: small_backup.stat().st_size // 2])
    not_tar = tmp_path / "notes.tar.gz"
    not_tar.write_text("just some notes")
    with tarfile.open(small_backup) as tar:
        renamed = tar.extractfile("db/backlog_items.jsonl").read().replace(b'"title"', b'"name"')
    cases = {
        tmp_path / "absent.tar.gz": "no such file",
        damaged: "not a readable Refinery backup",
        not_tar: "not a readable Refinery backup",
        rewritten(small_backup, tmp_path / "format.tar.gz", {"format": 2}): "format 2",
        rewritten(small_backup, tmp_path / "version.tar.gz", {"refinery_version": "9.0.0"}): "Refinery 9.0.0, newer",
        rewritten(small_backup, tmp_path / "schema.tar.gz", {"alembic_revision": "9999"}): "revision 9999 is unknown",
        rewritten(small_backup, tmp_path / "count.tar.gz", {"tables": {"backlog_items": 3}}): "the archive is damaged",
        rewritten(small_backup, tmp_path / "table.tar.gz", {"tables": {"robots": 0}}, {"db/robots.jsonl": b""}): (
            "table 'robots'"
        ),
        rewritten(small_backup, tmp_path / "escape.tar.gz", add={"../evil.txt": b"x"}): "which no Refinery backup has",
        rewritten(small_backup, tmp_path / "column.tar.gz", add={"db/backlog_items.jsonl": renamed}): "columns",
    }
    target = local_settings(tmp_path / "target")
    use_env(monkeypatch, target)
    for archive, message in cases.items():
        result = runner.invoke(cli, ["restore", str(archive)])
        assert result.exit_code == 2, (archive.name, result.output)
        assert message in " ".join(result.output.split()), (archive.name, result.output)
        assert not target.data_dir.exists(), archive.name  # no database made, no file written
    assert not (tmp_path / "evil.txt").exists()


def test_restoring_over_a_database_with_rows_needs_force(small_backup, tmp_path, monkeypatch):
    target = local_settings(tmp_path / "target")
    with TestClient(create_app(target, fake_llm())) as client:
        client.post("/v1/backlog/items", json={"title": "Written before the restore"})
    fit = target.points_models_dir / "project-1" / "000200"  # a points model fitted on the rows replaced below
    fit.mkdir(parents=True)
    (fit / "points-model.pt").write_bytes(b"weights")
    use_env(monkeypatch, target)
    refused = runner.invoke(cli, ["restore", str(small_backup)])
    assert refused.exit_code == 2 and "1 in backlog_items" in refused.output
    assert [row["title"] for row in tables(target.db_url)["backlog_items"]] == ["Written before the restore"]
    assert fit.exists()  # a refused restore changes nothing
    forced = runner.invoke(cli, ["restore", str(small_backup), "--force"])
    assert forced.exit_code == 0, forced.output
    assert tables(target.db_url) == tables(local_settings(tmp_path / "source").db_url)
    assert not target.points_models_dir.exists()  # fitted on other rows: refitted on the restored ones when needed
