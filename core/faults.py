"""Crash points for crash tests: ``CONSENTRY_FAULT=<point>[:<n>]`` SIGKILLs the process there.

For tests only (tests/test_reconcile.py): they prove what survives a process killed at an
exact step, which a signal sent from outside cannot hit. ``after_commit:20`` kills the
process the 20th time any thread passes ``after_commit``; without ``:n``, the first time.
The variable is read once, at import. Unarmed, a crash point is a check of ``ARMED``,
an empty dict: callers write ``if faults.ARMED: faults.crash_point("name")``.

Points: ``after_commit`` (consent/records.py), between a decision's commit and its event.
"""

import os
import signal
import threading


def _parse(value: str) -> dict[str, int]:
    points = {}
    for item in value.split(","):
        name, _, nth = item.strip().partition(":")
        if name:
            points[name] = int(nth) if nth else 1
    return points


ARMED: dict[str, int] = _parse(os.environ.get("CONSENTRY_FAULT", ""))
_passes: dict[str, int] = {}
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """SIGKILL this process if ``name`` is armed and this is its armed pass."""
    nth = ARMED.get(name)
    if nth is None:
        return
    with _lock:
        _passes[name] = _passes.get(name, 0) + 1
        due = _passes[name] >= nth
    if due:
        os.kill(os.getpid(), signal.SIGKILL)
