"""The local spool: each writing process appends events to its own locked directory.

Layout under ``<DATA_DIR>/spool/``::

    <host>-<pid>-<rand>/lock                 flock'ed by its writer for the writer's lifetime
    <host>-<pid>-<rand>/0000000001.spool     lines ``<table>\\t<json>\\n``, append-only
    <host>-<pid>-<rand>/state.json           {"segment", "offset", "pending", "verify"}:
                                             what is shipped (written when the directory is made)
    .tmp-<rand>/                             a directory being created; shippers ignore it
    .rejected/<dir>.spool                    lines ClickHouse refused as malformed

A directory whose lock can be taken belongs to a dead process and may be adopted.

Durability. An event is one ``write(2)`` of one line, not fsynced: once the call returns it
is in the kernel's page cache and survives the death of the process (SIGKILL, OOM, a
crash), which is what SPEC 4.1 promises; it does not survive a power cut or a kernel crash
in the next few seconds. An fsync per event would add a disk flush to every request (3.3 ms
on the dev machine, against 1 µs for the write). For decisions, the SQL record is the
authority and the consent reconciler re-emits the events ClickHouse lacks. What the spool's
own bookkeeping claims is fsynced: ``state.json`` (the file before it replaces the old one,
and the directory after), a new spool directory with its first state, each new segment's
directory entry, and lines set aside in ``.rejected/``.

A state file that cannot be read (empty, torn, edited, missing, or pointing past its data)
does not stop shipping: the directory is replayed from its oldest segment, logged as an
error and shown in the health report. A replay cuts batches where the lost state no longer
says, so their dedup tokens are new to ClickHouse; instead, the replayed lines up to the
point the damage was found are shipped only if their ``event_id`` is not in the table yet.
Lines without one (the ``dropped_hits`` counters) cannot be checked and may count twice.
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


Position = tuple[int, int]  # (segment, offset)


@dataclass(frozen=True)
class State:
    """How far a spool directory is shipped: a segment, an offset and a batch in flight.

    ``verify`` is set after a damaged state: lines before that position are shipped only
    if ClickHouse does not have their event ids yet.
    """

    segment: int
    offset: int = 0
    pending: tuple[int, int] | None = None
    verify: Position | None = None

    def moved(
        self, segment: int, offset: int = 0, pending: tuple[int, int] | None = None
    ) -> "State":
        """Return the state at a new position, still verifying if it is before ``verify``."""
        verify = self.verify if self.verify and (segment, offset) < self.verify else None
        return State(segment, offset, pending, verify)


class DamagedState(ValueError):
    """A spool directory's state file cannot be trusted."""


def load_state(directory: Path) -> State | None:
    """Read a directory's state file; None if it has none, DamagedState if it is unreadable."""
    try:
        raw = (directory / STATE).read_bytes()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(raw)
        segment, offset = doc["segment"], doc["offset"]
        pending, verify = doc.get("pending"), doc.get("verify")
        state = State(
            segment,
            offset,
            (pending[0], pending[1]) if pending else None,
            (verify[0], verify[1]) if verify else None,
        )
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise DamagedState(f"unreadable {STATE} ({len(raw)} bytes): {e}") from e
    numbers = [state.segment, state.offset, *(state.pending or ()), *(state.verify or ())]
    if not all(type(n) is int and n >= 0 for n in numbers) or state.segment < 1:
        raise DamagedState(f"{STATE} holds a position that is not one: {raw[:200]!r}")
    if state.pending and not state.offset <= state.pending[0] <= state.pending[1]:
        raise DamagedState(f"{STATE} holds a batch outside its segment: {raw[:200]!r}")
    return state


def fsync_dir(path: Path) -> None:
    """Make the entries of a directory (files created, renamed into it) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _save_state(directory: Path, state: State) -> None:
    doc = {
        "segment": state.segment,
        "offset": state.offset,
        "pending": state.pending,
        "verify": state.verify,
    }
    tmp = directory / f".{STATE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(doc).encode())
        # On disk before it replaces the old state: a power cut must not leave an empty file.
        os.fsync(fd)
    finally:
        os.close(fd)
    # Replaced whole so a crash leaves the old state or the new one, never half of either.
    os.replace(tmp, directory / STATE)
    fsync_dir(directory)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:40] or "host"


class SpoolWriter:
    """Append lines to this process's spool directory, one write(2) per line."""

    def __init__(self, root: Path):
        if not root.is_dir():
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            fsync_dir(root.parent)
        tmp = root / f".tmp-{secrets.token_hex(6)}"
        tmp.mkdir(mode=0o700)
        self._lock_fd = -1
        try:
            self._lock_fd = os.open(tmp / LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Born with a state, so a directory without one is known to have lost it.
            _save_state(tmp, State(1))
            self.name = f"{_host()}-{os.getpid()}-{secrets.token_hex(4)}"
            self.path = root / self.name
            # Renamed only once locked, so no shipper can mistake it for a dead process's.
            os.rename(tmp, self.path)
            fsync_dir(root)
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
        # Once per segment: the lines written to it are worth nothing if its name is lost.
        fsync_dir(self.path)
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
    verify: bool = False  # ship only the lines whose event_id ClickHouse does not have


class SpoolDir:
    """A spool directory this process ships: its own, or a dead process's it holds locked."""

    def __init__(self, path: Path, lock_fd: int | None = None, writer: SpoolWriter | None = None):
        self.path = path
        self.name = path.name
        self.writer = writer
        self._lock_fd = lock_fd
        self.exhausted = False
        self.damage: str | None = None
        seqs = segment_seqs(path)
        try:
            self.state = check_state(path, load_state(path), seqs)
        except DamagedState as e:
            self._replay_from_start(seqs, str(e))
            return
        for seq in seqs:
            if seq < self.state.segment:
                # Left by a crash between moving the state on and deleting the segment.
                segment_path(path, seq).unlink(missing_ok=True)

    def _replay_from_start(self, seqs: list[int], damage: str) -> None:
        """Ship the directory again from its oldest segment, checking what ClickHouse has."""
        self.damage = damage
        verify = None
        if seqs:
            verify = (seqs[-1], _size(segment_path(self.path, seqs[-1])))
        log.error(
            "spool %s: %s; replaying it from the start, skipping events ClickHouse has",
            self.name,
            damage,
        )
        # Saved at once, so a crash during the replay still verifies what it replays.
        self._save(State(seqs[0] if seqs else 1, verify=verify))

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
            writer = self.writer
            active = writer.active_seq if writer else None
            data = self._read(state.segment, state.offset, READ_BYTES)
            chunk = _complete_lines(data, max_lines)
            if chunk:
                start, end = state.offset, state.offset + len(chunk)
                self._save(state.moved(state.segment, start, (start, end)))
                return self._batch(state.segment, start, end, chunk)
            if writer is not None and active is not None and state.segment >= active:
                if state.offset < ROTATE_SHIPPED_BYTES or not writer.rotate(state.segment):
                    return None
                continue
            if not self._advance(len(data)):
                return None

    def ack(self, batch: Batch) -> None:
        """Record a batch as shipped."""
        self._save(self.state.moved(batch.segment, batch.end))

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
        # Segments before the state: a directory seen with segments but no state is damaged.
        last = (STATE, LOCK)
        for entry in sorted(os.scandir(self.path), key=lambda e: e.name in last):
            if entry.name not in last:
                os.unlink(entry.path)
        (self.path / STATE).unlink(missing_ok=True)
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
        self._save(state.moved(later[0]))
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
        verify = self.state.verify is not None and (seq, start) < self.state.verify
        return Batch(f"{self.name}/{seq}/{start}-{end}", seq, start, end, data, verify)


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def check_state(directory: Path, state: State | None, seqs: list[int]) -> State:
    """Check a loaded state against the segments on disk; raise DamagedState if it is off."""
    if state is None:
        if seqs:  # every directory is made with a state
            raise DamagedState(f"no {STATE}")
        return State(1)
    if not seqs:
        return state
    if state.segment not in seqs:
        # States only move to segments that exist, and segments are deleted only behind it.
        raise DamagedState(f"{STATE} points to segment {state.segment}, which is not there")
    end = state.pending[1] if state.pending else state.offset
    if end > _size(segment_path(directory, state.segment)):
        raise DamagedState(f"{STATE} points past the end of segment {state.segment}")
    return state


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
            try:
                return SpoolDir(path, lock_fd=fd)
            except BaseException:
                # Kept, the lock would hide the directory from every later try.
                os.close(fd)
                raise
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
        # The batch is acknowledged next: these lines must outlast it.
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(target)
