"""The openai provider over one or several OpenAI-compatible servers (pipelines.llm.pool): bounded concurrency per
server, resends after transport faults, circuit breakers. Against tests/scripted_openai_server.py over real HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import ValidationError

from pipelines.drafting import draft_story
from pipelines.llm import LLM, CallEvent, LLMConfig, LLMSettings, build_llm
from pipelines.llm.pool import BreakerState, CircuitBreaker, RetryPolicy, parse_base_urls, retry_after_s
from tests.conftest import story_json
from tests.scripted_openai_server import ScriptedServer, free_port

IDEA = "customers want to filter search results by price"
REPLY = story_json()
REPLY_TOKENS = len(REPLY) // 4  # what the scripted server counts as output tokens


@pytest.fixture
def serve():
    """Start scripted servers (stopped after the test)."""
    started: list[ScriptedServer] = []

    def start(**options) -> ScriptedServer:
        server = ScriptedServer(REPLY, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def pool_llm(*urls: str, **overrides) -> LLM:
    options = {
        "provider": "openai",
        "base_url": ",".join(urls),
        "api_key": "k",
        "model": "m",
        "concurrency": 2,
        "timeout_s": 5.0,
        "retries": 2,
        "backoff_s": 0.05,
        "breaker_failures": 2,
        "breaker_cooldown_s": 0.5,
    }
    return build_llm(LLMConfig(**(options | overrides)))


def states(llm: LLM) -> dict[str, str]:
    return {s["url"]: s["state"] for s in llm.pool.status()}


def test_concurrency_per_server_never_exceeds_its_bound_and_calls_spread(serve):
    a, b = serve(latency_s=0.3, slots=8), serve(latency_s=0.3, slots=8)  # each server could take 8 at once
    llm = pool_llm(a.url, b.url, concurrency=2)
    assert (llm.gate.slots, llm.background_parallelism) == (4, 3)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as workers:
        results = list(workers.map(lambda _: draft_story(llm, IDEA), range(8)))
    elapsed = time.monotonic() - started
    assert all(r.ok for r in results), [r.error for r in results]
    assert (a.stats().max_active, b.stats().max_active) == (2, 2)  # counted at the server
    assert (a.stats().requests, b.stats().requests) == (4, 4)  # the least-loaded server gets the next call
    assert 0.55 < elapsed < 2.0  # two rounds of 0.3 s on 4 slots


def test_429_is_sent_again_after_its_retry_after(serve):
    server = serve()
    llm = pool_llm(server.url)
    server.fault("429", retry_after_s=1)
    heard: list[tuple[CallEvent, dict]] = []
    result = draft_story(llm, IDEA, listener=lambda event, data: heard.append((event, data)))
    assert result.ok, result.error
    first, second = server.stats().arrivals
    assert 1.0 <= second - first < 4  # the server's Retry-After, not the 0.05 s backoff
    assert (result.record.attempts, result.record.retries, result.record.output_tokens) == (1, 1, REPLY_TOKENS)
    assert "HTTP 429 Too Many Requests (Retry-After 1 s); sent again in 1 s" in result.record.errors[0]
    assert [data["reason"] for event, data in heard if event == CallEvent.retry] == result.record.errors
    assert states(llm) == {server.url: "closed"}  # a busy server is not a broken one


def test_a_rate_limited_server_is_left_alone_while_another_answers(serve):
    a, b = serve(), serve()
    llm = pool_llm(a.url, b.url)
    a.fault("429", retry_after_s=5)
    started = time.monotonic()
    assert all(draft_story(llm, IDEA).ok for _ in range(3))
    assert time.monotonic() - started < 4.5  # moved to b at once, not after a's Retry-After of 5 s
    assert (a.stats().requests, b.stats().requests) == (1, 3)  # a is not asked again within its Retry-After


def test_5xx_is_sent_again_and_kept_apart_from_the_schema_reask(serve):
    server = serve(replies=['{"title": "x"}'])  # the first answer is invalid: re-asked once
    llm = pool_llm(server.url, breaker_failures=3)
    server.fault("500", times=2)
    result = draft_story(llm, IDEA)
    assert result.ok, result.error
    record = result.record
    assert (record.attempts, record.retries) == (2, 2)  # two answers asked for; two requests sent again
    assert record.output_tokens == len('{"title": "x"}') // 4 + REPLY_TOKENS  # only answered requests count
    assert [("HTTP 500" in e, "sent again" in e) for e in record.errors] == [(True, True), (True, True), (False, False)]
    assert server.stats().requests == 4 and states(llm) == {server.url: "closed"}


def test_a_dead_server_opens_its_breaker_and_calls_go_to_the_other(serve):
    dead, alive = f"http://127.0.0.1:{free_port()}/v1", serve()
    llm = pool_llm(dead, alive.url, breaker_failures=2)
    results = [draft_story(llm, IDEA) for _ in range(5)]
    assert all(r.ok for r in results), [r.error for r in results]
    assert [r.record.retries for r in results] == [1, 1, 0, 0, 0]  # tried twice, then left out
    assert alive.stats().requests == 5
    dead_status = llm.pool.status()[0]
    assert dead_status["state"] == "open" and "Connection refused" in dead_status["reason"]


def test_healthz_shows_each_servers_breaker_through_the_api(serve, tmp_path):
    from fastapi.testclient import TestClient

    from service.api import create_app
    from service.core.settings import Settings

    dead, alive = f"http://127.0.0.1:{free_port()}/v1", serve()
    llm = pool_llm(dead, alive.url, breaker_cooldown_s=60.0)  # still open when /healthz is read, however slow the CI
    app = create_app(Settings(REFINERY_DATA_DIR=tmp_path, REFINERY_DUPLICATE_CHECK=False), llm)
    with TestClient(app, base_url="http://localhost") as client:
        for _ in range(3):
            assert client.post("/v1/drafts", json={"text": IDEA}).json()["status"] == "pending"
        servers = client.get("/healthz").json()["llm"]["servers"]
    assert [(s["url"], s["state"]) for s in servers] == [(dead, "open"), (alive.url, "closed")]
    assert "Connection refused" in servers[0]["reason"] and servers[1]["sent"] == 3 and servers[1]["slots"] == 2


def test_all_servers_dead_fails_fast_naming_them():
    urls = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    llm = pool_llm(*urls, timeout_s=30, breaker_failures=2, breaker_cooldown_s=30)
    first = draft_story(llm, IDEA)  # a, b, a: three refused connections, a is out
    assert not first.ok and "3 tries failed" in first.error and "Connection refused" in first.error
    draft_story(llm, IDEA)  # b is out too
    started = time.monotonic()
    result = draft_story(llm, IDEA)
    assert time.monotonic() - started < 10  # no waiting for a timeout of 30 s
    assert result.error.startswith("the model is not available: every model server is down: ")
    assert all(f"{url} (2 faults in a row, last: OpenAIConnectionError" in result.error for url in urls)


@pytest.mark.parametrize("streamed", [False, True])
def test_a_server_answering_garbage_is_a_failed_call_with_the_reason(serve, streamed):
    server = serve(latency_s=0.05)
    server.fault("garbage", times=None)
    listener = (lambda event, data: None) if streamed else None
    started = time.monotonic()
    result = draft_story(pool_llm(server.url, retries=1), IDEA, listener=listener)
    assert time.monotonic() - started < 4.5  # not the 5 s timeout: garbage is a failure at once
    assert not result.ok and "2 tries failed" in result.error
    assert "a reply that is not valid JSON (JSONDecodeError" in result.error
    assert server.stats().requests == 2 and server.stats().streamed == (2 if streamed else 0)


def test_a_hang_past_the_timeout_is_sent_again_then_the_server_is_left_out(serve):
    server = serve()
    llm = pool_llm(server.url, timeout_s=0.5, retries=1, breaker_failures=2)
    server.fault("hang", times=1)
    started = time.monotonic()
    result = draft_story(llm, IDEA)
    assert result.ok and result.record.retries == 1 and 0.5 <= time.monotonic() - started < 10
    assert "no reply within 0.5 s" in result.record.errors[0]
    server.fault("hang", times=None)
    failed = draft_story(llm, IDEA)  # hangs twice: fails with the reason, and the breaker opens
    assert not failed.ok and "2 tries failed; last: " in failed.error and "no reply within 0.5 s" in failed.error
    started = time.monotonic()
    again = draft_story(llm, IDEA)
    assert time.monotonic() - started < 0.9 and "every model server is down" in again.error  # not 2 x 0.5 s


def test_the_breaker_lets_one_probe_through_and_closes_when_the_server_is_back(serve):
    server = serve(latency_s=0.3)
    llm = pool_llm(server.url, retries=1, breaker_failures=2, breaker_cooldown_s=0.5)
    server.stop()
    assert "2 tries failed" in draft_story(llm, IDEA).error
    assert states(llm) == {server.url: "open"}
    server.start()  # back, on the same port
    assert "every model server is down" in draft_story(llm, IDEA).error  # still cooling down: not asked
    assert server.stats().requests == 0
    time.sleep(0.55)
    assert states(llm) == {server.url: "half_open"}
    with ThreadPoolExecutor(3) as workers:
        results = list(workers.map(lambda _: draft_story(llm, IDEA), range(3)))
    assert sum(r.ok for r in results) == 1 and server.stats().requests == 1  # one probe; the others fail fast
    assert all("a probe request is checking" in r.error for r in results if not r.ok)
    assert states(llm) == {server.url: "closed"}
    with ThreadPoolExecutor(3) as workers:
        assert all(r.ok for r in workers.map(lambda _: draft_story(llm, IDEA), range(3)))


def test_a_stream_cut_off_midway_is_sent_again_and_the_listener_drops_its_fields(serve):
    server = serve(latency_s=0.2)
    server.fault("close", times=1)
    heard: list[tuple[CallEvent, dict]] = []
    result = draft_story(pool_llm(server.url), IDEA, listener=lambda event, data: heard.append((event, data)))
    assert result.ok and (result.record.attempts, result.record.retries) == (1, 1)
    assert result.record.output_tokens == REPLY_TOKENS
    events = [event for event, _ in heard]
    retry = events.index(CallEvent.retry)
    assert CallEvent.field in events[:retry]  # fields of the cut-off reply were heard, then voided
    assert "RemoteProtocolError" in heard[retry][1]["reason"]
    after = [data["field"] for event, data in heard[retry:] if event == CallEvent.field]
    assert after[0] == "title" and "acceptance_criteria.1" in after


def test_the_server_runs_as_a_process_with_a_cli(tmp_path):
    reply_file = tmp_path / "reply.json"
    reply_file.write_text(REPLY)
    port = free_port()
    command = [sys.executable, "tests/scripted_openai_server.py", "--port", str(port), "--latency-s", "0.05"]
    process = subprocess.Popen([*command, "--slots", "2", "--reply-file", str(reply_file)], stdout=subprocess.PIPE)
    try:
        assert process.stdout.readline().decode().strip() == f"listening on http://127.0.0.1:{port}/v1"
        control = f"http://127.0.0.1:{port}/control"
        httpx.post(f"{control}/fault", json={"kind": "500", "times": 1})
        result = draft_story(pool_llm(f"http://127.0.0.1:{port}/v1"), IDEA)
        assert result.ok and result.record.retries == 1
        stats = httpx.get(f"{control}/stats").json()
        assert (stats["requests"], stats["answered"], stats["faults"]) == (2, 1, {"500": 1})
    finally:
        process.terminate()
        assert process.wait(5) == 0


def test_circuit_breaker_states():
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown_s=10, clock=lambda: now[0])
    breaker.failed("refused", probe=breaker.dispatched())
    assert breaker.state == BreakerState.closed
    breaker.succeeded(probe=breaker.dispatched())  # a success resets the count: faults must be in a row
    breaker.failed("refused", probe=False)
    breaker.failed("refused", probe=False)
    assert breaker.state == BreakerState.open and not breaker.admits()
    breaker.succeeded(probe=False)  # a request sent before it opened proves nothing
    now[0] = 10.0
    assert breaker.state == BreakerState.half_open and breaker.admits()
    assert breaker.dispatched() and not breaker.admits()  # one probe at a time
    breaker.failed("refused", probe=True)
    assert breaker.state == BreakerState.open and breaker.reopens_in() == 10  # the probe failed: another cool-down
    now[0] = 20.0
    breaker.succeeded(probe=breaker.dispatched())
    assert breaker.state == BreakerState.closed and breaker.failures == 0


def test_backoff_doubles_with_jitter_and_retry_after_wins():
    policy = RetryPolicy(backoff_s=1, backoff_max_s=5, retry_after_max_s=60)
    for failures, ceiling in [(1, 1), (2, 2), (3, 4), (4, 5), (9, 5)]:
        waits = [policy.delay(failures, None) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits) and len(set(waits)) > 1
    assert (policy.delay(1, 7.0), policy.delay(1, 600.0)) == (7.0, 60.0)
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 < retry_after_s(httpx.Response(429, headers={"retry-after": when})) <= 30
    assert retry_after_s(httpx.Response(429, headers={"retry-after-ms": "1500"})) == 1.5
    assert retry_after_s(httpx.Response(429)) is None


def test_base_urls_from_the_environment(monkeypatch):
    monkeypatch.delenv("REFINERY_OPENAI_BASE_URLS", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", " http://10.0.0.1:8000/v1/ , http://10.0.0.2:8000/v1")
    config = LLMSettings(_env_file=None, REFINERY_LLM_PROVIDER="openai").llm_config()
    assert config.base_urls == ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"]
    llm = build_llm(config)
    assert [s["url"] for s in llm.pool.status()] == config.base_urls and llm.gate.slots == 8
    monkeypatch.setenv("REFINERY_OPENAI_BASE_URLS", "http://gpu-a:8000/v1,http://gpu-b:8000/v1")
    assert LLMSettings(_env_file=None).openai_base_url == "http://gpu-a:8000/v1,http://gpu-b:8000/v1"
    monkeypatch.delenv("REFINERY_OPENAI_BASE_URLS")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")  # one URL: as before
    llm = build_llm(LLMSettings(_env_file=None, REFINERY_LLM_PROVIDER="openai").llm_config())
    assert str(llm.chat.openai_api_base) == "http://127.0.0.1:8080/v1" and len(llm.pool.servers) == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("127.0.0.1:8000/v1", "'127.0.0.1:8000/v1' is not an http:// or https:// URL with a host"),
        ("http://a:8000/v1,ftp://b/v1", "'ftp://b/v1' is not an http:// or https:// URL"),
        ("http://a:80000/v1", "'http://a:80000/v1' has an invalid port"),
        ("http://a/v1,http://a/v1/", "http://a/v1 is listed twice"),
    ],
)
def test_a_malformed_base_url_is_a_clear_error_at_startup(monkeypatch, value, message):
    monkeypatch.delenv("REFINERY_OPENAI_BASE_URLS", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", value)
    with pytest.raises(ValidationError, match="REFINERY_OPENAI_BASE_URLS / OPENAI_BASE_URL: ") as caught:
        LLMSettings(_env_file=None)
    assert message in str(caught.value)
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        LLMConfig(provider="openai", base_url=value)
    assert parse_base_urls("http://a/v1") == ["http://a/v1"]
