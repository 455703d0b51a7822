"""Tasks the shipper thread runs between rounds: after its first round, then every interval.

They run there because, with the embedded engine, only the shipping process may open
ClickHouse. A failing task is logged and tried again an interval later; it never stops the
shipper. A task may return a number of seconds to be run again sooner than its interval.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.times import api_time

log = logging.getLogger(__name__)

Task = Callable[[], float | None]


@dataclass
class _Entry:
    name: str
    task: Task
    interval: float
    due: float = 0.0  # time.monotonic(); 0 is "at the next chance"
    last_ok_at: str | None = None
    last_error: str | None = None


class PeriodicTasks:
    """A few named tasks and when each is due."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def add(self, name: str, task: Task, interval: float) -> None:
        """Register (or replace) a task; it is due at once."""
        if not interval > 0:
            raise ValueError(f"interval of {name!r} must be a positive number of seconds")
        with self._lock:
            self._entries[name] = _Entry(name, task, interval)

    def reset(self) -> None:
        """Make every task due at once (a new shipper thread, after a fork)."""
        with self._lock:
            for entry in self._entries.values():
                entry.due = 0.0

    def run_due(self, stopping: threading.Event) -> None:
        """Run each task that is due, one after the other, unless the shipper is stopping."""
        with self._lock:
            entries = list(self._entries.values())
        for entry in entries:
            if stopping.is_set():
                return
            if entry.due > time.monotonic():
                continue
            entry.due = time.monotonic() + self._run(entry)

    def wait(self, longest: float) -> float:
        """Return how long the shipper may sleep before a task is due (at most ``longest``)."""
        with self._lock:
            dues = [entry.due for entry in self._entries.values()]
        return max(0.0, min([longest, *(due - time.monotonic() for due in dues)]))

    def status(self) -> dict[str, dict[str, Any]]:
        """Report when each task last succeeded, and its last error (None once it succeeds)."""
        with self._lock:
            return {
                e.name: {"last_ok_at": e.last_ok_at, "last_error": e.last_error}
                for e in self._entries.values()
            }

    def _run(self, entry: _Entry) -> float:
        try:
            sooner = entry.task()
        except Exception as e:  # whatever a task raises, the shipper carries on
            entry.last_error = f"{type(e).__name__}: {e}"[:300]
            log.warning(
                "periodic task %s failed, retrying in %.0fs: %s",
                entry.name,
                entry.interval,
                entry.last_error,
            )
            log.debug("periodic task %s failed", entry.name, exc_info=True)
            return entry.interval
        entry.last_ok_at = api_time(datetime.now(UTC))
        entry.last_error = None
        return entry.interval if sooner is None else min(max(0.0, sooner), entry.interval)
