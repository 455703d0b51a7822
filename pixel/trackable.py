"""Whether a pixel or link hit may be logged, decided at hit time against the SQL store.

A token says which message was hit; what the recipient wants is read *now*, so a
withdrawal covers mail already sent (SPEC §3.3, the CNIL's 2026 recommendation). Two
reads, both by index:

- the message (:func:`find_message`): its campaign, list, site, mode, send time and
  recipient. These never change once minted, so they are kept in a bounded per-process
  cache (an erased recipient is caught by the next read, which finds no recipient row);
- the recipient's current state (:func:`withdrawn`), **never cached**: their tracking
  consent and any suppression in force, by their id or by the keyed hash of their address
  under every key (a suppression recorded under a rotated-out key, or with the address
  alone, still matches; the recipient's own stored hash covers an address changed since
  the message was cached). One statement, two indexed ``EXISTS``.

Not caching the second read is what makes N gunicorn workers (and the unsubscribe pages
of another process) correct: a withdrawal is seen by every worker on the next hit after
its commit, with no invalidation to deliver. It costs one primary-key read per logged hit.

An aggregate message's pixel and links carry the id of an anonymous row with no
recipient: nothing joins it to anyone, so only its mode is checked (its hits are counted,
never attributed, which needs no consent).
"""

import threading
from collections import OrderedDict
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import and_, bindparam, exists, literal, or_, select
from sqlalchemy.engine import Engine

from core.db import DirectStatement, DirectTransaction
from core.times import as_utc, utc_text
from pixel import identity
from pixel.models import ALL_LISTS, Message, Recipient, Suppression

# Messages whose facts one process remembers (~300 bytes each: ~15 MB at most).
MESSAGE_CACHE_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class TrackedMessage:
    """What a hit's event needs about its message, as minted (none of it changes later)."""

    id: str
    site: str
    campaign: str
    list: str
    tracking: str
    sent_at: datetime | None
    recipient_id: int | None  # None: an aggregate message's anonymous row
    pseudonym: str  # the recipient as events name them; "" without a recipient
    email_hashes: tuple[str, ...]  # the address under every key, as minted
    event_base: dict[str, object]  # what each of its events says about it (copied per hit)


_MESSAGE = (
    select(
        Message.site,
        Message.campaign,
        Message.list,
        Message.tracking,
        Message.sent_at,
        Message.recipient_id,
        Recipient.pseudonym,
        Recipient.email,
    )
    .outerjoin(Recipient, Recipient.id == Message.recipient_id)
    .where(Message.id == bindparam("message_id"))
)


class MessageCache:
    """Find messages by id, remembering the last ``size`` found (thread-safe, LRU)."""

    def __init__(self, size: int = MESSAGE_CACHE_SIZE) -> None:
        self._size = size
        self._found: OrderedDict[str, TrackedMessage] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, engine: Engine, keys: list[str], message_id: str) -> TrackedMessage | None:
        """Return the message with this id, or None when there is none (never cached)."""
        with self._lock:
            message = self._found.get(message_id)
            if message is not None:
                self._found.move_to_end(message_id)
                return message
        message = find_message(engine, keys, message_id)
        if message is not None:
            with self._lock:
                self._found[message_id] = message
                if len(self._found) > self._size:
                    self._found.popitem(last=False)
        return message


def find_message(engine: Engine, keys: list[str], message_id: str) -> TrackedMessage | None:
    """Read one message and its recipient's stable facts by primary key."""
    with engine.connect() as conn:
        row = conn.execute(_MESSAGE, {"message_id": message_id}).first()
    if row is None:
        return None
    site, campaign, list_name, tracking, sent_at, recipient_id, pseudonym, email = row
    sent_at = as_utc(sent_at)
    individual = tracking == "individual"
    return TrackedMessage(
        id=message_id,
        site=site,
        campaign=campaign,
        list=list_name,
        tracking=tracking,
        sent_at=sent_at,
        recipient_id=recipient_id,
        pseudonym=pseudonym or "",
        email_hashes=tuple(identity.email_hashes(keys, email)) if email else (),
        event_base={
            "site": site,
            "campaign": campaign,
            "list": list_name,
            "message_id": message_id,
            # Only individual mode names the recipient (SPEC §3.1).
            "recipient": (pseudonym or "") if individual else "",
            "tracking": tracking,
            "sent_at": utc_text(sent_at, sep=" ") if sent_at else None,
        },
    )


def withdrawn(message: TrackedMessage, engine: Engine) -> bool:
    """Tell whether this message's hits must not be logged, as the store says now.

    True for mode ``none``; for a recipient who denied tracking, unsubscribed from the
    message's list or from all, or opted out of tracking; and for a recipient who is gone
    (erased). An aggregate message's anonymous row has no one to ask: False.
    """
    if message.tracking == "none":
        return True
    if message.recipient_id is None:
        return False
    hashes = message.email_hashes
    statement = _withdrawal(len(hashes))
    params: dict[str, object] = {
        "recipient_id": message.recipient_id,
        "site": message.site,
        "list": message.list,
    }
    params.update({f"h{i}": h for i, h in enumerate(hashes)})
    row = _read_one(engine, statement, params)
    if row is None:
        return True  # the recipient was erased: nobody left whose consent allows it
    consent, suppressed = row
    return consent == "denied" or bool(suppressed)


def _read_one(
    engine: Engine, statement: DirectStatement, params: dict[str, object]
) -> tuple | None:
    """Run a read on a pooled connection's DBAPI cursor: a third of ``Connection.execute``.

    The values this module reads back (a string, a boolean) need no result processing.
    No writer's turn is taken: readers do not wait for SQLite's writer (WAL).
    """
    raw = engine.raw_connection()
    try:
        with closing(raw.cursor()) as cursor:
            return DirectTransaction(cursor, engine.dialect).execute(statement, params).fetchone()
    finally:
        raw.close()  # back to the pool, which ends the read transaction


@lru_cache(maxsize=8)
def _withdrawal(hash_count: int) -> DirectStatement:
    """The one statement that reads a recipient's consent and suppressions in force."""
    in_force = and_(
        Suppression.site == bindparam("site"),
        Suppression.lifted_at.is_(None),
        or_(
            Suppression.kind == "tracking_optout",
            Suppression.list.in_([bindparam("list"), literal(ALL_LISTS)]),
        ),
    )
    by_id = exists().where(Suppression.recipient == Recipient.external_id, in_force)
    hashes = [Recipient.email_hash, *(bindparam(f"h{i}") for i in range(hash_count))]
    by_address = exists().where(Suppression.email_hash.in_(hashes), in_force)
    return DirectStatement(
        select(Recipient.tracking_consent, or_(by_id, by_address)).where(
            Recipient.id == bindparam("recipient_id")
        )
    )
