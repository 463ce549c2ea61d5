"""Every suite's result shown the same way (tables on the console) and written the same way (one JSON report under
evals/reports/), plus the aggregation helpers the drafting suite scores with."""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean, median
from typing import Any

from rich.console import Console
from rich.table import Table

from evals.task import EvalResult

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


def stamp_now() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def title(result: EvalResult) -> str:
    meta = result.meta
    on = f": {meta['provider']} / {meta['model']}" if meta.get("provider") else ""
    return f"{result.suite} ({meta.get('split')}, {meta.get('dataset', '-')}){on}"


def show(result: EvalResult, console: Console) -> None:
    """A title line, then the summary as tables: metrics with one value in a `metric | value` table; metrics that map
    to several values (mean and n, or the same metrics per method) in one table per shape, a column per key. Then the
    notes."""
    console.print(f"[bold]{title(result)}[/]")
    scalars = {name: value for name, value in result.summary.items() if not isinstance(value, Mapping)}
    shapes: dict[tuple[str, ...], list[tuple[str, Mapping]]] = {}
    for name, value in result.summary.items():
        if isinstance(value, Mapping):
            shapes.setdefault(tuple(value), []).append((name, value))
    for columns, rows in shapes.items():
        if len(columns) > 6:  # many metrics per method: a row per metric, a column per method
            table = Table("metric", *(name for name, _ in rows))
            for column in columns:
                table.add_row(column, *(str(value[column]) for _, value in rows))
        else:
            table = Table("metric", *columns)
            for name, value in rows:
                table.add_row(name, *(str(value[column]) for column in columns))
        console.print(table)
    if scalars:
        table = Table("metric", "value")
        for name, value in scalars.items():
            table.add_row(name, str(value))
        console.print(table)
    for note in result.notes:
        console.print(note)


def write(result: EvalResult, directory: Path = REPORTS_DIR) -> Path:
    """Write `<suite>-<split>[-<provider>]-<UTC stamp>.json` under `directory` (default evals/reports/): the meta,
    the summary, the notes (when there are any) and the per-sample rows."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = stamp_now()
    parts = [result.suite, result.meta.get("split"), result.meta.get("provider"), stamp]
    path = directory / ("-".join(str(part) for part in parts if part) + ".json")
    data = {
        "suite": result.suite,
        "created_at": stamp,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        **result.meta,
        "summary": result.summary,
        **({"notes": result.notes} if result.notes else {}),
        "samples": result.samples,
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
