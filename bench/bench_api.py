"""p50/p99 latency of the non-LLM HTTP routes on a real uvicorn server, against a bare FastAPI floor.

Starts `refinery serve` (fake provider, fresh SQLite data dir) and a hello-world FastAPI app on 127.0.0.1,
seeds suggestions and backlog items, then times sequential keep-alive requests per route.
Run: .venv/bin/python -m bench.bench_api [--requests 300] [--seed 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from pipelines.llm import CallRecord, StructuredResult
from pipelines.models import StoryDraft
from service.core.enums import SuggestionKind
from service.core.runtime import Runtime
from service.core.settings import Settings
from service.core.suggestions import Proposal, create_suggestion

FLOOR_APP = "from fastapi import FastAPI\napp = FastAPI()\n@app.get('/ping')\ndef ping():\n    return {'ok': True}\n"
STORY = {
    "title": "Filter search results by price",
    "persona": "online shopper",
    "goal": "to filter search results by a price range",
    "benefit": "I find affordable products quickly",
    "acceptance_criteria": [
        {"given": "results are shown", "when": "I set a price range", "then": "only products in range remain"},
        {"given": "a filter is set", "when": "I clear it", "then": "all results return"},
    ],
    "item_type": "feature",
    "labels": ["search"],
    "assumptions": [],
    "open_questions": ["Sale prices too?"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not start")


def seed(settings: Settings, count: int) -> None:
    runtime = Runtime(settings)
    record = CallRecord(provider="fake", model="fake", prompt_id="draft_story", prompt_version="bench")
    result = StructuredResult(value=StoryDraft.model_validate(STORY), error=None, raw=None, record=record)
    with runtime.db.session() as session:
        for number in range(count):
            inputs = {"text": f"idea {number}", "context": None}
            create_suggestion(session, SuggestionKind.story_draft, Proposal.of(result), inputs)


def timed(client: httpx.Client, requests: list[tuple[str, str, dict | None]]) -> list[float]:
    samples = []
    for method, path, body in requests:
        started = time.perf_counter()
        response = client.request(method, path, json=body)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:200]}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()
    n = args.requests
    data_dir = Path(tempfile.mkdtemp(prefix="refinery-bench-"))
    env = os.environ | {"REFINERY_DATA_DIR": str(data_dir), "REFINERY_LLM_PROVIDER": "fake"}
    env.pop("DATABASE_URL", None)
    settings = Settings(REFINERY_DATA_DIR=data_dir, REFINERY_LLM_PROVIDER="fake")
    seed(settings, max(args.seed, 2 * n + 10))
    (data_dir / "floor_app.py").write_text(FLOOR_APP)
    port, floor_port = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--no-warm"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    floor = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "floor_app:app", "--port", str(floor_port), "--log-level", "warning"],
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base, floor_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{floor_port}"
        wait_until_up(base + "/healthz")
        wait_until_up(floor_base + "/ping")
        with httpx.Client(base_url=floor_base) as floor_client:
            timed(floor_client, [("GET", "/ping", None)] * 50)  # warm-up
            floor_ms = timed(floor_client, [("GET", "/ping", None)] * n)
        with httpx.Client(base_url=base) as client:
            timed(client, [("GET", "/healthz", None)] * 50)
            routes = {
                "GET /healthz": [("GET", "/healthz", None)] * n,
                "GET /v1/suggestions?status=pending (100 per page)": [("GET", "/v1/suggestions?status=pending", None)]
                * n,
                "GET /v1/suggestions/{id}": [("GET", f"/v1/suggestions/{i + 1}", None) for i in range(n)],
                "POST /v1/suggestions/{id}/accept": [
                    ("POST", f"/v1/suggestions/{i + 1}/accept", {"decided_by": "bench"}) for i in range(n)
                ],
                "POST /v1/suggestions/{id}/reject": [
                    ("POST", f"/v1/suggestions/{n + i + 1}/reject", {"reason": "bench"}) for i in range(n)
                ],
                "POST /v1/backlog/items": [
                    ("POST", "/v1/backlog/items", {"title": f"item {i}", "external_id": f"B-{i}"}) for i in range(n)
                ],
                "GET /v1/backlog (100 per page)": [("GET", "/v1/backlog", None)] * n,
                "GET /v1/backlog/{id}": [("GET", f"/v1/backlog/{i + 1}", None) for i in range(n)],
            }
            results = {name: timed(client, requests) for name, requests in routes.items()}
    finally:
        server.terminate()
        floor.terminate()
        server.wait(10)
        floor.wait(10)
    floor_p50 = statistics.median(floor_ms)
    print(
        f"# bench_api: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores, "
        f"SQLite, {n} sequential keep-alive requests per route, client and server on one machine"
    )
    print("| route | p50 ms | p99 ms | p50 vs bare FastAPI |")
    print("|---|---|---|---|")
    print(f"| bare FastAPI GET /ping (floor) | {floor_p50:.2f} | {percentile(floor_ms, 99):.2f} | 1.0x |")
    for name, samples in results.items():
        p50 = statistics.median(samples)
        print(f"| {name} | {p50:.2f} | {percentile(samples, 99):.2f} | {p50 / floor_p50:.1f}x |")


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1]


if __name__ == "__main__":
    main()
