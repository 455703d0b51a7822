"""What a recipient asks for through a message's unsubscribe link, and what is in force.

An unsubscribe link names one message (its token carries the message id, SPEC §3.2); the
message names the recipient, the site and the list. Three choices, as SPEC §3.6 lists
them: leave this list, leave every list of the site, or keep getting mail without open
and click tracking. Each is recorded at most once: a choice already in force (by the
recipient's id or by their address's keyed hash, as minting matches them) adds no row and
no event, so a mailbox provider that posts a one-click unsubscribe twice counts once.

Unsubscribes are rows in ``suppressions`` (list or ``*``) that minting honours; stopping
tracking is :func:`pixel.recipients.set_tracking` (the recipient's consent ``denied`` and
an opt-out row). Each change is one ``email_events`` row too, with its ``method``.

Events name the recipient by their pseudonym and the message by the recipient's own
message id, never by an aggregate message's anonymous id: that pairing is what aggregate
mode exists to leave unrecorded.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import Connection, and_, insert, or_, select

from core.times import utc_text
from pixel import identity
from pixel.models import ALL_LISTS, Message, Recipient, Suppression
from pixel.recipients import set_tracking
from pixel.suppressions import hold_feed_order

Choice = Literal["list", "all", "tracking"]
CHOICES: tuple[str, ...] = get_args(Choice)
# Event ids of unsubscribes follow from their suppression row: the same change always
# has the same id, so one re-emitted from the row would be counted once (uniqExact).
_EVENT_IDS = uuid.UUID("5a1e6a55-7c3b-4f0e-9d65-2c1d3a0b8e41")


@dataclass(frozen=True, slots=True)
class Subscription:
    """A message's recipient, as the preference page and its choices need them."""

    message_id: str
    site: str
    campaign: str
    list: str
    tracking: str  # the message's mode when it was minted
    recipient: str  # the sending system's id
    email: str | None
    email_hash: str | None
    pseudonym: str
    tracking_consent: str


@dataclass(frozen=True, slots=True)
class Standing:
    """What is in force for a subscription now."""

    left_list: bool  # unsubscribed from the message's list (or from all)
    left_all: bool
    tracking_off: bool

    def has(self, choice: Choice) -> bool:
        """Tell whether ``choice`` is already in force."""
        return {"list": self.left_list, "all": self.left_all, "tracking": self.tracking_off}[choice]


def find_subscription(conn: Connection, message_id: str) -> Subscription | None:
    """The message's recipient, or None for an unknown message or one with no recipient."""
    row = conn.execute(
        select(
            Message.id.label("message_id"),
            Message.site,
            Message.campaign,
            Message.list,
            Message.tracking,
            Recipient.external_id.label("recipient"),
            Recipient.email,
            Recipient.email_hash,
            Recipient.pseudonym,
            Recipient.tracking_consent,
        )
        .join(Recipient, Recipient.id == Message.recipient_id)
        .where(Message.id == message_id)
    ).first()
    return Subscription(**row._asdict()) if row is not None else None


def standing(conn: Connection, keys: list[str], sub: Subscription) -> Standing:
    """Read what is in force for the subscription's recipient, on its site."""
    query = select(Suppression.kind, Suppression.list).where(_in_force(keys, sub))
    kinds = {(kind, list_name) for kind, list_name in conn.execute(query)}
    left_all = ("unsubscribe", ALL_LISTS) in kinds
    return Standing(
        left_list=left_all or ("unsubscribe", sub.list) in kinds,
        left_all=left_all,
        tracking_off=sub.tracking_consent == "denied"
        or any(kind == "tracking_optout" for kind, _ in kinds),
    )


def apply_choice(
    conn: Connection,
    keys: list[str],
    message_id: str,
    choice: Choice,
    method: str,
    now: datetime,
) -> tuple[Subscription, list[dict]] | None:
    """Record ``choice`` for the message's recipient unless it is in force already.

    Run it in a write transaction; it holds the feed's order (pixel.suppressions) first,
    so two posts of one link at once add one row. Returns the subscription and the
    events to emit (none when nothing changed), or None for an unknown message.
    """
    hold_feed_order(conn)
    # Read inside the transaction, after the lock: what a concurrent post just recorded.
    sub = find_subscription(conn, message_id)
    if sub is None:
        return None
    if standing(conn, keys, sub).has(choice):
        return sub, []
    if choice == "tracking":
        _, event = set_tracking(conn, keys, sub.site, sub.recipient, "denied", method, now)
        # A denial always has its event; this message tells which campaign it came from.
        context = {"campaign": sub.campaign, "message_id": sub.message_id}
        return sub, [event | context] if event is not None else []
    list_name = sub.list if choice == "list" else ALL_LISTS
    suppression_id = conn.execute(
        insert(Suppression)
        .values(
            site=sub.site,
            kind="unsubscribe",
            list=list_name,
            recipient=sub.recipient,
            email_hash=sub.email_hash,
            method=method,
            message_id=sub.message_id,
            created_at=now,
        )
        .returning(Suppression.id)
    ).scalar_one()
    return sub, [unsubscribe_event(sub, list_name, method, now, suppression_id)]


def unsubscribe_event(
    sub: Subscription, list_name: str, method: str, now: datetime, suppression_id: int
) -> dict:
    """The ``email_events`` row of an unsubscribe from ``list_name`` (``*``: every list)."""
    return {
        "event_id": str(uuid.uuid5(_EVENT_IDS, f"suppression:{suppression_id}")),
        "ts": utc_text(now, sep=" "),
        "kind": "unsubscribe",
        "site": sub.site,
        "campaign": sub.campaign,
        "list": list_name,
        "message_id": sub.message_id,
        "recipient": sub.pseudonym,
        "tracking": sub.tracking,
        "method": method,
    }


def _in_force(keys: list[str], sub: Subscription):
    """The suppressions in force for the recipient: by their id, or their address's hash."""
    hashes: Sequence[str] = identity.email_hashes(keys, sub.email) if sub.email else []
    if sub.email_hash and sub.email_hash not in hashes:
        hashes = [*hashes, sub.email_hash]
    who = Suppression.recipient == sub.recipient
    if hashes:
        who = or_(who, Suppression.email_hash.in_(hashes))
    return and_(Suppression.site == sub.site, Suppression.lifted_at.is_(None), who)
