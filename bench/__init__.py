"""Benchmarks: scripts that print a table (ratios against a baseline run in the same process) and keep it in
`bench/results/`."""

from __future__ import annotations

from pathlib import Path


def publish(lines: list[str], path: Path) -> None:
    """Print a bench's table and keep it in `path` (its latest output, quoted by README)."""
    text = "\n".join(lines) + "\n"
    print(text)
    path.write_text(text, encoding="utf-8")
