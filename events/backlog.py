"""Measure what is still unshipped under a spool root, and look for events in it."""

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from events.clickhouse import canonical_id
from events.spool import (
    REJECTED,
    DamagedState,
    State,
    check_state,
    load_state,
    segment_path,
    segment_seqs,
    spool_dirs,
)

_CHUNK = 4 * 1024 * 1024


@dataclass
class Backlog:
    """Unshipped bytes and complete lines under a spool root, in total and per directory."""

    bytes: int = 0
    events: int = 0
    spools: int = 0
    rejected_events: int = 0
    per_spool: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Spools whose state cannot be read (counted whole): name -> what is wrong.
    damaged: dict[str, str] = field(default_factory=dict)


class BacklogMeter:
    """Measure the backlog, counting lines only in bytes not counted by an earlier call."""

    def __init__(self, root: Path):
        self.root = root
        self._lock = threading.Lock()
        # segment path -> (offset counted from, bytes counted up to, lines found)
        self._counted: dict[Path, tuple[int, int, int]] = {}

    def measure(self, count_events: bool = True) -> Backlog:
        """Sum unshipped bytes (and, if asked, events) across every spool directory."""
        with self._lock:
            total = Backlog()
            seen: set[Path] = set()
            for directory in spool_dirs(self.root):
                nbytes = nevents = 0
                state, seqs = _read_state(directory, total.damaged)
                for seq in seqs:
                    if state and seq < state.segment:
                        continue
                    path = segment_path(directory, seq)
                    start = state.offset if state and seq == state.segment else 0
                    try:
                        size = os.stat(path).st_size
                    except FileNotFoundError:
                        continue
                    nbytes += max(0, size - start)
                    if count_events:
                        seen.add(path)
                        nevents += self._lines(path, start, size)
                total.bytes += nbytes
                total.events += nevents
                total.spools += 1
                total.per_spool[directory.name] = (nevents, nbytes)
            if count_events:
                self._counted = {p: c for p, c in self._counted.items() if p in seen}
                total.rejected_events = self._rejected()
            return total

    def _lines(self, path: Path, start: int, size: int) -> int:
        known_start, known_end, known = self._counted.get(path, (start, start, 0))
        if known_start != start or known_end > size:
            known_end, known = start, 0
        if known_end < size:
            known += _count_newlines(path, known_end, size)
            self._counted[path] = (start, size, known)
        return known

    def _rejected(self) -> int:
        try:
            files = list(os.scandir(self.root / REJECTED))
        except FileNotFoundError:
            return 0
        return sum(_count_newlines(Path(f.path), 0, f.stat().st_size) for f in files)


def spooled_ids(root: Path, table: str, ids: set[str]) -> set[str]:
    """Return those of ``ids`` (canonical UUID text) in unshipped or set-aside lines of ``table``.

    Reads every spool directory, live or dead, from its shipped position (the batch in
    flight included; a damaged one from the start), and ``.rejected/``: an event there is
    not lost, it waits for a shipper or an operator. Takes no lock, so a line shipped
    meanwhile may be missed: callers ask ClickHouse again for what this does not find.
    """
    line = re.compile(
        rb"^" + re.escape(table.encode()) + rb'\t[^\n]*?"event_id"\s*:\s*"([0-9A-Fa-f-]{32,36})"',
        re.MULTILINE,
    )
    found: set[str] = set()
    for path, start in _unshipped_files(root):
        for chunk in _line_chunks(path, start):
            for match in line.finditer(chunk):
                event_id = canonical_id(match[1].decode())
                if event_id in ids:
                    found.add(event_id)
        if found == ids:
            break
    return found


def _unshipped_files(root: Path) -> Iterator[tuple[Path, int]]:
    for directory in spool_dirs(root):
        state, seqs = _read_state(directory, {})
        for seq in seqs:
            if state and seq < state.segment:
                continue
            yield (
                segment_path(directory, seq),
                state.offset if state and seq == state.segment else 0,
            )
    try:
        rejected = sorted(os.scandir(root / REJECTED), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for entry in rejected:
        yield Path(entry.path), 0


def _line_chunks(path: Path, start: int) -> Iterator[bytes]:
    """Yield a file's bytes from ``start`` in chunks of whole lines."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            rest = b""
            while chunk := f.read(_CHUNK):
                data = rest + chunk
                end = data.rfind(b"\n") + 1
                rest = data[end:]
                yield data[:end]
    except FileNotFoundError:
        return  # shipped and deleted meanwhile


def _read_state(directory: Path, damaged: dict[str, str]) -> tuple[State | None, list[int]]:
    """Read a directory's state and segments; note in ``damaged`` a state that is off."""
    seen = None
    for _ in range(2):
        # The state first: a removal deletes the segments, then the state.
        try:
            state = load_state(directory)
        except DamagedState as e:
            damaged[directory.name] = str(e)
            return None, segment_seqs(directory)
        except OSError:
            return None, segment_seqs(directory)
        seqs = segment_seqs(directory)
        try:
            return check_state(directory, state, seqs), seqs
        except DamagedState as e:
            if seen == state:  # the same state twice: not one a shipper was moving on
                damaged[directory.name] = str(e)
                return None, seqs
            seen = state
    return None, seqs


def _count_newlines(path: Path, start: int, end: int) -> int:
    count = 0
    try:
        with open(path, "rb") as f:
            f.seek(start)
            while start < end:
                chunk = f.read(min(_CHUNK, end - start))
                if not chunk:
                    break
                count += chunk.count(b"\n")
                start += len(chunk)
    except FileNotFoundError:
        pass
    return count
