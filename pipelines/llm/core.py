"""One LLM interface over langchain chat models: ask for JSON matching a pydantic model, validate, re-ask.

LLM output is untrusted: it is validated against the schema, re-asked a bounded number of times, and otherwise
returned as a failure with the reason. A call can be streamed: a listener hears each field as soon as it is
complete. Calls pass a gate (at most N at once, the rest wait in line and hear their place), and a model
server that crashes or hangs during a call is restarted and the call retried once. With a pool of servers
(pipelines.llm.pool) each request goes to a healthy one and is sent again after a transport fault.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, convert_to_messages
from pydantic import BaseModel, ValidationError
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

from pipelines.llm.fields import FieldStream
from pipelines.llm.gate import ModelGate
from prompts import PromptTemplate

T = TypeVar("T", bound=BaseModel)


class CallEvent(StrEnum):
    """What a listener hears during one structured call, in order."""

    queued = "queued"  # {"position": n, "running": r}: n-th in the line of waiting calls, r calls running; repeated
    waiting = "waiting"  # {"state", "reason"}: the model is starting or restarting
    started = "started"  # {}: the model is working on this call
    field = "field"  # {"field": "title" | "acceptance_criteria.0" | ..., "value": ...}: a field is complete
    retry = "retry"  # {"attempt": n, "reason": "..."}: fields heard so far are void; the model answers again
    checking = "checking"  # {}: the reply is valid; the caller checks it further (e.g. duplicates) before storing


Listener = Callable[[CallEvent, dict[str, Any]], None]


class CallRecord(BaseModel):
    """What one structured call cost and how it went, summed over re-asks."""

    provider: str
    model: str
    prompt_id: str
    prompt_version: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    attempts: int = 0  # answers asked for: the first and each re-ask (and a resend after the local server restarted)
    retries: int = 0  # requests sent again after a transport fault (a pool of servers: 429, 5xx, timeout, ...)
    errors: list[str] = []

    def usage(self) -> dict[str, Any]:
        return self.model_dump(include={"input_tokens", "output_tokens", "latency_s", "attempts", "retries", "errors"})


@dataclass
class StructuredResult(Generic[T]):
    """The validated value, or the reason there is none; always with its call record."""

    value: T | None
    error: str | None
    raw: str | None
    record: CallRecord
    warnings: list[str] = field(default_factory=list)
    unreachable: bool = False  # no answer: the model could not run or be reached (not a bad reply); worth a retry later

    @property
    def ok(self) -> bool:
        return self.value is not None


class LLMUnavailable(RuntimeError):
    """The provider cannot be used at all (model not installed, bad configuration, model server broken)."""


class TransportFailed(RuntimeError):
    """A request failed on every try with a transport fault; the message says the last one."""


# Failures where no model answered (as opposed to one that answered wrongly): a later try may succeed.
UNREACHABLE = (
    LLMUnavailable, TransportFailed, TimeoutError, ConnectionError,
    openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError,
)  # fmt: skip


class ServerPool(Protocol):
    """Several model servers behind one LLM (pipelines.llm.pool.ModelPool): each request goes to one it picks."""

    def send(self, ask: Callable[[Any], str], resent: Callable[[str], None]) -> str:
        """`ask(chat)` on a server; `resent(reason)` hears why a request is sent again after a transport fault."""
        ...

    def status(self) -> list[dict[str, Any]]:
        """Each server's state, for health pages."""
        ...


class ModelHost(Protocol):
    """A model server the LLM depends on (the embedded model): readiness before a call, recovery after a fault."""

    def ensure_ready(self, notify: Callable[[str, str], None] | None = None) -> int:
        """Wait until the server answers (telling `notify(state, reason)` while it starts); return its generation.
        Raises LLMUnavailable, saying what to fix, when it cannot start."""

    def recover(self, error: Exception, generation: int) -> str | None:
        """After a call failed with `error`: if the server crashed or hung, restart it, wait until it answers again
        and say what happened; None when the server was not at fault."""


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


def _quiet(_event: CallEvent, _data: dict[str, Any]) -> None:
    return None


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
        gate: ModelGate | None = None,
        host: ModelHost | None = None,
        pool: ServerPool | None = None,
    ) -> None:
        self.chat = chat
        self.provider = provider
        self.model = model
        self.bind_schema = bind_schema
        self.max_attempts = max_attempts
        self.gate = gate
        self.host = host
        self.pool = pool  # with a pool, each request goes to a server it picks (`chat` is its first server's)

    @property
    def background_parallelism(self) -> int:
        """Calls a background job should make at once: every slot of the model but one, which stays free for a
        person waiting on a draft."""
        return max(1, (self.gate.slots if self.gate else 1) - 1)

    def complete_structured(
        self,
        prompt: PromptTemplate,
        schema: type[T],
        *,
        temperature: float | None = None,
        listener: Listener | None = None,
        max_tokens: int | None = None,
        **variables: str,
    ) -> StructuredResult[T]:
        """Ask `prompt` filled with `variables`; validate the reply as `schema`, re-asking on invalid output.
        `temperature` overrides the provider's default (0, greedy) for this call, e.g. to draft again differently.
        With a `listener` the reply is streamed and the listener hears each field as soon as it is complete.
        `max_tokens` raises (or lowers) the provider's output limit for a reply known to be long."""
        record = CallRecord(
            provider=self.provider, model=self.model, prompt_id=prompt.id, prompt_version=prompt.version
        )
        emit = listener or _quiet
        messages: list[BaseMessage] = convert_to_messages(prompt.messages(**variables))
        sampling = {} if temperature is None else {"temperature": temperature}
        if max_tokens is not None:
            sampling["max_tokens"] = max_tokens
        options = {**self.bind_schema(schema), **sampling}
        warnings: list[str] = []
        raw: str | None = None
        value: T | None = None
        error: str | None = None
        unreachable = False
        started = time.perf_counter()
        gate = (
            self.gate.slot(lambda at: emit(CallEvent.queued, {"position": at, "running": self.gate.running}))
            if self.gate
            else None
        )
        try:
            with gate or nullcontext():
                generation = self._ready(emit)
                emit(CallEvent.started, {})
                for attempt in Retrying(
                    stop=stop_after_attempt(self.max_attempts), retry=retry_if_exception_type(_InvalidReply)
                ):
                    with attempt:
                        if record.attempts:
                            emit(CallEvent.retry, {"attempt": record.attempts + 1, "reason": record.errors[-1]})
                        record.attempts += 1
                        raw, generation = self._ask_recovering(options, messages, record, emit, generation, warnings)
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
        except LLMUnavailable as exc:  # the model cannot run: a failed call that says what to fix
            error, unreachable = f"the model is not available: {exc}", True
            record.errors.append(error)
        except Exception as exc:  # transport errors, timeouts, provider errors: a failed call, not a crash
            error, unreachable = f"LLM call failed: {type(exc).__name__}: {exc}", isinstance(exc, UNREACHABLE)
            record.errors.append(error)
        record.latency_s = round(time.perf_counter() - started, 3)
        return StructuredResult(
            value=value, error=error, raw=raw, record=record, warnings=warnings, unreachable=unreachable
        )

    def _ready(self, emit: Listener) -> int:
        if self.host is None:
            return 0
        return self.host.ensure_ready(lambda state, reason: emit(CallEvent.waiting, {"state": state, "reason": reason}))

    def _ask_recovering(
        self,
        options: dict[str, Any],
        messages: list[BaseMessage],
        record: CallRecord,
        emit: Listener,
        generation: int,
        warnings: list[str],
    ) -> tuple[str, int]:
        """One request; if the model server crashed or hung during it, the request is sent once more after the
        server is back (the warning says what happened). Returns the reply text and the server's generation."""
        try:
            return self._send(options, messages, record, emit), generation
        except Exception as exc:
            what = self.host.recover(exc, generation) if self.host else None
            if what is None:
                raise
            note = f"{what}; it was restarted and the call sent again"
            warnings.append(note)
            record.attempts += 1
            emit(CallEvent.retry, {"attempt": record.attempts, "reason": note})
            try:
                generation = self._ready(emit)
            except LLMUnavailable as down:
                raise LLMUnavailable(f"{what}, and it could not be started again: {down}") from down
            try:
                return self._send(options, messages, record, emit), generation
            except Exception as again:
                raise RuntimeError(f"{what}, and the call sent again after the restart failed too: {again}") from again

    def _send(self, options: dict[str, Any], messages: list[BaseMessage], record: CallRecord, emit: Listener) -> str:
        """One request with these bound options: to the chat model, or through the pool, which picks a server and
        sends the request again after a transport fault (counted in `record.retries`; listeners hear a retry)."""
        if self.pool is None:
            return self._ask(self.chat.bind(**options), messages, record, emit)

        def resent(reason: str) -> None:
            record.retries += 1
            record.errors.append(reason)
            emit(CallEvent.retry, {"attempt": record.attempts, "reason": reason})

        return self.pool.send(lambda chat: self._ask(chat.bind(**options), messages, record, emit), resent)

    def _ask(self, bound: Any, messages: list[BaseMessage], record: CallRecord, emit: Listener) -> str:
        if emit is _quiet and self.host is None:
            reply = bound.invoke(messages)
            _add_usage(record, reply)
            return reply.content if isinstance(reply.content, str) else str(reply.content)
        if emit is _quiet:  # the local server's reply is streamed all the same: its timeout is then the longest wait
            # for the next token, so a long reply on a busy machine is not taken for a hang and the server killed
            return "".join(_chunks(bound, messages, record))
        fields = FieldStream()
        text = ""
        for chunk in _chunks(bound, messages, record):
            text += chunk
            for name, value in fields.feed(chunk):
                emit(CallEvent.field, {"field": name, "value": value})
        for name, value in fields.close():
            emit(CallEvent.field, {"field": name, "value": value})
        return text


def _chunks(bound: Any, messages: list[BaseMessage], record: CallRecord) -> Iterator[str]:
    for chunk in bound.stream(messages):
        _add_usage(record, chunk)
        if chunk.content:
            yield chunk.content if isinstance(chunk.content, str) else str(chunk.content)


def _add_usage(record: CallRecord, reply: BaseMessage) -> None:
    usage = getattr(reply, "usage_metadata", None) or {}
    record.input_tokens += int(usage.get("input_tokens", 0) or 0)
    record.output_tokens += int(usage.get("output_tokens", 0) or 0)
