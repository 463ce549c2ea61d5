"""JSON from outside (uploaded files, request bodies): `json.loads` that refuses what would break later on.

Two things the standard parser accepts are refused with a `JSONRefused`, a `json.JSONDecodeError` (so every
caller's "not valid JSON" handling reports it, with its line and column):
- a document nested deeper than `MAX_DEPTH` (5,000 levels is a RecursionError in the parser or in whatever walks the
  result);
- a string with a lone surrogate (`"\\ud800"`): not Unicode text, so it can be neither stored nor sent as UTF-8.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 100
_SURROGATE = re.compile("[\ud800-\udfff]")
_HIGH, _LOW = r"\\u[dD][89abAB][0-9a-fA-F]{2}", r"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
_LONE_ESCAPE = re.compile(f"{_HIGH}(?!{_LOW})|(?<!{_HIGH}){_LOW}")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
NOT_UNICODE = "text must be valid Unicode: a lone UTF-16 surrogate (such as \\ud800) is no character"


class JSONRefused(json.JSONDecodeError):
    """Valid JSON syntax this service refuses: too deeply nested, or not Unicode text."""

    def __str__(self) -> str:
        return f"{self.msg} (line {self.lineno}, column {self.colno})"


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads(text)`; raises json.JSONDecodeError for invalid JSON, JSONRefused for the refused kinds."""
    if isinstance(text, bytes | bytearray):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    too_deep = f"nested more than {max_depth} levels deep: flatten the document"
    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONRefused(too_deep, text, _deep_position(text, max_depth)) from None
    problem = _problem(value, max_depth)
    if problem == "depth":
        raise JSONRefused(too_deep, text, _deep_position(text, max_depth))
    if problem == "unicode":
        found = _LONE_ESCAPE.search(text) or _SURROGATE.search(text)
        raise JSONRefused(NOT_UNICODE, text, found.start() if found else 0)
    return value


def _problem(value: Any, max_depth: int) -> str | None:
    """ "depth", "unicode" or None, walking the parsed value without recursion."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not node.isascii() and _SURROGATE.search(node):
                return "unicode"
        elif isinstance(node, dict | list):
            if depth > max_depth:
                return "depth"
            children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, str | dict | list))
    return None


def _deep_position(text: str, max_depth: int) -> int:
    """Where the document first opens more than `max_depth` arrays or objects (strings skipped)."""
    depth = 0
    for token in _TOKEN.finditer(text):
        symbol = token.group()
        if symbol in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return token.start()
        elif symbol in ("]", "}"):
            depth -= 1
    return 0
