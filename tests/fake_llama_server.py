"""A stand-in for llama-server in supervision tests: same arguments, /health, and /v1/chat/completions (plain or
streamed) answering the reply in FAKE_LLAMA_REPLY. Faults on demand, each once, by a file that exists:
FAKE_LLAMA_CRASH (SIGSEGV in the middle of a reply), FAKE_LLAMA_HANG (no reply at all). FAKE_LLAMA_FAIL_START
makes every start fail the way llama-server does when a model will not load. FAKE_LLAMA_PIECE_S: seconds each
8-character piece of a reply takes (a busy machine: a plain reply comes after all of them)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def crash() -> None:
    """SIGSEGV, as llama.cpp's crash ends it. Sent to itself, the signal can land a moment later, after this thread
    has answered: the thread waits for it instead, so a crash never comes with a reply."""
    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(3600)


def take(variable: str) -> bool:
    """True once for a fault file that exists (it is removed, so the restarted server behaves)."""
    path = os.environ.get(variable)
    if path and Path(path).exists():
        Path(path).unlink()
        return True
    return False


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        return None

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        reply = os.environ.get("FAKE_LLAMA_REPLY", "{}")
        usage = {"prompt_tokens": 100, "completion_tokens": len(reply) // 4, "total_tokens": 100 + len(reply) // 4}
        if take("FAKE_LLAMA_HANG"):
            time.sleep(3600)
        piece_s = float(os.environ.get("FAKE_LLAMA_PIECE_S", "0.01"))
        pieces = [reply[i : i + 8] for i in range(0, len(reply), 8)]
        if not request.get("stream"):
            time.sleep(piece_s * len(pieces))
            if take("FAKE_LLAMA_CRASH"):
                crash()
            message = {"role": "assistant", "content": reply}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            self._json(200, {"id": "1", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice],
                             "usage": usage})  # fmt: skip
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        crashing = take("FAKE_LLAMA_CRASH")
        for number, piece in enumerate(pieces):
            if crashing and number == len(pieces) // 2:
                crash()
            chunk = {"id": "1", "object": "chat.completion.chunk", "created": 0, "model": "m",
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}}]}  # fmt: skip
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(piece_s)
        last = {"id": "1", "object": "chat.completion.chunk", "created": 0, "model": "m",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage}  # fmt: skip
        self.wfile.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    args, _ = parser.parse_known_args()
    if os.environ.get("FAKE_LLAMA_FAIL_START"):
        print(f"llama_model_load: error loading model: tensor data is not within the file bounds: {args.model}")
        sys.exit(1)
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
