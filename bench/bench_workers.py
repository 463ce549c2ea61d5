"""Throughput of the LLM stage of one ingestion job (themes per minute) with 1, 2 and 4 `refinery worker` processes
on the real queue (procrastinate on PostgreSQL), all on this machine over loopback, against
  (a) a scripted OpenAI-compatible server: a fixed latency per call and 8 parallel slots, so the workers are the
      only limit (goal: each added worker adds at least 0.8x of one worker's throughput);
  (b) a real model server: llama.cpp's llama-server with the packaged model (Qwen2.5-Coder-1.5B, 4 slots), where
      this machine's cores are the limit.
The LLM stage is timed from the job's database rows: from the end of clustering (the themes stage starts) to the
job's end. Each run uses a fresh database, Chroma collection and set of workers; the job's tickets are 4 per topic,
so each topic is one theme and one model call. Writes bench/results/bench_workers.md.
Run: .venv/bin/python -m bench.bench_workers [--themes 40] [--latency-s 1.5] [--real-themes 4] [--no-real]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from pipelines.llm.providers import local_server
from service.api import create_app
from service.core.settings import Settings
from service.core.tables import IngestJob
from tests.chroma_server import chroma_server
from tests.postgres import postgres_process
from tests.scripted_openai_server import ScriptedServer
from tests.worker_stack import THEME_REPLY, TOPICS, Stack, tickets_csv

RESULTS = Path(__file__).parent / "results" / "bench_workers.md"
DATA = Path(__file__).resolve().parents[1] / "data"
WORKERS = (1, 2, 4)


@contextmanager
def environment(values: dict[str, str]):  # noqa: ANN201
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def llm_stage(stack: Stack, workers: int, themes: int, model: str) -> dict:
    """One ingestion job of `themes` topics with `workers` workers; the LLM stage's themes and seconds."""
    names = [f"w{workers}-{i}" for i in range(workers)]
    stack.start_workers(names)
    try:
        with environment({**stack.env, "REFINERY_LLM_MODEL": model}), TestClient(create_app(Settings())) as api:
            response = api.post("/v1/ingest", files={"file": ("tickets.csv", tickets_csv(themes))})
            job_id = response.json()["job_id"]
            while api.get(f"/v1/jobs/{job_id}").json()["status"] not in ("done", "failed"):
                time.sleep(0.2)
            job = api.app.state.runtime.db.get(IngestJob, job_id)
            api.app.state.runtime.db.engine.dispose()
    finally:
        stack.stop_workers()
    started = datetime.fromisoformat(job.params["themes_started"])
    seconds = (job.finished_at.replace(tzinfo=job.finished_at.tzinfo or UTC) - started).total_seconds()
    return {
        "workers": workers,
        "status": job.status,
        "themes": job.themes,
        "suggestions": job.suggestions,
        "failed": job.failed,
        "seconds": seconds,
        "per_min": job.suggestions / seconds * 60,
    }


def table(title: str, rows: list[dict]) -> list[str]:
    one = rows[0]["per_min"]
    lines = [
        f"### {title}",
        "",
        "| workers | themes | drafted | failed | LLM stage | themes/min | vs 1 worker | added per extra worker |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        extra = (row["per_min"] - one) / (row["workers"] - 1) / one if row["workers"] > 1 else None
        lines.append(
            f"| {row['workers']} | {row['themes']} | {row['suggestions']} | {row['failed']} | {row['seconds']:.1f} s "
            f"| {row['per_min']:.1f} | {row['per_min'] / one:.2f}x | {f'{extra:.2f}x' if extra is not None else '-'} |"
        )
    return lines


def scaling(rows: list[dict]) -> str:
    by = {row["workers"]: row["per_min"] for row in rows}
    return (
        f"scaling: 1 worker {by[1]:.1f}/min, 2 workers {by[2]:.1f}/min ({by[2] / by[1]:.2f}x), "
        f"4 workers {by[4]:.1f}/min ({by[4] / by[1]:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--themes", type=int, default=40, help=f"topics, 4 tickets each (<= {len(TOPICS)}; ~0.8 become themes)"
    )
    parser.add_argument("--latency-s", type=float, default=1.5, help="the scripted server's seconds per call")
    parser.add_argument("--real-themes", type=int, default=4, help="topics in the real-model runs")
    parser.add_argument("--no-real", action="store_true", help="skip the real model server")
    args = parser.parse_args()
    out = [
        f"# bench_workers: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu_name()}, {os.cpu_count()} cores",
        "",
    ]
    with ExitStack() as stack_of:
        postgres = stack_of.enter_context(postgres_process())
        chroma = stack_of.enter_context(chroma_server())
        work = Path(stack_of.enter_context(tempfile.TemporaryDirectory(prefix="bench-workers-")))
        scripted = stack_of.enter_context(ScriptedServer(reply=THEME_REPLY, latency_s=args.latency_s, slots=8))
        rows = []
        for workers in WORKERS:
            stack = Stack(postgres.url, chroma, scripted.url, work / f"scripted-{workers}", heartbeat_s=2)
            stack.data_dir.mkdir()
            rows.append(llm_stage(stack, workers, args.themes, "scripted"))
            print(rows[-1], flush=True)
        out += table(f"(a) scripted server: {args.latency_s} s per call, 8 slots", rows) + [""]
        scripted_line = scaling(rows)
        if not args.no_real:
            settings = Settings(REFINERY_DATA_DIR=DATA, REFINERY_LLM_PROVIDER="local", REFINERY_LLM_CONCURRENCY=4)
            server = local_server(settings.llm_config())
            server.ensure_ready()
            stack_of.callback(server.stop)
            real = []
            for workers in WORKERS:
                stack = Stack(
                    postgres.url, chroma, server.base_url, work / f"real-{workers}", heartbeat_s=2, llm_timeout_s=600
                )
                stack.data_dir.mkdir()
                real.append(llm_stage(stack, workers, args.real_themes, "qwen2.5-coder-1.5b"))
                print(real[-1], flush=True)
            out += table(
                f"(b) real server: llama-server, Qwen2.5-Coder-1.5B Q4, 4 slots, {settings.llm_threads} threads", real
            )
            out += ["", f"real model: {scaling(real)}", ""]
    out.append(scripted_line)
    text = "\n".join(out)
    RESULTS.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
