"""JSONL samples `{id, input, target, metadata}`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

DATASETS_DIR = Path(__file__).parent / "datasets"


class Sample(BaseModel):
    id: str
    input: dict[str, Any]
    target: dict[str, Any]
    metadata: dict[str, Any] = {}


def load_samples(name: str, limit: int | None = None) -> list[Sample]:
    path = DATASETS_DIR / f"{name}.jsonl"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    samples = [Sample.model_validate(json.loads(line)) for line in lines]
    return samples[:limit] if limit else samples
