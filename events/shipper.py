"""The shipper: move spooled lines into ClickHouse batch by batch, exactly once.

A batch is acknowledged once its rows are inserted and the hooks of their tables have run
(:data:`Hooks`: what must follow the rows, e.g. recounting the rollups a correction
changes). If an insert or a hook fails, the batch stays in flight and is shipped again,
under the same deduplication tokens, so hooks must be idempotent.
"""

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import jsoncodec
from core.times import api_time
from events.clickhouse import canonical_id, is_data_error, stored_ids
from events.protocols import EventStore
from events.spool import (
    LOCK,
    TABLE_RE,
    SpoolDir,
    SpoolWriter,
    adopt_one,
    reject_lines,
    try_lock,
)

log = logging.getLogger(__name__)

# Damaged spools kept for the health report (the newest; the log has them all).
DAMAGE_KEPT = 20

# What runs after a batch's rows of a table are in ClickHouse: table -> hooks, each given
# the rows (parsed; lines that are not a JSON object are left out).
Hook = Callable[[list[dict[str, Any]]], None]
Hooks = Mapping[str, Sequence[Hook]]


class Shipper:
    """Ship this process's spool directory and, one at a time, those of dead processes."""

    def __init__(
        self,
        root: Path,
        store: EventStore,
        writer: Callable[[], SpoolWriter | None],
        batch_lines: int,
        hooks: Hooks | None = None,
    ):
        self.root = root
        self._hooks: Hooks = hooks if hooks is not None else {}
        self.store = store
        self.batch_lines = batch_lines
        self._writer = writer
        self._own: SpoolDir | None = None
        self._held: SpoolDir | None = None
        self._lock = threading.Lock()
        self.shipped_events = 0
        self.rejected_events = 0
        self._full = False  # whether the current step shipped a batch of batch_lines
        self.last_shipped_at: str | None = None
        self.last_error: str | None = None
        # Spools whose state could not be read, replayed from the start: name -> error.
        self.damaged: dict[str, str] = {}

    def ship(
        self,
        deadline: float | None = None,
        interrupt: threading.Event | None = None,
        drain: bool = True,
    ) -> bool:
        """Ship until nothing reachable is left (True), or the deadline or interrupt (False).

        Without ``drain``, stop after a round of partial batches (True): the background
        loop then waits for its interval, so a busy server ships one batch a second instead
        of a stream of tiny inserts, each costing ClickHouse a part to merge.
        """
        wait = -1 if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._lock.acquire(timeout=wait):
            return False
        try:
            while True:
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                if interrupt is not None and interrupt.is_set():
                    return False
                self._full = False
                if not self._step() or not (drain or self._full):
                    self.last_error = None
                    return True
        except Exception as e:
            self.last_error = f"{type(e).__name__}: {e}"
            raise
        finally:
            self._lock.release()

    def release(self) -> None:
        """Let go of an adopted directory; whatever is left in it stays for the next shipper."""
        with self._lock:
            if self._held is not None:
                self._held.release()
                self._held = None
            self._own = None

    def retire(self, writer: SpoolWriter) -> None:
        """Close a writer and remove its directory if everything in it is shipped."""
        writer.close()
        # Another shipper may take the released directory first; then it removes it.
        fd = try_lock(writer.path / LOCK)
        if fd is None:
            return
        directory = SpoolDir(writer.path, lock_fd=fd)
        if directory.is_shipped():
            directory.remove()
        else:
            directory.release()

    def abandon(self) -> None:
        """Forget every directory, leaving them to the parent of a fork."""
        if self._held is not None:
            # Closing a forked copy of the fd keeps the parent's flock.
            self._held.release()
        self._own = self._held = None
        self._lock = threading.Lock()

    def _step(self) -> bool:
        """Ship one batch of our own spool and one of an adopted one; False if idle."""
        moved = False
        writer = self._writer()
        if writer is None:
            self._own = None
        elif self._own is None or self._own.writer is not writer:
            self._own = self._noted(SpoolDir(writer.path, writer=writer))
        if self._own is not None:
            moved |= self._ship_one(self._own)
        if self._held is None:
            skip = {writer.name} if writer else set()
            self._held = adopt_one(self.root, skip)
            if self._held is not None:
                log.info("adopted spool %s", self._held.name)
                self._noted(self._held)
        if self._held is not None:
            if self._ship_one(self._held):
                moved = True
            elif self._held.exhausted:
                self._held.remove()
                log.info("shipped and removed spool %s", self._held.name)
                self._held = None
                moved = True
        return moved

    def _ship_one(self, directory: SpoolDir) -> bool:
        batch = directory.next_batch(self.batch_lines)
        if batch is None:
            return False
        lines = batch.data.count(b"\n")
        tables, malformed = group_by_table(batch.data, lines)
        if malformed:
            self._reject(directory, malformed, "not a <table>\\t<json> line")
        for table, rows in tables.items():
            token = f"{batch.token}/{table}"
            if batch.verify:
                rows, token = self._unshipped(table, rows, token)
                if not rows:
                    continue
            self._insert(directory, table, rows, token)
        # Also when every row was there already: a crash may have come between the insert
        # and the hook.
        for table, rows in tables.items():
            for hook in self._hooks.get(table, ()):
                hook(_parsed(rows))
        directory.ack(batch)
        self.shipped_events += lines
        self._full |= lines >= self.batch_lines
        self.last_shipped_at = api_time(datetime.now(UTC))
        return True

    def _unshipped(self, table: str, rows: bytes, token: str) -> tuple[bytes, str]:
        """Keep the rows whose event_id ClickHouse lacks; name the insert by what is left.

        A replayed batch after a damaged state may overlap batches shipped under other
        boundaries (other tokens), so ids decide. The token carries a digest of the rows
        kept: a retry of the same rows deduplicates, a smaller retry is not mistaken for it.
        """
        lines = rows.split(b"\n")[:-1]
        ids = [_event_id(line) for line in lines]
        present = stored_ids(self.store, table, [i for i in ids if i is not None])
        kept = [line for line, i in zip(lines, ids, strict=True) if i is None or i not in present]
        if len(kept) < len(lines):
            skipped = len(lines) - len(kept)
            log.warning("skipped %d replayed %s events ClickHouse has", skipped, table)
        data = b"".join(line + b"\n" for line in kept)
        return data, f"{token}/{hashlib.sha256(data).hexdigest()[:16]}"

    def _noted(self, directory: SpoolDir) -> SpoolDir:
        if directory.damage is not None:
            self.damaged.pop(directory.name, None)
            self.damaged[directory.name] = directory.damage
            while len(self.damaged) > DAMAGE_KEPT:
                del self.damaged[next(iter(self.damaged))]
        return directory

    def _insert(self, directory: SpoolDir, table: str, rows: bytes, token: str) -> None:
        try:
            self.store.insert_json(table, rows, token)
        except Exception as e:
            if not is_data_error(e):
                raise
            lines = rows.split(b"\n")[:-1]
            if len(lines) == 1:
                self._reject(directory, [table.encode() + b"\t" + lines[0]], str(e))
                return
            # Halve until the refused rows are isolated. The halves and their tokens depend
            # only on the batch bytes, so a replay after a crash deduplicates the same way.
            mid = len(lines) // 2
            self._insert(directory, table, b"\n".join(lines[:mid]) + b"\n", f"{token}/a")
            self._insert(directory, table, b"\n".join(lines[mid:]) + b"\n", f"{token}/b")

    def _reject(self, directory: SpoolDir, lines: list[bytes], reason: str) -> None:
        reject_lines(self.root, directory.name, lines)
        self.rejected_events += len(lines)
        log.error(
            "ClickHouse refused %d spooled line(s) from %s, kept in %s: %s",
            len(lines),
            directory.name,
            self.root / ".rejected",
            reason,
        )


def _parsed(rows: bytes) -> list[dict[str, Any]]:
    parsed = []
    for line in rows.split(b"\n"):
        try:
            row = jsoncodec.loads(line) if line else None
        except ValueError:
            continue
        if isinstance(row, dict):
            parsed.append(row)
    return parsed


def _event_id(line: bytes) -> str | None:
    try:
        row = jsoncodec.loads(line)
    except ValueError:
        return None
    return canonical_id(row.get("event_id")) if isinstance(row, dict) else None


def group_by_table(data: bytes, lines: int) -> tuple[dict[str, bytes], list[bytes]]:
    """Split spool lines into JSONEachRow payloads per table, and lines that are malformed."""
    head = data[: data.find(b"\t") + 1]
    # JSON text holds no raw tab or newline, so when every line starts with the first
    # line's table, stripping the names is a single replace (the common, fast case).
    if TABLE_RE.match(head[:-1].decode("ascii", "replace")) and (
        data.startswith(head) and data.count(b"\n" + head) == lines - 1
    ):
        return {head[:-1].decode(): data[len(head) :].replace(b"\n" + head, b"\n")}, []
    tables: dict[str, list[bytes]] = {}
    malformed = []
    for line in data.split(b"\n")[:-1]:
        table, tab, row = line.partition(b"\t")
        name = table.decode("ascii", "replace")
        if tab and (name in tables or TABLE_RE.match(name)):
            tables.setdefault(name, []).append(row)
        else:
            malformed.append(line)
    return {name: b"\n".join(rows) + b"\n" for name, rows in tables.items()}, malformed
