"""The scaled setup on loopback, for tests and bench/bench_workers.py: a real PostgreSQL (the queue and the data), a
Chroma server, an OpenAI-compatible model server, and `refinery worker` processes; the API in-process, only
enqueueing (REFINERY_QUEUE=postgres)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.conftest import story

TOPICS = [
    ("the app crashes when I upload a photo", "bug"),
    ("please add a dark mode for reading at night", "feature"),
    ("exporting my data to CSV fails with an error", "bug"),
    ("let me sign in with my Google account", "feature"),
    ("I get far too many push notifications every day", "bug"),
    ("search does not find products by their brand name", "bug"),
    ("my card payment is declined at checkout although it is valid", "bug"),
    ("please add a widget for the home screen", "feature"),
    ("the map does not show my current location", "bug"),
    ("add an option to split a bill between friends", "feature"),
    ("videos keep buffering on a fast wifi connection", "bug"),
    ("please support two-factor authentication with an app", "feature"),
]
PHRASES = ["{}.", "Hi team, {}!", "{}, this is really annoying", "Honestly {}, please look into it", "{} again today"]
THEME_REPLY = json.dumps(story(title="A story drafted from a theme", quotes=["a quote"]))
_databases = itertools.count()


def tickets_csv(themes: int, per_theme: int = 4, first: int = 0) -> bytes:
    """`themes` clearly separate topics (from the `first`) of `per_theme` tickets each, as a help-desk export."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Ticket ID", "Subject", "Description", "Created time", "Requester"])
    number = itertools.count(first * per_theme)
    for topic, _ in TOPICS[first : first + themes]:
        for phrase in PHRASES[:per_theme]:
            i = next(number)
            writer.writerow([f"T-{i}", "", phrase.format(topic), "2026-03-01 10:00:00", f"customer{i}"])
    return out.getvalue().encode()


@dataclass
class Stack:
    """One fresh database on a shared PostgreSQL, a Chroma collection of its own, a model server; its workers."""

    postgres_url: str
    chroma: tuple[str, int]
    model_url: str
    data_dir: Path
    heartbeat_s: float = 0.5
    piece_attempts: int = 3
    workers: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        name = f"workers_{os.getpid()}_{next(_databases)}"
        with psycopg.connect(self.postgres_url, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        self.database_url = self.postgres_url.rsplit("/", 1)[0] + f"/{name}"
        self.collection = f"items-{name}"

    @property
    def env(self) -> dict[str, str]:
        """The settings API and workers share."""
        return {
            "DATABASE_URL": self.database_url,
            "REFINERY_QUEUE": "postgres",
            "REFINERY_DATA_DIR": str(self.data_dir),
            "CHROMA_HOST": self.chroma[0],
            "CHROMA_PORT": str(self.chroma[1]),
            "REFINERY_CHROMA_COLLECTION": self.collection,
            "REFINERY_LLM_PROVIDER": "openai",
            "OPENAI_BASE_URL": self.model_url,
            "OPENAI_API_KEY": "not-needed",
            "REFINERY_LLM_MODEL": "scripted",
            "REFINERY_LLM_CONCURRENCY": "8",
            "REFINERY_LLM_RETRIES": "0",
            "REFINERY_LLM_BREAKER_COOLDOWN_S": "1",
            "REFINERY_LLM_TIMEOUT_S": "20",
            "REFINERY_WORKER_HEARTBEAT_S": str(self.heartbeat_s),
            "REFINERY_PIECE_ATTEMPTS": str(self.piece_attempts),
            "REFINERY_LOG_LEVEL": "INFO",
        }

    def start_worker(self, name: str, timeout: float = 120) -> subprocess.Popen:
        """A `refinery worker` process, once it says it is ready."""
        log = self.data_dir / f"worker-{name}.log"
        env = {**os.environ, **self.env, "HF_HUB_OFFLINE": "1"}
        command = [str(Path(sys.executable).with_name("refinery")), "worker", "--name", name]
        process = subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        self.workers.append(process)
        deadline = time.monotonic() + timeout
        while "ready" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        return process

    def log(self, name: str) -> str:
        return (self.data_dir / f"worker-{name}.log").read_text()

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.workers.clear()
