"""SQL tables of privacy operations: the subject-request log, its actions, the audit log.

A request names its subject by a consent id (a website visitor) or by an address (an
email recipient). The address is kept only while the request needs it to send mail and
is cleared when the request closes; the keyed hash stays, so the log can show which
requests concern the same person without holding the address.
"""

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db

RequestKind = Literal["access", "deletion", "correction", "do_not_sell", "tracking_optout"]
RequestStatus = Literal["received", "verified", "completed", "rejected", "expired"]
REQUEST_KINDS: tuple[str, ...] = get_args(RequestKind)
REQUEST_STATUSES: tuple[str, ...] = get_args(RequestStatus)
OPEN_STATUSES = ("received", "verified")


class PrivacyRequest(db.Model):
    """One data-subject request, from receipt to its close, with its legal deadline."""

    __tablename__ = "privacy_requests"
    __table_args__ = (
        Index("ix_privacy_requests_status", "status", "created_at"),
        Index("ix_privacy_requests_email_hash", "email_hash"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    consent_id: Mapped[str | None] = mapped_column(String(32))
    # Where the verification mail goes; cleared when the request closes.
    email: Mapped[str | None] = mapped_column(String(320))
    email_hash: Mapped[str] = mapped_column(String(64))
    # A correction's new address; cleared with the address.
    new_email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An export is downloadable once per format: set when its one download starts.
    export_json_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    export_html_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column(JSON)


class RequestAction(db.Model):
    """Something done on a request, by whom: ``subject``, ``system`` or ``api-key:<name>``."""

    __tablename__ = "privacy_request_actions"
    __table_args__ = (Index("ix_privacy_request_actions_request_id", "request_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("privacy_requests.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(db.Model):
    """An action on personal data or on access to it: an export, an erasure, a new API key."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(120))
    target: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[dict | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
