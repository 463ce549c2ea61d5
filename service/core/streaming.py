"""Model work streamed as server-sent events: what the model does while it works, then the stored result."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.sse import EventSourceResponse, format_sse_event

from pipelines.llm import CallEvent, Listener
from service.core.runtime import Runtime

log = logging.getLogger(__name__)
DONE, ERROR = "done", "error"


def wants_events(accept: str | None, stream: bool = False) -> bool:
    return stream or "text/event-stream" in (accept or "")


async def in_model_pool(runtime: Runtime, work: Callable[[], Any]) -> Any:
    """Run `work` (which waits for the model) on the runtime's model-call threads, not the web server's."""
    return await asyncio.get_running_loop().run_in_executor(runtime.model_calls, work)


def event_stream(runtime: Runtime, work: Callable[[Listener], dict[str, Any]]) -> EventSourceResponse:
    """Run `work(listener)` on the model-call threads and answer with its events (`queued`, `waiting`, `started`,
    `field`, `retry`), then `done` with what it returns. The work goes on, and its result is stored, even when the
    client goes away."""

    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        heard: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

        def listener(event: CallEvent, data: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(heard.put_nowait, (str(event), data))

        def run() -> None:
            try:
                outcome = (DONE, work(listener))
            except Exception as exc:  # stored nothing it could not; the client hears why
                log.exception("streamed model work failed")
                outcome = (ERROR, {"detail": f"{type(exc).__name__}: {exc}"})
            loop.call_soon_threadsafe(heard.put_nowait, outcome)

        loop.run_in_executor(runtime.model_calls, run)
        while True:
            name, data = await heard.get()
            yield format_sse_event(event=name, data_str=json.dumps(data, default=str))
            if name in (DONE, ERROR):
                return

    return EventSourceResponse(events(), headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
