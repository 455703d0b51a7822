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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert

from core.db import write_transaction
from core.errors import Unprocessable
from core.times import utc_text
from events import SpoolFull
from events.protocols import EventSink
from pixel import identity
from pixel.models import Message
from pixel.recipients import Addressee, Known, Suppressed, ensure_recipients
from pixel.recipients import matching_suppressions as find_suppressions

log = logging.getLogger(__name__)
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
        minted = [
            _decide(known[a.recipient], hashes.get(a.recipient, ()), suppressed, consent_required)
            for a in addressees
        ]
        conn.execute(insert(Message), _message_rows(mailing, minted, known, now))
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


def _decide(
    known: Known, hashes: Sequence[str], suppressed: Suppressed, consent_required: bool
) -> Minted:
    message_id = uuid.uuid4().hex
    recipient = known.external_id
    if suppressed.covers(suppressed.unsubscribed, recipient, hashes):
        return Minted(message_id, recipient, "none", True, None)
    denied = known.tracking_consent == "denied"
    if denied or suppressed.covers(suppressed.opted_out, recipient, hashes):
        return Minted(message_id, recipient, "none", False, None)
    if known.tracking_consent == "granted" or not consent_required:
        return Minted(message_id, recipient, "individual", False, message_id)
    return Minted(message_id, recipient, "aggregate", False, secrets.token_hex(16))


def _message_rows(
    mailing: Mailing, minted: list[Minted], known: dict[str, Known], now: datetime
) -> list[dict]:
    sent_at = now if mailing.send else None
    shared: dict[str, object] = {
        "site": mailing.site,
        "campaign": mailing.campaign,
        "list": mailing.list,
        "sent_at": sent_at,
        "created_at": now,
    }
    rows = [
        {
            "id": m.message_id,
            "recipient_id": known[m.recipient].id,
            "tracking": m.tracking,
            "suppressed": m.suppressed,
            **shared,
        }
        for m in minted
    ]
    anonymous: list[dict[str, object]] = [
        {"id": m.tracked_id, "recipient_id": None, "tracking": "aggregate", "suppressed": False}
        | shared
        for m in minted
        if m.tracking == "aggregate"
    ]
    _shuffle(anonymous)
    return rows + anonymous


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
    try:
        for m in minted:
            if m.suppressed:
                continue
            events.emit(
                "email_events",
                {
                    "event_id": str(uuid.uuid4()),
                    "message_id": m.tracked_id or m.message_id,
                    "recipient": known[m.recipient].pseudonym if m.tracking == "individual" else "",
                    "tracking": m.tracking,
                    **shared,
                },
            )
    except (SpoolFull, OSError) as error:
        # The messages are stored and answered (a retry would mint them twice); the
        # missing `sent` events are counted as dropped for operators to see.
        log.error("campaign %s: sent events could not be spooled: %s", mailing.campaign, error)
        events.count_drop("spool_full", "email")
