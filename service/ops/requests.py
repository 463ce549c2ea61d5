"""The request middleware: a request id for each HTTP request (in the logs and the `X-Request-ID` header), one log
line per request, and the request metrics. A plain ASGI middleware, so streamed replies are timed to their end."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.ops.logs import request_id
from service.ops.metrics import Metrics

HEADER = "X-Request-ID"
SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")  # a caller's id is kept only if it looks like a token
UNMATCHED = "<unmatched>"  # every path no route matched: one label, whatever was asked for
QUIET = {"/metrics"}  # scrapes are logged at DEBUG

log = logging.getLogger("refinery.requests")


def incoming_id(scope: Scope) -> str:
    """The caller's `X-Request-ID` if it is a short token, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if SANE_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def route_template(scope: Scope, asked: Scope) -> str:
    """The matched route's path template (`/v1/backlog/{item_id}`), never the raw path: the API route the router
    chose, else the app's own route or mount (docs, /static/{path}) that matches the request as it was `asked`."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    for route in getattr(scope.get("app"), "routes", ()):
        path = getattr(route, "path", None)
        if isinstance(path, str) and route.matches(asked)[0] is Match.FULL:
            return f"{path}/{{path}}" if isinstance(route, Mount) else path
    return UNMATCHED


class RequestObserver:
    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        asked = dict(scope)  # routing adds to the scope; a route is matched on the request as it came
        rid = incoming_id(scope)
        token = request_id.set(rid)
        status = 500  # what the caller gets if the app raises before answering
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], route_template(scope, asked))
            raise
        finally:
            duration = time.perf_counter() - started
            method, template = scope["method"], route_template(scope, asked)
            if self.metrics:
                self.metrics.observe_request(method, template, status, duration)
            log.log(
                logging.DEBUG if template in QUIET else logging.INFO,
                "%s %s %s %.1f ms",
                method,
                template,
                status,
                duration * 1000,
                extra={"method": method, "route": template, "status": status, "duration_ms": round(duration * 1000, 1)},
            )
            request_id.reset(token)
