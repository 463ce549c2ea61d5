"""Text exports that are safe to open in a spreadsheet (OWASP "CSV Injection"), and the way back on import.

A spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a formula
(`=cmd|' /C calc'!A0` starts a program). CSV cells that start so get a leading single quote, which spreadsheets
show as text. The importers take exactly one such quote off again (`restore_cell`), so our own Jira CSV
round-trips: a cell that already started with quotes before such a character gets one more on export, and
`restore_cell(neutralise_cell(text)) == text` for any text. Markdown lines use Markdown's own escape (a backslash,
invisible when rendered) and `*` bullets instead of `-` or `+`, so no line starts with such a character either.
Numbers (story points) are written as numbers and left alone: `-1` stays `-1`.
"""

from __future__ import annotations

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_BULLET = re.compile(r"^[-+](?=[ \t]|$)")  # a list item's marker: "- item", "+ item"


def _starts_formula(text: str) -> bool:
    """True when `text`, after any single quotes, starts as a spreadsheet formula would."""
    return text.lstrip("'")[:1] in FORMULA_START  # "" (all quotes, or empty) is in no tuple of characters


def neutralise_cell(text: str) -> str:
    """A CSV text cell a spreadsheet shows as text: a leading single quote where it would start a formula."""
    return f"'{text}" if _starts_formula(text) else text


def restore_cell(text: str) -> str:
    """The cell as it was before `neutralise_cell` (one leading quote taken off before a formula character)."""
    return text[1:] if text.startswith("'") and _starts_formula(text[1:]) else text


def neutralise_markdown(text: str) -> str:
    """Markdown with no line starting as a formula: bullets become `*`, other such lines get a backslash (Markdown
    shows `\\=` as `=`), carriage returns become line ends and leading tabs spaces."""
    lines = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = re.sub(r"^\t+", lambda tabs: "    " * len(tabs[0]), line)
        line = _BULLET.sub("*", line)
        lines.append(f"\\{line}" if line[:1] in FORMULA_START else line)
    return "\n".join(lines)
