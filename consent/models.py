"""SQL tables of the consent side: sites and their append-only consent records."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db

GENESIS = "0" * 64


class SiteRow(db.Model):
    """A configured site and the head of its hash chain (the file stays the source of config)."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    policy_version: Mapped[str] = mapped_column(String(64))
    chain_seq: Mapped[int] = mapped_column(Integer, default=0)
    chain_head: Mapped[str] = mapped_column(String(64), default=GENESIS)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsentRecord(db.Model):
    """One decision, never updated: the proof of what a visitor chose, when and under what."""

    __tablename__ = "consent_records"
    __table_args__ = (
        UniqueConstraint("site_id", "seq", name="uq_consent_records_site_seq"),
        Index("ix_consent_records_consent_id", "consent_id", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[str] = mapped_column(String(32), unique=True)
    consent_id: Mapped[str] = mapped_column(String(32))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    choices: Mapped[dict] = mapped_column(JSON)
    lifetime: Mapped[str] = mapped_column(String(16))
    policy_version: Mapped[str] = mapped_column(String(64))
    texts_hash: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    region: Mapped[str] = mapped_column(String(8))
    region_rule: Mapped[str] = mapped_column(String(64))
    region_model: Mapped[str] = mapped_column(String(16))
    dnt: Mapped[bool] = mapped_column(Boolean)
    gpc: Mapped[bool] = mapped_column(Boolean)
    ip_prefix: Mapped[str | None] = mapped_column(String(64))
    ua_family: Mapped[str | None] = mapped_column(String(64))
    page_origin: Mapped[str | None] = mapped_column(String(320))
    page_path: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # Set together when the record is redacted (erasure, retention): its content fields are
    # cleared (consent.chain.REDACTED) and the chain links through the digest kept here.
    content_digest: Mapped[str | None] = mapped_column(String(64))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when an erasure removed the record's event from ClickHouse but kept the record
    # (PRIVACY_ERASE_CONSENT_RECORDS=keep): the reconciler must not send that event again.
    events_erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyKey(db.Model):
    """A decision's Idempotency-Key (per site): a retry within 24 h answers its record again."""

    __tablename__ = "idempotency_keys"

    site_id: Mapped[str] = mapped_column(String(63), ForeignKey("sites.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 of the request's canonical JSON: the same key with another body is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


@dataclass(slots=True, kw_only=True)
class NewRecord:
    """A record on its way in: a ConsentRecord row's fields (bar the row id), unmapped.

    Built, hashed, inserted and answered from once, it needs none of the ORM's
    instrumentation, which costs ~40 µs per decision; read back, it is a ConsentRecord.
    A test holds its fields to the table's columns.
    """

    record_id: str
    consent_id: str
    site_id: str
    seq: int | None = None  # seq, prev_hash and hash: set when the chain takes the record
    action: str
    choices: dict[str, bool]
    lifetime: str
    policy_version: str
    texts_hash: str
    language: str
    region: str
    region_rule: str
    region_model: str
    dnt: bool
    gpc: bool
    ip_prefix: str | None
    ua_family: str | None
    page_origin: str | None
    page_path: str | None
    created_at: datetime
    expires_at: datetime | None
    prev_hash: str | None = None
    hash: str | None = None
    content_digest: str | None = None  # a new record is never redacted
    erased_at: datetime | None = None
    events_erased_at: datetime | None = None


class EventMark(db.Model):
    """How far a site's records are known to have their event in ClickHouse or a spool."""

    __tablename__ = "event_marks"

    site_id: Mapped[str] = mapped_column(String(63), ForeignKey("sites.id"), primary_key=True)
    reconciled_seq: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
