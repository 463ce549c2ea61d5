"""Aggregate per-sample scores into a table (stdout) and a JSON report (evals/reports/)."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean, median
from typing import Any

from rich.console import Console
from rich.table import Table

REPORTS_DIR = Path(__file__).parent / "reports"


def summarize(rows: list[dict[str, Any]], scorer_names: list[str]) -> dict[str, dict[str, float]]:
    """Mean and count of each scorer over the samples where it applies."""
    summary = {}
    for name in scorer_names:
        values = [row["scores"][name] for row in rows if row["scores"][name] is not None]
        summary[name] = {"mean": round(mean(values), 3) if values else float("nan"), "n": len(values)}
    return summary


def cost(rows: list[dict[str, Any]]) -> dict[str, float]:
    latencies = [row["usage"]["latency_s"] for row in rows]
    return {
        "samples": len(rows),
        "latency_s_median": round(median(latencies), 2) if latencies else 0.0,
        "latency_s_max": round(max(latencies), 2) if latencies else 0.0,
        "output_tokens_mean": round(mean(r["usage"]["output_tokens"] for r in rows), 1) if rows else 0.0,
        "attempts_mean": round(mean(r["usage"]["attempts"] for r in rows), 2) if rows else 0.0,
    }


def print_table(title: str, summary: dict[str, dict[str, float]], costs: dict[str, float], console: Console) -> None:
    table = Table("metric", "score", "n", title=title)
    for name, value in summary.items():
        table.add_row(name, f"{value['mean']:.3f}", str(value["n"]))
    console.print(table)
    console.print(
        f"{costs['samples']} samples; latency median {costs['latency_s_median']} s (max {costs['latency_s_max']} s); "
        f"{costs['output_tokens_mean']} output tokens and {costs['attempts_mean']} attempts per sample on average"
    )


def stamp_now() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def write_report(suite: str, meta: dict[str, Any], summary: dict, costs: dict, rows: list[dict]) -> Path:
    REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = stamp_now()
    path = REPORTS_DIR / f"{suite}-{meta['provider']}-{stamp}.json"
    report = {
        "suite": suite,
        "created_at": stamp,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        **meta,
        "summary": summary,
        "cost": costs,
        "samples": rows,
    }
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def write_json(prefix: str, data: dict[str, Any]) -> Path:
    """Write a suite's result as `evals/reports/<prefix>-<UTC stamp>.json`."""
    REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORTS_DIR / f"{prefix}-{stamp_now()}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
