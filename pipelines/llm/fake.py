"""A chat model with scripted replies, for unit tests of the plumbing (simonw/llm's mock model, in langchain)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from pipelines.llm.core import LLM
from pipelines.llm.gate import ModelGate


class FakeChatModel(BaseChatModel):
    """Each call pops the next reply (a string, or an exception to raise); streamed, a reply arrives word by word."""

    replies: list[Any] = []
    calls: list[list[BaseMessage]] = []
    bound_kwargs: list[dict[str, Any]] = []
    delay_s: float = 0.0  # per word, to watch a reply arrive (streamed) or keep the model busy
    model_config = ConfigDict(arbitrary_types_allowed=True)

    @property
    def _llm_type(self) -> str:
        return "refinery-fake"

    def _next(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> tuple[str, dict[str, int]]:
        self.calls.append(list(messages))
        self.bound_kwargs.append(kwargs)
        if not self.replies:
            raise RuntimeError("fake LLM has no scripted reply left")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        words_in = sum(len(str(m.content).split()) for m in messages)
        words_out = len(reply.split())
        return reply, {"input_tokens": words_in, "output_tokens": words_out, "total_tokens": words_in + words_out}

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        reply, usage = self._next(messages, kwargs)
        time.sleep(self.delay_s * len(reply.split(" ")))  # as long as the same reply streamed
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply, usage_metadata=usage))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        reply, usage = self._next(messages, kwargs)
        pieces = reply.split(" ")
        for number, piece in enumerate(pieces):
            time.sleep(self.delay_s)
            last = number == len(pieces) - 1
            text = piece if last else piece + " "
            yield ChatGenerationChunk(message=AIMessageChunk(text, usage_metadata=usage if last else None))


def fake_llm(replies: Iterable[Any] = (), max_attempts: int = 3, delay_s: float = 0.0, slots: int | None = None) -> LLM:
    """An LLM whose replies are scripted, for unit tests; with `slots`, calls wait in line as for a real model."""
    chat = FakeChatModel(replies=list(replies), calls=[], bound_kwargs=[], delay_s=delay_s)
    return LLM(
        chat,
        provider="fake",
        model="fake",
        bind_schema=lambda schema: {},
        max_attempts=max_attempts,
        gate=ModelGate(slots) if slots else None,
    )
