"""The event pipeline of one app: spool on the request path, ship in the background."""

import atexit
import logging
import os
import random
import threading
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask

from core import jsoncodec
from core.config import ConfigError
from core.times import utc_text
from events import schema
from events.backlog import Backlog, BacklogMeter, spooled_ids
from events.clickhouse import ClickHouseStore, canonical_id, split_database, stored_ids
from events.errors import SpoolFull
from events.periodic import PeriodicTasks, Task
from events.protocols import DropReason
from events.retention import Retention, apply_retention
from events.shipper import Hook, Shipper
from events.spool import MAX_LINE_BYTES, TABLE_RE, SpoolWriter

log = logging.getLogger(__name__)

# The name of the thread that ships spools and runs the periodic tasks.
SHIPPER_THREAD = "events-shipper"

BACKOFF_FIRST, BACKOFF_CAP = 0.5, 30.0
FLUSH_PAUSE_FIRST, FLUSH_PAUSE_CAP = 0.05, 1.0
STOP_GRACE = 0.1
DROPS_TABLE = "dropped_hits"
DEFAULT_RETENTION = Retention()


def _now() -> str:
    return utc_text(datetime.now(UTC), sep=" ")


class Pipeline:
    """Spool events durably before a response is sent and ship them to ClickHouse in batches."""

    def __init__(
        self,
        data_dir: str | Path,
        clickhouse_url: str,
        *,
        schema_dir: str | Path,
        max_bytes: int = 512 * 1024 * 1024,
        interval: float = 1.0,
        batch: int = 10_000,
        flush_seconds: float = 10.0,
        cluster: str | None = None,
        retention: Retention = DEFAULT_RETENTION,
    ):
        self.root = Path(data_dir) / "spool"
        self.schema_dir = Path(schema_dir)
        self.cluster = cluster
        self.retention = retention
        self.max_bytes = max_bytes
        self.interval = interval
        self.batch = batch
        self.flush_seconds = flush_seconds
        self.clickhouse = ClickHouseStore(clickhouse_url)
        self._meter = BacklogMeter(self.root)
        self._tables: set[str] = set()
        self._periodic = PeriodicTasks()
        self._hooks: dict[str, list[Hook]] = {}
        self._init_runtime()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(ref))

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()
        self._writer: SpoolWriter | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._signaled_at = 0
        self._drops: Counter[tuple[str, str]] = Counter()
        self._drops_lock = threading.Lock()
        # (writer, its bytes_written, backlog bytes) at the last measurement of the spool.
        self._mark: tuple[SpoolWriter | None, int, int] = (None, 0, 0)
        self._shipper = Shipper(
            self.root, self.clickhouse, lambda: self._writer, self.batch, self._hooks
        )
        self._periodic.reset()

    def emit(self, table: str, row: dict[str, Any]) -> None:
        """Append one event to the spool; it survives a crash of the process once this returns."""
        if self._thread is None:
            self.start()
        if "event_id" not in row or "ts" not in row:
            row = {"event_id": str(uuid.uuid4()), "ts": _now(), **row}
        self._append(table, row)

    def count_drop(self, reason: DropReason, source: str) -> None:
        """Count one dropped hit by reason; kept in memory while the spool cannot take it."""
        if self._thread is None:
            self.start()
        row = {"ts": _now()[:19], "source": source, "reason": reason, "hits": 1}
        try:
            self._append(DROPS_TABLE, row)
        except (SpoolFull, OSError):
            with self._drops_lock:
                self._drops[(source, reason)] += 1

    def has_room(self) -> bool:
        """Tell whether the spool is under its disk budget."""
        writer, at_mark, measured = self._mark
        current = self._writer
        unmeasured = 0
        if current is not None:
            unmeasured = current.bytes_written - (at_mark if current is writer else 0)
        return measured + unmeasured < self.max_bytes

    def missing_events(
        self, table: str, event_ids: Iterable[str], since: datetime | None = None
    ) -> set[str]:
        """Return the ids that are neither in ClickHouse's ``table`` nor waiting in a spool.

        Ids are UUID text; the answer is in ClickHouse's form (lowercase, with dashes).
        ``since``, if given, is a time no row of these ids is older than. The order of the
        looks matters: an event moves from a spool into ClickHouse (inserted, then
        acknowledged), so ClickHouse is asked, then the spool for what it lacks, then
        ClickHouse again for what neither had: an event that moved in between is in the
        second answer. Run it where ClickHouse may be opened (for chdb, the shipping process).
        """
        if not TABLE_RE.match(table):
            raise ValueError(f"not a ClickHouse table name: {table!r}")
        wanted = set()
        for event_id in event_ids:
            canonical = canonical_id(event_id)
            if canonical is None:
                raise ValueError(f"not an event id: {event_id!r}")
            wanted.add(canonical)
        missing = wanted - stored_ids(self.clickhouse, table, wanted, since)
        if missing:
            missing -= spooled_ids(self.root, table, missing)
        if missing:
            missing -= stored_ids(self.clickhouse, table, missing, since)
        return missing

    def add_periodic(self, name: str, task: Task, interval: float) -> None:
        """Have the shipper thread run ``task`` after its first round, then every ``interval``.

        The task runs without an app context; it may return seconds after which it should
        run again, if sooner. Failures are logged and retried; they never stop shipping.
        """
        self._periodic.add(name, task, interval)

    def after_shipping(self, table: str, hook: Hook) -> None:
        """Have ``hook`` run with each shipped batch's rows of ``table``, in the shipper
        thread, once they are in ClickHouse and before the batch is acknowledged.

        If it raises, the batch is shipped again later (its inserts deduplicated) and the
        hook runs again: it must be idempotent. It runs without an app context.
        """
        if not TABLE_RE.match(table):
            raise ValueError(f"not a ClickHouse table name: {table!r}")
        self._hooks.setdefault(table, []).append(hook)

    def start(self) -> None:
        """Start the background shipper; it first ships leftovers, then new events."""
        with self._lock:
            if self._thread is not None:
                return
            self._stopping.clear()
            self._refresh_budget()
            self._thread = threading.Thread(
                target=self._run, args=(self._stopping,), name=SHIPPER_THREAD, daemon=True
            )
            self._thread.start()
        atexit.register(self.stop)

    def stop(self, timeout: float | None = None) -> None:
        """Flush until the deadline, stop the shipper and leave the rest spooled."""
        deadline = time.monotonic() + (self.flush_seconds if timeout is None else timeout)
        atexit.unregister(self.stop)
        thread = self._thread
        self._stopping.set()
        self._wake.set()
        if thread is not None:
            # Even with no time left, give an idle shipper the moment it needs to notice.
            thread.join(max(STOP_GRACE, deadline - time.monotonic()))
        stuck = thread is not None and thread.is_alive()
        if not stuck and time.monotonic() < deadline:
            self.flush(deadline - time.monotonic())
        with self._lock:
            self._thread = None
            if not stuck:
                # Released only when nothing ships from them any more, so that another
                # shipper adopting them cannot race this one.
                self._shipper.release()
                if self._writer is not None:
                    self._shipper.retire(self._writer)
                    self._writer = None
            self.clickhouse.close(wait=0 if stuck else -1)

    def flush(self, timeout: float, *, retry: bool = True) -> bool:
        """Ship everything spooled now; True if nothing this process can ship is left."""
        deadline = time.monotonic() + timeout
        pause = FLUSH_PAUSE_FIRST
        while True:
            try:
                return self._round(deadline)
            except Exception:
                log.warning("shipping events failed: %s", self._shipper.last_error)
                if not retry or time.monotonic() + pause >= deadline:
                    return False
            time.sleep(pause)
            pause = min(pause * 2, FLUSH_PAUSE_CAP)

    def health(self) -> dict[str, Any]:
        """Report ClickHouse reachability and the spool backlog."""
        backlog = self._meter.measure()
        ok, error = self._clickhouse_health()
        damaged = {**backlog.damaged, **self._shipper.damaged}
        return {
            "clickhouse": {"ok": ok, "error": error},
            "spool": {
                "backlog_bytes": backlog.bytes,
                "backlog_events": backlog.events,
                "spools": backlog.spools,
                "rejected_events": backlog.rejected_events,
                "last_shipped_at": self._shipper.last_shipped_at,
                "last_error": self._shipper.last_error,
                # Spools replayed from the start because their state could not be read.
                "damaged": [{"spool": n, "error": e} for n, e in sorted(damaged.items())],
            },
            "tasks": self._periodic.status(),
        }

    def backlog(self) -> Backlog:
        """Measure the unshipped spool, per directory too, without touching ClickHouse."""
        return self._meter.measure()

    @property
    def shipped_events(self) -> int:
        """Count the events this process has shipped."""
        return self._shipper.shipped_events

    def upgrade_schema(self) -> list[str]:
        """Apply pending ClickHouse migrations and the configured retention; return the
        names of the migrations applied."""
        applied = schema.upgrade(self.clickhouse, self.schema_dir, self.cluster)
        for statement in apply_retention(self.clickhouse, self.retention, self.cluster):
            log.info("retention: %s", statement)
        return applied

    def _append(self, table: str, row: dict[str, Any]) -> None:
        if table not in self._tables:
            if not TABLE_RE.match(table):
                raise ValueError(f"not a ClickHouse table name: {table!r}")
            self._tables.add(table)
        line = b"%s\t%s\n" % (table.encode(), jsoncodec.compact(row))
        if len(line) > MAX_LINE_BYTES:
            raise ValueError(f"event of {len(line)} bytes is over the {MAX_LINE_BYTES} limit")
        if not self.has_room():
            raise SpoolFull()
        writer = self._writer or self._open_writer()
        lines = writer.append(line)
        if lines - self._signaled_at >= self.batch:
            self._signaled_at = lines
            self._wake.set()

    def _open_writer(self) -> SpoolWriter:
        with self._lock:
            if self._writer is None:
                self._writer = SpoolWriter(self.root)
                self._signaled_at = 0
            return self._writer

    def _run(self, stopping: threading.Event) -> None:
        backoff = 0.0
        while not stopping.is_set():
            try:
                self._round(interrupt=stopping, drain=False)
            except Exception:
                backoff = min(BACKOFF_CAP, max(BACKOFF_FIRST, backoff * 2))
                log.warning(
                    "shipping events failed, retrying in up to %.1fs: %s",
                    backoff,
                    self._shipper.last_error,
                )
                # Jitter keeps many workers from hitting a recovering server in step.
                stopping.wait(random.uniform(backoff / 2, backoff))  # noqa: S311 (not a secret)
                continue
            backoff = 0.0
            self._periodic.run_due(stopping)
            self._wake.wait(self._periodic.wait(self.interval))
            self._wake.clear()

    def _round(
        self,
        deadline: float | None = None,
        interrupt: threading.Event | None = None,
        drain: bool = True,
    ) -> bool:
        try:
            self._flush_drops()
            return self._shipper.ship(deadline, interrupt, drain)
        finally:
            self._refresh_budget()

    def _flush_drops(self) -> None:
        with self._drops_lock:
            drops, self._drops = self._drops, Counter()
        for (source, reason), hits in drops.items():
            row = {"ts": _now()[:19], "source": source, "reason": reason, "hits": hits}
            try:
                self._append(DROPS_TABLE, row)
            except (SpoolFull, OSError):
                with self._drops_lock:
                    self._drops[(source, reason)] += hits

    def _refresh_budget(self) -> None:
        writer = self._writer
        at_mark = writer.bytes_written if writer is not None else 0
        self._mark = (writer, at_mark, self._meter.measure(count_events=False).bytes)

    def _forget_parent(self) -> None:
        # Threads and locks do not survive fork, and the parent's spool directory, lock
        # and ClickHouse client stay the parent's: the child starts afresh.
        if self._writer is not None:
            self._writer.abandon()
        self._shipper.abandon()
        self.clickhouse.abandon()
        self._init_runtime()

    def _clickhouse_health(self) -> tuple[bool, str | None]:
        if self.clickhouse.embedded and not self.clickhouse.is_open and self._thread is None:
            return False, "embedded ClickHouse is open only in the process that ships events"
        ok, error = self.clickhouse.ping(wait=1.0)
        if ok is None:
            # The shipper is busy with the client: judge by how its last round went.
            return self._shipper.last_error is None, self._shipper.last_error
        return ok, error


def _after_fork(ref: "weakref.ref[Pipeline]") -> None:
    pipeline = ref()
    if pipeline is not None:
        pipeline._forget_parent()


class EventPipeline:
    """Flask extension: give each app its own Pipeline in ``app.extensions["events"]``."""

    def __init__(self, app: Flask | None = None, **kwargs: Any):
        if app is not None:
            self.init_app(app, **kwargs)

    def init_app(self, app: Flask, *, schema_dir: str | Path) -> Pipeline:
        """Build the app's pipeline from its config; the shipper starts on first use."""
        cfg = app.config
        try:
            split_database(cfg["CLICKHOUSE_URL"])
        except ValueError as e:
            raise ConfigError(f"CONSENTRY_CLICKHOUSE_URL: {e}") from e
        pipeline = Pipeline(
            cfg["DATA_DIR"],
            cfg["CLICKHOUSE_URL"],
            schema_dir=schema_dir,
            max_bytes=cfg["SPOOL_MAX_BYTES"],
            interval=cfg["SHIP_INTERVAL"],
            batch=cfg["SHIP_BATCH"],
            flush_seconds=cfg["SHUTDOWN_FLUSH_SECONDS"],
            cluster=cfg.get("CLICKHOUSE_CLUSTER"),
            retention=Retention(
                cfg.get("EVENT_RETENTION_DAYS", Retention.events_days),
                cfg.get("UA_IP_RETENTION_DAYS", Retention.ua_ip_days),
                cfg.get("SYSTEM_LOG_RETENTION_DAYS", Retention.system_log_days),
            ),
        )
        app.extensions["events"] = pipeline
        return pipeline
