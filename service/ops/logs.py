"""Structured logs: a request id (and a background job's id) on every line, plain text or JSON lines.

The ids live in context variables, set by the request middleware (`service.ops.requests`) and by the job wrapper
(`with_job_context`); a `logging.Filter` on the handler copies them onto each record, so any logger anywhere in the
process needs nothing of its own."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from service.core.jobs import JobKind
    from service.core.runtime import Runtime

LogFormat = Literal["plain", "json"]

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)

# The attributes every LogRecord has (and uvicorn's coloured copy of the message); anything else on a record came
# from `extra=` and goes into the JSON line.
_STANDARD = {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime", "taskName", "color_message"}
_CONTEXT = ("request_id", "job_id")
PLAIN = "%(asctime)s %(levelname)s %(name)s [%(request_id)s%(job_id)s] %(message)s"

log = logging.getLogger("refinery.jobs")


class ContextFilter(logging.Filter):
    """Copies the current request id and job id onto each record (None when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.job_id = job_id.get()
        return True


class PlainFormatter(logging.Formatter):
    """One readable line: time, level, logger, `[request id job=id]`, message (the `extra=` fields are JSON's)."""

    def __init__(self) -> None:
        super().__init__(PLAIN)

    def format(self, record: logging.LogRecord) -> str:
        ids = {name: getattr(record, name, None) for name in _CONTEXT}
        record.request_id = ids["request_id"] or "-"
        record.job_id = f" job={ids['job_id']}" if ids["job_id"] else ""
        try:
            return super().format(record)
        finally:
            record.request_id, record.job_id = ids["request_id"], ids["job_id"]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, job_id, the `extra=` fields, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "job_id": getattr(record, "job_id", None),
            **_extra(record),
        }
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD and key not in _CONTEXT}


class _Handler(logging.StreamHandler):
    """Ours, so configuring again replaces it instead of adding a second one."""


class _CurrentStderr:
    """Whatever sys.stderr is at each write: a console swapped (and closed) later still gets the lines."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(fmt: LogFormat = "plain", level: str | int = "INFO", stream: IO[str] | None = None) -> None:
    """Send every logger's records (uvicorn's too) to one handler on the root logger, in `fmt`."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(handler)
    handler = _Handler(stream or _CurrentStderr())  # type: ignore[arg-type]
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for chatty in ("alembic", "httpx"):  # not migration chatter per start, nor a line per vector-store request
        logging.getLogger(chatty).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # no handlers of their own: through the root
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


@contextmanager
def job_context(kind: str, job: int) -> Iterator[None]:
    """Log lines inside carry `job_id` `kind:id` (e.g. `ingest:12`)."""
    token = job_id.set(f"{kind}:{job}")
    try:
        yield
    finally:
        job_id.reset(token)


def with_job_context(kinds: list[JobKind]) -> list[JobKind]:
    """The job kinds, each run inside its job's log context, with a line when it starts and when it ends."""

    def wrap(kind: JobKind) -> Callable[[Runtime, int], Any]:
        def run(runtime: Runtime, job: int) -> Any:
            with job_context(kind.name, job):
                started = time.perf_counter()
                log.info("%s job %s started", kind.name, job, extra={"kind": kind.name})
                try:
                    return kind.run(runtime, job)
                finally:
                    duration_ms = round((time.perf_counter() - started) * 1000, 1)
                    log.info(
                        "%s job %s ended after %.1f s",
                        kind.name,
                        job,
                        duration_ms / 1000,
                        extra={"kind": kind.name, "duration_ms": duration_ms},
                    )

        return run

    return [replace(kind, run=wrap(kind)) for kind in kinds]
