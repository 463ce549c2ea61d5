"""A real HTTP server (http.server on a free loopback port, in a thread) that receives webhook deliveries: it keeps
each request's headers and body and answers with the status codes it is told to, then 200."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes
    at: float = 0.0  # time.monotonic() when it arrived

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # status codes to answer with, in order; then 200
    delay_s: float = 0.0  # how long it takes to answer each

    def events(self) -> list[str]:
        return [r.body["event"] for r in self.received]

    def wait_for(self, n: int, timeout: float = 15) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received


@contextmanager
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    got = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            got.received.append(Received({k.lower(): v for k, v in self.headers.items()}, raw, time.monotonic()))
            time.sleep(got.delay_s)
            status = got.answers.pop(0) if got.answers else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"receiver is down")

        def log_message(self, *args: Any) -> None:
            pass

    with serving(server, Handler):
        yield got


@contextmanager
def serving(server: ThreadingHTTPServer, handler: type[BaseHTTPRequestHandler]) -> Iterator[None]:
    """Serve `server` with `handler` in a thread until the block ends (then shut it down and close its port)."""
    server.RequestHandlerClass = handler
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
