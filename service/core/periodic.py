"""A thread of the API process that does some work every few seconds (sending webhook deliveries, starting
scheduled pulls) until the app stops; a failure is logged and the next tick tries again."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Call `work(stop)` every `interval_s` seconds in a daemon thread named `name`; `stop` is set when the app stops
    (long work checks it)."""

    def __init__(self, name: str, interval_s: float, work: Callable[[threading.Event], None]) -> None:
        self.name, self.interval_s, self.work = name, interval_s, work
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start (again, after a stop: an app's lifespan can be entered more than once)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_s):
            try:
                self.work(stop)
            except Exception:  # the database away for a moment: try again next tick
                log.exception("%s failed; trying again in %s s", self.name, self.interval_s)
