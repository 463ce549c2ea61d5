"""One line on what a suggestion proposes, whatever its kind: the API's `summary`, the desk's queue and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _titled(payload: dict[str, Any], *keys: str) -> str:
    return next((str(payload[key]) for key in keys if payload.get(key)), "")


def _merge(p: dict[str, Any], g: dict[str, Any]) -> str:
    return f'merge "{_titled(p.get("fold_in") or {}, "title")}" into "{_titled(p.get("keep") or {}, "title")}"'


def _split(p: dict[str, Any], g: dict[str, Any]) -> str | None:
    if "children" not in p:
        return None
    return f'split "{g.get("title", "")}" into {len(p["children"])} stories ({p.get("pattern")})'


def _priority(p: dict[str, Any], g: dict[str, Any]) -> str | None:
    if "proposed_priority" not in p:
        return None
    return f'priority of "{_titled(p, "item_title", "title")}": {p["proposed_priority"]}'


def _rewrite(p: dict[str, Any], g: dict[str, Any]) -> str | None:
    """The new title when it changes, and what the story now has (its title often stays: the text is rewritten)."""
    if "title" not in p:
        return None
    old = g.get("title", "")
    criteria, questions = len(p.get("acceptance_criteria") or []), len(p.get("open_questions") or [])
    has = [f"{criteria} criteria"] + ([f"{questions} open question{'s' * (questions != 1)}"] if questions else [])
    return f'rewrite "{old}"' + (f' as "{p["title"]}"' if p["title"] != old else "") + f" ({', '.join(has)})"


def _likely(p: dict[str, Any]) -> str:
    """An estimate's likely range, when it has one that is not a single value."""
    low, high = p.get("low"), p.get("high")
    return f" (likely {low}-{high})" if low is not None and high is not None and low != high else ""


# What each kind proposes, from its payload and input; None: the payload lacks it (a failed suggestion's raw output).
PROPOSES: dict[str, Callable[[dict[str, Any], dict[str, Any]], str | None]] = {
    "merge": _merge,
    "split": _split,
    "priority": _priority,
    "sprint_plan": lambda p, g: f"sprint plan: {p.get('points_used')} of {p.get('capacity_points')} points",
    "estimate": lambda p, g: f'{p.get("points", "?")} points{_likely(p)} for "{g.get("title", "")}"',
    "labels": lambda p, g: f'label "{g.get("title", "")}" {", ".join(p.get("labels") or [])}',
    "rewrite": _rewrite,
    "evidence": lambda p, g: f'evidence for "{_titled(p, "title", "backlog_item_title") or g.get("title", "")}"',
    "item_change": lambda p, g: f'change to "{p.get("item_title", "")}": {p.get("detail", "")}',
}


def summary(suggestion: Any) -> str:
    """One line on what a suggestion proposes, whatever its kind (`kind`, `payload`, `input` and `reason` read)."""
    payload, given = suggestion.payload or {}, suggestion.input or {}
    if said := PROPOSES.get(suggestion.kind, lambda p, g: None)(payload, given):
        return said[0].upper() + said[1:]
    named = _titled(payload, "decision", "task", "title", "item_title", "text") or _titled(given, "title")
    return named or " ".join(str(given.get("text") or suggestion.reason or "").split())[:100]


def one_line(text: str, most: int) -> str:
    """`text` on one line (runs of whitespace as one space), cut to `most` characters with an ellipsis."""
    said = " ".join(text.split())
    return said if len(said) <= most else said[: most - 1] + "…"
