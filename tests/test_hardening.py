"""The HTTP layer under hostile or careless input (issue 15): what an outside fuzzer found, each pinned by a test."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from pipelines.llm import fake_llm
from service.api import create_app
from service.backlog import routes as backlog_routes
from service.core.settings import Settings
from tests.conftest import story_json

BIG = 2**63  # one past the largest integer SQLite stores
MAX_ID = 2**31 - 1  # the largest id PostgreSQL's INTEGER columns store


def documented(client, method: str, path: str, response) -> None:
    """Assert the response's status is declared for the operation and its body matches the declared schema."""
    spec = client.get("/openapi.json").json()
    declared = spec["paths"][path][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in declared, f"{method} {path} answered {status}, declared {sorted(declared)}: {response.text}"
    schema = declared[status]["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), {**schema, "components": spec["components"]})


# 1 ----------------------------------------------------------------------------------------------------------------
def test_duplicate_search_without_any_indexable_word_answers(client):
    created = client.post("/v1/backlog/items", json={"title": "0"})
    assert created.status_code == 201, created.text
    item_id = created.json()["created"][0]["id"]
    for text in ("0", "a b c", "password reset mail never arrives"):
        found = client.post("/v1/duplicates/search", json={"text": text})
        assert found.status_code == 200, found.text
        assert all(candidate["score"] >= 0 for candidate in found.json())
    similar = client.get(f"/v1/backlog/{item_id}/duplicates")
    assert similar.status_code == 200 and similar.json() == []


# 2 ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", f"/v1/backlog/{BIG}", None),
        ("GET", f"/v1/suggestions/{BIG}/history", None),
        ("GET", f"/v1/suggestions?offset={BIG}", None),
        ("GET", f"/v1/backlog?offset={BIG}", None),
        ("POST", f"/v1/backlog/{BIG}/quality", None),
        ("GET", f"/v1/ingest/jobs/{BIG}", None),
        ("GET", f"/v1/conversations/{BIG * 4}", None),
        ("POST", "/v1/refine", {"item_ids": [BIG]}),
        ("POST", "/v1/prioritize", {"framework": "rice", "item_ids": [1, BIG]}),
    ],
)
def test_ids_and_offsets_past_64_bits_are_422(client, method, url, body):
    response = client.request(method, url, json=body)
    assert response.status_code == 422, response.text
    assert "less than or equal to" in response.text


def test_largest_id_that_does_not_exist_is_404_and_one_more_is_422(client):
    assert client.get(f"/v1/backlog/{MAX_ID}").status_code == 404
    assert client.post(f"/v1/suggestions/{MAX_ID}/reject", json={"reason": "no"}).status_code == 404
    assert client.get(f"/v1/backlog/{MAX_ID + 1}").status_code == 422
    assert client.post("/v1/refine", json={"item_ids": [MAX_ID + 1]}).status_code == 422
    assert client.get(f"/v1/suggestions?offset={BIG - 1}").json() == []
    assert client.get(f"/v1/backlog?offset={BIG - 1}").json() == []


# 3 ----------------------------------------------------------------------------------------------------------------
LONE_SURROGATE = b'{"text": "hello \\ud800 world"}'


@pytest.mark.parametrize("url", ["/v1/drafts", "/v1/duplicates/search", "/v1/strategy"])
def test_lone_surrogate_in_a_body_is_422_saying_text_must_be_unicode(client, llm, url):
    llm.chat.replies.append(story_json())
    method = "PUT" if url == "/v1/strategy" else "POST"
    response = client.request(method, url, content=LONE_SURROGATE, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"] and "valid Unicode" in error["msg"]
    assert client.get("/v1/suggestions").json() == [] and llm.chat.replies  # nothing stored, no model call


def upload(client, url: str, name: str, data: bytes):
    files = {"file": (name, data, "application/json")}
    if url == "/v1/backlog/import":
        return client.post(url, params={"format": "github_json"}, files=files)
    return client.post(url, files=files, data={"format": "json"} if url == "/v1/conversations" else {})


UPLOADS = ["/v1/ingest", "/v1/backlog/import", "/v1/conversations"]


def surrogate_file(url: str) -> bytes:
    record = {
        "/v1/ingest": '{"subject": "Login", "body": "crash \\udc00 on login"}',
        "/v1/backlog/import": '{"number": 1, "title": "Crash \\ud800", "body": "x"}',
        "/v1/conversations": '{"speaker": "Ana", "content": "we ship \\ud83d friday"}',
    }[url]
    return f"[{record}]".encode()


@pytest.mark.parametrize("url", UPLOADS)
def test_lone_surrogate_in_an_uploaded_file_is_422_saying_text_must_be_unicode(client, url):
    response = upload(client, url, "export.json", surrogate_file(url))
    assert response.status_code == 422, response.text
    assert "valid Unicode" in response.text and "line 1" in response.text


# 4 ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", UPLOADS)
def test_json_file_nested_5000_deep_is_a_clear_422(client, url):
    response = upload(client, url, "export.json", b"[" * 5000 + b"]" * 5000)
    assert response.status_code == 422, response.text
    assert "nested more than 100 levels" in response.text


def test_json_body_nested_5000_deep_is_a_clear_422(client):
    body = b'{"text": "x", "k": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = client.post("/v1/duplicates/search", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert "nested more than 100 levels" in response.json()["detail"][0]["msg"]


# 5 ----------------------------------------------------------------------------------------------------------------
def test_error_answers_are_declared_with_their_schema(client, llm):
    cases: list[tuple[str, str, Any, dict[str, Any]]] = [
        ("GET", "/v1/backlog/{item_id}", "/v1/backlog/999", {}),
        ("POST", "/v1/suggestions/{suggestion_id}/accept", "/v1/suggestions/999/accept", {"json": {}}),
        ("GET", "/v1/strategy", "/v1/strategy", {}),
        ("POST", "/v1/refine", "/v1/refine", {"json": {}}),  # an empty backlog: a string detail
        ("POST", "/v1/drafts", "/v1/drafts", {"json": {"text": ""}}),  # a validation error list
        ("POST", "/v1/backlog/import", "/v1/backlog/import?format=github_json", {"files": {"file": ("x.json", b"{")}}),
        ("GET", "/v1/ingest/jobs/{job_id}", "/v1/ingest/jobs/5", {}),
        ("GET", "/v1/prioritize/jobs/{job_id}", "/v1/prioritize/jobs/5", {}),
        ("POST", "/v1/sprints/plan", "/v1/sprints/plan", {"json": {"capacity_points": 5}}),
    ]
    for method, path, url, kwargs in cases:
        documented(client, method, path, client.request(method, url, **kwargs))
    llm.chat.replies.append(story_json())
    draft = client.post("/v1/drafts", json={"text": "filter search by price"}).json()
    assert client.post(f"/v1/suggestions/{draft['id']}/accept", json={}).status_code == 201
    again = client.post(f"/v1/suggestions/{draft['id']}/accept", json={})
    assert again.status_code == 409
    documented(client, "POST", "/v1/suggestions/{suggestion_id}/accept", again)


def test_every_operation_declares_its_error_statuses(client):
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            declared = set(operation["responses"])
            if "{" in path:
                assert "404" in declared, f"{method} {path}"
            if "requestBody" in operation:
                assert {"413", "422"} <= declared, f"{method} {path}"


# 6 ----------------------------------------------------------------------------------------------------------------
def call_asgi(app, method: str, path: str, headers: dict[str, str], chunks: Iterator[bytes]) -> tuple[int, dict, int]:
    """Send a request straight to the ASGI app, the body from `chunks`; returns (status, body, chunks read)."""
    read = 0
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal read
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"format=github_json" if path == "/v1/backlog/import" else b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()] + [(b"host", b"testserver")],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    return answer["status"], json.loads(answer["body"]), read


def megabytes(count: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """`count` MiB of body, made as it is read."""
    return (b"x" * chunk for _ in range(count))


def test_a_json_body_declared_too_large_is_413_before_a_byte_is_read(client):
    headers = {"content-type": "application/json", "content-length": str(200 << 20)}
    status, body, read = call_asgi(client.app, "POST", "/v1/drafts", headers, megabytes(200))
    assert status == 413 and read == 0
    assert "MB" in body["detail"] and "REFINERY_MAX_JSON_MB" in body["detail"]


def test_a_streamed_json_body_is_cut_off_at_the_limit(client):
    chunks = megabytes(200 * 16, chunk=64 << 10)  # 200 MiB in 64 KiB chunks, no content-length
    status, body, read = call_asgi(client.app, "POST", "/v1/drafts", {"content-type": "application/json"}, chunks)
    assert status == 413 and read < 100, read


@pytest.mark.parametrize("url", UPLOADS)
def test_an_oversize_upload_is_refused_without_reading_it_all(client, url):
    head = b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
    chunks = iter([head, *megabytes(300)])
    status, body, read = call_asgi(client.app, "POST", url, {"content-type": "multipart/form-data; boundary=B"}, chunks)
    assert status == 413 and read < 70, read
    assert "REFINERY_MAX_UPLOAD_MB" in body["detail"]


def test_a_422_does_not_echo_a_huge_input(client):
    response = client.post("/v1/duplicates/search", json={"text": "word " * 300_000})
    assert response.status_code == 422
    assert len(response.content) < 2_000, len(response.content)
    assert response.json()["detail"][0]["type"] == "string_too_long"


# 7 ----------------------------------------------------------------------------------------------------------------
def test_healthz_answers_while_an_import_is_being_parsed(client, monkeypatch):
    parsing, release = threading.Event(), threading.Event()
    parse = backlog_routes.parse_import

    def slow_parse(data: bytes, format: str):
        parsing.set()
        release.wait(300)
        return parse(data, format)

    monkeypatch.setattr(backlog_routes, "parse_import", slow_parse)
    files = {"file": ("issues.json", json.dumps([{"number": 1, "title": "Crash on login"}]).encode())}
    imported: dict[str, Any] = {}
    importer = threading.Thread(
        target=lambda: imported.update(r=client.post("/v1/backlog/import?format=github_json", files=files))
    )
    importer.start()
    try:
        assert parsing.wait(60)
        health: dict[str, Any] = {}
        checker = threading.Thread(target=lambda: health.update(r=client.get("/healthz")))
        checker.start()
        checker.join(120)  # however slow the machine: the import stays held until healthz has answered
        assert "r" in health and health["r"].status_code == 200, "healthz waited for the import"
        assert importer.is_alive() and "r" not in imported  # answered while the import was still being parsed
    finally:
        release.set()
        importer.join(30)
    assert imported["r"].status_code == 201


# 8 ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/", "/static/desk.js", "/healthz", "/v1/nothing", "/docs", "/openapi.json"])
def test_every_response_carries_the_security_headers(client, url):
    headers = client.get(url).headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"].split("script-src")[-1].split(";")[0]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


# 9 ----------------------------------------------------------------------------------------------------------------
def test_docs_load_swagger_ui_from_this_server(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from another host
    assert "<script>" not in page.text  # no inline script: the CSP forbids it
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-init.js"):
        assert f"/docs/assets/{asset}" in page.text
        response = client.get(f"/docs/assets/{asset}")
        assert response.status_code == 200 and len(response.content) > 100, asset
    assert "/openapi.json" in client.get("/docs/assets/swagger-init.js").text


# 10 ---------------------------------------------------------------------------------------------------------------
def test_model_routes_are_rate_limited_per_client(client):
    answers = [client.post("/v1/backlog/999/quality") for _ in range(31)]
    assert {a.status_code for a in answers[:30]} == {404}
    limited = answers[30]
    assert limited.status_code == 429, limited.text
    assert 0 < int(limited.headers["retry-after"]) <= 60
    assert "REFINERY_MODEL_RATE_PER_MINUTE" in limited.json()["detail"]
    documented(client, "POST", "/v1/backlog/{item_id}/quality", limited)
    assert client.get("/v1/backlog/999").status_code == 404  # other routes are not limited


def test_an_upload_of_more_rows_than_the_limit_is_413_and_stores_nothing(tmp_path):
    settings = Settings(
        REFINERY_DATA_DIR=tmp_path, REFINERY_LLM_PROVIDER="fake", OPENAI_API_KEY=None, REFINERY_MAX_ROWS=3
    )
    rows = "\n".join(f"ticket {n},the export button fails on page {n}" for n in range(4))
    with TestClient(create_app(settings, fake_llm())) as client:
        ingest = client.post("/v1/ingest", files={"file": ("t.csv", f"subject,body\n{rows}\n".encode(), "text/csv")})
        assert ingest.status_code == 413 and "REFINERY_MAX_ROWS" in ingest.json()["detail"]
        items = client.post("/v1/backlog/items", json=[{"title": f"item {n}"} for n in range(4)])
        assert items.status_code == 413 and "at most 3" in items.json()["detail"]
        assert client.get("/v1/jobs").json() == [] and client.get("/v1/backlog").json() == []


@pytest.mark.parametrize(
    ("name", "data"),
    [("tickets.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8), ("tickets.json", b"PK\x03\x04" + bytes(range(256))),
     ("tickets.json", b"subject,body\nx,y\n")],
)  # fmt: skip
def test_uploads_that_lie_about_their_type_are_a_clear_422_and_store_nothing(client, name, data):
    for url in ("/v1/ingest", "/v1/backlog/import?format=jira_csv", "/v1/conversations"):
        reply = client.post(url, files={"file": (name, data, "text/csv")})
        assert reply.status_code == 422, (url, reply.text)
        assert any(word in reply.json()["detail"] for word in ("UTF-8", "binary", "JSON", "Summary", "not"))
    assert client.get("/v1/jobs").json() == [] and client.get("/v1/backlog").json() == []
