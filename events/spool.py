"""The local spool: each writing process appends events to its own locked directory.

Layout under ``<DATA_DIR>/spool/``::

    <host>-<pid>-<rand>/lock                 flock'ed by its writer for the writer's lifetime
    <host>-<pid>-<rand>/0000000001.spool     lines ``<table>\\t<json>\\n``, append-only
    <host>-<pid>-<rand>/state.json           {"segment", "offset", "pending"}: what is shipped
    .tmp-<rand>/                             a directory being created; shippers ignore it
    .rejected/<dir>.spool                    lines ClickHouse refused as malformed

A directory whose lock can be taken belongs to a dead process and may be adopted.
"""

import errno
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from events.errors import SpoolFull

log = logging.getLogger(__name__)

SEGMENT_BYTES = 8 * 1024 * 1024
# A fully shipped active segment at least this big is rotated so it can be deleted.
ROTATE_SHIPPED_BYTES = 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024
READ_BYTES = 32 * 1024 * 1024
LOCK, STATE, REJECTED = "lock", "state.json", ".rejected"
TABLE_RE = re.compile(r"[a-z_][a-z0-9_]*\Z")
_SEGMENT_RE = re.compile(r"(\d{10})\.spool\Z")
# A .tmp- directory older than this with a free lock was left by a process that died while
# creating it; it never holds events.
_STALE_TMP_SECONDS = 3600


def segment_path(directory: Path, seq: int) -> Path:
    """Return the path of segment ``seq`` in a spool directory."""
    return directory / f"{seq:010d}.spool"


def segment_seqs(directory: Path) -> list[int]:
    """List the segment numbers present in a spool directory, oldest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(int(m[1]) for m in map(_SEGMENT_RE.match, names) if m)


def spool_dirs(root: Path) -> list[Path]:
    """List the spool directories under the root (dot-directories are not spools)."""
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return []
    return sorted(Path(e.path) for e in entries if not e.name.startswith(".") and e.is_dir())


def try_lock(path: Path) -> int | None:
    """Take the flock of ``path`` without waiting; return the fd, or None if it is held."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # The shipper that held it may have removed the directory just before we locked.
        if os.stat(path).st_ino == os.fstat(fd).st_ino:
            return fd
    except (BlockingIOError, FileNotFoundError):
        pass
    os.close(fd)
    return None


@dataclass(frozen=True)
class State:
    """How far a spool directory is shipped: a segment, an offset and a batch in flight."""

    segment: int
    offset: int = 0
    pending: tuple[int, int] | None = None


def load_state(directory: Path) -> State | None:
    """Read a directory's state file, or None if it has none yet."""
    try:
        raw = json.loads((directory / STATE).read_bytes())
    except FileNotFoundError:
        return None
    pending = raw.get("pending")
    return State(raw["segment"], raw["offset"], tuple(pending) if pending else None)


def _save_state(directory: Path, state: State) -> None:
    doc = {"segment": state.segment, "offset": state.offset, "pending": state.pending}
    tmp = directory / f".{STATE}.tmp"
    tmp.write_text(json.dumps(doc))
    # Replaced whole so a crash leaves the old state or the new one, never half of either.
    os.replace(tmp, directory / STATE)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:40] or "host"


class SpoolWriter:
    """Append lines to this process's spool directory, one write(2) per line."""

    def __init__(self, root: Path):
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = root / f".tmp-{secrets.token_hex(6)}"
        tmp.mkdir(mode=0o700)
        self._lock_fd = -1
        try:
            self._lock_fd = os.open(tmp / LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.name = f"{_host()}-{os.getpid()}-{secrets.token_hex(4)}"
            self.path = root / self.name
            # Renamed only once locked, so no shipper can mistake it for a dead process's.
            os.rename(tmp, self.path)
        except BaseException:
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._lock = threading.Lock()
        self._fd = -1  # segment 1 is opened by the first append
        self._size = 0
        self.active_seq = 0
        self.bytes_written = 0
        self.lines_written = 0

    def append(self, line: bytes) -> int:
        """Write one complete line; return how many lines this writer has written."""
        with self._lock:
            if self._lock_fd < 0:
                raise SpoolFull("the event spool is closed")
            try:
                if self._fd < 0:
                    self._open_segment(self.active_seq + 1)
                written = os.write(self._fd, line)
            except OSError as e:
                self._close_segment()
                if e.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise SpoolFull("no disk space left for the event spool") from e
                raise
            if written != len(line):
                # The torn line must stay the last bytes of its segment, where shippers skip it.
                self._close_segment()
                raise SpoolFull("short write to the event spool")
            self._size += written
            self.bytes_written += written
            self.lines_written += 1
            if self._size >= SEGMENT_BYTES:
                # The next append opens the next segment: this one must not fail after a write.
                self._close_segment()
            return self.lines_written

    def rotate(self, seq: int) -> bool:
        """Start a new segment if ``seq`` is still the active one; True if it was."""
        with self._lock:
            if self.active_seq != seq or self._lock_fd < 0:
                return False
            self._close_segment()
            self._open_segment(seq + 1)
            return True

    def close(self) -> None:
        """Stop writing and release the directory for adoption by a shipper."""
        with self._lock:
            self._close_segment()
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    def abandon(self) -> None:
        """Close this process's copies of the fds, leaving lock and files to the fork parent."""
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1

    def _open_segment(self, seq: int) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL
        self._fd = os.open(segment_path(self.path, seq), flags, 0o600)
        self._size = 0
        # Published only once the file exists: shippers treat older segments as complete.
        self.active_seq = seq

    def _close_segment(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass(frozen=True)
class Batch:
    """Complete lines read from one segment, with the token ClickHouse deduplicates on."""

    token: str
    segment: int
    start: int
    end: int
    data: bytes


class SpoolDir:
    """A spool directory this process ships: its own, or a dead process's it holds locked."""

    def __init__(self, path: Path, lock_fd: int | None = None, writer: SpoolWriter | None = None):
        self.path = path
        self.name = path.name
        self.writer = writer
        self._lock_fd = lock_fd
        self.exhausted = False
        seqs = segment_seqs(path)
        self.state = load_state(path) or State(seqs[0] if seqs else 1)
        for seq in seqs:
            if seq < self.state.segment:
                # Left by a crash between moving the state on and deleting the segment.
                segment_path(path, seq).unlink(missing_ok=True)

    def next_batch(self, max_lines: int) -> Batch | None:
        """Return the batch in flight, else the next complete lines, else None."""
        while True:
            state = self.state
            if state.pending:
                start, end = state.pending
                data = self._read(state.segment, start, end - start)
                return self._batch(state.segment, start, end, data)
            # Read the writer's position before the data: a segment older than the active
            # one gets no more writes, so what is read after this is all there will be.
            active = self.writer.active_seq if self.writer else None
            data = self._read(state.segment, state.offset, READ_BYTES)
            chunk = _complete_lines(data, max_lines)
            if chunk:
                start, end = state.offset, state.offset + len(chunk)
                self._save(State(state.segment, start, (start, end)))
                return self._batch(state.segment, start, end, chunk)
            if active is not None and state.segment >= active:
                if state.offset < ROTATE_SHIPPED_BYTES or not self.writer.rotate(state.segment):
                    return None
                continue
            if not self._advance(len(data)):
                return None

    def ack(self, batch: Batch) -> None:
        """Record a batch as shipped."""
        self._save(State(batch.segment, batch.end))

    def is_shipped(self) -> bool:
        """Tell whether every byte of the directory is acknowledged."""
        state = self.state
        if state.pending or any(seq > state.segment for seq in segment_seqs(self.path)):
            return False
        try:
            return os.stat(segment_path(self.path, state.segment)).st_size <= state.offset
        except FileNotFoundError:
            return True

    def remove(self) -> None:
        """Delete a fully shipped dead directory, then let go of its lock."""
        for entry in os.scandir(self.path):
            if entry.name != LOCK:
                os.unlink(entry.path)
        (self.path / LOCK).unlink()
        self.path.rmdir()
        self.release()

    def release(self) -> None:
        """Let go of the lock of an adopted directory, leaving its files in place."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _advance(self, leftover: int) -> bool:
        state = self.state
        if leftover:
            log.warning(
                "skipping a torn line of %d bytes at the end of %s",
                leftover,
                segment_path(self.path, state.segment),
            )
        later = [seq for seq in segment_seqs(self.path) if seq > state.segment]
        if not later:
            self.exhausted = self.writer is None
            return False
        self._save(State(later[0]))
        segment_path(self.path, state.segment).unlink(missing_ok=True)
        return True

    def _read(self, seq: int, offset: int, size: int) -> bytes:
        try:
            with open(segment_path(self.path, seq), "rb") as f:
                f.seek(offset)
                return f.read(size)
        except FileNotFoundError:
            return b""

    def _save(self, state: State) -> None:
        _save_state(self.path, state)
        self.state = state

    def _batch(self, seq: int, start: int, end: int, data: bytes) -> Batch:
        return Batch(f"{self.name}/{seq}/{start}-{end}", seq, start, end, data)


def _complete_lines(data: bytes, max_lines: int) -> bytes:
    end = -1
    for _ in range(max_lines):
        found = data.find(b"\n", end + 1)
        if found < 0:
            break
        end = found
    return data if end + 1 == len(data) else data[: end + 1]


def adopt_one(root: Path, skip: set[str]) -> SpoolDir | None:
    """Lock one directory left by a dead process and return it, or None if there is none."""
    _sweep_stale_tmp(root)
    for path in spool_dirs(root):
        if path.name in skip:
            continue
        fd = try_lock(path / LOCK)
        if fd is not None:
            return SpoolDir(path, lock_fd=fd)
    return None


def _sweep_stale_tmp(root: Path) -> None:
    try:
        entries = [e for e in os.scandir(root) if e.name.startswith(".tmp-")]
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            if time.time() - entry.stat().st_mtime < _STALE_TMP_SECONDS:
                continue
        except FileNotFoundError:
            continue
        lock = Path(entry.path) / LOCK
        fd = try_lock(lock)
        if fd is not None or not lock.exists():
            shutil.rmtree(entry.path, ignore_errors=True)
        if fd is not None:
            os.close(fd)


def reject_lines(root: Path, directory: str, lines: list[bytes]) -> None:
    """Keep lines ClickHouse refused in ``.rejected/``, in spool format, for an operator."""
    target = root / REJECTED
    target.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(target / f"{directory}.spool", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"".join(line + b"\n" for line in lines))
    finally:
        os.close(fd)
