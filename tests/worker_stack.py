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
    ("the calendar sync with Outlook duplicates my events", "bug"),
    ("add a way to schedule posts for later", "feature"),
    ("the invoice PDF shows the wrong tax rate", "bug"),
    ("please let me change the font size in the reader", "feature"),
    ("audio and video are out of sync in recorded calls", "bug"),
    ("add a shared shopping list for the family", "feature"),
    ("password reset emails never arrive", "bug"),
    ("please add keyboard shortcuts for the editor", "feature"),
    ("the battery drains fast when the app runs in the background", "bug"),
    ("offer an annual subscription with a discount", "feature"),
    ("uploaded files larger than 2 GB are cut off", "bug"),
    ("add a timer that reminds me to take a break", "feature"),
    ("the barcode scanner cannot read QR codes on receipts", "bug"),
    ("please let me export my workout history to Strava", "feature"),
    ("the chat messages arrive in the wrong order", "bug"),
    ("add a dark blue color theme for the dashboard charts", "feature"),
    ("the train timetable shows departures that were cancelled", "bug"),
    ("please allow recurring transfers between my bank accounts", "feature"),
    ("the photo editor crops portraits upside down", "bug"),
    ("let teachers grade homework directly in the tablet app", "feature"),
    ("the thermostat schedule resets after a power cut", "bug"),
    ("add a recipe scaler that converts servings and units", "feature"),
    ("parking tickets are charged twice on my credit card statement", "bug"),
    ("please add subtitles in Spanish to the course videos", "feature"),
    ("the flight check-in page freezes at seat selection", "bug"),
    ("let me tag my expenses by project for tax reports", "feature"),
    ("the podcast player forgets my playback position", "bug"),
    ("add a pet vaccination reminder to the vet app", "feature"),
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
    llm_timeout_s: float = 20
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
            "REFINERY_LLM_TIMEOUT_S": str(self.llm_timeout_s),
            "REFINERY_WORKER_HEARTBEAT_S": str(self.heartbeat_s),
            "REFINERY_PIECE_ATTEMPTS": str(self.piece_attempts),
            "REFINERY_LOG_LEVEL": "INFO",
        }

    def start_worker(self, name: str, timeout: float = 180) -> subprocess.Popen:
        """A `refinery worker` process, once it says it is ready."""
        return self.start_workers([name], timeout)[0]

    def start_workers(self, names: list[str], timeout: float = 180) -> list[subprocess.Popen]:
        """`refinery worker` processes, started together, once each says it is ready."""
        env = {**os.environ, **self.env, "HF_HUB_OFFLINE": "1"}
        started = []
        for name in names:
            command = [str(Path(sys.executable).with_name("refinery")), "worker", "--name", name]
            log = (self.data_dir / f"worker-{name}.log").open("w")
            started.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
        self.workers += started
        deadline = time.monotonic() + timeout
        for name, process in zip(names, started, strict=True):
            while "ready" not in self.log(name):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker {name} did not start: {self.log(name)[-3000:]}")
                time.sleep(0.2)
        return started

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
