"""Streamed drafts: fields as the model writes them, then exactly what the non-streamed path stores; a re-ask voids
the fields heard; a draft asked for while the model is busy hears its place in line; other routes never wait."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from pipelines.llm import CallEvent, fake_llm
from pipelines.llm.fields import FieldStream
from pipelines.llm.gate import ModelGate
from service.api import create_app
from service.core.settings import Settings
from tests.conftest import story, story_json
from tests.live_server import live_server, read_events

IDEA = {"text": "customers want a price filter", "context": "furniture shop"}


@pytest.fixture
def fake_settings(tmp_path) -> Settings:
    return Settings(
        REFINERY_DATA_DIR=tmp_path, REFINERY_LLM_PROVIDER="fake", OPENAI_API_KEY=None, REFINERY_DUPLICATE_CHECK=False
    )


def stream(url: str, body: dict, **headers: str) -> list[tuple[str, dict]]:
    with httpx.stream("POST", f"{url}/v1/drafts", json=body, headers=headers, timeout=30) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        return list(read_events(response.iter_lines()))


def test_each_field_is_reported_once_as_soon_as_the_next_one_starts():
    text = story_json()
    fields = FieldStream()
    heard = []
    for end in range(1, len(text) + 1):  # one character at a time
        heard += [(name, len(fields.text)) for name, _ in fields.feed(text[end - 1])]
    heard += [(name, len(fields.text)) for name, _ in fields.close()]
    names = [name for name, _ in heard]
    assert names == [
        "title", "persona", "goal", "benefit", "acceptance_criteria.0", "acceptance_criteria.1",
        "item_type", "labels", "assumptions", "open_questions",
    ]  # fmt: skip
    # the title is known before the criteria have been written
    assert dict(heard)["title"] < text.index("acceptance_criteria")


def test_a_streamed_draft_sends_fields_then_stores_exactly_what_the_plain_path_stores(fake_settings):
    llm = fake_llm([story_json(), story_json()])
    with live_server(create_app(fake_settings, llm)) as url:
        events = stream(url, IDEA, accept="text/event-stream")
        plain = httpx.post(f"{url}/v1/drafts", json=IDEA).json()
    names = [name for name, _ in events]
    assert names[0] == "started" and names[-2:] == ["checking", "done"] and names.count("done") == 1
    fields = {data["field"]: data["value"] for name, data in events if name == "field"}
    assert fields["title"] == story()["title"] and fields["acceptance_criteria.1"] == story()["acceptance_criteria"][1]
    done = events[-1][1]
    assert done["status"] == "pending" and done["input"] == IDEA
    keep = ("kind", "status", "payload", "input", "model", "provider", "prompt_version", "warnings")
    assert {k: done[k] for k in keep} == {k: plain[k] for k in keep}
    assert done["usage"]["output_tokens"] == plain["usage"]["output_tokens"]


def test_the_stream_flag_in_the_body_streams_too_and_bad_input_is_a_plain_422(fake_settings):
    with live_server(create_app(fake_settings, fake_llm([story_json()]))) as url:
        assert stream(url, IDEA | {"stream": True})[-1][0] == "done"
        refused = httpx.post(f"{url}/v1/drafts", json={"text": "  "}, headers={"accept": "text/event-stream"})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/json"


def test_an_invalid_reply_is_re_asked_and_the_stream_says_the_fields_heard_are_void(fake_settings):
    bad = story_json(acceptance_criteria=[{"given": "a", "when": "b", "then": "c"}])
    with live_server(create_app(fake_settings, fake_llm([bad, story_json()]))) as url:
        events = stream(url, IDEA, accept="text/event-stream")
    names = [name for name, _ in events]
    retry = names.index("retry")
    assert "acceptance_criteria" in events[retry][1]["reason"] and events[retry][1]["attempt"] == 2
    assert names[:retry].count("field") >= 5 and names[retry + 1 :].count("field") == 10
    assert events[-1][1]["status"] == "pending" and events[-1][1]["usage"]["attempts"] == 2


def test_a_reply_that_stays_invalid_ends_the_stream_with_the_failed_suggestion(fake_settings):
    with live_server(create_app(fake_settings, fake_llm(["{}", "{}", "{}"]))) as url:
        done = stream(url, IDEA, accept="text/event-stream")[-1]
    assert done[0] == "done" and done[1]["status"] == "failed" and "invalid output" in done[1]["reason"]
    assert done[1]["input"] == IDEA


def test_a_draft_asked_for_while_the_model_is_busy_hears_its_place_and_other_routes_answer(fake_settings):
    llm = fake_llm([story_json()] * 3, delay_s=0.05, slots=1)  # ~2.5 s a draft, one at a time
    with live_server(create_app(fake_settings, llm)) as url:
        first = threading.Thread(target=lambda: httpx.post(f"{url}/v1/drafts", json=IDEA, timeout=30))
        first.start()
        while llm.gate.running == 0:
            time.sleep(0.01)
        second: list = []
        waiting = threading.Thread(target=lambda: second.extend(stream(url, IDEA, accept="text/event-stream")))
        waiting.start()
        while llm.gate.waiting == 0:
            time.sleep(0.01)
        health = httpx.get(f"{url}/healthz", timeout=60).json()
        listed = httpx.get(f"{url}/v1/suggestions", params={"status": "pending"}, timeout=60).json()
        first.join()
        waiting.join()
    # other routes do not wait for the model: they answered while the first draft ran and the second waited
    assert health["llm"]["running"] == 1 and health["llm"]["waiting"] == 1 and health["llm"]["slots"] == 1
    assert len(listed) < 2  # listed before both drafts were stored
    assert second[0] == ("queued", {"position": 1, "running": 1}) and second[1][0] == "started"
    assert [name for name, _ in second][-2:] == ["checking", "done"]


def test_the_gate_serves_calls_first_come_first_served_and_tells_each_its_place():
    gate = ModelGate(1)
    order: list[int] = []
    places: dict[int, list[int]] = {0: [], 1: [], 2: [], 3: []}
    release = threading.Event()

    def call(number: int) -> None:
        with gate.slot(places[number].append):
            order.append(number)
            if number == 0:
                release.wait(120)

    threads = [threading.Thread(target=call, args=(0,))]
    threads[0].start()
    while gate.running == 0:
        time.sleep(0.01)
    for number in (1, 2, 3):
        threads.append(threading.Thread(target=call, args=(number,)))
        threads[-1].start()
        while gate.waiting < number:
            time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(120)
    assert order == [0, 1, 2, 3]
    assert places[0] == []  # it never waited
    for number in (1, 2, 3):  # each heard its place on arrival, then only better places as the line moved
        assert places[number][0] == number and places[number] == sorted(set(places[number]), reverse=True)


def test_a_listener_hears_the_stored_fields_in_order(tmp_path):
    from pipelines.drafting import draft_story

    heard: list[tuple[CallEvent, dict]] = []
    result = draft_story(fake_llm([story_json()]), "x", listener=lambda event, data: heard.append((event, data)))
    assert result.ok
    streamed = {d["field"]: d["value"] for e, d in heard if e == CallEvent.field}
    assert streamed["open_questions"] == result.value.open_questions
    assert json.loads(story_json())["title"] == streamed["title"]


def test_a_stopped_app_lets_its_model_call_threads_end_and_a_restart_gets_new_ones(fake_settings):
    """A draft's work still runs to its end (the threads are not killed); idle threads go, so an app started and
    stopped many times (tests, a reloading server) does not pile them up."""
    llm = fake_llm([story_json()])
    app = create_app(fake_settings, llm)
    with live_server(app) as url:
        pool = app.state.runtime.model_calls
        assert [e for e, _ in stream(url, IDEA | {"stream": True})][-1] == "done"
        threads = list(pool._threads)
    assert threads and app.state.runtime.model_calls is not pool
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    llm.chat.replies.append(story_json())
    with live_server(app) as url:  # started again: model calls run on the new pool
        assert [e for e, _ in stream(url, IDEA | {"stream": True})][-1] == "done"
