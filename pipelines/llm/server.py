"""The embedded model as a llama.cpp server process that Refinery starts, watches and restarts.

The model runs in its own process (`llama-server`, built by scripts/setup.sh) on a loopback port, and Refinery
talks to it with the same OpenAI-compatible client as to any other server. A native crash, a hang or running
out of memory ends that process, never the caller's: the watcher thread notices, says what happened, starts a
new one, and calls that were cut off are sent again once (pipelines.llm.core). Its state (starting, ready,
restarting, broken) and the reason are what /healthz shows.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import openai

from pipelines.llm.core import LLMUnavailable
from pipelines.llm.gate import ModelGate

log = logging.getLogger(__name__)
LOG_TAIL_LINES = 40
CRASH_LOOP = (3, 120.0)  # this many exits within this many seconds: broken, not restarted again
# OpenMP threads spin 3,000 times at a barrier, then sleep (libgomp's default is 300,000). With every core busy in
# the default, one other busy process made 2 threads collapse to 0.5 tokens/s; with 3,000 they keep 5.4 tokens/s
# and lose 4% when the machine is idle (bench_drafting). The environment can override it.
SERVER_ENV = {"GOMP_SPINCOUNT": "3000"}
HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb=1"


class ServerState(StrEnum):
    stopped = "stopped"
    starting = "starting"
    ready = "ready"
    restarting = "restarting"
    broken = "broken"


def default_binary() -> Path:
    """llama-server next to this Python (scripts/setup.sh builds it into .venv/bin), else on PATH."""
    beside = Path(sys.executable).parent / "llama-server"
    if beside.is_file():
        return beside
    found = next((Path(p) / "llama-server" for p in os.get_exec_path() if (Path(p) / "llama-server").is_file()), None)
    return found or beside


@dataclass(frozen=True)
class ServerOptions:
    """How to run llama-server. `slots` calls are decoded together (continuous batching)."""

    binary: Path = field(default_factory=default_binary)
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port, chosen once and kept across restarts
    threads: int = 1
    context_tokens: int = 4096  # per slot
    slots: int = 1
    repack: bool = True  # llama.cpp's repacked CPU weights (llama-server --no-repack turns them off)
    huge_pages: bool = True  # weights read into memory that glibc's malloc backs with transparent huge pages
    memory_limit_mb: int = 0  # address-space limit of the server process; 0: none
    ready_timeout_s: float = 300.0
    log_path: Path | None = None
    draft_model: Path | None = None  # speculative decoding with a smaller model of the same family
    speculative: str = "none"  # or "ngram-simple:N:M": draft M tokens that followed the last N earlier in the context
    extra_args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # added to the server's environment


@dataclass
class ServerStatus:
    state: ServerState
    reason: str
    pid: int | None
    port: int
    restarts: int
    last_exit: str | None


PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    """Linux's prctl, to tie the server's life to Refinery's (elsewhere: None, and `stop_all` at exit does it)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_taken(host: str, port: int) -> bool:
    """Another program listens there (connections of an earlier server in TIME_WAIT do not count, as for the server)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def describe_exit(code: int) -> str:
    """What a process's exit status means, in words."""
    if code >= 0:
        return f"exited with status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    meaning = {
        "SIGSEGV": "a crash inside llama.cpp",
        "SIGBUS": "a crash inside llama.cpp (the model file may have changed or been truncated)",
        "SIGILL": "an instruction this CPU lacks: rebuild it with bash scripts/build_llama_server.sh on this machine",
        "SIGABRT": "llama.cpp aborted, often when memory ran out",
        "SIGKILL": "killed: by the kernel when memory runs out, or by a person",
    }.get(name, "stopped by a signal")
    return f"was ended by {name} ({meaning})"


def _hint(log_tail: list[str]) -> str | None:
    """A known cause in the server's last log lines, said with what to do."""
    text = "\n".join(log_tail)
    rules = (
        (("couldn't bind", "Address already in use"), "its port is taken by another program"),
        (
            ("failed to load model", "error loading model", "not within the file bounds", "failed to read"),
            "llama.cpp could not load the model file (truncated, changed or not a model): "
            "point REFINERY_LOCAL_MODEL at a complete GGUF file, or delete data/models to assemble it again",
        ),
        (("cannot allocate", "failed to allocate", "std::bad_alloc", "out of memory"), "memory ran out"),
    )
    for needles, what in rules:
        line = next((line for line in log_tail if any(n in line for n in needles)), None)
        if line is not None:
            return f"{what} (log: {line.strip()[:200]})"
    return text.strip().splitlines()[-1][:200] if text.strip() else None


class ModelServer:
    """One supervised llama-server process. `resolve_model` finds (and verifies) the GGUF file; it runs in the
    watcher thread, so a missing or tampered file makes the server `broken` with the reason, never the caller
    crash."""

    def __init__(self, options: ServerOptions, resolve_model: Callable[[], Path]) -> None:
        self.options = options
        self._resolve_model = resolve_model
        self.port = options.port or free_port(options.host)
        self._changed = threading.Condition()
        self._state = ServerState.stopped
        self._reason = ""
        self._generation = 0
        self._restarts = 0
        self._last_exit: str | None = None
        self._kill_reason: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._warm: list[list[dict[str, str]]] = []
        self.gate = ModelGate(options.slots)  # every caller of this server waits in one line

    @property
    def base_url(self) -> str:
        return f"http://{self.options.host}:{self.port}/v1"

    @property
    def state(self) -> ServerState:
        return self._state

    def status(self) -> ServerStatus:
        with self._changed:
            process = self._process
            return ServerStatus(
                state=self._state,
                reason=self._reason,
                pid=process.pid if process and process.poll() is None else None,
                port=self.port,
                restarts=self._restarts,
                last_exit=self._last_exit,
            )

    def start(self) -> None:
        """Start the watcher (which starts the server) unless it runs already. Returns at once."""
        with self._changed:
            if self._thread is None:
                self._stopping = False
                self._set(ServerState.starting, "loading the model")
                self._thread = threading.Thread(target=self._watch, daemon=True, name="model-server")
                self._thread.start()

    def keep_warm(self, messages: list[dict[str, str]]) -> None:
        """Evaluate these messages (one token out) whenever a server becomes ready, so the prompt prefix they share
        with later calls is cached, after a restart too."""
        if messages in self._warm:
            return
        self._warm.append(messages)
        if self._state == ServerState.ready:
            self._prefill(messages)

    def ensure_ready(self, notify: Callable[[str, str], None] | None = None) -> int:
        self.start()
        deadline = time.monotonic() + self.options.ready_timeout_s
        told: tuple[str, str] | None = None
        with self._changed:
            while self._state != ServerState.ready:
                if self._state in (ServerState.broken, ServerState.stopped):
                    raise LLMUnavailable(self._reason or "the model server is stopped")
                if notify and (self._state, self._reason) != told:
                    told = (self._state, self._reason)
                    notify(str(self._state), self._reason)
                if time.monotonic() > deadline:
                    raise LLMUnavailable(
                        f"the model server did not answer within {self.options.ready_timeout_s:.0f} s "
                        f"({self._state}: {self._reason})"
                    )
                self._changed.wait(0.5)
            return self._generation

    def recover(self, error: Exception, generation: int) -> str | None:
        """If the server was at fault for `error` (it died or hung during the call), make sure a new one is on its
        way and say what happened; None otherwise."""
        if isinstance(error, openai.APITimeoutError | httpx.TimeoutException):
            self.restart("gave no reply within the call's timeout (a hang) and was killed")
        elif not isinstance(error, openai.APIConnectionError | openai.InternalServerError | httpx.TransportError):
            return None
        deadline = time.monotonic() + 5
        what: str | None = None
        with self._changed:
            while self._generation == generation and self._state == ServerState.ready:  # until the watcher notices
                process = self._process
                alive = process is not None and process.poll() is None
                if alive and what is None and time.monotonic() > deadline:
                    return None  # alive and answering: the failure was the call's, not the server's
                if not alive and what is None:
                    what = self._kill_reason or describe_exit(process.returncode if process else -signal.SIGKILL)
                self._changed.wait(0.1)
            what = what or self._kill_reason or self._last_exit or "stopped"
            return f"the model server stopped during the call: it {what}"

    def restart(self, why: str) -> None:
        """Kill the running server (it is started again): for a hang, or to apply new settings."""
        with self._changed:
            process = self._process
            if process is not None and process.poll() is None:
                self._kill_reason = why
                process.kill()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            process, thread = self._process, self._thread
            self._set(ServerState.stopped, "stopped")
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        if thread is not None:
            thread.join(10)
        with self._changed:
            self._thread = None

    # -- the watcher thread ----------------------------------------------------------------------------------

    def _set(self, state: ServerState, reason: str) -> None:
        self._state, self._reason = state, reason
        self._changed.notify_all()

    def _broken(self, reason: str) -> None:
        with self._changed:
            self._set(ServerState.broken, reason)
        log.error("model server broken: %s", reason)

    def command(self, model: Path) -> list[str]:
        o = self.options
        args = [
            str(o.binary), "--model", str(model), "--host", o.host, "--port", str(self.port),
            "--threads", str(o.threads), "--threads-batch", str(o.threads),
            "--parallel", str(o.slots), "--ctx-size", str(o.context_tokens * o.slots), "--kv-unified",
            "--no-webui", "--seed", "0",
        ]  # fmt: skip
        if not o.repack:
            args.append("--no-repack")
        if o.huge_pages:  # read, not memory-mapped: a file mapping gets 4 KiB pages, malloc'd memory huge ones
            args += ["--load-mode", "none"]
        if o.draft_model is not None:
            args += ["--model-draft", str(o.draft_model), "--threads-draft", str(o.threads)]
        if o.speculative != "none":
            kind, n, m = o.speculative.split(":")
            args += ["--spec-type", kind, f"--spec-{kind}-size-n", n, f"--spec-{kind}-size-m", m]
        return args + list(o.extra_args)

    def environment(self) -> dict[str, str]:
        """The server's environment: SERVER_ENV, then this process's, then the options'. With `huge_pages`, glibc's
        malloc is asked for transparent huge pages (`glibc.malloc.hugetlb=1`; ignored by a glibc older than 2.35
        or where THP is off): the weights are read on every token, and 2 MiB pages spare the TLB misses of 4 KiB
        ones (0.93x the time per draft in bench_drafting)."""
        env = {**SERVER_ENV, **os.environ, **dict(self.options.env)}
        if self.options.huge_pages:
            tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t]
            env["GLIBC_TUNABLES"] = ":".join([*tunables, HUGE_PAGES_TUNABLE])
        return env

    def _spawn(self, model: Path) -> subprocess.Popen[bytes]:
        limit = self.options.memory_limit_mb
        prctl = _prctl()

        def in_child() -> None:  # runs between fork and exec: no locks, no allocation-heavy work
            if prctl is not None:
                prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the server dies with the thread that started it
            if limit:
                resource.setrlimit(resource.RLIMIT_AS, (limit << 20, limit << 20))

        if self.options.log_path:
            self.options.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.options.log_path.open("ab") if self.options.log_path else subprocess.DEVNULL
        try:
            return subprocess.Popen(
                self.command(model), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=in_child, env=self.environment(),
            )  # fmt: skip
        finally:
            if out is not subprocess.DEVNULL:
                out.close()

    def _log_tail(self) -> list[str]:
        path = self.options.log_path
        if path is None or not path.is_file():
            return []
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 16_000))
            return handle.read().decode("utf-8", "replace").splitlines()[-LOG_TAIL_LINES:]

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.options.host}:{self.port}/health", timeout=2) as reply:
                return reply.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _prefill(self, messages: list[dict[str, str]]) -> None:
        body = json.dumps({"messages": messages, "max_tokens": 1, "temperature": 0}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=body, headers={"content-type": "application/json"}
        )
        try:
            urllib.request.urlopen(request, timeout=self.options.ready_timeout_s).read()
        except (urllib.error.URLError, OSError) as exc:
            log.warning("warming the model server's prompt cache failed: %s", exc)

    def _watch(self) -> None:
        try:
            self._supervise()
        except Exception as exc:  # the watcher never dies silently: callers would wait for nothing
            log.exception("model server watcher failed")
            self._broken(f"the model server could not be run: {type(exc).__name__}: {exc}")

    def _supervise(self) -> None:
        exits: deque[float] = deque(maxlen=CRASH_LOOP[0])
        while not self._stopping:
            if not self.options.binary.is_file():
                return self._broken(
                    f"llama-server is not installed at {self.options.binary}: run `bash scripts/setup.sh` "
                    "(it builds llama.cpp's server for this CPU), or set REFINERY_LLAMA_SERVER to its path"
                )
            try:
                model = self._resolve_model()
            except LLMUnavailable as exc:
                return self._broken(str(exc))
            if port_taken(self.options.host, self.port):  # kept across restarts: clients know this address
                return self._broken(
                    f"port {self.port} on {self.options.host} is taken by another program: free it, or set "
                    "REFINERY_LLM_PORT=0 to let Refinery pick a free port"
                )
            with self._changed:
                if self._stopping:
                    return None
                self._kill_reason = None
                process = self._process = self._spawn(model)
            ready = self._wait_healthy(process)
            if ready:
                with self._changed:
                    self._generation += 1
                    self._set(ServerState.ready, "")
                for messages in list(self._warm):
                    self._prefill(messages)
                process.wait()
            if self._stopping:
                return None
            what = self._kill_reason or (
                describe_exit(process.returncode) if process.poll() is not None else "did not answer in time"
            )
            if not ready:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                hint = _hint(self._log_tail())
                what = f"{what} while starting" + (f": {hint}" if hint else "")
            exits.append(time.monotonic())
            with self._changed:
                self._last_exit = what
                self._restarts += 1
                if len(exits) == exits.maxlen and exits[-1] - exits[0] < CRASH_LOOP[1]:
                    where = f"; see {self.options.log_path}" if self.options.log_path else ""
                    self._set(
                        ServerState.broken,
                        f"the model server stopped {len(exits)} times within {CRASH_LOOP[1]:.0f} s and is not "
                        f"restarted again; last: it {what}{where}",
                    )
                    return None
                self._set(ServerState.restarting, f"the model server {what}; starting it again")
            log.warning("model server %s; restarting", what)
        return None

    def _wait_healthy(self, process: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + self.options.ready_timeout_s
        while time.monotonic() < deadline and not self._stopping:
            if process.poll() is not None:
                return False
            if self._healthy():
                return True
            time.sleep(0.1)
        return False


_servers: dict[tuple[Any, ...], ModelServer] = {}
_servers_lock = threading.Lock()


def shared_server(options: ServerOptions, resolve_model: Callable[[], Path], key: Any) -> ModelServer:
    """One server per model and options in this process (a second LLM built with the same settings reuses it)."""
    with _servers_lock:
        server = _servers.get((options, key))
        if server is None or server.state in (ServerState.stopped, ServerState.broken):
            server = _servers[(options, key)] = ModelServer(options, resolve_model)
        return server


def stop_all() -> None:
    """Stop every server this process started (at exit: a model server never outlives Refinery)."""
    with _servers_lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.stop()
