"""The openai provider through langchain's ChatOpenAI against a scripted OpenAI-compatible HTTP server."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI, Request

from pipelines.drafting import draft_story
from pipelines.llm import LLMConfig, build_llm
from tests.conftest import story_json


def scripted_server(replies: list[str], seen: list[dict]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> dict:
        seen.append(await request.json())
        content = replies.pop(0)
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": seen[-1]["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 321, "completion_tokens": 123, "total_tokens": 444},
        }

    return app


@pytest.fixture
def server():
    replies: list[str] = []
    seen: list[dict] = []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    instance = uvicorn.Server(uvicorn.Config(scripted_server(replies, seen), port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    while not instance.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1", replies, seen
    instance.should_exit = True
    thread.join(5)


@pytest.mark.parametrize("mode", ["json_schema", "json_object"])
def test_openai_compatible_server_gets_the_schema_and_usage_is_recorded(server, mode):
    base_url, replies, seen = server
    replies += ['{"title": "x"}', story_json()]  # first reply invalid: re-asked once
    config = LLMConfig(provider="openai", base_url=base_url, api_key="k", model="qwen2.5-7b", openai_schema_mode=mode)
    result = draft_story(build_llm(config), "customers want a price filter")
    assert result.ok, result.error
    assert (result.record.provider, result.record.model, result.record.attempts) == ("openai", "qwen2.5-7b", 2)
    assert (result.record.input_tokens, result.record.output_tokens) == (642, 246)
    request = seen[0]
    assert request["model"] == "qwen2.5-7b" and request["temperature"] == 0
    response_format = request["response_format"]
    assert response_format["type"] == mode
    schema = response_format["json_schema"]["schema"] if mode == "json_schema" else response_format["schema"]
    assert "acceptance_criteria" in schema["properties"]
    assert "customers want a price filter" in request["messages"][-1]["content"]
    assert "did not match the required JSON schema" in seen[1]["messages"][-1]["content"]
    assert json.loads(seen[1]["messages"][-2]["content"]) == {"title": "x"}


def test_unreachable_server_is_a_failed_result_with_the_reason():
    config = LLMConfig(provider="openai", base_url="http://127.0.0.1:9/v1", api_key="k", timeout_s=2)
    llm = build_llm(config)
    llm.chat.max_retries = 0
    result = draft_story(llm, "customers want a price filter")
    assert not result.ok and "ConnectionError: Connection error" in result.error


def test_a_regenerated_draft_is_sampled_at_the_given_temperature(server):
    base_url, replies, seen = server
    replies += [story_json()]
    config = LLMConfig(provider="openai", base_url=base_url, api_key="k", model="qwen2.5-7b")
    assert draft_story(build_llm(config), "customers want a price filter", temperature=0.7).ok
    assert seen[0]["temperature"] == 0.7
