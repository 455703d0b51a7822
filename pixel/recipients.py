"""Recipients and what they asked for: who they are, their tracking consent, their suppressions.

Domain functions on a connection inside the caller's transaction, set-wise: a batch of
10,000 recipients is a few statements per 500 of them, not one per recipient.
"""

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update

from core.db import DirectStatement, DirectTransaction
from core.times import utc_text
from pixel import identity
from pixel.models import ALL_LISTS, Recipient, Suppression
from pixel.suppressions import hold_feed_order

CHUNK = 500  # ids per IN list: far below SQLite's and PostgreSQL's bind limits


@dataclass(frozen=True, slots=True)
class Addressee:
    """A recipient as a request names them."""

    recipient: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Known:
    """A stored recipient, as minting needs them."""

    id: int
    external_id: str
    email: str | None
    pseudonym: str
    tracking_consent: str


@dataclass(frozen=True, slots=True)
class Suppressed:
    """The suppressions that match a set of recipients, by recipient id and by address hash."""

    unsubscribed: frozenset[str]
    opted_out: frozenset[str]

    def covers(self, kind_set: frozenset[str], recipient: str, hashes: Iterable[str]) -> bool:
        return recipient in kind_set or any(h in kind_set for h in hashes)


_ADD_RECIPIENT = DirectStatement(
    insert(Recipient),
    [
        "site",
        "external_id",
        "email",
        "email_hash",
        "pseudonym",
        "tracking_consent",
        "created_at",
    ],
)


def direct(conn: Connection) -> DirectTransaction:
    """The foundation's direct path, on this connection's own transaction (for batches)."""
    return DirectTransaction(conn.connection.cursor(), conn.dialect)


def insert_many(
    conn: Connection, statement: DirectStatement, shared: dict[str, Any], rows: list[dict]
) -> None:
    """Insert ``rows`` (each also taking ``shared``'s values) in one executemany.

    As the direct path binds, but a value every row shares goes through its column's bind
    processor once: SQLite's DateTime processor costs ~5 µs, twice per message.
    """
    compiled = statement.compiled(conn.dialect)
    common = dict(compiled.literals)
    for name, value in shared.items():
        process = compiled.processors.get(name)
        common[name] = process(value) if process is not None else value
    own = [(n, p) for n, p in compiled.processors.items() if n not in shared]
    order = compiled.order

    def bound(row: dict[str, Any]):
        values = common | row
        for name, process in own:
            values[name] = process(values[name])
        return [values[name] for name in order] if order is not None else values

    conn.connection.cursor().executemany(compiled.sql, [bound(row) for row in rows])


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_KNOWN = select(
    Recipient.id,
    Recipient.external_id,
    Recipient.email,
    Recipient.pseudonym,
    Recipient.tracking_consent,
)


def ensure_recipients(
    conn: Connection, keys: list[str], site: str, addressees: Sequence[Addressee], now: datetime
) -> dict[str, Known]:
    """Return every addressee's stored row, adding the new ones and any new address."""
    known: dict[str, Known] = {}
    ids = [a.recipient for a in addressees]
    for part in chunks(ids):
        query = _KNOWN.where(Recipient.site == site, Recipient.external_id.in_(part))
        for rid, external_id, email, pseudonym, consent in conn.execute(query):
            known[external_id] = Known(rid, external_id, email, pseudonym, consent)
    new = [a for a in addressees if a.recipient not in known]
    if new:
        rows: list[dict[str, Any]] = [
            {
                "site": site,
                "external_id": a.recipient,
                "email": a.email,
                "email_hash": identity.email_hash(keys, a.email) if a.email else None,
                "pseudonym": identity.pseudonym(keys, site, a.recipient),
                "tracking_consent": "unknown",
                "created_at": now,
            }
            for a in new
        ]
        # One executemany, then the ids read back: RETURNING over many rows runs row by
        # row on SQLite, ten times slower for a batch.
        direct(conn).execute_many(_ADD_RECIPIENT, rows)
        ids = [a.recipient for a in new]
        for part in chunks(ids):
            query = _KNOWN.where(Recipient.site == site, Recipient.external_id.in_(part))
            for rid, external_id, email, pseudonym, consent in conn.execute(query):
                known[external_id] = Known(rid, external_id, email, pseudonym, consent)
    added = {a.recipient for a in new}
    moved = [
        a
        for a in addressees
        if a.email and a.recipient not in added and known[a.recipient].email != a.email
    ]
    if moved:
        conn.execute(
            update(Recipient)
            .where(Recipient.id == bindparam("rid"))
            .values(email=bindparam("new_email"), email_hash=bindparam("new_hash")),
            [
                {
                    "rid": known[a.recipient].id,
                    "new_email": a.email,
                    "new_hash": identity.email_hash(keys, a.email),  # type: ignore[arg-type]
                }
                for a in moved
            ],
        )
        for a in moved:
            old = known[a.recipient]
            known[a.recipient] = Known(
                old.id, old.external_id, a.email, old.pseudonym, old.tracking_consent
            )
    return known


def matching_suppressions(
    conn: Connection, site: str, list_name: str, recipients: Sequence[str], hashes: Sequence[str]
) -> Suppressed:
    """Find the unsubscribes (from ``list_name`` or all) and tracking opt-outs in force.

    Each is reported by the recipient id and the address hash it was recorded with.
    """
    unsubscribed: set[str] = set()
    opted_out: set[str] = set()
    base = select(Suppression.kind, Suppression.recipient, Suppression.email_hash).where(
        Suppression.site == site,
        Suppression.lifted_at.is_(None),
        or_(Suppression.kind == "tracking_optout", Suppression.list.in_([list_name, ALL_LISTS])),
    )
    for column, values in ((Suppression.recipient, recipients), (Suppression.email_hash, hashes)):
        for part in chunks(values):
            for kind, recipient, email_hash in conn.execute(base.where(column.in_(part))):
                found = unsubscribed if kind == "unsubscribe" else opted_out
                found.update(v for v in (recipient, email_hash) if v is not None)
    return Suppressed(frozenset(unsubscribed), frozenset(opted_out))


@dataclass(frozen=True)
class TrackingState:
    site: str
    recipient: str
    consent: str
    changed_at: datetime
    method: str


def set_tracking(
    conn: Connection,
    keys: list[str],
    site: str,
    external_id: str,
    consent: str,
    method: str,
    now: datetime,
) -> tuple[TrackingState, dict | None]:
    """Set a recipient's tracking consent (adding the recipient if new).

    Denying records a tracking opt-out suppression (kept, by address hash too, when the
    recipient is erased); granting or resetting lifts the opt-outs in force. Returns the
    new state and, for a denial, its ``tracking_optout`` event row.
    """
    known = ensure_recipients(conn, keys, site, [Addressee(external_id)], now)[external_id]
    conn.execute(
        update(Recipient)
        .where(Recipient.id == known.id)
        .values(tracking_consent=consent, tracking_changed_at=now, tracking_method=method)
    )
    event = None
    hashes = identity.email_hashes(keys, known.email) if known.email else []
    in_force = or_(Suppression.recipient == external_id, Suppression.email_hash.in_(hashes))
    if consent == "denied":
        hold_feed_order(conn)  # the feed's cursor relies on ids in commit order
        already = conn.execute(
            select(Suppression.id).where(
                Suppression.site == site,
                Suppression.kind == "tracking_optout",
                Suppression.lifted_at.is_(None),
                Suppression.recipient == external_id,
            )
        ).first()
        if already is None:
            conn.execute(
                insert(Suppression).values(
                    site=site,
                    kind="tracking_optout",
                    list=ALL_LISTS,
                    recipient=external_id,
                    email_hash=identity.email_hash(keys, known.email) if known.email else None,
                    method=method,
                    created_at=now,
                )
            )
        event = tracking_optout_event(site, known.pseudonym, method, now)
    else:
        conn.execute(
            update(Suppression)
            .where(
                Suppression.site == site,
                Suppression.kind == "tracking_optout",
                Suppression.lifted_at.is_(None),
                in_force,
            )
            .values(lifted_at=now)
        )
    return TrackingState(site, external_id, consent, now, method), event


def tracking_optout_event(site: str, pseudonym: str, method: str, now: datetime) -> dict:
    """The ClickHouse row for a tracking opt-out: the recipient only as their pseudonym."""
    return {
        "event_id": str(uuid.uuid4()),
        "ts": utc_text(now, sep=" "),
        "kind": "tracking_optout",
        "site": site,
        "recipient": pseudonym,
        "method": method,
    }
