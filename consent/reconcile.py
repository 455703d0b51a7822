"""Re-emit the decision events ClickHouse lacks: the SQL records are the authority.

A decision is committed, then its event is spooled. A process killed between the two, or
a spool that filled up in between, leaves a record without an event. The reconciler runs
in the event shipper's thread (for chdb, the one process that may open ClickHouse), after
its first round and every CONSENTRY_RECONCILE_INTERVAL seconds. Per site, it walks the
records past the site's mark (``event_marks.reconciled_seq``) in order, asks the pipeline
which of their events are neither in ClickHouse nor waiting in a spool, re-emits those
with their own event id (the record id), and moves the mark on.

Settled records only: a request emits a moment after it commits, so a record is looked at
once it has been committed for CONSENTRY_RECONCILE_GRACE_SECONDS. ``created_at`` cannot
tell that (it is when the request began, and a commit can wait on locks for longer than
any grace), so the reconciler notes each site's chain length with the time it read it,
and takes the records up to the length it read at least the grace period ago.

Two reconcilers (workers of one server, or servers sharing a database) never both
re-emit: the mark moves only by compare-and-set, and a re-emit happens in a transaction
that first locks the site's mark row (an UPDATE: the row's lock on PostgreSQL, the write
lock on SQLite), reads the mark again and asks again what is missing.
"""

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import Connection, Row, select, update
from sqlalchemy.dialects import postgresql, sqlite

from consent.models import ConsentRecord, EventMark, SiteRow
from consent.records import decision_event
from core.db import db, write_transaction
from core.times import as_utc
from events import Pipeline
from events.protocols import EventLedger

log = logging.getLogger(__name__)

TABLE = "consent_events"
CHUNK = 5_000
# Chunks per run; more waits for the next run, right after a shipping round.
CHUNKS_PER_RUN = 20
# consent_events drops rows after 400 days (migrations/clickhouse/0001): an older record's
# event is gone by design, not lost, and sending it again would only be dropped again.
# The margin keeps a record near the edge from being sent and dropped at the next merge.
KEPT_IN_CLICKHOUSE = timedelta(days=395)

MARKS = EventMark.__table__
RECORDS = ConsentRecord.__table__
SITES = SiteRow.__table__


def install(app: Flask) -> None:
    """Have the app's event shipper re-emit missing decision events, at start and periodically."""
    pipeline: Pipeline = app.extensions["events"]
    reconciler = Reconciler(pipeline, app.config["RECONCILE_GRACE_SECONDS"])

    def reconcile() -> float | None:
        with app.app_context():
            return reconciler.run()

    pipeline.add_periodic("reconcile_consent_events", reconcile, app.config["RECONCILE_INTERVAL"])


def event_id(record_id: str) -> str:
    """Return the id of a record's decision event: its record id, as UUID text."""
    return str(uuid.UUID(record_id))


class Reconciler:
    """Find each site's settled records whose event got lost, and send those events again."""

    def __init__(
        self, events: EventLedger, grace: float, clock: Callable[[], float] = time.monotonic
    ):
        self.events = events
        self.grace = grace
        self._clock = clock
        self._seen: dict[str, deque[tuple[float, int]]] = {}  # site -> (when, chain length)
        self._settled: dict[str, int] = {}
        self._first_run = True

    def run(self) -> float | None:
        """Reconcile every site's settled records; return seconds until the next run if sooner."""
        now = self._clock()
        budget = CHUNKS_PER_RUN
        unsettled = more = False
        with db.engine.connect() as conn:
            heads = {
                site: head for site, head in conn.execute(select(SITES.c.id, SITES.c.chain_seq))
            }
        for site_id, head in sorted(heads.items()):
            settled = self._settle(site_id, head, now)
            mark = _mark(site_id)
            while mark < settled and budget:
                mark = reconcile_chunk(self.events, site_id, mark, settled)
                budget -= 1
            more |= mark < settled
            unsettled |= mark < head
        first, self._first_run = self._first_run, False
        if more:
            return 0.0
        # At start nothing is settled yet: look again once the first reading is.
        return self.grace if first and unsettled else None

    def _settle(self, site_id: str, head: int, now: float) -> int:
        """Note a chain length; return the longest one read at least the grace period ago."""
        seen = self._seen.setdefault(site_id, deque())
        seen.append((now, head))
        while seen and seen[0][0] <= now - self.grace:
            self._settled[site_id] = seen.popleft()[1]
        return self._settled.get(site_id, 0)


def reconcile_chunk(events: EventLedger, site_id: str, mark: int, upto: int) -> int:
    """Check the next records of a site after ``mark`` (up to ``upto``); return the new mark."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(RECORDS.c.seq, RECORDS.c.record_id, RECORDS.c.created_at)
            .where(RECORDS.c.site_id == site_id, RECORDS.c.seq > mark, RECORDS.c.seq <= upto)
            .order_by(RECORDS.c.seq)
            .limit(CHUNK)
        ).all()
    new_mark = upto if len(rows) < CHUNK else rows[-1].seq
    if not rows:
        _move_mark(site_id, mark, new_mark)
        return new_mark
    horizon = datetime.now(UTC) - KEPT_IN_CLICKHOUSE
    recent = [r for r in rows if as_utc(r.created_at) > horizon]
    if not recent:
        return new_mark if _move_mark(site_id, mark, new_mark) else _mark(site_id)
    ids = {event_id(r.record_id): r.record_id for r in recent}
    since = min(as_utc(r.created_at) for r in recent)
    missing = events.missing_events(TABLE, ids, since=since)
    if not missing:
        return new_mark if _move_mark(site_id, mark, new_mark) else _mark(site_id)
    return resend(events, site_id, mark, new_mark, [ids[m] for m in missing], since)


def resend(
    events: EventLedger,
    site_id: str,
    mark: int,
    new_mark: int,
    record_ids: Sequence[str],
    since: datetime,
) -> int:
    """Under the site's mark lock, send the events of ``record_ids`` still missing; move the mark.

    Returns the mark as it is now: ``new_mark``, or where another reconciler moved it from
    ``mark`` meanwhile (then nothing is sent).
    """
    with write_transaction() as conn:
        now = datetime.now(UTC)
        # Taken first, held to the commit: another reconciler waits here, then sees the mark
        # moved, or finds these events in the spool.
        conn.execute(update(MARKS).where(MARKS.c.site_id == site_id).values(updated_at=now))
        current = conn.execute(
            select(MARKS.c.reconciled_seq).where(MARKS.c.site_id == site_id)
        ).scalar_one()
        if current != mark:
            return current
        still = events.missing_events(TABLE, map(event_id, record_ids), since=since)
        records = _records(conn, [r.replace("-", "") for r in still])
        for record in records:
            events.emit(TABLE, decision_event(record))
        conn.execute(
            update(MARKS)
            .where(MARKS.c.site_id == site_id)
            .values(reconciled_seq=new_mark, updated_at=now)
        )
    if records:
        log.warning(
            "re-emitted %d decision events of site %s that had not reached ClickHouse",
            len(records),
            site_id,
        )
    return new_mark


def _records(conn: Connection, record_ids: list[str]) -> Sequence[Row]:
    if not record_ids:
        return []
    # A redacted record's event was erased with it, and an erasure that kept the record
    # erased its event all the same (consent.redaction): neither is ever sent again.
    query = (
        select(RECORDS)
        .where(
            RECORDS.c.record_id.in_(record_ids),
            RECORDS.c.erased_at.is_(None),
            RECORDS.c.events_erased_at.is_(None),
        )
        .order_by(RECORDS.c.seq)
    )
    return conn.execute(query).all()


def _mark(site_id: str) -> int:
    """Read a site's mark, starting it at 0 the first time."""
    with db.engine.connect() as conn:
        mark = conn.execute(
            select(MARKS.c.reconciled_seq).where(MARKS.c.site_id == site_id)
        ).scalar()
    if mark is not None:
        return mark
    with write_transaction() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        row = {"site_id": site_id, "reconciled_seq": 0, "updated_at": datetime.now(UTC)}
        conn.execute(dialect.insert(MARKS).values(row).on_conflict_do_nothing())
    return _mark(site_id)


def _move_mark(site_id: str, old: int, new: int) -> bool:
    """Move a site's mark from ``old`` to ``new`` unless another reconciler moved it."""
    with write_transaction() as conn:
        moved = conn.execute(
            update(MARKS)
            .where(MARKS.c.site_id == site_id, MARKS.c.reconciled_seq == old)
            .values(reconciled_seq=new, updated_at=datetime.now(UTC))
        )
    return moved.rowcount == 1
