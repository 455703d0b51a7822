"""SQL tables of the email side: recipients, the messages minted for them, suppressions.

A recipient is named by the sending system's own id, within a site (two sending systems
may both have a recipient "42"). A message row is what a token leads back to: its campaign,
list, site, tracking mode, send time and recipient, read with one primary-key lookup on
the hit path.

In ``aggregate`` mode a message has two rows: the recipient's (which its unsubscribe and
preferences tokens name) and an anonymous one with no recipient and a random id of its
own (which its pixel and links name). Nothing stored joins the two, so opens count exactly
per message while nobody's opens are recorded.
"""

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db

TrackingConsent = Literal["unknown", "granted", "denied"]
TrackingMode = Literal["individual", "aggregate", "none"]
SuppressionKind = Literal["unsubscribe", "tracking_optout"]
# How a recipient told us: SPEC §3.6 lists the first four; ``import`` is a sending system's
# own list of earlier choices.
Method = Literal["one_click", "page", "mailto", "api", "import"]
ALL_LISTS = "*"  # a suppression's list when it covers every list of the site

TRACKING_CONSENTS: tuple[str, ...] = get_args(TrackingConsent)
TRACKING_MODES: tuple[str, ...] = get_args(TrackingMode)


class Recipient(db.Model):
    """Someone mail is sent to, as the sending system names them, and their tracking consent."""

    __tablename__ = "recipients"
    __table_args__ = (
        UniqueConstraint("site", "external_id", name="uq_recipients_site_external_id"),
        Index("ix_recipients_email_hash", "email_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site: Mapped[str] = mapped_column(String(63))
    external_id: Mapped[str] = mapped_column(String(255))
    # Kept for the masked address on the preference page and mailto unsubscribes; the
    # keyed hash is what suppressions match, so they outlive an erased address.
    email: Mapped[str | None] = mapped_column(String(320))
    email_hash: Mapped[str | None] = mapped_column(String(64))
    # The recipient as events name them: a keyed hash, never the sending system's id
    # (which is often the address itself).
    pseudonym: Mapped[str] = mapped_column(String(32))
    tracking_consent: Mapped[str] = mapped_column(String(8), default="unknown")
    tracking_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    tracking_method: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Message(db.Model):
    """One email minted for one recipient (or, with no recipient, an aggregate pixel's)."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_recipient_id", "recipient_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("recipients.id"))
    site: Mapped[str] = mapped_column(String(63))
    campaign: Mapped[str] = mapped_column(String(200))
    list: Mapped[str] = mapped_column(String(64))
    tracking: Mapped[str] = mapped_column(String(16))
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the sent event was recorded; None when the sender minted without sending.
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Suppression(db.Model):
    """An unsubscribe (from one list or all) or a tracking opt-out; its id is the feed's cursor.

    Matched by the recipient's id or by the keyed hash of their address, whichever the
    sending system gives, so a new id for the same address stays suppressed. Lifted rather
    than deleted when the recipient changes their mind, so the feed keeps its history.
    """

    __tablename__ = "suppressions"
    __table_args__ = (
        Index("ix_suppressions_site_recipient", "site", "recipient"),
        Index("ix_suppressions_email_hash", "email_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))
    list: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str | None] = mapped_column(String(255))
    email_hash: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
