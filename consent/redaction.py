"""Redaction: a consent record's content cleared for good, its place in the chain kept.

Erasure (a visitor's request) and retention (proof kept so many years after it lapsed)
remove records' content this way rather than deleting rows: every record's hash covers
its predecessor's, so a deleted row would break ``verify`` for the rest of its site's
chain. A redacted row keeps ``seq``, ``prev_hash`` and ``hash``, gains the digest of the
content it held and ``erased_at``, and holds ``consent.chain.REDACTED`` in its content
fields; ``consent.chain.verify_chain`` links it through the stored digest.

Redacting is idempotent (a redacted row is never redacted again), so two runs that meet
on a row (an erasure and the daily retention run) agree.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Row, and_, bindparam, delete, or_, select, update

from consent.chain import REDACTED, redaction
from consent.models import ConsentRecord, IdempotencyKey, NewRecord
from core.db import write_transaction

RECORDS = ConsentRecord.__table__
KEYS = IdempotencyKey.__table__
CHUNK = 500  # rows per statement and, for retention, per transaction
_REDACT = (
    update(RECORDS)
    .where(RECORDS.c.id == bindparam("row_id"), RECORDS.c.erased_at.is_(None))
    .values(
        {name: bindparam(f"new_{name}") for name in REDACTED}
        | {
            "content_digest": bindparam("new_content_digest"),
            "erased_at": bindparam("new_erased_at"),
        }
    )
)


def redact_consent(conn: Connection, consent_id: str, now: datetime) -> int:
    """Redact every record of a consent id, in the caller's transaction; return how many.

    Its Idempotency-Keys go too: a retry would otherwise be answered with a cleared record.
    """
    rows = conn.execute(
        select(RECORDS)
        .where(RECORDS.c.consent_id == consent_id, RECORDS.c.erased_at.is_(None))
        .order_by(RECORDS.c.id)
    ).all()
    for start in range(0, len(rows), CHUNK):
        part = rows[start : start + CHUNK]
        _redact(conn, part, now)
        conn.execute(delete(KEYS).where(KEYS.c.record_id.in_([r.record_id for r in part])))
    return len(rows)


def forget_events(conn: Connection, consent_id: str, now: datetime) -> int:
    """Note that a consent id's decision events were erased while its records are kept.

    In the caller's transaction; returns the records marked. The reconciler re-sends the
    events ClickHouse lacks, and an erased event looks just like a lost one: this mark is
    what keeps an erasure in ``keep`` mode from being undone minutes later.
    """
    return conn.execute(
        update(RECORDS)
        .where(RECORDS.c.consent_id == consent_id, RECORDS.c.events_erased_at.is_(None))
        .values(events_erased_at=now)
    ).rowcount


def redact_lapsed(lapsed_before: datetime, now: datetime) -> int:
    """Redact the records that lapsed before ``lapsed_before``; return how many.

    A persistent decision lapses when it expires; a session one (no expiry) with its
    browser session, taken as the day it was made. A transaction per chunk: the first
    run on a large table does not hold its writers up for long.
    """
    lapsed = or_(
        RECORDS.c.expires_at < lapsed_before,
        and_(RECORDS.c.expires_at.is_(None), RECORDS.c.created_at < lapsed_before),
    )
    query = (
        select(RECORDS)
        .where(RECORDS.c.erased_at.is_(None), lapsed)
        .order_by(RECORDS.c.id)
        .limit(CHUNK)
    )
    total = 0
    while True:
        with write_transaction() as conn:
            rows = conn.execute(query).all()
            _redact(conn, rows, now)
        total += len(rows)
        if len(rows) < CHUNK:
            return total


def _redact(conn: Connection, rows: Sequence[Row], now: datetime) -> None:
    if not rows:
        return
    params = []
    for row in rows:
        values = redaction(_as_record(row), now)
        params.append({"row_id": row.id} | {f"new_{k}": v for k, v in values.items()})
    conn.execute(_REDACT, params)


def _as_record(row: Row) -> NewRecord:
    """A stored row as the record the chain hashed (its fields are the row's bar ``id``)."""
    return NewRecord(**{k: v for k, v in row._mapping.items() if k != "id"})
