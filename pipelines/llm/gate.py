"""At most N model calls at once; the others wait in first-come order and are told their place in line."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class ModelGate:
    """A fair counting gate in front of a model. `slot()` blocks until the caller's turn; while it waits,
    `on_wait(position)` hears its place in the line of waiting calls (1 = next)."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a model gate needs at least one slot")
        self.slots = slots
        self._running = 0
        self._line: deque[object] = deque()
        self._changed = threading.Condition()

    @contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None) -> Iterator[None]:
        ticket = object()
        with self._changed:
            self._line.append(ticket)
            told = None
            while self._line[0] is not ticket or self._running >= self.slots:
                position = self._line.index(ticket) + 1
                if on_wait and position != told:
                    told = position
                    on_wait(position)
                self._changed.wait()
            self._line.popleft()
            self._running += 1
            self._changed.notify_all()
        try:
            yield
        finally:
            self.leave()

    def try_enter(self) -> bool:
        """Take a slot now if one is free and nobody waits in line (True), else take nothing (False); who took
        one must `leave()`. For a caller that picks among several gates (pipelines.llm.pool)."""
        with self._changed:
            if self._line or self._running >= self.slots:
                return False
            self._running += 1
            return True

    def leave(self) -> None:
        """Give back a slot (one taken with `try_enter`; `slot()` does it on its way out)."""
        with self._changed:
            self._running -= 1
            self._changed.notify_all()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._line)
