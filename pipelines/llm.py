"""One LLM interface over langchain chat models: ask for JSON matching a pydantic model, validate, re-ask.

Providers: `openai` (OpenAI or any OpenAI-compatible server), `local` (the embedded llama.cpp model) and
`fake` (queued replies, for unit tests of plumbing only). LLM output is untrusted: it is validated against the
schema, re-asked a bounded number of times, and otherwise returned as a failure with the reason.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, convert_to_messages
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

from prompts import PromptTemplate

T = TypeVar("T", bound=BaseModel)
Provider = Literal["local", "openai", "fake"]


def default_threads() -> int:
    """Leave one core free: measured here, llama.cpp collapses when it competes for every core."""
    return max(1, (os.cpu_count() or 2) - 1)


class LLMConfig(BaseModel):
    """Everything needed to build an LLM; the service fills it from its settings."""

    provider: Provider = "local"
    model: str | None = Field(None, description="OpenAI model name, or local model name / GGUF path.")
    api_key: str | None = None
    base_url: str | None = None
    openai_schema_mode: Literal["json_schema", "json_object"] = Field(
        "json_schema",
        description="json_object for servers that reject json_schema (llama.cpp server, some Ollama builds).",
    )
    data_dir: Path = Path("data")
    threads: int = Field(default_factory=default_threads, ge=1)
    context_tokens: int = Field(4096, ge=512)
    max_output_tokens: int = Field(768, ge=64)
    max_attempts: int = Field(3, ge=1, le=10)
    timeout_s: float = 120.0


class CallRecord(BaseModel):
    """What one structured call cost and how it went, summed over re-asks."""

    provider: str
    model: str
    prompt_id: str
    prompt_version: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    attempts: int = 0
    errors: list[str] = []

    def usage(self) -> dict[str, Any]:
        return self.model_dump(include={"input_tokens", "output_tokens", "latency_s", "attempts", "errors"})


@dataclass
class StructuredResult(Generic[T]):
    """The validated value, or the reason there is none; always with its call record."""

    value: T | None
    error: str | None
    raw: str | None
    record: CallRecord
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.value is not None


class LLMUnavailable(RuntimeError):
    """The provider cannot be used at all (model not installed, bad configuration)."""


class _InvalidReply(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def describe_validation_error(error: ValidationError) -> str:
    """A short, model-readable list of what was wrong."""
    parts = []
    for item in error.errors()[:8]:
        where = ".".join(str(p) for p in item["loc"]) or "reply"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


SchemaBinding = Callable[[type[BaseModel]], dict[str, Any]]


class LLM:
    """A chat model plus the way to ask it for schema-constrained JSON."""

    def __init__(
        self,
        chat: BaseChatModel,
        *,
        provider: str,
        model: str,
        bind_schema: SchemaBinding,
        max_attempts: int = 3,
    ) -> None:
        self.chat = chat
        self.provider = provider
        self.model = model
        self.bind_schema = bind_schema
        self.max_attempts = max_attempts

    def complete_structured(
        self, prompt: PromptTemplate, schema: type[T], *, temperature: float | None = None, **variables: str
    ) -> StructuredResult[T]:
        """Ask `prompt` filled with `variables`; validate the reply as `schema`, re-asking on invalid output.
        `temperature` overrides the provider's default (0, greedy) for this call, e.g. to draft again differently."""
        record = CallRecord(
            provider=self.provider, model=self.model, prompt_id=prompt.id, prompt_version=prompt.version
        )
        messages: list[BaseMessage] = convert_to_messages(prompt.messages(**variables))
        sampling = {} if temperature is None else {"temperature": temperature}
        bound = self.chat.bind(**self.bind_schema(schema), **sampling)
        started = time.perf_counter()
        raw: str | None = None
        value: T | None = None
        error: str | None = None
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(self.max_attempts), retry=retry_if_exception_type(_InvalidReply)
            ):
                with attempt:
                    record.attempts += 1
                    reply = bound.invoke(messages)
                    _add_usage(record, reply)
                    raw = reply.content if isinstance(reply.content, str) else str(reply.content)
                    try:
                        value = schema.model_validate_json(raw.strip())
                    except ValidationError as exc:
                        problem = describe_validation_error(exc)
                        record.errors.append(problem)
                        messages = [*messages, AIMessage(raw), HumanMessage(prompt.render_reask(problem))]
                        raise _InvalidReply(problem) from exc
        except RetryError as exc:
            last = exc.last_attempt.exception()
            error = f"invalid output after {record.attempts} attempts: {getattr(last, 'error', last)}"
        except LLMUnavailable:
            raise
        except Exception as exc:  # transport errors, timeouts, provider errors: a failed call, not a crash
            error = f"LLM call failed: {type(exc).__name__}: {exc}"
            record.errors.append(error)
        record.latency_s = round(time.perf_counter() - started, 3)
        return StructuredResult(value=value, error=error, raw=raw, record=record)


def _add_usage(record: CallRecord, reply: BaseMessage) -> None:
    usage = getattr(reply, "usage_metadata", None) or {}
    record.input_tokens += int(usage.get("input_tokens", 0) or 0)
    record.output_tokens += int(usage.get("output_tokens", 0) or 0)


class FakeChatModel(BaseChatModel):
    """Scripted replies for unit tests: each call pops the next reply (a string, or an exception to raise)."""

    replies: list[Any] = []
    calls: list[list[BaseMessage]] = []
    bound_kwargs: list[dict[str, Any]] = []
    model_config = ConfigDict(arbitrary_types_allowed=True)

    @property
    def _llm_type(self) -> str:
        return "refinery-fake"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        self.calls.append(list(messages))
        self.bound_kwargs.append(kwargs)
        if not self.replies:
            raise RuntimeError("fake LLM has no scripted reply left")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        words_in = sum(len(str(m.content).split()) for m in messages)
        message = AIMessage(
            reply,
            usage_metadata={
                "input_tokens": words_in,
                "output_tokens": len(reply.split()),
                "total_tokens": words_in + len(reply.split()),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def fake_llm(replies: Iterable[Any] = (), max_attempts: int = 3) -> LLM:
    """An LLM whose replies are scripted, for unit tests."""
    chat = FakeChatModel(replies=list(replies), calls=[], bound_kwargs=[])
    return LLM(chat, provider="fake", model="fake", bind_schema=lambda schema: {}, max_attempts=max_attempts)


def _openai_llm(config: LLMConfig) -> LLM:
    from langchain_openai import ChatOpenAI

    if not config.api_key and not config.base_url:
        raise LLMUnavailable("provider 'openai' needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)")
    model = config.model or "gpt-4o-mini"
    chat = ChatOpenAI(
        model=model,
        api_key=config.api_key or "not-needed",
        base_url=config.base_url,
        temperature=0,
        timeout=config.timeout_s,
        max_retries=2,
        max_tokens=config.max_output_tokens,
    )

    def bind_schema(schema: type[BaseModel]) -> dict[str, Any]:
        json_schema = schema.model_json_schema()
        if config.openai_schema_mode == "json_object":
            return {"response_format": {"type": "json_object", "schema": json_schema}}
        spec = {"name": schema.__name__, "schema": json_schema, "strict": False}
        return {"response_format": {"type": "json_schema", "json_schema": spec}}

    return LLM(chat, provider="openai", model=model, bind_schema=bind_schema, max_attempts=config.max_attempts)


def _local_llm(config: LLMConfig) -> LLM:
    from pipelines.local_model import LocalChatModel, resolve_model

    spec = resolve_model(config.model, config.data_dir)
    chat = LocalChatModel(
        model_path=str(spec.path),
        n_threads=config.threads,
        n_ctx=config.context_tokens,
        max_tokens=config.max_output_tokens,
    )
    return LLM(
        chat,
        provider="local",
        model=spec.name,
        bind_schema=lambda schema: {"json_schema": schema.model_json_schema()},
        max_attempts=config.max_attempts,
    )


def build_llm(config: LLMConfig) -> LLM:
    """Build the configured provider. Raises LLMUnavailable with what to fix."""
    if config.provider == "openai":
        return _openai_llm(config)
    if config.provider == "local":
        return _local_llm(config)
    if config.provider == "fake":
        return fake_llm(max_attempts=config.max_attempts)
    raise LLMUnavailable(f"unknown LLM provider {config.provider!r}: use local, openai or fake")
