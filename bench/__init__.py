"""Benchmarks: scripts that print a table (ratios against a baseline run in the same process) and keep it in
`bench/results/`."""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def machine() -> str:
    """What a bench's output says of the machine it ran on."""
    return f"Machine: {platform.processor() or platform.machine()}, {platform.platform()}."


def table_head(title: str, note: str, columns: list[str]) -> list[str]:
    """A bench output's first lines: `title` with today's date, the machine and `note`, the table's header row."""
    header = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return [f"# {title} ({datetime.now(UTC):%Y-%m-%d})", "", f"{machine()} {note}", "", *header]


def backlog_sizes() -> list[int]:
    """The backlog sizes a bench runs at: `--items N [N ...]` (default 300 and 1,000)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, nargs="+", default=[300, 1000])
    return parser.parse_args().items


def publish(lines: list[str], path: Path) -> None:
    """Print a bench's table and keep it in `path` (its latest output, quoted by README)."""
    text = "\n".join(lines) + "\n"
    print(text)
    path.write_text(text, encoding="utf-8")


def publish_by_size(title: str, note: str, columns: list[str], measure: Callable[[int], list[str]], path: Path) -> None:
    """The table of `measure`'s rows at each backlog size asked for (`backlog_sizes`), printed and kept in `path`."""
    lines = table_head(title, note, columns)
    for n in backlog_sizes():
        lines += measure(n)
    publish(lines, path)


def median_time(call: Callable[[int], object], requests: int) -> float:
    """The median time of `call(k)` for k in 0..requests-1 after a warm-up `call(-1)`; a reply that is not 2xx (one
    with `raise_for_status`) raises."""
    samples = []
    for k in range(-1, requests):
        started = time.perf_counter()
        reply = call(k)
        if k >= 0:
            samples.append(time.perf_counter() - started)
        if hasattr(reply, "raise_for_status"):
            reply.raise_for_status()
    return statistics.median(samples)


@contextmanager
def served(rows: dict[Any, list[dict[str, Any]]]) -> Iterator[tuple[Any, Any]]:
    """(app, client) of a fresh SQLite database (fake LLM, no duplicate index) holding `rows` (by table, written
    straight in, in that order), in this process."""
    from fastapi.testclient import TestClient
    from sqlalchemy import insert

    from pipelines.llm import fake_llm
    from service.api import create_app
    from service.core.settings import Settings

    settings = Settings(
        REFINERY_DATA_DIR=tempfile.mkdtemp(), REFINERY_LLM_PROVIDER="fake", REFINERY_DUPLICATE_CHECK=False
    )
    app = create_app(settings, fake_llm())
    with TestClient(app, base_url="http://localhost") as client:
        with app.state.runtime.db.session() as session:
            for table, written in rows.items():
                session.execute(insert(table), written)
        yield app, client


def listings_timed(table: Any, rows: list[dict[str, Any]], paths: dict[str, str], requests: int, n: int) -> list[str]:
    """Table rows at size `n` for listing routes in this process: `rows` written straight into `table` of a fresh
    SQLite database (fake LLM, no duplicate index), then each named GET's median time over `requests` calls after a
    warm-up, its ratio against the first path's, and its `X-Total-Count` (how many match)."""
    timed = []
    with served({table: rows}) as (_, client):
        for name, path in paths.items():
            client.get(path)
            samples = []
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get(path)
                samples.append(time.perf_counter() - started)
                response.raise_for_status()
            timed.append((name, statistics.median(samples), response.headers["X-Total-Count"]))
    floor = timed[0][1]
    return [f"| {n} | {name} | {1000 * t:.2f} | {t / floor:.2f} | {matches} |" for name, t, matches in timed]
