"""A scripted OpenAI-compatible server for tests and benchmarks: real HTTP on a loopback port, a fixed latency per
call, a fixed number of parallel slots (requests beyond them wait for one), /v1/chat/completions plain and
streamed with a scripted reply, and faults on demand: `429` (with Retry-After), `500`, `hang` (no reply until the
server stops), `garbage` (a 200 whose body is not JSON) and `close` (the connection is closed: before any reply,
or halfway through a streamed one).

In a test:
    with ScriptedServer(reply=text, latency_s=0.1, slots=2) as server:
        server.url; server.fault("500", times=2); server.stats().max_active; server.stop(); server.start()
As a process (bench/bench_workers.py):
    python tests/scripted_openai_server.py --port P --latency-s 0.5 --slots 8 --reply-file F
    GET /control/stats, POST /control/fault {"kind": "429", "times": 1, "retry_after_s": 1}, POST /control/reset.
Only the standard library, so it starts in a few milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FAULTS = ("429", "500", "hang", "garbage", "close")


@dataclass
class Stats:
    """What the server saw. `active`: requests received and not yet answered (waiting for a slot included)."""

    requests: int = 0
    streamed: int = 0
    answered: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    active: int = 0
    max_active: int = 0
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each request (system-wide on Linux)


@dataclass(frozen=True)
class _Fault:
    kind: str
    retry_after_s: float


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ScriptedServer:
    """The server, run on a thread of its own (`start`/`stop`, or as a context manager). The port is chosen once
    and kept, so a stopped server comes back at the same URL."""

    def __init__(
        self,
        reply: str = "{}",
        *,
        latency_s: float = 0.0,
        slots: int = 8,
        host: str = "127.0.0.1",
        port: int = 0,
        replies: list[str] | None = None,
    ) -> None:
        self.reply = reply
        self.replies: deque[str] = deque(replies or [])  # answered first, in order, then `reply`
        self.latency_s = latency_s
        self.host = host
        self.port = port or free_port(host)
        self._slots = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._stats = Stats()
        self._faults: deque[_Fault] = deque()
        self._sticky: _Fault | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- control -----------------------------------------------------------------------------------------------

    def fault(self, kind: str | None, times: int | None = 1, retry_after_s: float = 1.0) -> None:
        """The next `times` requests get this fault (None: every request until `fault(None)`)."""
        if kind is not None and kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}: one of {', '.join(FAULTS)}")
        with self._lock:
            if kind is None:
                self._faults.clear()
                self._sticky = None
            elif times is None:
                self._sticky = _Fault(kind, retry_after_s)
            else:
                self._faults.extend([_Fault(kind, retry_after_s)] * times)

    def stats(self) -> Stats:
        with self._lock:
            return Stats(**{**asdict(self._stats), "arrivals": list(self._stats.arrivals)})

    def reset(self) -> None:
        """Forget the statistics and pending faults."""
        with self._lock:
            self._stats = Stats()
            self._faults.clear()
            self._sticky = None

    def start(self) -> ScriptedServer:
        if self._httpd is None:
            self._stopping.clear()
            self._httpd = _HTTPServer((self.host, self.port), _Handler, self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), daemon=True, name="scripted-openai"
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port and every open connection (a dead server: clients get a refused connection)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # releases hanging requests
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- used by the handler -----------------------------------------------------------------------------------

    def _arrived(self, streamed: bool) -> _Fault | None:
        with self._lock:
            s = self._stats
            s.requests += 1
            s.streamed += streamed
            s.active += 1
            s.max_active = max(s.max_active, s.active)
            s.arrivals.append(time.monotonic())
            fault = self._faults.popleft() if self._faults else self._sticky
            if fault is not None:
                s.faults[fault.kind] = s.faults.get(fault.kind, 0) + 1
            return fault

    def _left(self, answered: bool) -> None:
        with self._lock:
            self._stats.active -= 1
            self._stats.answered += answered

    def _next_reply(self) -> str:
        with self._lock:
            return self.replies.popleft() if self.replies else self.reply


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, owner: ScriptedServer) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client that hung up (after its timeout) is no news
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    server: _HTTPServer

    def log_message(self, *args: Any) -> None:
        return None

    def setup(self) -> None:
        super().setup()
        with self.server.owner._lock:
            self.server.owner._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.owner._lock:
            self.server.owner._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _send(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, body: Any, **headers: str) -> None:
        self._send(status, json.dumps(body).encode(), **headers)

    def do_GET(self) -> None:
        owner = self.server.owner
        if self.path == "/health":
            self._json(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "scripted", "object": "model", "owned_by": "tests"}]})
        elif self.path == "/control/stats":
            self._json(200, asdict(owner.stats()))
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        owner = self.server.owner
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        if self.path == "/control/fault":
            owner.fault(body.get("kind"), body.get("times", 1), body.get("retry_after_s", 1.0))
            return self._json(200, {"ok": True})
        if self.path == "/control/reset":
            owner.reset()
            return self._json(200, {"ok": True})
        if self.path != "/v1/chat/completions":
            return self._json(404, {"error": {"message": "not found"}})
        streamed = bool(body.get("stream"))
        fault = owner._arrived(streamed)
        answered = False
        try:
            answered = self._complete(body, streamed, fault)
        finally:
            owner._left(answered)

    def _complete(self, request: dict[str, Any], streamed: bool, fault: _Fault | None) -> bool:
        owner = self.server.owner
        kind = fault.kind if fault else None
        if kind == "429":
            seconds = fault.retry_after_s
            self._json(429, _error("rate limited (scripted)", "rate_limit_exceeded"), retry_after=f"{seconds:g}")
            return False
        if kind == "500":
            self._json(500, _error("internal error (scripted)", "server_error"))
            return False
        if kind == "hang":
            owner._stopping.wait()
            self.close_connection = True
            return False
        if kind == "close" and not streamed:
            self.close_connection = True  # no reply at all: the client sees the connection end
            return False
        if kind == "garbage" and not streamed:
            self._send(200, b"<html><body>502 Bad Gateway</body></html> not JSON")
            return False
        with owner._slots:  # requests beyond the slots wait here
            reply = owner._next_reply()
            model = str(request.get("model") or "scripted")
            prompt_tokens = sum(len(str(m.get("content", ""))) for m in request.get("messages", [])) // 4
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": max(1, len(reply) // 4)}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            if not streamed:
                time.sleep(owner.latency_s)
                message = {"role": "assistant", "content": reply}
                choice = {"index": 0, "message": message, "finish_reason": "stop"}
                self._json(200, {"id": "scripted-1", "object": "chat.completion", "created": 0, "model": model,
                                 "choices": [choice], "usage": usage})  # fmt: skip
                return True
            wants_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            return self._stream(reply, model, usage if wants_usage else None, kind)

    def _stream(self, reply: str, model: str, usage: dict[str, int] | None, kind: str | None) -> bool:
        """Server-sent events in chunked encoding (as vLLM and llama.cpp send them, so a cut-off stream is an error
        to the client), 8 characters an event, the latency spread over them; usage last, when asked for."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        pieces = [reply[i : i + 8] for i in range(0, len(reply), 8)] or [""]
        for number, piece in enumerate(pieces):
            time.sleep(self.server.owner.latency_s / len(pieces))
            if kind == "close" and number == len(pieces) // 2:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)  # cut off halfway
                return False
            if kind == "garbage" and number == len(pieces) // 2:
                self._chunk(b"data: {this is not JSON\n\n")
                self._chunk(b"")
                return False
            delta = {"role": "assistant", "content": piece} if number == 0 else {"content": piece}  # role once
            self._event({"id": "scripted-1", "object": "chat.completion.chunk", "created": 0, "model": model,
                         "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})  # fmt: skip
        self._event({"id": "scripted-1", "object": "chat.completion.chunk", "created": 0, "model": model,
                     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})  # fmt: skip
        if usage is not None:  # as OpenAI and vLLM send it: a chunk of its own, with no choices
            self._event({"id": "scripted-1", "object": "chat.completion.chunk", "created": 0, "model": model,
                         "choices": [], "usage": usage})  # fmt: skip
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")  # the last chunk
        return True

    def _event(self, data: dict[str, Any]) -> None:
        self._chunk(f"data: {json.dumps(data)}\n\n".encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "code": code}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--latency-s", type=float, default=0.0, help="seconds per call, inside a slot")
    parser.add_argument("--slots", type=int, default=8, help="calls answered at once; the rest wait")
    parser.add_argument("--reply-file", type=Path, help="the reply's text (default: {})")
    args = parser.parse_args(argv)
    reply = args.reply_file.read_text() if args.reply_file else "{}"
    server = ScriptedServer(reply, latency_s=args.latency_s, slots=args.slots, host=args.host, port=args.port)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with server:
        print(f"listening on {server.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()


if __name__ == "__main__":
    main()
