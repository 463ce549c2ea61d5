"""The fields of a JSON object that is still being written, each reported once, as soon as it is complete."""

from __future__ import annotations

from typing import Any

from pydantic_core import from_json


class FieldStream:
    """Feed the text of one JSON object as it arrives. A top-level field is complete when the next one starts or
    the object closes; a list of objects is reported item by item as `name.0`, `name.1`, ... Values are as
    written: the caller validates the whole object at the end."""

    def __init__(self) -> None:
        self.text = ""
        self._sent: set[str] = set()

    def feed(self, delta: str) -> list[tuple[str, Any]]:
        self.text += delta
        return self._complete(closed=False)

    def close(self) -> list[tuple[str, Any]]:
        """The fields not yet reported, once the whole text has arrived (nothing if it is not a JSON object)."""
        return self._complete(closed=True)

    def _complete(self, closed: bool) -> list[tuple[str, Any]]:
        try:
            partial = from_json(self.text, allow_partial=False if closed else "trailing-strings")
        except ValueError:
            return []
        if not isinstance(partial, dict):
            return []
        found: list[tuple[str, Any]] = []
        keys = list(partial)
        for index, key in enumerate(keys):
            value = partial[key]
            done = closed or index < len(keys) - 1
            if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
                for number in range(len(value) if done else len(value) - 1):
                    found += self._once(f"{key}.{number}", value[number])
            elif done:
                found += self._once(key, value)
        return found

    def _once(self, name: str, value: Any) -> list[tuple[str, Any]]:
        if name in self._sent:
            return []
        self._sent.add(name)
        return [(name, value)]
