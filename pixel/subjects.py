"""One person's rows on the email side, found by their address: read for an export,
removed on erasure (leaving a tombstone); and message rows dropped after their period.

Found by what names the person and nothing else: the keyed hashes of their address (under
every signing key), the recipient rows those lead to, their messages, and the
suppressions that name either. An aggregate pixel's anonymous message row is linked to
nobody, so it is nobody's.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, delete, insert, or_, select

from core.db import db
from pixel import identity
from pixel.models import ALL_LISTS, Message, Recipient, Suppression
from pixel.recipients import chunks
from pixel.suppressions import hold_feed_order


@dataclass
class EmailHoldings:
    """The rows that name one address, and the keys that lead to its events."""

    email_hashes: list[str]
    recipients: list[Recipient] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)

    @property
    def pseudonyms(self) -> list[str]:
        """The recipient as email events name them."""
        return [r.pseudonym for r in self.recipients]

    @property
    def message_ids(self) -> list[str]:
        return [m.id for m in self.messages]


def find_holdings(keys: list[str], email: str) -> EmailHoldings:
    """Load every row that names ``email`` (read in the session, changed by nobody here)."""
    session = db.session
    held = EmailHoldings(identity.email_hashes(keys, email))
    held.recipients = list(
        session.scalars(select(Recipient).where(Recipient.email_hash.in_(held.email_hashes)))
    )
    ids = [r.id for r in held.recipients]
    if ids:
        held.messages = list(
            session.scalars(
                select(Message).where(Message.recipient_id.in_(ids)).order_by(Message.created_at)
            )
        )
    by_recipient = [
        (Suppression.site == r.site) & (Suppression.recipient == r.external_id)
        for r in held.recipients
    ]
    held.suppressions = list(
        session.scalars(
            select(Suppression)
            .where(or_(Suppression.email_hash.in_(held.email_hashes), *by_recipient))
            .order_by(Suppression.id)
        )
    )
    return held


def erase_holdings(
    conn: Connection, held: EmailHoldings, sites: Sequence[str], method: str, now: datetime
) -> dict[str, int]:
    """Delete the rows of ``held`` and leave a tombstone per site (in the caller's transaction).

    The tombstone is an unsubscribe from every list, naming the person only by the keyed
    hash of their address, so that minting for the address again answers ``suppressed``;
    a site that has one in force already gets no second. Returns rows removed per table
    and ``tombstones_added``.
    """
    recipient_ids = [r.id for r in held.recipients]
    removed = {}
    # Messages before their recipients: they refer to them.
    for name, model, column, ids in (
        ("messages", Message, Message.recipient_id, recipient_ids),
        ("suppressions", Suppression, Suppression.id, [s.id for s in held.suppressions]),
        ("recipients", Recipient, Recipient.id, recipient_ids),
    ):
        removed[name] = sum(
            _deleted(conn, delete(model).where(column.in_(part))) for part in chunks(ids)
        )
    removed["tombstones_added"] = _add_tombstones(conn, held.email_hashes[0], sites, method, now)
    return removed


def _add_tombstones(
    conn: Connection, email_hash: str, sites: Sequence[str], method: str, now: datetime
) -> int:
    hold_feed_order(conn)  # tombstones are suppressions: the feed's cursor needs id order
    have = set(
        conn.scalars(
            select(Suppression.site).where(
                Suppression.email_hash == email_hash,
                Suppression.kind == "unsubscribe",
                Suppression.list == ALL_LISTS,
                Suppression.recipient.is_(None),
                Suppression.lifted_at.is_(None),
            )
        )
    )
    rows = [
        {
            "site": site, "kind": "unsubscribe", "list": ALL_LISTS, "recipient": None,
            "email_hash": email_hash, "method": method, "message_id": None, "created_at": now,
        }
        for site in sites
        if site not in have
    ]  # fmt: skip
    if rows:
        conn.execute(insert(Suppression), rows)
    return len(rows)


def forget_messages(conn: Connection, created_before: datetime) -> int:
    """Delete the message rows minted before ``created_before``; return how many.

    Past that age a token leads nowhere: its pixel and links log nothing.
    """
    return _deleted(conn, delete(Message).where(Message.created_at < created_before))


def _deleted(conn: Connection, statement) -> int:
    return conn.execute(statement).rowcount
