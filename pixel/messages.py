"""Minting messages: decide each recipient's tracking mode, store the messages, emit `sent`.

The mode follows SPEC §3.1: ``none`` for a recipient unsubscribed from the list or from
all (``suppressed``: the sender should not send) or who denied tracking; ``individual``
when they granted it or the install does not require it
(``CONSENTRY_EMAIL_TRACKING_CONSENT``); otherwise ``aggregate``.

A suppressed message gets no `sent` event: it is not to be sent. An aggregate message's
pixel and links carry the id of an anonymous message row; the rows of one batch go in
shuffled, so not even their order pairs them with their recipients.
"""

import logging
import random
import secrets
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert

from core.db import DirectStatement, write_transaction
from core.errors import Unprocessable
from core.times import utc_text
from events import SpoolFull
from events.protocols import EventSink
from pixel import identity
from pixel.models import Message
from pixel.recipients import Addressee, Known, Suppressed, ensure_recipients, insert_many
from pixel.recipients import matching_suppressions as find_suppressions

log = logging.getLogger(__name__)
_ADD_MESSAGE = DirectStatement(
    insert(Message),
    [
        "id",
        "recipient_id",
        "site",
        "campaign",
        "list",
        "tracking",
        "suppressed",
        "sent_at",
        "created_at",
    ],
)
_shuffle = random.SystemRandom().shuffle


@dataclass(frozen=True, slots=True)
class Mailing:
    """What the messages of one request share."""

    site: str
    campaign: str
    list: str
    send: bool


@dataclass(frozen=True, slots=True)
class Minted:
    """One message as minted: its id, mode, and the id its pixel and links carry."""

    message_id: str
    recipient: str
    tracking: str
    suppressed: bool
    # The message id for individual mode, the anonymous row's for aggregate, None for none.
    tracked_id: str | None


def mint(
    mailing: Mailing,
    addressees: Sequence[Addressee],
    *,
    keys: list[str],
    consent_required: bool,
    events: EventSink,
    now: datetime,
) -> list[Minted]:
    """Store one message per addressee (in one transaction) and emit the `sent` events."""
    _refuse_repeats(addressees)
    if mailing.send and not events.has_room():
        raise SpoolFull()  # checked first: a full spool leaves no message behind
    with write_transaction() as conn:
        known = ensure_recipients(conn, keys, mailing.site, addressees, now)
        hashes = {
            a.recipient: identity.email_hashes(keys, email)
            for a in addressees
            if (email := a.email or known[a.recipient].email)
        }
        suppressed = find_suppressions(
            conn,
            mailing.site,
            mailing.list,
            [a.recipient for a in addressees],
            [h for hs in hashes.values() for h in hs],
        )
        ids = _random_ids(2 * len(addressees))
        minted = [
            _decide(
                known[a.recipient],
                hashes.get(a.recipient, ()),
                suppressed,
                consent_required,
                next(ids),
                next(ids),
            )
            for a in addressees
        ]
        insert_many(conn, _ADD_MESSAGE, *_message_rows(mailing, minted, known, now))
    if mailing.send:
        _emit_sent(events, mailing, minted, known, now)
    return minted


def _refuse_repeats(addressees: Sequence[Addressee]) -> None:
    seen: set[str] = set()
    for a in addressees:
        if a.recipient in seen:
            raise Unprocessable(
                f"recipient {a.recipient!r} is named twice: one message per recipient",
                code="duplicate_recipient",
            )
        seen.add(a.recipient)


def _random_ids(count: int) -> Iterator[str]:
    """``count`` random 128-bit ids as hex: one read of the system's random source, not one
    per id (a batch needs 20,000)."""
    pool = secrets.token_bytes(16 * count)
    return (pool[n : n + 16].hex() for n in range(0, 16 * count, 16))


def _decide(
    known: Known,
    hashes: Sequence[str],
    suppressed: Suppressed,
    consent_required: bool,
    message_id: str,
    anonymous_id: str,
) -> Minted:
    recipient = known.external_id
    if suppressed.covers(suppressed.unsubscribed, recipient, hashes):
        return Minted(message_id, recipient, "none", True, None)
    denied = known.tracking_consent == "denied"
    if denied or suppressed.covers(suppressed.opted_out, recipient, hashes):
        return Minted(message_id, recipient, "none", False, None)
    if known.tracking_consent == "granted" or not consent_required:
        return Minted(message_id, recipient, "individual", False, message_id)
    return Minted(message_id, recipient, "aggregate", False, anonymous_id)


def _message_rows(
    mailing: Mailing, minted: list[Minted], known: dict[str, Known], now: datetime
) -> tuple[dict[str, object], list[dict]]:
    """What every message row of a request shares, and each row's own values."""
    shared: dict[str, object] = {
        "site": mailing.site,
        "campaign": mailing.campaign,
        "list": mailing.list,
        "sent_at": now if mailing.send else None,
        "created_at": now,
    }
    rows: list[dict] = [
        {
            "id": m.message_id,
            "recipient_id": known[m.recipient].id,
            "tracking": m.tracking,
            "suppressed": m.suppressed,
        }
        for m in minted
    ]
    anonymous = [
        {"id": m.tracked_id, "recipient_id": None, "tracking": "aggregate", "suppressed": False}
        for m in minted
        if m.tracking == "aggregate"
    ]
    _shuffle(anonymous)
    return shared, rows + anonymous


def _emit_sent(
    events: EventSink, mailing: Mailing, minted: list[Minted], known: dict[str, Known], now
) -> None:
    ts = utc_text(now, sep=" ")
    shared = {
        "ts": ts,
        "kind": "sent",
        "site": mailing.site,
        "campaign": mailing.campaign,
        "list": mailing.list,
        "sent_at": ts,
    }
    rows = [
        {
            "event_id": str(uuid.uuid4()),
            "message_id": m.tracked_id or m.message_id,
            "recipient": known[m.recipient].pseudonym if m.tracking == "individual" else "",
            "tracking": m.tracking,
            **shared,
        }
        for m in minted
        if not m.suppressed
    ]
    for done, row in enumerate(rows):
        try:
            events.emit("email_events", row)
        except (SpoolFull, OSError) as error:
            # The messages are stored and answered (a retry would mint them twice); the
            # missing `sent` events are counted as dropped, one each, for operators to see.
            log.error(
                "campaign %s: %d sent events could not be spooled: %s",
                mailing.campaign,
                len(rows) - done,
                error,
            )
            for _ in rows[done:]:
                events.count_drop("spool_full", "email")
            return
