"""Suppressions as sending systems read them: recorded in id order, read through a cursor.

The feed (``GET /api/v1/suppressions``) hands out every unsubscribe and tracking opt-out
after a cursor, oldest first. The cursor is the last row's id, not a time: two rows can
share a time, and a clock can step back, but ids only grow, so a reader never sees a row
twice and never skips one that was added while it paged.

Ids grow in commit order only if suppressions are added one transaction at a time. SQLite
has one writer at a time anyway; on PostgreSQL a sequence hands out ids at INSERT, so a
transaction that took id 7 can commit after one that took id 8, and a reader between the
two commits would step over 7 for good. :func:`hold_feed_order` closes that gap: every
transaction that adds a suppression takes one transaction-scoped advisory lock first and
keeps it to its commit, so the next one takes its id only after this one is visible.

A lifted opt-out stays in the feed with its ``lifted_at``; a later opt-out is a new row.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, text

from core.errors import BadRequest
from pixel.models import ALL_LISTS, Suppression

# The advisory lock every suppression-adding transaction holds to its commit (any fixed
# 64-bit number; this one is "csup" in ASCII).
FEED_LOCK = 0x63737570
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_ROW_ID = 2**63 - 1
CURSOR_RE = r"^[A-Za-z0-9_-]{11}$"  # 8 bytes in unpadded URL-safe base64


def hold_feed_order(conn: Connection) -> None:
    """Make this transaction's new suppressions take their ids after every earlier commit.

    Call it in the transaction, before the INSERT; the lock is released at commit or
    rollback. SQLite needs nothing: its writers already take turns (core.db).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FEED_LOCK})


def encode_cursor(row_id: int) -> str:
    """The cursor after the row ``row_id``: opaque to clients, 11 characters."""
    return base64.urlsafe_b64encode(row_id.to_bytes(8, "big")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> int:
    """The row id a cursor stands for; 400 for anything this server did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=")
    except (UnicodeEncodeError, binascii.Error, ValueError) as e:
        raise BadRequest(f"{cursor!r} is not a cursor", code="invalid_cursor") from e
    row_id = int.from_bytes(raw, "big")
    # Round-trip: only the exact text encode_cursor writes (no padding, no stray bits),
    # and only ids a row can have (both stores' integers are signed 64-bit at most).
    if len(raw) != 8 or row_id > MAX_ROW_ID or encode_cursor(row_id) != cursor:
        raise BadRequest(f"{cursor!r} is not a cursor", code="invalid_cursor")
    return row_id


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """What a sending system asks for: rows after a cursor, for one list or site, or all."""

    after: int = 0
    list: str | None = None
    site: str | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True, slots=True)
class FeedItem:
    id: int
    site: str
    kind: str
    list: str
    recipient: str | None
    method: str
    message_id: str | None
    created_at: datetime
    lifted_at: datetime | None


@dataclass(frozen=True, slots=True)
class FeedPage:
    items: list[FeedItem]
    next_after: int  # the cursor to ask with next: the last item's id, or the one given
    more: bool  # more rows were there past this page when it was read


def read_feed(conn: Connection, query: FeedQuery) -> FeedPage:
    """The suppressions after ``query.after``, oldest first, at most ``query.limit``.

    With a list, the rows that apply to it: that list's and every list's (``*``), which
    takes in the tracking opt-outs: they are recorded for every list.
    """
    statement = (
        select(
            Suppression.id,
            Suppression.site,
            Suppression.kind,
            Suppression.list,
            Suppression.recipient,
            Suppression.method,
            Suppression.message_id,
            Suppression.created_at,
            Suppression.lifted_at,
        )
        .where(Suppression.id > query.after)
        .order_by(Suppression.id)
        .limit(query.limit + 1)
    )
    if query.list is not None:
        statement = statement.where(Suppression.list.in_([query.list, ALL_LISTS]))
    if query.site is not None:
        statement = statement.where(Suppression.site == query.site)
    rows = conn.execute(statement).all()
    items = [FeedItem(*row) for row in rows[: query.limit]]
    return FeedPage(items, items[-1].id if items else query.after, len(rows) > query.limit)
