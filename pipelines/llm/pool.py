"""Requests to one or several OpenAI-compatible servers (vLLM, llama.cpp's server, Ollama, OpenAI) that keep
working when one of them is slow, overloaded or gone.

Each server has its own bounded concurrency (a ModelGate) and a circuit breaker; a request goes to the
least-loaded server whose breaker lets it through. A transport fault (429, 408, 5xx, a timeout, a refused or lost
connection, a reply that is not JSON) is sent again, to another server when one is free, else after exponential
backoff with jitter or the server's Retry-After; a bounded number of times. This is not the re-ask of core.py:
that one asks again because the model's answer was invalid, this one because no answer arrived. When every
server's breaker is open a request fails at once with LLMUnavailable, naming each server and why it is down.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import openai

from pipelines.llm.core import LLMUnavailable, TransportFailed
from pipelines.llm.gate import ModelGate

try:  # recent openai releases talk over httpx2, older ones over httpx: a raw wire error may be either
    import httpx2

    _TIMEOUTS: tuple[type[Exception], ...] = (httpx.TimeoutException, httpx2.TimeoutException)
    _WIRE: tuple[type[Exception], ...] = (httpx.TransportError, httpx2.TransportError)
except ImportError:  # pragma: no cover
    _TIMEOUTS, _WIRE = (httpx.TimeoutException,), (httpx.TransportError,)

R = TypeVar("R")
Clock = Callable[[], float]


def parse_base_urls(text: str) -> list[str]:
    """The server URLs in a comma-separated list, checked: each http(s) with a host, none twice."""
    urls = [part.strip().rstrip("/") for part in text.split(",") if part.strip()]
    if not urls:
        raise ValueError("no server URL given")
    for url in urls:
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0..65535
        except ValueError as exc:
            raise ValueError(f"{url!r} has an invalid port ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL with a host, e.g. http://127.0.0.1:8000/v1")
        if urls.count(url) > 1:
            raise ValueError(f"{url} is listed twice")
    return urls


@dataclass(frozen=True)
class Fault:
    """A transport fault: the request may succeed if sent again. `trips`: it counts toward the server's breaker
    (a 429 or 408 does not: the server is alive, only busy)."""

    reason: str
    retry_after_s: float | None = None
    trips: bool = True


def _root_cause(error: BaseException) -> BaseException | None:
    """The first error under an openai (or langchain-openai) one: what actually went wrong on the wire."""
    seen = error.__cause__ or error.__context__
    while isinstance(seen, openai.OpenAIError):
        seen = seen.__cause__ or seen.__context__
    return seen


def retry_after_s(response: Any) -> float | None:
    """Seconds from a `retry-after-ms` or `Retry-After` header (seconds or an HTTP date); None without one."""
    if response is None:
        return None
    try:
        if "retry-after-ms" in response.headers:
            return max(0.0, float(response.headers["retry-after-ms"]) / 1000)
        value = response.headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def transport_fault(error: BaseException, timeout_s: float) -> Fault | None:
    """The fault `error` is, or None when sending the request again would not help (4xx, our own errors)."""
    if isinstance(error, (openai.APITimeoutError, *_TIMEOUTS)):
        return Fault(f"no reply within {timeout_s:g} s ({type(error).__name__})")
    if isinstance(error, (openai.APIConnectionError, *_WIRE)):  # refused, reset, cut off midway
        cause = _root_cause(error)
        return Fault(f"{type(error).__name__}: {error}" + (f" ({type(cause).__name__}: {cause})" if cause else ""))
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        phrase = error.response.reason_phrase if error.response is not None else ""
        wait = retry_after_s(error.response)
        reason = f"HTTP {status} {phrase}".strip() + (f" (Retry-After {wait:g} s)" if wait is not None else "")
        if status in (408, 429):
            return Fault(reason, wait, trips=False)
        return Fault(reason, wait) if status >= 500 else None
    if isinstance(error, json.JSONDecodeError | openai.APIResponseValidationError):
        return Fault(f"a reply that is not valid JSON ({type(error).__name__}: {str(error)[:200]})")
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded resends after transport faults: `retries` more tries, waits doubling from `backoff_s` (with
    jitter, at most `backoff_max_s`), or the server's Retry-After (at most `retry_after_max_s`)."""

    retries: int = 2
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 60.0

    def delay(self, failures: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_max_s)
        ceiling = min(self.backoff_max_s, self.backoff_s * 2 ** (failures - 1))
        return random.uniform(ceiling / 2, ceiling)  # jitter: callers that failed together do not return together


class BreakerState(StrEnum):
    closed = "closed"  # requests go through
    open = "open"  # requests fail fast until the cool-down ends
    half_open = "half_open"  # the cool-down has ended: one probe request goes through


class CircuitBreaker:
    """Closed until `threshold` transport faults in a row, then open for `cooldown_s`, then half-open: one probe
    goes through, and its success closes the breaker, its fault opens it again. Not locked: its pool's lock is."""

    def __init__(self, threshold: int, cooldown_s: float, clock: Clock = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.failures = 0  # in a row
        self.reason = ""
        self.opened_at: float | None = None
        self.probing = False

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.closed
        return BreakerState.half_open if self.clock() >= self.opened_at + self.cooldown_s else BreakerState.open

    def admits(self) -> bool:
        state = self.state
        return state == BreakerState.closed or (state == BreakerState.half_open and not self.probing)

    def reopens_in(self) -> float:
        return max(0.0, self.opened_at + self.cooldown_s - self.clock()) if self.opened_at is not None else 0.0

    def dispatched(self) -> bool:
        """A request goes to the server; True when it is the half-open breaker's probe."""
        if self.state == BreakerState.half_open:
            self.probing = True
            return True
        return False

    def succeeded(self, probe: bool) -> None:
        if probe or self.opened_at is None:  # a request sent before the breaker opened does not close it
            self.failures, self.opened_at, self.probing = 0, None, False

    def failed(self, reason: str, probe: bool) -> None:
        self.failures += 1
        self.reason = reason
        if probe or (self.opened_at is None and self.failures >= self.threshold):
            self.opened_at, self.probing = self.clock(), False

    def released(self, probe: bool) -> None:
        """The request ended without a verdict on the server (a 429, an error of ours)."""
        if probe:
            self.probing = False


@dataclass
class PoolServer:
    """One server: its URL, a chat model that talks to it, its slots and its breaker."""

    url: str
    chat: Any
    gate: ModelGate
    breaker: CircuitBreaker
    not_before: float = 0.0  # its Retry-After: no request before this (time.monotonic)
    last_sent: float = 0.0  # of equally loaded servers, the one idle longest gets the next request
    sent: int = 0

    def describe(self) -> str:
        b = self.breaker
        if b.state == BreakerState.open:
            return f"{self.url} ({b.failures} faults in a row, last: {b.reason}; a probe in {b.reopens_in():.0f} s)"
        return f"{self.url} (a probe request is checking whether it is back; last fault: {b.reason})"


class ModelPool:
    """The servers of one provider. `gate` is the line in front of all of them (as many slots as they have
    together); `send` runs one request on a server it picks, sending it again after transport faults."""

    def __init__(self, servers: Sequence[PoolServer], policy: RetryPolicy, timeout_s: float) -> None:
        if not servers:
            raise ValueError("a model pool needs at least one server")
        self.servers = list(servers)
        self.policy = policy
        self.timeout_s = timeout_s
        self.gate = ModelGate(sum(server.gate.slots for server in self.servers))
        self._changed = threading.Condition()

    def send(self, ask: Callable[[Any], R], resent: Callable[[str], None]) -> R:
        """`ask(chat)` on a server; after a transport fault `resent(reason)` hears why it is sent again. Raises
        LLMUnavailable when every server is down, TransportFailed when the tries are used up."""
        tries = 0
        avoid: PoolServer | None = None
        while True:
            server, probe = self._take(avoid)
            tries += 1
            try:
                result = ask(server.chat)
            except BaseException as exc:
                if not isinstance(exc, Exception):  # interrupted: give the slot back, no verdict on the server
                    self._finish(server, probe, None, answered=False)
                    raise
                fault = transport_fault(exc, self.timeout_s)
                self._finish(server, probe, fault, answered=isinstance(exc, openai.APIStatusError))
                if fault is None:
                    raise
                reason = f"{server.url}: {fault.reason}"
                if tries > self.policy.retries:
                    raise TransportFailed(f"{tries} tries failed; last: {reason}") from exc
                wait = 0.0 if self._free_elsewhere(server) else self.policy.delay(tries, fault.retry_after_s)
                resent(f"{reason}; sent again " + (f"in {wait:.2g} s" if wait else "to another server"))
                time.sleep(wait)
                avoid = server
            else:
                self._finish(server, probe, None, answered=True)
                return result

    def status(self) -> list[dict[str, Any]]:
        """Each server's state, for health pages."""
        with self._changed:
            return [
                {
                    "url": s.url,
                    "state": str(s.breaker.state),
                    "reason": s.breaker.reason,
                    "running": s.gate.running,
                    "slots": s.gate.slots,
                    "sent": s.sent,
                }
                for s in self.servers
            ]

    def _take(self, avoid: PoolServer | None) -> tuple[PoolServer, bool]:
        """A slot on the least-loaded server that admits requests, and whether the request is its breaker's probe;
        waits while all of those are busy or asked for time (Retry-After); raises LLMUnavailable when none admits
        any."""
        with self._changed:
            while True:
                admitting = [s for s in self.servers if s.breaker.admits()]
                if not admitting:
                    down = "; ".join(s.describe() for s in self.servers)
                    raise LLMUnavailable(f"every model server is down: {down}")
                now = time.monotonic()
                ready = sorted(
                    (s for s in admitting if s.not_before <= now),
                    key=lambda s: (s is avoid, s.gate.running / s.gate.slots, s.last_sent),
                )
                for server in ready:
                    if server.gate.try_enter():
                        server.sent, server.last_sent = server.sent + 1, now
                        return server, server.breaker.dispatched()
                waits = [s.not_before - now for s in admitting if s.not_before > now]
                waits += [s.breaker.reopens_in() for s in self.servers if s.breaker.opened_at is not None]
                self._changed.wait(min([w for w in waits if w > 0] + [1.0]))

    def _finish(self, server: PoolServer, probe: bool, fault: Fault | None, answered: bool) -> None:
        with self._changed:
            server.gate.leave()
            if fault is not None and fault.trips:
                server.breaker.failed(fault.reason, probe)
            elif fault is None and answered:
                server.breaker.succeeded(probe)
            else:
                server.breaker.released(probe)
            if fault is not None and fault.retry_after_s:
                wait = min(fault.retry_after_s, self.policy.retry_after_max_s)
                server.not_before = max(server.not_before, time.monotonic() + wait)
            self._changed.notify_all()

    def _free_elsewhere(self, failed: PoolServer) -> bool:
        """Another server could take the request now."""
        now = time.monotonic()
        with self._changed:
            return any(
                s is not failed and s.breaker.admits() and s.not_before <= now and s.gate.running < s.gate.slots
                for s in self.servers
            )
