"""Each site's hash chain: records appended in order, verified from the start.

Every record stores the hash of its site's previous record, so editing, removing or
reordering one breaks the chain at that point; the site row keeps the head and length,
so removing the newest records shows too.

A record whose content must go (erasure, retention: consent.redaction) is redacted, not
removed: its content fields are cleared and the digest of what they held is stored, so
its link (``link_hash(prev_hash, seq, digest)``) still verifies and so do all after it.
Tampering with a redacted record's digest or links still shows; its cleared content can
no longer be checked, nor can it be altered unseen (verify wants it cleared).
"""

import hashlib
import logging
import operator
import threading
import weakref
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from sqlalchemy import Connection, DateTime, Engine, bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite

from consent.idempotency import RequestKey
from consent.models import GENESIS, ConsentRecord, IdempotencyKey, NewRecord, SiteRow
from consent.sites import Site, SiteRegistry
from core import jsoncodec
from core.db import DirectStatement, db, direct_transaction, write_transaction
from core.times import api_time

log = logging.getLogger(__name__)

SITES = SiteRow.__table__
RECORDS = ConsentRecord.__table__
KEYS = IdempotencyKey.__table__
_STORED = [c.key for c in RECORDS.columns if c.key != "id"]
# Every decision runs these three, so they take the direct path. The record is written
# once and never changed: the ORM's unit of work would only add cost here.
_ADVANCE = DirectStatement(
    update(SITES)
    .where(SITES.c.id == bindparam("site"))
    .values(chain_seq=SITES.c.chain_seq + bindparam("count"))
    .returning(SITES.c.chain_seq, SITES.c.chain_head)
)
_INSERT = DirectStatement(insert(RECORDS), columns=_STORED)
_read_stored = operator.attrgetter(*_STORED)
_MOVE_HEAD = DirectStatement(
    update(SITES).where(SITES.c.id == bindparam("site")).values(chain_head=bindparam("head"))
)
_INSERT_KEY = DirectStatement(insert(KEYS), columns=[c.key for c in KEYS.columns])

# Every stored field but the chain's own (seq, prev_hash, hash), which link_hash covers.
_CONTENT = [
    "record_id",
    "consent_id",
    "site_id",
    "action",
    "choices",
    "lifetime",
    "policy_version",
    "texts_hash",
    "language",
    "region",
    "region_rule",
    "region_model",
    "dnt",
    "gpc",
    "ip_prefix",
    "ua_family",
    "page_origin",
    "page_path",
    "created_at",
    "expires_at",
]
# One C call for all twenty fields; then the times, hashed as UTC text with a Z.
_read_content = operator.attrgetter(*_CONTENT)
_TIMES = [c.key for c in RECORDS.columns if isinstance(c.type, DateTime) and c.key in _CONTENT]


def content_hash(record: ConsentRecord | NewRecord) -> str:
    """SHA-256 of a record's content: every field a visitor's proof depends on."""
    fields = dict(zip(_CONTENT, _read_content(record), strict=True))
    for name in _TIMES:
        value = fields[name]
        if value is not None:
            fields[name] = api_time(value)
    return hashlib.sha256(jsoncodec.canonical(fields)).hexdigest()


def link_hash(prev_hash: str, seq: int, content: str) -> str:
    """Chain a record's content to its place and predecessor."""
    return hashlib.sha256(f"{prev_hash}:{seq}:{content}".encode()).hexdigest()


def record_hash(record: ConsentRecord) -> str:
    """Recompute the hash a stored record must carry."""
    return link_hash(record.prev_hash, record.seq, content_hash(record))


# --- appending ------------------------------------------------------------------------


@dataclass(eq=False)
class _Pending:
    """One record waiting for its commit; ``done`` once a writer has dealt with it."""

    site: Site
    record: NewRecord
    content: str
    key: RequestKey | None = None  # its Idempotency-Key, stored with it or not at all
    done: bool = False
    error: Exception | None = None


class _GroupCommit:
    """Appends of one database, written together when they arrive together.

    Each request thread queues its record, then takes the writer's turn; a thread whose
    record an earlier turn already committed has nothing left to do. So while one
    transaction runs, the records that arrive meanwhile gather and go in the next one:
    under load a commit (the dearest step of an append) serves several decisions. A
    request still returns only after its own record is committed.
    """

    def __init__(self):
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()

    def append(self, pending: _Pending, now: datetime) -> None:
        """Return once ``pending`` is committed; raise what kept it from being so."""
        with self._queue_lock:
            self._queue.append(pending)
        with self._turn:
            if not pending.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                _write_batch(batch, now)
        if pending.error is not None:
            raise pending.error
        if not pending.done:  # its writer died mid-batch (a BaseException): never claim success
            raise RuntimeError("the record was not written")


_group_commits: "weakref.WeakKeyDictionary[Engine, _GroupCommit]" = weakref.WeakKeyDictionary()
_group_commits_lock = threading.Lock()
# The group of the engine last written to, saving the weak dictionary's lookup per append.
_last_group: tuple[Engine, _GroupCommit] | None = None


def append(site: Site, record: NewRecord, now: datetime, key: RequestKey | None = None) -> None:
    """Give ``record`` its place in its site's chain and commit it (with its key, if any).

    A key another request already holds fails the commit: the record is not stored.
    """
    # Hashed before the chain is locked: inside, only the link to the previous record is.
    pending = _Pending(site, record, content_hash(record), key)
    _group_commit(db.engine).append(pending, now)


def _group_commit(engine: Engine) -> _GroupCommit:
    global _last_group
    last = _last_group  # one read: another thread may set it meanwhile
    if last is not None and last[0] is engine:
        return last[1]
    with _group_commits_lock:
        group = _group_commits.get(engine)
        if group is None:
            group = _group_commits[engine] = _GroupCommit()
    _last_group = (engine, group)
    return group


def _write_batch(batch: list[_Pending], now: datetime) -> None:
    """Commit a batch in one transaction; if that fails, each record on its own."""
    try:
        _commit(batch, now)
    except Exception as error:
        if len(batch) > 1:
            log.warning("a batch of %d records failed, writing each alone: %r", len(batch), error)
            for pending in batch:  # one bad record must not fail the others
                _write_batch([pending], now)
            return
        batch[0].error = error
    for pending in batch:
        pending.done = True


class _NoChainRow(Exception):
    """A site added to the sites file since the last `consentry db upgrade`."""


def _commit(batch: list[_Pending], now: datetime) -> None:
    by_site: dict[str, list[_Pending]] = {}
    for pending in batch:
        by_site.setdefault(pending.site.id, []).append(pending)
    try:
        _chain(by_site)
    except _NoChainRow:
        with write_transaction() as conn:
            _insert_sites(conn, [group[0].site for group in by_site.values()], now)
        _chain(by_site)


def _chain(by_site: dict[str, list[_Pending]]) -> None:
    """Link each site's records to its chain and insert them, in one transaction."""
    with direct_transaction() as tx:
        rows, keys = [], []
        # Sites in one fixed order: two processes locking two sites' rows in opposite
        # orders would each wait for the other (PostgreSQL's deadlock).
        for site_id in sorted(by_site):
            group = by_site[site_id]
            # Takes the group's places in the chain. The UPDATE locks the site's row
            # (PostgreSQL) or the database (SQLite) until commit, so concurrent writers
            # (other processes) queue up instead of forking the chain.
            row = tx.execute(_ADVANCE, {"site": site_id, "count": len(group)}).fetchone()
            if row is None:
                raise _NoChainRow(site_id)
            last_seq, prev = row
            seq = last_seq - len(group)
            for pending in group:
                record = pending.record
                seq += 1
                record.seq, record.prev_hash = seq, prev
                record.hash = prev = link_hash(prev, seq, pending.content)
                rows.append(dict(zip(_STORED, _read_stored(record), strict=True)))
                if pending.key is not None:
                    keys.append(_key_row(pending))
            tx.execute(_MOVE_HEAD, {"site": site_id, "head": prev})
        tx.execute_many(_INSERT, rows)
        if keys:
            # A key held already (the primary key) fails the transaction; each record is
            # then tried alone, and the one with the taken key fails without being stored.
            tx.execute_many(_INSERT_KEY, keys)


def _key_row(pending: _Pending) -> dict:
    return {
        "site_id": pending.record.site_id,
        "key": pending.key.key,
        "fingerprint": pending.key.fingerprint,
        "record_id": pending.record.record_id,
        "created_at": pending.record.created_at,
    }


def _insert_sites(conn: Connection, sites: Iterable[Site], now: datetime) -> None:
    """Add rows for sites the table does not list yet, with empty chains."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    rows = [
        {
            "id": s.id,
            "name": s.name,
            "policy_version": s.policy_version,
            "chain_seq": 0,
            "chain_head": GENESIS,
            "updated_at": now,
        }
        for s in sites
    ]
    conn.execute(dialect.insert(SITES).values(rows).on_conflict_do_nothing())


def sync_sites(registry: SiteRegistry, now: datetime) -> None:
    """Make the sites table list every configured site with its current name and policy."""
    sites = list(registry.sites.values())
    with write_transaction() as conn:
        _insert_sites(conn, sites, now)
        for site in sites:
            conn.execute(
                update(SITES)
                .where(SITES.c.id == site.id)
                .values(name=site.name, policy_version=site.policy_version, updated_at=now)
            )


# --- verifying ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    site: str
    valid: bool
    records: int
    broken_at: int | None = None
    reason: str | None = None


def verify_chain(site_id: str, batch: int = 1000) -> ChainReport:
    """Recompute a site's chain from the first record; report the first record that breaks it."""
    head = db.session.get(SiteRow, site_id)
    prev, expected_seq, count = GENESIS, 1, 0
    query = (
        db.select(ConsentRecord)
        .where(ConsentRecord.site_id == site_id)
        .order_by(ConsentRecord.seq)
        .execution_options(yield_per=batch)
    )
    # closing(): stopping early must still release PostgreSQL's server-side cursor.
    with closing(db.session.scalars(query)) as chain:
        for record in chain:
            count += 1
            reason = _fault(record, expected_seq, prev)
            if reason:
                return ChainReport(site_id, False, count, expected_seq, reason)
            prev, expected_seq = record.hash, expected_seq + 1
    if head is not None and (head.chain_head != prev or head.chain_seq != count):
        return ChainReport(
            site_id, False, count, expected_seq, "records after this one are missing"
        )
    return ChainReport(site_id, True, count)


def _fault(record: ConsentRecord, expected_seq: int, prev: str) -> str | None:
    if record.seq != expected_seq:
        return f"record {expected_seq} is missing"
    if record.prev_hash != prev:
        return "does not chain to the previous record"
    if record.erased_at is not None or record.content_digest is not None:
        return _redaction_fault(record)
    if record_hash(record) != record.hash:
        return "its content does not match its hash"
    return None


# --- redacting ------------------------------------------------------------------------

# What a redacted record's content fields hold: who decided, what and how are gone. Kept
# beside the chain's own fields: record_id (a receipt names it, and is told the record was
# erased), site_id (whose chain) and created_at (no longer covered by any hash: it is
# there for the reader, and names nobody).
REDACTED: Mapping[str, object] = MappingProxyType(
    {
        "consent_id": "",
        "action": "",
        "choices": {},
        "lifetime": "",
        "policy_version": "",
        "texts_hash": "",
        "language": "",
        "region": "",
        "region_rule": "",
        "region_model": "",
        "dnt": False,
        "gpc": False,
        "ip_prefix": None,
        "ua_family": None,
        "page_origin": None,
        "page_path": None,
        "expires_at": None,
    }
)


def redaction(record: ConsentRecord | NewRecord, now: datetime) -> dict[str, object]:
    """The column values that redact ``record``: its content cleared, its digest kept.

    The digest is taken over the content as stored, not checked first: a record edited
    before its redaction keeps a digest its hash does not fit, so verify still says so.
    """
    return {**REDACTED, "choices": {}, "content_digest": content_hash(record), "erased_at": now}


def _redaction_fault(record: ConsentRecord) -> str | None:
    """A redacted record links through its stored digest, and holds no content any more."""
    if record.erased_at is None or record.content_digest is None:
        return "it is marked redacted only in part"
    if any(getattr(record, name) != value for name, value in REDACTED.items()):
        return "it is marked redacted but still holds content"
    if link_hash(record.prev_hash, record.seq, record.content_digest) != record.hash:
        return "its stored digest does not match its hash"
    return None
