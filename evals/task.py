"""The one shape of an eval suite (inspect_ai style: a dataset, a solver, one scorer per metric).

Every module in `evals/suites/` exposes `NEEDS_LLM` (whether `python -m evals` builds an LLM for it) and
`run(options: EvalOptions) -> EvalResult`; `evals.report` shows and writes every result the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any, Literal, get_args

from pipelines.llm import LLM

Split = Literal["test", "dev"]
SPLITS: tuple[str, ...] = get_args(Split)  # test: the reported set; dev: for tuning


class EvalError(Exception):
    """The run cannot go as asked (an option that does not apply, missing data); the entry point prints it."""


def require_data(*paths: Path) -> None:
    """EvalError naming the first of `paths` that is missing (the shared data is not next to the checkout)."""
    for path in paths:
        if not path.exists():
            raise EvalError(f"{path} not found; set REFINERY_SHARED_DATA to the shared data folder")


def means(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    """How many `rows` are valid (no "error"), and the mean of each of `keys` over those (None when none is)."""
    ok = [r for r in rows if "error" not in r]
    return {"valid": len(ok)} | {k: round(mean(float(r[k]) for r in ok), 3) if ok else None for k in keys}


def _ignore(*_: Any) -> None:
    return None


@dataclass
class EvalOptions:
    """What one run is asked for. A suite uses what applies to it: `limit` is samples for drafting, reports for
    duplicates and reports per priority level for prioritization; `calibrate` is for duplicates and estimate (dev) and
    `use_llm` for ingest (drafting the themes too)."""

    split: Split = "test"
    limit: int | None = None
    llm: LLM | None = None
    calibrate: bool = False
    use_llm: bool = True
    log: Callable[[str], None] = print
    on_sample: Callable[[int, int], None] = _ignore  # (samples done, samples in all): progress

    def require_llm(self, suite: str) -> LLM:
        if self.llm is None:
            raise EvalError(f"the {suite} suite needs an LLM (--provider local or openai)")
        return self.llm

    def meta(self, **extra: Any) -> dict[str, Any]:
        """What a report says about its run: the provider and model (None without an LLM), the split and limit, and
        whatever else the suite adds (dataset, parameters)."""
        llm = self.llm
        return {
            "provider": llm.provider if llm else None,
            "model": llm.model if llm else None,
            "split": self.split,
            "limit": self.limit,
            **extra,
        }


@dataclass
class EvalResult:
    """One run: `summary` maps each metric to its value (a number, or a mapping such as {mean, n}, or the same
    metrics per method); `samples` has one row per sample (or per app) with its scores; `notes` are printed
    under the table."""

    suite: str
    meta: dict[str, Any]
    summary: dict[str, Any]
    samples: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
